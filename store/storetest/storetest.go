// Package storetest gives tests a fresh, migrated database of the backend
// that BILLING_TEST_DB names, "sqlite" (the default) or "postgres", so that
// one suite runs against both (./test.sh runs it twice).
//
// PostgreSQL is taken from TEST_DATABASE_URL (default: the local server,
// postgres://postgres@127.0.0.1:5432/test); each test gets a schema of its
// own, dropped at cleanup. Where no server answers, PostgreSQL tests skip
// with a loud message, unless BILLING_REQUIRE_POSTGRES=1 (set in CI), which
// makes them fail.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/acme/billing/store"
)

// Environment variables the tests read.
const (
	EnvBackend         = "BILLING_TEST_DB"
	EnvPostgresURL     = "TEST_DATABASE_URL"
	EnvRequirePostgres = "BILLING_REQUIRE_POSTGRES"
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// Postgres reports whether the suite runs against PostgreSQL.
func Postgres() bool { return os.Getenv(EnvBackend) == "postgres" }

// URL returns the DATABASE_URL of a fresh, empty database of the backend.
func URL(t testing.TB) string {
	t.Helper()
	if Postgres() {
		return PostgresURL(t)
	}
	return "sqlite:" + filepath.Join(t.TempDir(), "billing.db")
}

// PostgresURL returns the DATABASE_URL of a fresh PostgreSQL schema,
// whatever the backend.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		base = DefaultPostgresURL
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s (%v): set TEST_DATABASE_URL", redact(base), err)
		if os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatal(msg)
		}
		fmt.Fprintln(os.Stderr, "SKIPPING POSTGRESQL TESTS:", msg)
		t.Skip(msg)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "billing_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens and migrates a fresh database of the backend; it is closed at cleanup.
func Open(t testing.TB, logger *slog.Logger) *store.DB {
	t.Helper()
	return OpenURL(t, URL(t), logger)
}

// OpenURL opens and migrates the database at databaseURL; it is closed at cleanup.
func OpenURL(t testing.TB, databaseURL string, logger *slog.Logger) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, databaseURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, logger); err != nil {
		t.Fatal(err)
	}
	return db
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
