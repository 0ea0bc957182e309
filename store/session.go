package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/acme/billing"
)

// Session is a dashboard session as operators see it: no token, no hash.
type Session struct {
	ID         int64
	RemoteAddr string // where the login came from
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// deleteExpired deletes the sessions expired by $1.
const deleteExpired = `DELETE FROM admin_sessions WHERE expires_at <= $1`

// CreateSession stores a dashboard session under the hash of its token and
// returns its id. It deletes the sessions expired by now first, so the table
// holds only the logins of the last session lifetime.
func (db *DB) CreateSession(ctx context.Context, tokenHash, remoteAddr string, now, expires time.Time) (int64, error) {
	var id int64
	err := db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		if _, err := t.exec(ctx, deleteExpired, sec(now)); err != nil {
			return err
		}
		return t.queryRow(ctx, `INSERT INTO admin_sessions (token_hash, remote_addr, created_at, expires_at)
			VALUES ($1, $2, $3, $4) RETURNING id`, tokenHash, remoteAddr, sec(now), sec(expires)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("create session: %w", err)
	}
	return id, nil
}

// ActiveSession returns the id of the session whose token hashes to
// tokenHash, if it exists and has not expired by now.
func (db *DB) ActiveSession(ctx context.Context, tokenHash string, now time.Time) (id int64, ok bool, err error) {
	err = db.read.QueryRowContext(ctx, `SELECT id FROM admin_sessions WHERE token_hash = $1 AND expires_at > $2`,
		tokenHash, sec(now)).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("read session: %w", classify(err))
	}
	return id, true, nil
}

// EndSession deletes the session whose token hashes to tokenHash (a
// logout); ending one that is gone already is no error.
func (db *DB) EndSession(ctx context.Context, tokenHash string) error {
	_, err := db.deleteSessions(ctx, `DELETE FROM admin_sessions WHERE token_hash = $1`, tokenHash)
	return err
}

// Sessions lists the sessions not expired by now, oldest first.
func (db *DB) Sessions(ctx context.Context, now time.Time) ([]Session, error) {
	list, err := queryAll(ctx, db.read, func(s scanner) (Session, error) {
		var ss Session
		var created, expires int64
		err := s.Scan(&ss.ID, &ss.RemoteAddr, &created, &expires)
		ss.CreatedAt, ss.ExpiresAt = billing.Unix(created), billing.Unix(expires)
		return ss, err
	}, `SELECT id, remote_addr, created_at, expires_at FROM admin_sessions WHERE expires_at > $1 ORDER BY id`, sec(now))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", classify(err))
	}
	return list, nil
}

// RevokeSession ends the session id, whether or not it has expired.
func (db *DB) RevokeSession(ctx context.Context, id int64) error {
	n, err := db.deleteSessions(ctx, `DELETE FROM admin_sessions WHERE id = $1`, id)
	if err == nil && n == 0 {
		return billing.Errorf(billing.ENOTFOUND, "no dashboard session %d", id)
	}
	return err
}

// RevokeSessions ends every session and returns how many had not expired
// by now.
func (db *DB) RevokeSessions(ctx context.Context, now time.Time) (int64, error) {
	if _, err := db.deleteSessions(ctx, deleteExpired, sec(now)); err != nil {
		return 0, err
	}
	return db.deleteSessions(ctx, `DELETE FROM admin_sessions`)
}

// deleteSessions runs a DELETE of sessions and returns how many it deleted.
func (db *DB) deleteSessions(ctx context.Context, query string, args ...any) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(btx billing.Tx) error {
		res, err := btx.(*tx).exec(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("end sessions: %w", err)
	}
	return n, nil
}
