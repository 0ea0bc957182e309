package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// stmt is a statement and its arguments, kept to be sent later.
type stmt struct {
	query string
	args  []any
}

// query is a query and what reads its rows.
type query struct {
	stmt
	scan func(rows) error
}

// read scans the rows of q that a query returned, and closes them.
func (q query) read(rs rows, err error) error {
	if err == nil {
		err = q.scan(rs)
		rs.Close()
		if err == nil {
			err = rs.Err()
		}
	}
	if err != nil {
		return stmtError(q.stmt, err)
	}
	return nil
}

// rows is what a query returns on either database.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// querier runs queries: an open transaction, or the read pool.
type querier interface {
	queryRow(ctx context.Context, query string, args ...any) scanner
	query(ctx context.Context, query string, args ...any) (rows, error)
}

// conn is one open transaction. PostgreSQL's speaks pgx natively, so that
// statements can be pipelined; SQLite's is database/sql, where a statement
// costs no round trip.
type conn interface {
	querier
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	// send runs statements in order and returns the first error, with the
	// statement that caused it. On PostgreSQL it is one round trip; with
	// commit, the transaction then commits in that same round trip.
	send(ctx context.Context, stmts []stmt, commit bool) error
	// sendQueries runs stmts, then each query, whose rows its scan reads,
	// in one round trip on PostgreSQL.
	sendQueries(ctx context.Context, stmts []stmt, qs []query) error
	commit(ctx context.Context) error
	rollback()
}

// sqlRows adapts database/sql's rows.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// sqlReader is the read pool.
type sqlReader struct{ *sql.DB }

func (r sqlReader) queryRow(ctx context.Context, query string, args ...any) scanner {
	return r.QueryRowContext(ctx, query, args...)
}

