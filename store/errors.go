package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/acme/billing"
)

// ErrUnavailable is returned, wrapping the cause, when the database cannot
// be reached or did not answer in time: the caller should try again later.
var ErrUnavailable = billing.Errorf(billing.EUNAVAILABLE, "database unavailable")

// retryable reports whether PostgreSQL aborted a transaction only because it
// raced another: a serialization failure or a deadlock.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// classify wraps errors that mean "the database is not there right now" in
// ErrUnavailable, so that the webhook answers 503 and Stripe retries. That
// includes a SQLite file that cannot be written for an operational reason
// (disk full, read-only, I/O error, cannot open): nothing is wrong with the
// event, and once an operator frees space or fixes the mount, Stripe's retry
// applies it.
func classify(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) || !unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func unavailable(err error) bool {
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		// Code may be an extended result code; its low byte is the primary one.
		switch liteErr.Code() & 0xff {
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
			return true
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 57P01-03: shutting down or starting up;
		// 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "SQLITE_BUSY")
}
