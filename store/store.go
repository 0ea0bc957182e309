// Package store keeps the billing state in SQL: SQLite (pure Go, the embedded
// default) today, chosen by DATABASE_URL's scheme. It implements billing.Store
// and billing.Tx; SQL lives only here.
package store

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/acme/billing"
	"github.com/acme/billing/redact"
)

//go:embed migrations
var migrations embed.FS

// DB is the billing database.
type DB struct {
	// write runs transactions. On SQLite it has a single connection: SQLite
	// allows one writer at a time, and queueing writers in Go is cheaper and
	// fairer than SQLITE_BUSY retries.
	write *sql.DB
	// read serves the read API. On SQLite it is a separate pool that WAL lets
	// read while a write transaction is open; on PostgreSQL it is write.
	read sqlReader
	// pool is PostgreSQL's, which transactions use natively; write and read
	// are database/sql on top of it, for migrations and plain reads.
	pool    *pgxpool.Pool
	dialect goose.Dialect
	name    string // the file, or the PostgreSQL URL without its password
	// forUpdate locks the rows a read in a transaction will change; SQLite
	// needs none, its writer holds the whole database.
	forUpdate string
	// skipLocked makes concurrent claimers of a queue take different rows.
	skipLocked string
	stmts      sync.Map // query → *sql.Stmt on the SQLite writer; see stmt
	queued     sync.Map // queries to prepare once the writer is free
	// redact masks secrets in the error texts the database keeps.
	redact *redact.Redactor
	trips  *roundTrips // PostgreSQL's; nil on SQLite
	misses atomic.Int64
	// writers is Options.Writers, or its default.
	writers int
}

var _ billing.Store = (*DB)(nil)

// Options tune the PostgreSQL connection pool; zero fields take defaults.
type Options struct {
	MaxOpenConns    int           // default 10
	MaxIdleConns    int           // default 5
	ConnMaxLifetime time.Duration // default 30m
	// Timeout bounds connecting; default 5s.
	Timeout time.Duration
	// ReadOnly opens a SQLite file without first checking that all of its
	// files can be written, for a command that only reads.
	ReadOnly bool
	// Writers is how many group commits run at once on PostgreSQL; default
	// 2 (see Writers).
	Writers int
	// Redactor masks the configured secrets in every error text stored
	// (events' and notifications' last_error); nil masks what redact.Text
	// recognises.
	Redactor *redact.Redactor
}

// DefaultURL is the embedded database: a file in the working directory.
const DefaultURL = "sqlite:billing.db"

// Open opens the database DATABASE_URL names: "postgres://…" (or
// "postgresql://…") for PostgreSQL; "sqlite:PATH" (also "sqlite://PATH",
// "file:PATH", a bare path) for SQLite. It does not migrate; see Migrate.
// Its errors hide the URL's passwords (redact.DSN); it refuses what pgx
// would misread (an unescaped @ or / in the user info) and a keyword/value
// string, which would otherwise name a SQLite file.
func Open(ctx context.Context, databaseURL string, opt Options) (*DB, error) {
	var db *DB
	var err error
	if IsPostgres(databaseURL) {
		db, err = openPostgres(ctx, databaseURL, opt)
	} else {
		db, err = openSQLite(ctx, databaseURL, opt.ReadOnly)
	}
	if err != nil {
		return nil, err
	}
	db.redact = opt.Redactor
	db.writers = 1
	if db.Postgres() {
		db.writers = cmp.Or(opt.Writers, 2)
	}
	return db, nil
}

// IsPostgres reports whether a DATABASE_URL names PostgreSQL.
func IsPostgres(databaseURL string) bool {
	return strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://")
}

func openSQLite(ctx context.Context, databaseURL string, readOnly bool) (*DB, error) {
	path, err := sqlitePath(databaseURL)
	if err != nil {
		return nil, err
	}
	// Checked before SQLite opens anything: it would open an unwritable
	// file read-only without a word, and then set its shared memory file's
	// mode right on disk while keeping its own handle read-only.
	if bad := unwritableFile(path); bad != "" && !readOnly {
		return nil, fmt.Errorf("database %s cannot be written: %s", path, bad)
	}
	// synchronous=FULL: a commit is on disk before the webhook answers 200.
	// _txlock=immediate: a write transaction takes the write lock at BEGIN,
	// so it never fails half-way with SQLITE_BUSY on upgrade.
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)"
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
	return &DB{write: write, read: sqlReader{read}, dialect: goose.DialectSQLite3, name: path}, nil
}

