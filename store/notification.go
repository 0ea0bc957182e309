package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/acme/billing"
)

var _ billing.Outbox = (*DB)(nil)

func (t *tx) AddNotification(ctx context.Context, n *billing.Notification) error {
	return t.run(ctx, addNotification(n))
}

func addNotification(n *billing.Notification) stmt {
	return stmt{query: `INSERT INTO notifications (key, workspace_id, customer_id, kind, object_id, subject, body, created_at, recipient)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (key) DO NOTHING`, args: []any{n.Key, null(n.WorkspaceID), n.CustomerID, n.Kind, n.ObjectID, n.Subject, n.Body, sec(n.CreatedAt), n.To}}
}

// DiscardNotifications implements billing.Tx. An email being sent right
// now is discarded too: should that attempt fail, it is not tried again
// (SettleNotification keeps the discard unless the attempt sent it).
func (t *tx) DiscardNotifications(ctx context.Context, objectID, reason string) error {
	return t.run(ctx, t.db.discardNotifications(objectID, reason))
}

func (db *DB) discardNotifications(objectID, reason string) stmt {
	return stmt{query: `UPDATE notifications SET status = $3, last_error = $2
		WHERE object_id = $1 AND status IN ($4, $5)`, args: []any{objectID, db.redact.String(reason), billing.NotifyDiscarded, billing.NotifyPending, billing.NotifySending}}
}

// notificationSelect reads notifications n with their recipient: the one
// it names (the operator), else the workspace's email, else the Stripe
// customer's.
const notificationSelect = `SELECT n.id, n.key, COALESCE(n.workspace_id, ''), n.customer_id, n.kind, n.object_id,
		n.subject, n.body, n.status, n.attempts, n.last_error, n.next_attempt_at, n.sent_at, n.created_at,
		n.claim, n.claimed_at, COALESCE(NULLIF(n.recipient, ''), NULLIF(w.email, ''), c.email, ''), n.recipient
	FROM notifications n
	LEFT JOIN workspaces w ON w.id = n.workspace_id
	LEFT JOIN customers c ON c.id = n.customer_id`

func scanNotification(s scanner) (billing.Notification, error) {
	var n billing.Notification
	var next, sent, created, claimed int64
	err := s.Scan(&n.ID, &n.Key, &n.WorkspaceID, &n.CustomerID, &n.Kind, &n.ObjectID, &n.Subject, &n.Body,
		&n.Status, &n.Attempts, &n.LastError, &next, &sent, &created, &n.Claim, &claimed, &n.Recipient, &n.To)
	n.NextAttemptAt, n.SentAt, n.CreatedAt, n.ClaimedAt = billing.Unix(next), billing.Unix(sent), billing.Unix(created), billing.Unix(claimed)
	return n, err
}