func (r sqlReader) query(ctx context.Context, query string, args ...any) (rows, error) {
	rs, err := r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

// sqlConn is a SQLite transaction, with the writer's prepared statements.
type sqlConn struct {
	tx *sql.Tx
	db *DB
}

func (c *sqlConn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := c.db.stmt(query); s != nil {
		return c.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return c.tx.ExecContext(ctx, query, args...)
}

func (c *sqlConn) queryRow(ctx context.Context, query string, args ...any) scanner {
	if s := c.db.stmt(query); s != nil {
		return c.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return c.tx.QueryRowContext(ctx, query, args...)
}

func (c *sqlConn) query(ctx context.Context, query string, args ...any) (rows, error) {
	var rs *sql.Rows
	var err error
	if s := c.db.stmt(query); s != nil {
		rs, err = c.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	} else {
		rs, err = c.tx.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func (c *sqlConn) send(ctx context.Context, stmts []stmt, commit bool) error {
	for _, s := range stmts {
		if _, err := c.exec(ctx, s.query, s.args...); err != nil {
			return stmtError(s, err)
		}
	}
	if commit {
		return c.commit(ctx)
	}
	return nil
}

func (c *sqlConn) sendQueries(ctx context.Context, stmts []stmt, qs []query) error {
	if err := c.send(ctx, stmts, false); err != nil {
		return err
	}
	for _, q := range qs {
		if err := q.read(c.query(ctx, q.query, q.args...)); err != nil {
			return err
		}
	}
	return nil
}

func (c *sqlConn) commit(context.Context) error {
	if err := c.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rollback ends the transaction if commit did not, then prepares the
// statements it queued (see DB.stmt), the writer's connection being free.
func (c *sqlConn) rollback() {
	_ = c.tx.Rollback()
	c.db.prepareQueued(context.Background())
}

// pgConn is a PostgreSQL transaction on a connection of the pool. It is
// begun by the first statements sent, and committed by the last ones, so
// neither costs a round trip of its own.
type pgConn struct {
	c *pgxpool.Conn
	// begin is true until BEGIN went out with the first statements.
	begin bool
	// sent, if set, is called once a COMMIT is on its way.
	sent func()
}

// pgResult adapts a command tag to database/sql's result.
type pgResult pgconn.CommandTag

func (r pgResult) RowsAffected() (int64, error) { return pgconn.CommandTag(r).RowsAffected(), nil }
func (r pgResult) LastInsertId() (int64, error) {
	return 0, errors.New("PostgreSQL has no last insert id")
}

// batch queues stmts after BEGIN, if it has not gone out yet.
func (c *pgConn) batch(stmts []stmt) *pgx.Batch {
	b := &pgx.Batch{}
	if c.begin {
		b.Queue("BEGIN")
		c.begin = false
	}
	for _, s := range stmts {
		b.Queue(s.query, s.args...)
	}
	return b
}

// begun sends BEGIN if it has not gone out yet: a statement run on its own
// waits for its answer anyway.
func (c *pgConn) begun(ctx context.Context) error {
	if !c.begin {
		return nil
	}
	c.begin = false
	if _, err := c.c.Exec(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return nil
}

func (c *pgConn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := c.begun(ctx); err != nil {
		return nil, err
	}
	tag, err := c.c.Exec(ctx, query, args...)
	return pgResult(tag), err
}

func (c *pgConn) queryRow(ctx context.Context, query string, args ...any) scanner {
	if err := c.begun(ctx); err != nil {
		return errRow{err}
	}
	return c.c.QueryRow(ctx, query, args...)
}

func (c *pgConn) query(ctx context.Context, query string, args ...any) (rows, error) {
	if err := c.begun(ctx); err != nil {
		return nil, err
	}
	return c.c.Query(ctx, query, args...)
}

func (c *pgConn) send(ctx context.Context, stmts []stmt, commit bool) error {
	if len(stmts) == 0 && !c.begin {
		if commit {
			return c.commit(ctx)
		}
		return nil
	}
	b := c.batch(stmts)
	if commit {
		b.Queue("COMMIT")
	}
	br := c.c.SendBatch(ctx, b)
	if commit && c.sent != nil {
		c.sent()
	}
	first := len(b.QueuedQueries) - len(stmts)
	if commit {
		first--
	}
	err := readAll(br, b, first, stmts, commit)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// committed checks a COMMIT's answer: PostgreSQL answers ROLLBACK, with no
// error, to the COMMIT of a transaction an earlier error aborted.
func committed(tag pgconn.CommandTag) error {
	if tag.String() != "COMMIT" {
		return fmt.Errorf("commit: the transaction was rolled back (%s)", tag.String())
	}
	return nil
}

// readAll reads every result of a sent batch whose stmts start at first,
// and checks the COMMIT that ends it, if commit.
func readAll(br pgx.BatchResults, b *pgx.Batch, first int, stmts []stmt, commit bool) error {
	for i := range b.QueuedQueries {
		tag, err := br.Exec()
		if err != nil {
			if i >= first && i-first < len(stmts) {
				return stmtError(stmts[i-first], err)
			}
			return fmt.Errorf("%s: %w", b.QueuedQueries[i].SQL, err)
		}
		if commit && i == len(b.QueuedQueries)-1 {
			return committed(tag)
		}
	}
	return nil
}

func (c *pgConn) sendQueries(ctx context.Context, stmts []stmt, qs []query) error {
	b := c.batch(stmts)
	first := len(b.QueuedQueries) - len(stmts)
	for _, q := range qs {
		b.Queue(q.query, q.args...)
	}
	br := c.c.SendBatch(ctx, b)
	defer br.Close()
	for i := range first + len(stmts) {
		if _, err := br.Exec(); err != nil {
			if i >= first {
				return stmtError(stmts[i-first], err)
			}
			return fmt.Errorf("begin: %w", err)
		}
	}
	for _, q := range qs {
		if err := q.read(br.Query()); err != nil {
			return err
		}
	}
	return br.Close()
}

func (c *pgConn) commit(ctx context.Context) error {
	if c.begin {
		return nil // nothing was sent: nothing to commit
	}
	tag, err := c.c.Exec(ctx, "COMMIT")
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return committed(tag)
}

// rollback ends the transaction; a connection left in doubt is closed
// rather than given back to the pool.
func (c *pgConn) rollback() {
	defer c.c.Release()
	if c.begin || c.c.Conn().PgConn().TxStatus() == 'I' {
		return
	}
	if _, err := c.c.Exec(context.Background(), "ROLLBACK"); err != nil {
		_ = c.c.Conn().Close(context.Background())
	}
}

// stmtError names the statement that failed, without its arguments.
func stmtError(s stmt, err error) error {
	return fmt.Errorf("%s: %w", firstLine(s.query), err)
}

func firstLine(q string) string {
	q, _, _ = strings.Cut(q, "\n")
	if len(q) > 60 {
		q = q[:60] + "…"
	}
	return q
}

// errRow is a row whose query failed.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
