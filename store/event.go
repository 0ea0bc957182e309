package store

import (
	"context"
	"math"
	"time"

	"github.com/acme/billing"
)

const eventColumns = `id, type, api_version, livemode, created, account, status, attempts, last_error, received_at, processed_at, note,
	object_id, workspace_id`

func scanEvent(s scanner, extra ...any) (billing.Event, error) {
	var e billing.Event
	var created, received, processed int64
	err := s.Scan(append([]any{&e.ID, &e.Type, &e.APIVersion, &e.Livemode, &created, &e.Account, &e.Status,
		&e.Attempts, &e.LastError, &received, &processed, &e.Note, &e.ObjectID, &e.WorkspaceID}, extra...)...)
	e.Created, e.ReceivedAt, e.ProcessedAt = billing.Unix(created), billing.Unix(received), billing.Unix(processed)
	return e, err
}

// Event implements billing.Store.
func (db *DB) Event(ctx context.Context, id string) (*billing.Event, error) {
	var payload []byte
	e, err := scanEvent(db.read.QueryRowContext(ctx, `SELECT `+eventColumns+`, payload FROM events WHERE id = $1`, id), &payload)
	if err != nil {
		return nil, notFound(err, "event", id)
	}
	e.Payload = payload
	return &e, nil
}

// Events implements billing.Store: newest first, without payloads; events
// received in one second (the column's resolution) in the order Stripe
// created them.
func (db *DB) Events(ctx context.Context, f billing.EventFilter) ([]billing.Event, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	return queryAll(ctx, db.read, func(s scanner) (billing.Event, error) { return scanEvent(s) },
		`SELECT `+eventColumns+` FROM events WHERE ($1 = '' OR status = $1) AND ($2 = '' OR type = $2)
			AND received_at >= $3 AND received_at < $4
		ORDER BY received_at DESC, created DESC, id DESC LIMIT $5 OFFSET $6`,
		string(f.Status), f.Type, sec(f.Since), until(f.Until), f.Limit, max(f.Offset, 0))
}

// EventCounts counts the events received in [since, to) by type and
// status; a zero to means no end.
func (db *DB) EventCounts(ctx context.Context, since, to time.Time) ([]billing.EventCount, error) {
	return queryAll(ctx, db.read, func(s scanner) (billing.EventCount, error) {
		var c billing.EventCount
		return c, s.Scan(&c.Type, &c.Status, &c.N)
	}, `SELECT type, status, COUNT(*) FROM events WHERE received_at >= $1 AND received_at < $2
		GROUP BY type, status ORDER BY type, status`, sec(since), until(to))
}

// until is an exclusive upper bound in Unix seconds, none for the zero time.
// (Compared with the column, the parameter takes its type, BIGINT, on
// PostgreSQL; compared with a literal it would be a 32-bit integer.)
func until(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return t.Unix()
}

// EventsPerHour counts the events received since a time by hour and status.
func (db *DB) EventsPerHour(ctx context.Context, since time.Time) ([]billing.HourCount, error) {
	return queryAll(ctx, db.read, func(s scanner) (billing.HourCount, error) {
		var c billing.HourCount
		var hour int64
		err := s.Scan(&hour, &c.Status, &c.N)
		c.Hour = billing.Unix(hour * 3600)
		return c, err
	}, `SELECT received_at / 3600, status, COUNT(*) FROM events WHERE received_at >= $1
		GROUP BY received_at / 3600, status ORDER BY 1`, sec(since))
}

// RecordFailure implements billing.Store.
func (db *DB) RecordFailure(ctx context.Context, e *billing.Event, cause string, at time.Time) error {
	cause = db.redact.String(cause)
	return db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		res, err := t.exec(ctx, `INSERT INTO events (id, type, api_version, livemode, created, account, payload,
				status, attempts, last_error, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10) ON CONFLICT (id) DO NOTHING`,
			e.ID, e.Type, e.APIVersion, e.Livemode, sec(e.Created), e.Account, e.Payload, billing.StatusFailed, cause, sec(at))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		_, err = t.exec(ctx, `UPDATE events SET status = $2, attempts = attempts + 1, last_error = $3
			WHERE id = $1 AND status NOT IN ('processed', 'ignored', 'stale')`, e.ID, billing.StatusFailed, cause)
		return err
	})
}

func (t *tx) BeginEvent(ctx context.Context, e *billing.Event) (*billing.Event, error) {
	// The insert comes first: on PostgreSQL, when a concurrent delivery of
	// the same event has inserted it, the insert waits for that transaction
	// and the locking read below then sees its outcome.
	insert := insertEvent(e)
	res, err := t.exec(ctx, insert.query, insert.args...)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, nil
	}
	prev := &billing.Event{ID: e.ID}
	err = t.queryRow(ctx, `SELECT status, api_version, payload FROM events WHERE id = $1`+t.db.forUpdate, e.ID).
		Scan(&prev.Status, &prev.APIVersion, &prev.Payload)
	if err != nil || prev.Status.Done() {
		return prev, err
	}
	return prev, t.run(ctx, retryEvent(e))
}

// insertEvent stores an event as received, unless its id is stored.
func insertEvent(e *billing.Event) stmt {
	return stmt{query: `INSERT INTO events (id, type, api_version, livemode, created, account, payload,
			status, attempts, last_error, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $9, 1, '', $8) ON CONFLICT (id) DO NOTHING`, args: []any{e.ID, e.Type, e.APIVersion, e.Livemode, sec(e.Created), e.Account, e.Payload, sec(e.ReceivedAt), billing.StatusReceived}}
}

// retryEvent counts a new attempt at a stored event not done, with e's body.
func retryEvent(e *billing.Event) stmt {
	return stmt{query: `UPDATE events SET attempts = attempts + 1, payload = $2, api_version = $3 WHERE id = $1`, args: []any{e.ID, e.Payload, e.APIVersion}}
}

func (t *tx) FinishEvent(ctx context.Context, e *billing.Event, status billing.EventStatus, at time.Time) error {
	return t.run(ctx, finishEvent(e, status, at))
}

func finishEvent(e *billing.Event, status billing.EventStatus, at time.Time) stmt {
	return stmt{query: `UPDATE events SET status = $2, processed_at = $3, last_error = '', note = $4, object_id = $5,
		workspace_id = $6 WHERE id = $1`, args: []any{e.ID, status, sec(at), e.Note, e.ObjectID, e.WorkspaceID}}
}