// ClaimNotification implements billing.Outbox.
func (db *DB) ClaimNotification(ctx context.Context, now time.Time) (*billing.Notification, error) {
	var claimed *billing.Notification
	err := db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		var id int64
		err := t.queryRow(ctx, `SELECT id FROM notifications WHERE status = $1 AND next_attempt_at <= $2
			ORDER BY next_attempt_at, id LIMIT 1`+db.skipLocked, billing.NotifyPending, sec(now)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE notifications
			SET status = $2, attempts = attempts + 1, claim = claim + 1, claimed_at = $3 WHERE id = $1`,
			id, billing.NotifySending, sec(now)); err != nil {
			return err
		}
		n, err := scanNotification(t.queryRow(ctx, notificationSelect+` WHERE n.id = $1`, id))
		claimed = &n
		return err
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// SettleNotification implements billing.Outbox: only the latest claim
// settles, so a sender an operator gave up on cannot undo a later attempt.
// A notification discarded during its attempt stays discarded, unless the
// attempt sent it: then it is sent, which is the truth.
func (db *DB) SettleNotification(ctx context.Context, n *billing.Notification) error {
	return db.InTx(ctx, func(btx billing.Tx) error {
		_, err := btx.(*tx).exec(ctx, `UPDATE notifications
			SET status = $2, last_error = $3, next_attempt_at = $4, sent_at = $5
			WHERE id = $1 AND claim = $7 AND (status = $6 OR (status = $8 AND $2 = $9))`,
			n.ID, n.Status, db.redact.String(n.LastError), sec(n.NextAttemptAt), sec(n.SentAt), billing.NotifySending, n.Claim,
			billing.NotifyDiscarded, billing.NotifySent)
		return err
	})
}

// unsent are the statuses of notifications still owed.
const unsent = `n.status NOT IN ('sent', 'discarded')`

// Notifications lists the outbox, newest first; with unsent, only what is
// still owed (pending, sending or failed).
func (db *DB) Notifications(ctx context.Context, onlyUnsent bool, limit int) ([]billing.Notification, error) {
	return queryAll(ctx, db.read, scanNotification, notificationSelect+`
		WHERE ($1 = FALSE OR `+unsent+`) ORDER BY n.id DESC LIMIT $2`, onlyUnsent, limit)
}

// WorkspaceNotifications lists a workspace's notifications, newest first,
// sent, discarded and owed alike.
func (db *DB) WorkspaceNotifications(ctx context.Context, workspaceID string, limit int) ([]billing.Notification, error) {
	return queryAll(ctx, db.read, scanNotification, notificationSelect+`
		WHERE n.workspace_id = $1 ORDER BY n.id DESC LIMIT $2`, workspaceID, limit)
}

// UnsentNotifications counts the notifications still owed.
func (db *DB) UnsentNotifications(ctx context.Context) (int64, error) {
	var n int64
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications n WHERE `+unsent).Scan(&n)
	return n, err
}

// RetryNotification makes a notification an operator may retry
// (Notification.CanRetry) due now, for a fresh round of attempts: an
// operator's decision, after fixing what failed, that sending it again is
// right.
func (db *DB) RetryNotification(ctx context.Context, id int64, now time.Time) error {
	return db.operate(ctx, id, `UPDATE notifications SET status = $2, attempts = 0, next_attempt_at = $3, last_error = ''
		WHERE id = $1 AND (status = $4 OR (status = $5 AND claimed_at < $6))`,
		id, billing.NotifyPending, sec(now), billing.NotifyFailed, billing.NotifySending, interruptedBefore(now))
}

// DiscardNotification keeps a notification an operator may discard
// (Notification.CanDiscard) from being sent: an operator's decision.
func (db *DB) DiscardNotification(ctx context.Context, id int64, now time.Time) error {
	return db.operate(ctx, id, `UPDATE notifications SET status = $2, last_error = 'discarded by an operator'
		WHERE id = $1 AND (status IN ($3, $4) OR (status = $5 AND claimed_at < $6))`,
		id, billing.NotifyDiscarded, billing.NotifyFailed, billing.NotifyPending, billing.NotifySending, interruptedBefore(now))
}

// interruptedBefore is the claim time before which a notification still
// being sent was interrupted (Notification.Interrupted).
func interruptedBefore(now time.Time) int64 { return sec(now.Add(-billing.InterruptedAfter)) }

// operate runs an operator's change: update, of the notification id ($1)
// in the statuses it allows. When it changes nothing, it says why.
func (db *DB) operate(ctx context.Context, id int64, update string, args ...any) error {
	return db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		res, err := t.exec(ctx, update, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var status billing.NotificationStatus
		err = t.queryRow(ctx, `SELECT status FROM notifications WHERE id = $1`, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return billing.Errorf(billing.ENOTFOUND, "no email %d in the outbox", id)
		}
		if err != nil {
			return err
		}
		return billing.Errorf(billing.ECONFLICT, "email %d is %s: nothing to change", id, status)
	})
}
