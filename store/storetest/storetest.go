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
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/acme/billing"
	"github.com/acme/billing/redact"
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
		msg := fmt.Sprintf("PostgreSQL is not reachable at %s (%v): set TEST_DATABASE_URL", redact.DSN(base), err)
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

// Open opens and migrates a fresh database of the backend. At cleanup,
// after what the test registered later (its servers) has stopped, it
// checks the invariant every test must keep, that each cached balance
// equals its ledger's sum, and closes the database.
func Open(t testing.TB, logger *slog.Logger) *store.DB {
	t.Helper()
	db := OpenURL(t, URL(t), logger)
	t.Cleanup(func() {
		if bad, err := db.CheckBalances(context.Background()); err != nil || len(bad) > 0 {
			t.Errorf("cached balance differs from the ledger sum for %v (%v)", bad, err)
		}
	})
	return db
}

// OpenURL opens and migrates the database at databaseURL, with opt if
// given; it is closed at cleanup.
func OpenURL(t testing.TB, databaseURL string, logger *slog.Logger, opt ...store.Options) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, databaseURL, append(opt, store.Options{})[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, logger); err != nil {
		t.Fatal(err)
	}
	return db
}

// Server is a private PostgreSQL server that a test may stop and start.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	asOwner func(name string, args ...string) *exec.Cmd
}

// StartServer initialises and starts a PostgreSQL server of its own on a
// free loopback port, stopped at cleanup. It needs PostgreSQL's server
// binaries (Debian: /usr/lib/postgresql/*/bin); without them it skips, or
// fails under BILLING_REQUIRE_POSTGRES=1.
func StartServer(t testing.TB) *Server {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		msg := "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): install the postgresql package"
		if os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatal(msg)
		}
		fmt.Fprintln(os.Stderr, "SKIPPING POSTGRESQL SERVER TESTS:", msg)
		t.Skip(msg)
	}
	s := &Server{t: t, bin: filepath.Dir(bins[len(bins)-1])}
	s.asOwner = exec.Command
	dir, err := os.MkdirTemp("", "billing-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	// PostgreSQL refuses to run as root: run it as the postgres user then.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and no postgres user: %v", err)
		}
		if out, err := exec.Command("chown", u.Uid+":"+u.Gid, dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
		s.asOwner = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.run("initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
	s.Start()
	t.Cleanup(func() {
		_ = s.asOwner(filepath.Join(s.bin, "pg_ctl"), "stop", "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w").Run()
	})
	return s
}

func (s *Server) run(name string, args ...string) {
	s.t.Helper()
	if out, err := s.asOwner(filepath.Join(s.bin, name), args...).CombinedOutput(); err != nil {
		s.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// URL is the server's DATABASE_URL.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	s.run("pg_ctl", "start", "-D", filepath.Join(s.dir, "data"), "-w", "-l", filepath.Join(s.dir, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", s.port, s.dir))
}

// Stop stops the server at once, as a crash would: no clean shutdown.
func (s *Server) Stop() {
	s.t.Helper()
	s.run("pg_ctl", "stop", "-D", filepath.Join(s.dir, "data"), "-m", "immediate", "-w")
}

// Break makes every insert into table fail with msg, through a real
// trigger of the database, until the returned repair is called.
func Break(t testing.TB, db *store.DB, table, msg string) (repair func()) {
	t.Helper()
	stmts := []string{fmt.Sprintf(`CREATE TRIGGER boom BEFORE INSERT ON %s BEGIN SELECT RAISE(ABORT, '%s'); END`, table, msg)}
	drop := `DROP TRIGGER boom`
	if db.Postgres() {
		stmts = []string{
			fmt.Sprintf(`CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '%s'; END; $$`, msg),
			fmt.Sprintf(`CREATE TRIGGER boom BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION boom()`, table),
		}
		drop = `DROP TRIGGER boom ON ` + table
	}
	for _, stmt := range stmts {
		if _, err := db.SQL().Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		if _, err := db.SQL().Exec(drop); err != nil {
			t.Fatal(err)
		}
	}
}

// Dispatch turns the feed's messages into deliveries to url, as the sender
// does, once the feed serves them all (AwaitFeed), and returns how many; it
// fails the test for fewer than want.
func Dispatch(t testing.TB, db *store.DB, url string, want int, now time.Time) int {
	t.Helper()
	AwaitFeed(t, db)
	n, err := db.Dispatch(context.Background(), url, nil, 1000, now)
	if err != nil || n < want {
		t.Fatalf("dispatched %d messages to %s (%v), want %d", n, url, err, want)
	}
	return n
}

// AwaitFeed waits until the feed serves every message committed. On
// PostgreSQL it serves a message once every older transaction on the
// server has ended, and other packages' tests share the server; no channel
// tells of those, so it polls, for up to 30 s.
func AwaitFeed(t testing.TB, db *store.DB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var stored int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM app_messages`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		page, err := db.Feed(context.Background(), billing.FeedQuery{Limit: billing.MaxFeedLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Messages) == stored {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the feed serves %d of %d messages after 30 s", len(page.Messages), stored)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
