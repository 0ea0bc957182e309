// Package store keeps the billing state in SQL: SQLite (pure Go, the embedded
// default) today, chosen by DATABASE_URL's scheme. It implements billing.Store
// and billing.Tx; SQL lives only here.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/acme/billing"
)

//go:embed migrations
var migrations embed.FS

// DB is the billing database.
type DB struct {
	// write has a single connection: SQLite allows one writer at a time, and
	// queueing writers in Go is cheaper and fairer than SQLITE_BUSY retries.
	write *sql.DB
	// read serves the read API from other connections; WAL lets them read
	// while a write transaction is open.
	read    *sql.DB
	dialect goose.Dialect
	path    string
}

var _ billing.Store = (*DB)(nil)

// DefaultURL is the embedded database: a file in the working directory.
const DefaultURL = "sqlite:billing.db"

// Open opens the database DATABASE_URL names: "sqlite:PATH" (or
// "sqlite://PATH", "file:PATH", a bare path). It does not migrate; see Migrate.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	path, err := sqlitePath(databaseURL)
	if err != nil {
		return nil, err
	}
	// synchronous=FULL: a commit is on disk before the webhook answers 200.
	// _txlock=immediate: a write transaction takes the write lock at BEGIN,
	// so it never fails half-way with SQLITE_BUSY on upgrade.
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	write, err := sql.Open("sqlite", "file:"+path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxLifetime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", "file:"+path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	read.SetMaxOpenConns(4)
	return &DB{write: write, read: read, dialect: goose.DialectSQLite3, path: path}, nil
}

func sqlitePath(databaseURL string) (string, error) {
	u := databaseURL
	switch {
	case u == "":
		u = DefaultURL
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return "", fmt.Errorf("DATABASE_URL: PostgreSQL is not supported by this build yet; use sqlite:PATH")
	}
	for _, prefix := range []string{"sqlite://", "sqlite:", "file:"} {
		if strings.HasPrefix(u, prefix) {
			u = strings.TrimPrefix(u, prefix)
			break
		}
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	if p, err := url.PathUnescape(u); err == nil {
		u = p
	}
	if u == "" || strings.Contains(u, "://") {
		return "", fmt.Errorf("DATABASE_URL %q: want sqlite:PATH", databaseURL)
	}
	return u, nil
}

// Path is the SQLite file's path.
func (db *DB) Path() string { return db.path }

// Migrate applies the embedded migrations that are not applied yet, each in
// a transaction.
func (db *DB) Migrate(ctx context.Context, logger *slog.Logger) error {
	sub, err := fs.Sub(migrations, "migrations/sqlite")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(db.dialect, db.write, sub)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		logger.Info("Applied migration", "version", r.Source.Version, "file", r.Source.Path)
	}
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.write.PingContext(ctx) }

// Close closes both pools.
func (db *DB) Close() error { return errors.Join(db.read.Close(), db.write.Close()) }

// InTx implements billing.Store.
func (db *DB) InTx(ctx context.Context, fn func(billing.Tx) error) error {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(&tx{tx: sqlTx}); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Setting returns a value the service keeps for itself, or "" when unset.
func (db *DB) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := db.write.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// InitSetting stores value under key unless a value is there, and returns
// the stored one, so concurrent starts agree on a single value.
func (db *DB) InitSetting(ctx context.Context, key, value string) (string, error) {
	if _, err := db.write.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", err
	}
	return db.Setting(ctx, key)
}

// tx implements billing.Tx on one SQL transaction.
type tx struct{ tx *sql.Tx }

type scanner interface{ Scan(dest ...any) error }

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// sec stores a time as Unix seconds, 0 for the zero time.
func sec(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// null stores "" as NULL, for optional references.
func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func notFound(err error, what, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return billing.Errorf(billing.ENOTFOUND, "%s %q not found", what, id)
	}
	return err
}

// queryAll runs a query and scans each row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
