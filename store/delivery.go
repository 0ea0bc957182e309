package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/acme/billing"
	"github.com/acme/billing/appwebhook"
)

var _ appwebhook.Store = (*DB)(nil)

// SyncEndpoints implements appwebhook.Store. An endpoint no longer
// configured is disabled rather than deleted, so that its history stays
// and its deliveries resume should it be configured again.
func (db *DB) SyncEndpoints(ctx context.Context, urls []string, now time.Time) error {
	end, err := db.FeedEnd(ctx)
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		for _, u := range urls {
			if _, err := t.exec(ctx, `INSERT INTO app_endpoints (url, cursor, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (url) DO NOTHING`, u, end, sec(now)); err != nil {
				return err
			}
		}
		rows, err := queryAll(ctx, t, func(s scanner) (string, error) {
			var u string
			return u, s.Scan(&u)
		}, `SELECT url FROM app_endpoints`)
		if err != nil {
			return err
		}
		for _, u := range rows {
			var err error
			if slices.Contains(urls, u) {
				err = readdEndpoint(ctx, t, u, now)
			} else {
				_, err = t.exec(ctx, `UPDATE app_endpoints SET disabled_at = $2, disabled_reason = $3
					WHERE url = $1 AND disabled_at = 0`, u, sec(now), appwebhook.ReasonRemoved)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// readdEndpoint enables an endpoint that was removed from the
// configuration and is back. What it missed meanwhile is sent (its cursor
// stayed), and its waiting deliveries get a new round of attempts, as when
// an operator enables one: their 3 days were spent while it was removed.
func readdEndpoint(ctx context.Context, t *tx, url string, now time.Time) error {
	res, err := t.exec(ctx, `UPDATE app_endpoints SET disabled_at = 0, disabled_reason = ''
		WHERE url = $1 AND disabled_reason = $2`, url, appwebhook.ReasonRemoved)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return restartDeliveries(ctx, t, url, now)
}

// restartDeliveries makes an endpoint's waiting deliveries due now, for a
// new round of attempts.
func restartDeliveries(ctx context.Context, t *tx, url string, now time.Time) error {
	_, err := t.exec(ctx, `UPDATE app_deliveries SET next_attempt_at = $2, attempts = 0, first_attempt_at = 0
		WHERE endpoint = $1 AND status = $3`, url, sec(now), appwebhook.StatusPending)
	return err
}

// errMoved ends a dispatch whose cursor another instance moved meanwhile.
var errMoved = errors.New("cursor moved")

// Dispatch implements appwebhook.Store. The feed is read outside the
// transaction (it serves only what every writer has committed); the cursor
// moves by compare-and-set with the inserts, so an instance that lost the
// race adds nothing.
func (db *DB) Dispatch(ctx context.Context, url string, types []string, limit int, now time.Time) (int, error) {
	var from string
	err := db.read.QueryRowContext(ctx, `SELECT cursor FROM app_endpoints WHERE url = $1`, url).Scan(&from)
	if err != nil {
		return 0, notFound(err, "app webhook endpoint", url)
	}
	page, err := db.Feed(ctx, billing.FeedQuery{After: from, Limit: limit, Types: types})
	if err != nil || page.Next == from {
		return 0, err
	}
	err = db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		for _, m := range page.Messages {
			if _, err := t.exec(ctx, `INSERT INTO app_deliveries (message, endpoint, next_attempt_at, created_at)
				VALUES ($1, $2, $3, $3) ON CONFLICT (message, endpoint) DO NOTHING`, m.Position, url, sec(now)); err != nil {
				return err
			}
		}
		res, err := t.exec(ctx, `UPDATE app_endpoints SET cursor = $3 WHERE url = $1 AND cursor = $2`, url, from, page.Next)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errMoved
		}
		return nil
	})
	if errors.Is(err, errMoved) {
		return 0, nil
	}
	return len(page.Messages), err
}

// deliverySelect reads deliveries d with their message.
const deliverySelect = `SELECT d.id, d.endpoint, m.id, m.type, m.workspace_id, m.sequence, m.body, d.status, d.attempts,
		d.first_attempt_at, d.next_attempt_at, d.delivered_at, d.created_at, d.claim, d.last_status, d.last_error
	FROM app_deliveries d JOIN app_messages m ON m.position = d.message`