func openPostgres(ctx context.Context, databaseURL string, opt Options) (*DB, error) {
	if misplacedUserInfo(databaseURL) {
		return nil, fmt.Errorf("DATABASE_URL %q: write an @ or / in the user name, password or database name as %%40 or %%2F",
			redact.DSN(databaseURL))
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		// Not wrapped: pgx's error keeps the raw URL, and its text hides
		// the password only where pgx can tell it is one.
		return nil, fmt.Errorf("DATABASE_URL: %s", redact.Text(err.Error()))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = cmp.Or(opt.Timeout, 5*time.Second)
	}
	trips := &roundTrips{}
	cfg.DialFunc = trips.dial(cfg.DialFunc)
	pcfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, err
	}
	pcfg.ConnConfig = cfg
	pcfg.MaxConns = int32(cmp.Or(opt.MaxOpenConns, 10))
	pcfg.MinIdleConns = 0
	pcfg.MaxConnLifetime = cmp.Or(opt.ConnMaxLifetime, 30*time.Minute)
	pcfg.MaxConnIdleTime = 5 * time.Minute
	name := fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	// database/sql borrows from the pool; its own limit only makes its
	// statistics (billing_go_sql_*) say what the pool allows.
	db.SetMaxOpenConns(int(pcfg.MaxConns))
	return &DB{write: db, read: sqlReader{db}, pool: pool, dialect: goose.DialectPostgres, name: name, forUpdate: " FOR UPDATE",
		skipLocked: " FOR UPDATE SKIP LOCKED", trips: trips}, nil
}

// roundTrips counts the round trips to PostgreSQL on the connections'
// sockets: each time the client writes after it has read, it has waited
// for the server's answer, whether to one statement or to a pipeline.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) dial(next pgconn.DialFunc) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc := &countingConn{Conn: c, trips: &r.n}
		cc.read.Store(true)
		return cc, nil
	}
}

// countingConn counts a round trip at each write that follows a read.
// pgx may read in the background while it writes a pipeline, which can
// only count a round trip too many, never one too few.
type countingConn struct {
	net.Conn
	trips *atomic.Int64
	read  atomic.Bool
}

func (c *countingConn) Write(b []byte) (int, error) {
	if c.read.Swap(false) {
		c.trips.Add(1)
	}
	return c.Conn.Write(b)
}

func (c *countingConn) Read(b []byte) (int, error) {
	c.read.Store(true)
	return c.Conn.Read(b)
}

// RoundTrips is how many round trips to PostgreSQL this DB has made since
// it opened; 0 on SQLite, which has no network between them.
func (db *DB) RoundTrips() int64 {
	if db.trips == nil {
		return 0
	}
	return db.trips.n.Load()
}

// misplacedUserInfo reports a PostgreSQL URL that pgx would split where
// its author did not mean to: with an @ or / left unescaped in the
// password, pgx takes what follows for the host or the database name, and
// its connection errors then quote part of the password. pgx splits the
// user info at the first @; an @ in the database name or the query is
// theirs, unless there is none before the first / (then the "path" holds a
// password cut at its /).
func misplacedUserInfo(databaseURL string) bool {
	rest := databaseURL[strings.Index(databaseURL, "://")+3:]
	rest, _, _ = strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	return strings.Count(authority, "@") > 1 || (!strings.Contains(authority, "@") && strings.Contains(path, "@"))
}

// keywordValue matches a PostgreSQL keyword/value connection string, which
// would otherwise name a SQLite file, password and all.
var keywordValue = regexp.MustCompile(`(^|\s)(host|hostaddr|port|dbname|user|password|sslmode|service)\s*=`)

