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
	_, err := t.exec(ctx, `INSERT INTO notifications (key, workspace_id, customer_id, kind, object_id, subject, body, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key) DO NOTHING`,
		n.Key, null(n.WorkspaceID), n.CustomerID, n.Kind, n.ObjectID, n.Subject, n.Body, sec(n.CreatedAt))
	return err
}

// notificationSelect reads notifications n with their recipient: the
// workspace's email, else the Stripe customer's.
const notificationSelect = `SELECT n.id, n.key, COALESCE(n.workspace_id, ''), n.customer_id, n.kind, n.object_id,
		n.subject, n.body, n.status, n.attempts, n.last_error, n.next_attempt_at, n.sent_at, n.created_at,
		COALESCE(NULLIF(w.email, ''), c.email, '')
	FROM notifications n
	LEFT JOIN workspaces w ON w.id = n.workspace_id
	LEFT JOIN customers c ON c.id = n.customer_id`

func scanNotification(s scanner) (billing.Notification, error) {
	var n billing.Notification
	var next, sent, created int64
	err := s.Scan(&n.ID, &n.Key, &n.WorkspaceID, &n.CustomerID, &n.Kind, &n.ObjectID, &n.Subject, &n.Body,
		&n.Status, &n.Attempts, &n.LastError, &next, &sent, &created, &n.Recipient)
	n.NextAttemptAt, n.SentAt, n.CreatedAt = billing.Unix(next), billing.Unix(sent), billing.Unix(created)
	return n, err
}

// ClaimNotification implements billing.Outbox.
func (db *DB) ClaimNotification(ctx context.Context, now time.Time) (*billing.Notification, error) {
	var claimed *billing.Notification
	err := db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		var id int64
		err := t.tx.QueryRowContext(ctx, `SELECT id FROM notifications WHERE status = $1 AND next_attempt_at <= $2
			ORDER BY next_attempt_at, id LIMIT 1`+db.skipLocked, billing.NotifyPending, sec(now)).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE notifications SET status = $2, attempts = attempts + 1 WHERE id = $1`,
			id, billing.NotifySending); err != nil {
			return err
		}
		n, err := scanNotification(t.tx.QueryRowContext(ctx, notificationSelect+` WHERE n.id = $1`, id))
		claimed = &n
		return err
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// SettleNotification implements billing.Outbox.
func (db *DB) SettleNotification(ctx context.Context, n *billing.Notification) error {
	return db.InTx(ctx, func(btx billing.Tx) error {
		_, err := btx.(*tx).tx.ExecContext(ctx, `UPDATE notifications
			SET status = $2, last_error = $3, next_attempt_at = $4, sent_at = $5 WHERE id = $1 AND status = $6`,
			n.ID, n.Status, n.LastError, sec(n.NextAttemptAt), sec(n.SentAt), billing.NotifySending)
		return err
	})
}

// Notifications lists the outbox, newest first; with unsent, only what is
// not sent (pending, sending or failed).
func (db *DB) Notifications(ctx context.Context, unsent bool, limit int) ([]billing.Notification, error) {
	return queryAll(ctx, db.read, scanNotification, notificationSelect+`
		WHERE ($1 = FALSE OR n.status <> $2) ORDER BY n.id DESC LIMIT $3`, unsent, billing.NotifySent, limit)
}

// UnsentNotifications counts the notifications not sent: pending, sending
// or failed.
func (db *DB) UnsentNotifications(ctx context.Context) (int64, error) {
	var n int64
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications WHERE status <> $1`, billing.NotifySent).Scan(&n)
	return n, err
}

// RetryNotification makes a failed notification, or one left sending by a
// sender that stopped, due now with a fresh count of attempts: an operator's
// decision, after fixing what failed, that sending it again is right.
func (db *DB) RetryNotification(ctx context.Context, id int64, now time.Time) error {
	return db.InTx(ctx, func(btx billing.Tx) error {
		res, err := btx.(*tx).tx.ExecContext(ctx, `UPDATE notifications
			SET status = $2, attempts = 0, next_attempt_at = $3 WHERE id = $1 AND status IN ($4, $5)`,
			id, billing.NotifyPending, sec(now), billing.NotifyFailed, billing.NotifySending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return billing.Errorf(billing.ECONFLICT, "notification %d is not failed or interrupted: nothing to send again", id)
		}
		return nil
	})
}