func scanDelivery(s scanner) (appwebhook.Delivery, error) {
	var d appwebhook.Delivery
	var body string
	var first, next, delivered, created int64
	err := s.Scan(&d.ID, &d.Endpoint, &d.MessageID, &d.MessageType, &d.WorkspaceID, &d.Sequence, &body, &d.Status,
		&d.Attempts, &first, &next, &delivered, &created, &d.Claim, &d.LastStatus, &d.LastError)
	d.Body = []byte(body)
	d.FirstAttemptAt, d.NextAttemptAt, d.DeliveredAt, d.CreatedAt = billing.Unix(first), billing.Unix(next), billing.Unix(delivered), billing.Unix(created)
	return d, err
}

// ClaimDelivery implements appwebhook.Store: on PostgreSQL, SKIP LOCKED
// makes concurrent claimers take different rows, and the claim's update
// makes the row no longer due for the others.
func (db *DB) ClaimDelivery(ctx context.Context, now time.Time, lease time.Duration) (*appwebhook.Delivery, error) {
	var claimed *appwebhook.Delivery
	err := db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		var id int64
		err := t.queryRow(ctx, `SELECT id FROM app_deliveries
			WHERE ((status = $1 AND next_attempt_at <= $3) OR (status = $2 AND claimed_until <= $3))
			AND endpoint IN (SELECT url FROM app_endpoints WHERE disabled_at = 0)
			ORDER BY next_attempt_at, id LIMIT 1`+db.skipLocked,
			appwebhook.StatusPending, appwebhook.StatusSending, sec(now)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE app_deliveries SET status = $2, attempts = attempts + 1, claim = claim + 1,
			claimed_until = $3, first_attempt_at = CASE WHEN first_attempt_at = 0 THEN $4 ELSE first_attempt_at END
			WHERE id = $1`, id, appwebhook.StatusSending, sec(now.Add(lease)), sec(now)); err != nil {
			return err
		}
		d, err := scanDelivery(t.queryRow(ctx, deliverySelect+` WHERE d.id = $1`, id))
		claimed = &d
		return err
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// maxExcerpt bounds the response excerpt an attempt keeps.
const maxExcerpt = 1024

// SettleDelivery implements appwebhook.Store. The attempt is kept even when
// a later claim took the delivery over: it was made.
func (db *DB) SettleDelivery(ctx context.Context, d *appwebhook.Delivery, a appwebhook.Attempt) error {
	return db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		if _, err := t.exec(ctx, `INSERT INTO app_attempts (delivery, at, duration_ms, status, response, error)
			VALUES ($1, $2, $3, $4, $5, $6)`, d.ID, sec(a.At), a.Duration.Milliseconds(), a.Status,
			excerpt(db.redact.String(a.Response)), db.redact.String(a.Error)); err != nil {
			return err
		}
		_, err := t.exec(ctx, `UPDATE app_deliveries SET status = $3, next_attempt_at = $4, delivered_at = $5,
			last_status = $6, last_error = $7, claimed_until = 0 WHERE id = $1 AND claim = $2 AND status = $8`,
			d.ID, d.Claim, d.Status, sec(d.NextAttemptAt), sec(d.DeliveredAt), d.LastStatus, db.redact.String(d.LastError),
			appwebhook.StatusSending)
		return err
	})
}

// excerpt cuts s to maxExcerpt bytes of whole characters.
func excerpt(s string) string {
	if len(s) <= maxExcerpt {
		return s
	}
	s = s[:maxExcerpt]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// DisableEndpoint implements appwebhook.Store.
func (db *DB) DisableEndpoint(ctx context.Context, url, reason string, now time.Time) error {
	return db.InTx(ctx, func(btx billing.Tx) error {
		return changeEndpoint(ctx, btx.(*tx), url, `UPDATE app_endpoints SET disabled_at = $2, disabled_reason = $3
			WHERE url = $1`, sec(now), db.redact.String(reason))
	})
}

// EnableEndpoint implements appwebhook.Store. Its pending deliveries start
// a new round of attempts: their 3 days were spent on an endpoint that was
// gone.
func (db *DB) EnableEndpoint(ctx context.Context, url string, now time.Time) error {
	return db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		// One removed from the configuration comes back only with it: no
		// instance would know to send to it.
		err := changeEndpoint(ctx, t, url, `UPDATE app_endpoints SET disabled_at = 0, disabled_reason = ''
			WHERE url = $1 AND disabled_reason <> $2`, appwebhook.ReasonRemoved)
		if billing.ErrorCode(err) == billing.ENOTFOUND {
			var removed bool
			if t.queryRow(ctx, `SELECT TRUE FROM app_endpoints WHERE url = $1`, url).Scan(&removed) == nil {
				return billing.Errorf(billing.ECONFLICT, "app webhook endpoint %s is not in BILLING_APP_WEBHOOK_URL: add it there to send to it again", appwebhook.Redact(url))
			}
		}
		if err != nil {
			return err
		}
		return restartDeliveries(ctx, t, url, now)
	})
}

// changeEndpoint runs update of the endpoint url ($1) and says when there
// is no such endpoint.
func changeEndpoint(ctx context.Context, t *tx, url, update string, args ...any) error {
	res, err := t.exec(ctx, update, append([]any{url}, args...)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return billing.Errorf(billing.ENOTFOUND, "no app webhook endpoint %q", url)
	}
	return nil
}

// RetryDelivery implements appwebhook.Store.
func (db *DB) RetryDelivery(ctx context.Context, id int64, now time.Time) error {
	return db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		res, err := t.exec(ctx, `UPDATE app_deliveries SET status = $2, next_attempt_at = $3, attempts = 0, first_attempt_at = 0
			WHERE id = $1 AND NOT (status = $4 AND claimed_until > $3)`,
			id, appwebhook.StatusPending, sec(now), appwebhook.StatusSending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		if _, err := db.Delivery(ctx, id); err != nil {
			return err
		}
		return billing.Errorf(billing.ECONFLICT, "delivery %d is being sent right now", id)
	})
}

// Endpoints implements appwebhook.Store.
func (db *DB) Endpoints(ctx context.Context) ([]appwebhook.Endpoint, error) {
	return queryAll(ctx, db.read, func(s scanner) (appwebhook.Endpoint, error) {
		var e appwebhook.Endpoint
		var disabled, delivered int64
		err := s.Scan(&e.URL, &disabled, &e.DisabledReason, &e.Pending, &e.Failed, &e.Delivered, &delivered, &e.LastError)
		e.DisabledAt, e.LastDeliveredAt = billing.Unix(disabled), billing.Unix(delivered)
		return e, err
	}, `SELECT e.url, e.disabled_at, e.disabled_reason,
		(SELECT COUNT(*) FROM app_deliveries d WHERE d.endpoint = e.url AND d.status IN ('pending', 'sending')),
		(SELECT COUNT(*) FROM app_deliveries d WHERE d.endpoint = e.url AND d.status = 'failed'),
		(SELECT COUNT(*) FROM app_deliveries d WHERE d.endpoint = e.url AND d.status = 'delivered'),
		COALESCE((SELECT MAX(d.delivered_at) FROM app_deliveries d WHERE d.endpoint = e.url), 0),
		COALESCE((SELECT d.last_error FROM app_deliveries d WHERE d.endpoint = e.url AND d.attempts > 0
			ORDER BY d.id DESC LIMIT 1), '')
		FROM app_endpoints e ORDER BY e.url`)
}

// Deliveries implements appwebhook.Store.
func (db *DB) Deliveries(ctx context.Context, f appwebhook.DeliveryFilter) ([]appwebhook.Delivery, error) {
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return queryAll(ctx, db.read, scanDelivery, deliverySelect+`
		WHERE ($1 = '' OR d.endpoint = $1) AND ($2 = '' OR d.status = $2) ORDER BY d.id DESC LIMIT $3`,
		f.Endpoint, f.Status, limit)
}

// Delivery implements appwebhook.Store.
func (db *DB) Delivery(ctx context.Context, id int64) (*appwebhook.Delivery, error) {
	d, err := scanDelivery(db.read.QueryRowContext(ctx, deliverySelect+` WHERE d.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, billing.Errorf(billing.ENOTFOUND, "no delivery %d", id)
	}
	return &d, err
}

// Attempts implements appwebhook.Store, oldest first.
func (db *DB) Attempts(ctx context.Context, deliveryID int64) ([]appwebhook.Attempt, error) {
	return queryAll(ctx, db.read, func(s scanner) (appwebhook.Attempt, error) {
		var a appwebhook.Attempt
		var at, ms int64
		err := s.Scan(&a.DeliveryID, &at, &ms, &a.Status, &a.Response, &a.Error)
		a.At, a.Duration = billing.Unix(at), time.Duration(ms)*time.Millisecond
		return a, err
	}, `SELECT delivery, at, duration_ms, status, response, error FROM app_attempts WHERE delivery = $1 ORDER BY id`, deliveryID)
}

// Backlog implements appwebhook.Store.
func (db *DB) Backlog(ctx context.Context) (pending, failed int64, err error) {
	err = db.read.QueryRowContext(ctx, `SELECT
		COUNT(*) FILTER (WHERE status IN ('pending', 'sending')), COUNT(*) FILTER (WHERE status = 'failed')
		FROM app_deliveries`).Scan(&pending, &failed)
	return pending, failed, err
}