func sqlitePath(databaseURL string) (string, error) {
	u := cmp.Or(databaseURL, DefaultURL)
	bare := true
	for _, prefix := range []string{"sqlite://", "sqlite:", "file:"} {
		if strings.HasPrefix(u, prefix) {
			u, bare = strings.TrimPrefix(u, prefix), false
			break
		}
	}
	if bare && keywordValue.MatchString(u) {
		return "", fmt.Errorf("DATABASE_URL %q: keyword/value connection strings are not supported; write a postgres:// URL",
			redact.DSN(databaseURL))
	}
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	if p, err := url.PathUnescape(u); err == nil {
		u = p
	}
	if u == "" || strings.Contains(u, "://") {
		return "", fmt.Errorf("DATABASE_URL %q: want sqlite:PATH or postgres://…", redact.DSN(databaseURL))
	}
	return u, nil
}

// Name says which database this is, without secrets.
func (db *DB) Name() string { return db.name }

// Migrate applies the embedded migrations of this database that are not
// applied yet, each in a transaction. On PostgreSQL an advisory lock makes
// instances that start together migrate one after the other.
func (db *DB) Migrate(ctx context.Context, logger *slog.Logger) error {
	p, err := db.migrations(ctx)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		if isReadOnly(err) {
			err = nameUnwritable(db.name, err)
		}
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		logger.Info("Applied migration", "version", r.Source.Version, "file", r.Source.Path)
	}
	return nil
}

// migrations returns the migration provider of the database's kind.
func (db *DB) migrations(ctx context.Context) (*goose.Provider, error) {
	dir := "migrations/sqlite"
	var opts []goose.ProviderOption
	if db.dialect == goose.DialectPostgres {
		dir = "migrations/postgres"
		// One lock per database and schema: instances sharing a schema
		// migrate one at a time, other schemas need not wait.
		var where string
		if err := db.write.QueryRowContext(ctx, `SELECT current_database() || '.' || current_schema()`).Scan(&where); err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte("billing migrations " + where))
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(db.dialect, db.write, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Close closes the pools.
func (db *DB) Close() error {
	db.stmts.Range(func(_, s any) bool { s.(*sql.Stmt).Close(); return true })
	if db.pool != nil {
		err := db.write.Close()
		db.pool.Close()
		return err
	}
	return errors.Join(db.read.Close(), db.write.Close())
}

// maxAttempts bounds how often a transaction that lost a serialization or
// deadlock race is run again before its error is returned.
const maxAttempts = 5

// InTx implements billing.Store. A transaction PostgreSQL aborted for a
// serialization failure or a deadlock is run again, up to maxAttempts in
// all; fn must therefore be safe to run more than once. An error that means
// the database cannot be reached is returned as billing.EUNAVAILABLE.
func (db *DB) InTx(ctx context.Context, fn func(billing.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := db.inTx(ctx, fn)
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt == maxAttempts {
			return classify(err)
		}
		select {
		case <-ctx.Done():
			return classify(err)
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
}

func (db *DB) inTx(ctx context.Context, fn func(billing.Tx) error) error {
	c, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer c.rollback()
	if err := fn(&tx{c: c, db: db}); err != nil {
		return err
	}
	return c.commit(ctx)
}

// begin opens a transaction. On PostgreSQL its BEGIN goes out with its
// first statements; rollback after commit only gives the connection back.
func (db *DB) begin(ctx context.Context) (conn, error) {
	if db.pool != nil {
		c, err := db.pool.Acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		return &pgConn{c: c, begin: true}, nil
	}
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &sqlConn{tx: sqlTx, db: db}, nil
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
type tx struct {
	c  conn
	db *DB
	// locked is the keys Lock took. A batch locks all of its keys before its
	// first savepoint, so no rollback to a savepoint can release them.
	locked map[string]struct{}
}

type scanner interface{ Scan(dest ...any) error }

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
	rs, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	return scanAll(rs, scan)
}

// scanAll scans each row with scan.
func scanAll[T any](rs rows, scan func(scanner) (T, error)) ([]T, error) {
	var out []T
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

// Lock implements billing.Tx with PostgreSQL transaction-level advisory
// locks, taken in sorted order (see migration 00002) so that two
// transactions cannot deadlock on them; keys the transaction holds already
// cost nothing. SQLite needs none: its single writer already serialises
// everything.
func (t *tx) Lock(ctx context.Context, keys ...string) error {
	if !t.db.Postgres() {
		return nil
	}
	var todo []string
	for _, k := range keys {
		if _, held := t.locked[k]; !held && k != "" {
			todo = append(todo, k)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if _, err := t.exec(ctx, `SELECT billing_lock($1)`, todo); err != nil {
		return fmt.Errorf("lock %v: %w", todo, err)
	}
	if t.locked == nil {
		t.locked = map[string]struct{}{}
	}
	for _, k := range todo {
		t.locked[k] = struct{}{}
	}
	return nil
}

// SQL is the database/sql pool, for operations and tests that need plain
// SQL.
func (db *DB) SQL() *sql.DB { return db.write }

// Postgres reports whether this is a PostgreSQL database.
func (db *DB) Postgres() bool { return db.dialect == goose.DialectPostgres }

// InBatch implements billing.Store.
func (db *DB) InBatch(ctx context.Context, needs *billing.Needs, fns []func(billing.Tx) error) []error {
	errs := make([]error, len(fns))
	all := func(err error) []error {
		for i := range errs {
			errs[i] = classify(err)
		}
		return errs
	}
	c, err := db.begin(ctx)
	if err != nil {
		return all(err)
	}
	defer c.rollback()
	if pc, ok := c.(*pgConn); ok {
		pc.sent = needs.Sent
	}
	u := newUnit(ctx, &tx{c: c, db: db})
	if err := u.load(ctx, needs); err != nil {
		return all(err)
	}
	for i, fn := range fns {
		errs[i] = u.run(fn)
	}
	db.misses.Add(int64(u.misses))
	if u.broken != nil {
		return all(u.broken)
	}
	if err := u.commit(ctx); err != nil {
		return all(err)
	}
	return errs
}

// Misses counts the reads that group commits could not answer from the
// rows they read first (see unit): each cost a round trip.
func (db *DB) Misses() int64 { return db.misses.Load() }

// Writers is how many group commits should run at once: one on SQLite,
// which has a single writer anyway; two on PostgreSQL by default. A group
// commit takes every event queued when it starts, so fewer writers make
// larger batches, and a batch costs PostgreSQL about the same work whatever
// its size; two let one batch's commit wait on the disk while the next is
// applied (BENCHMARKS.md measures 1, 2, 4 and 8).
func (db *DB) Writers() int { return db.writers }

// stmt returns query prepared on the SQLite writer connection, or nil the
// first time query is seen: SQLite parses SQL slowly enough that re-parsing
// every statement of every event costs more than executing it. The writer's
// only connection is busy with the caller's transaction, so a new query is
// queued and prepared once that transaction ends (see prepareQueued).
// PostgreSQL needs no such cache: pgx keeps one per connection.
func (db *DB) stmt(query string) *sql.Stmt {
	if db.Postgres() {
		return nil
	}
	if s, ok := db.stmts.Load(query); ok {
		return s.(*sql.Stmt)
	}
	db.queued.Store(query, true)
	return nil
}

// prepareQueued prepares the queries stmt queued; a query that fails to
// prepare stays unprepared and is run as plain SQL.
func (db *DB) prepareQueued(ctx context.Context) {
	db.queued.Range(func(q, _ any) bool {
		db.queued.Delete(q)
		if s, err := db.write.PrepareContext(ctx, q.(string)); err == nil {
			db.stmts.Store(q, s)
		}
		return true
	})
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.c.exec(ctx, query, args...)
}

func (t *tx) queryRow(ctx context.Context, query string, args ...any) scanner {
	return t.c.queryRow(ctx, query, args...)
}

func (t *tx) query(ctx context.Context, query string, args ...any) (rows, error) {
	return t.c.query(ctx, query, args...)
}

// run executes statements in order.
func (t *tx) run(ctx context.Context, ss ...stmt) error {
	for _, s := range ss {
		if _, err := t.exec(ctx, s.query, s.args...); err != nil {
			return err
		}
	}
	return nil
}
