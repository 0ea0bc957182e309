package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/acme/billing"
)

var _ billing.Feed = (*DB)(nil)

// WorkspaceMark implements billing.Tx: the mark lives on the workspace's
// row, read with its credits and locked as Balance locks it.
func (t *tx) WorkspaceMark(ctx context.Context, workspaceID string) (*billing.WorkspaceMark, error) {
	r, err := scanWorkspaceRow(t.queryRow(ctx, `SELECT `+workspaceRowColumns+` FROM workspaces WHERE id = $1`+t.db.forUpdate, workspaceID))
	if err != nil {
		return nil, notFound(err, "workspace", workspaceID)
	}
	return &r.mark, nil
}

// workspaceRowColumns are a workspace's, with its credits and mark.
const workspaceRowColumns = workspaceColumns + `, ` + balanceColumns + `, sub_lot_key, sub_lot_start,
	message_sequence, announced_entitlement, announced_until, credits_low`

func scanWorkspaceRow(s scanner) (*workspaceRow, error) {
	var r workspaceRow
	var created, lotStart, until int64
	var low int
	m := &r.mark
	err := s.Scan(&r.w.ID, &r.w.Name, &r.w.Email, &r.w.StripeCustomerID, &created,
		&m.Credits.Subscription, &m.Credits.Purchased, &m.Credits.Lot, &lotStart,
		&m.Sequence, &m.Entitlement, &until, &low)
	if err != nil {
		return nil, err
	}
	r.w.CreatedAt, m.WorkspaceID = billing.Unix(created), r.w.ID
	m.Until, m.CreditsLow, m.Credits.LotStart = billing.Unix(until), low == 1, billing.Unix(lotStart)
	return &r, nil
}

// AddMessage implements billing.Tx.
func (t *tx) AddMessage(ctx context.Context, m *billing.Message) (bool, error) {
	insert := addMessage(m)
	res, err := t.exec(ctx, insert.query, insert.args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func addMessage(m *billing.Message) stmt {
	return stmt{query: `INSERT INTO app_messages (id, key, type, workspace_id, sequence, created_at, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) WHERE key IS NOT NULL DO NOTHING`, args: []any{m.ID, null(m.Key), m.Type, m.WorkspaceID, m.Sequence, sec(m.CreatedAt), string(m.Body)}}
}

// AddMessages implements billing.Tx.
func (t *tx) AddMessages(ctx context.Context, ms []*billing.Message, mark *billing.WorkspaceMark) error {
	return t.run(ctx, t.db.addMessages(ms, mark)...)
}

// addMessages stores messages without keys and the mark, if any: on
// PostgreSQL in one statement.
func (db *DB) addMessages(ms []*billing.Message, mark *billing.WorkspaceMark) []stmt {
	insert, args := messagesInsert(ms)
	if mark == nil {
		if insert == "" {
			return nil
		}
		return []stmt{{query: insert, args: args}}
	}
	low := 0
	if mark.CreditsLow {
		low = 1
	}
	markArgs := []any{mark.WorkspaceID, mark.Sequence, mark.Entitlement, sec(mark.Until), low}
	switch {
	case insert == "":
		return []stmt{{query: markUpdate(0), args: markArgs}}
	case db.Postgres():
		// A data-modifying WITH runs whether or not the UPDATE reads it.
		return []stmt{{query: `WITH added AS (` + insert + `) ` + markUpdate(len(args)), args: append(args, markArgs...)}}
	}
	return []stmt{{query: insert, args: args}, {query: markUpdate(0), args: markArgs}}
}

// messagesInsert is the INSERT of ms, "" for none.
func messagesInsert(ms []*billing.Message) (string, []any) {
	if len(ms) == 0 {
		return "", nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO app_messages (id, type, workspace_id, sequence, created_at, body) VALUES `)
	args := make([]any, 0, 6*len(ms))
	for i, m := range ms {
		if i > 0 {
			b.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6)
		args = append(args, m.ID, m.Type, m.WorkspaceID, m.Sequence, sec(m.CreatedAt), string(m.Body))
	}
	return b.String(), args
}

// markUpdate stores a mark whose five values are the parameters after the
// first n: the workspace, sequence, entitlement, until and credits_low.
func markUpdate(n int) string {
	return fmt.Sprintf(`UPDATE workspaces SET message_sequence = $%d, announced_entitlement = $%d, announced_until = $%d,
		credits_low = $%d WHERE id = $%d`, n+2, n+3, n+4, n+5, n+1)
}

// DueEntitlementChecks implements billing.Store.
func (db *DB) DueEntitlementChecks(ctx context.Context, now time.Time) ([]string, error) {
	return queryAll(ctx, db.read, func(s scanner) (string, error) {
		var ws string
		return ws, s.Scan(&ws)
	}, `SELECT id FROM workspaces WHERE announced_until > 0 AND announced_until <= $1 ORDER BY announced_until LIMIT 1000`, sec(now))
}

// cursor is a place in the feed: after the message at (txid, position).
// SQLite has one writer, so its txid is always 0.
type cursor struct{ txid, position int64 }

func (c cursor) String() string {
	return strconv.FormatInt(c.txid, 10) + "-" + strconv.FormatInt(c.position, 10)
}

func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	txid, pos, ok := strings.Cut(s, "-")
	c := cursor{}
	var err1, err2 error
	c.txid, err1 = strconv.ParseInt(txid, 10, 64)
	c.position, err2 = strconv.ParseInt(pos, 10, 64)
	if !ok || err1 != nil || err2 != nil || c.txid < 0 || c.position < 0 {
		return cursor{}, billing.Errorf(billing.EINVALID, "after %q is not a cursor of this feed: pass the next of a previous page", s)
	}
	return c, nil
}

// visible is the feed's condition on PostgreSQL: a message whose
// transaction is older than every transaction still running. Any message
// not visible yet is written by a transaction whose id is at least that
// horizon, so it comes after every message visible now in (txid,
// position) order.
const visible = ` AND txid < pg_snapshot_xmin(pg_current_snapshot())`

// Feed implements billing.Feed.
func (db *DB) Feed(ctx context.Context, q billing.FeedQuery) (*billing.FeedPage, error) {
	after, err := parseCursor(q.After)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 || limit > billing.MaxFeedLimit {
		limit = billing.DefaultFeedLimit
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	// Each branch numbers its own arguments: an unused one has no type on PostgreSQL.
	txid, where, order := `txid::text::bigint`, ``, `txid, position`
	if db.Postgres() {
		where = `(txid, position) > (` + arg(strconv.FormatInt(after.txid, 10)) + `::text::xid8, ` + arg(after.position) + `)` + visible
	} else {
		txid, where, order = `0`, `position > `+arg(after.position), `position`
	}
	if q.WorkspaceID != "" {
		where += ` AND workspace_id = ` + arg(q.WorkspaceID)
	}
	if len(q.Types) > 0 {
		marks := make([]string, len(q.Types))
		for i, t := range q.Types {
			marks[i] = arg(t)
		}
		where += ` AND type IN (` + strings.Join(marks, ", ") + `)`
	}
	type row struct {
		m billing.Message
		c cursor
	}
	rows, err := queryAll(ctx, db.read, func(s scanner) (row, error) {
		var r row
		var created int64
		var body string
		err := s.Scan(&r.c.txid, &r.c.position, &r.m.ID, &r.m.Type, &r.m.WorkspaceID, &r.m.Sequence, &created, &body)
		r.m.Position, r.m.CreatedAt, r.m.Body = r.c.position, billing.Unix(created), []byte(body)
		return r, err
	}, `SELECT `+txid+`, position, id, type, workspace_id, sequence, created_at, body FROM app_messages
		WHERE `+where+` ORDER BY `+order+` LIMIT `+arg(limit), args...)
	if err != nil {
		return nil, err
	}
	page := &billing.FeedPage{Next: q.After, Messages: make([]billing.Message, 0, len(rows))}
	for _, r := range rows {
		page.Messages = append(page.Messages, r.m)
		page.Next = r.c.String()
	}
	return page, nil
}

// FeedEnd implements billing.Feed.
func (db *DB) FeedEnd(ctx context.Context) (string, error) {
	query := `SELECT 0, position FROM app_messages ORDER BY position DESC LIMIT 1`
	if db.Postgres() {
		query = `SELECT txid::text::bigint, position FROM app_messages WHERE TRUE` + visible + ` ORDER BY txid DESC, position DESC LIMIT 1`
	}
	var c cursor
	err := db.read.QueryRowContext(ctx, query).Scan(&c.txid, &c.position)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return c.String(), err
}

// prunable are the messages PruneMessages deletes: written before $1 and
// owed to no endpoint.
const prunable = `created_at < $1 AND NOT EXISTS (SELECT 1 FROM app_deliveries d
	WHERE d.message = app_messages.position AND d.status IN ('pending', 'sending'))`

// PruneMessages implements billing.Feed. A message still owed to an
// endpoint (a delivery pending or being sent, e.g. to an endpoint disabled
// by a 410) is kept until it is delivered or fails. It adds what it deletes
// to app_messages_pruned in the same transaction, so that MessageCounts
// never goes down.
func (db *DB) PruneMessages(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(btx billing.Tx) error {
		t := btx.(*tx)
		if db.Postgres() {
			// The rows this statement deletes are the rows it counts, even
			// with another instance pruning at the same time.
			return t.queryRow(ctx, `WITH gone AS (DELETE FROM app_messages WHERE `+prunable+` RETURNING type),
				counted AS (INSERT INTO app_messages_pruned (type, pruned) SELECT type, count(*) FROM gone GROUP BY type
					ON CONFLICT (type) DO UPDATE SET pruned = app_messages_pruned.pruned + excluded.pruned)
				SELECT count(*) FROM gone`, sec(before)).Scan(&n)
		}
		// SQLite has one writer: what this transaction counts stays until it deletes it.
		if _, err := t.exec(ctx, `INSERT INTO app_messages_pruned (type, pruned)
			SELECT type, n FROM (SELECT type, count(*) AS n FROM app_messages WHERE `+prunable+` GROUP BY type) WHERE true
			ON CONFLICT (type) DO UPDATE SET pruned = app_messages_pruned.pruned + excluded.pruned`, sec(before)); err != nil {
			return err
		}
		res, err := t.exec(ctx, `DELETE FROM app_messages WHERE `+prunable, sec(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// MessageCount is how many messages of a type were ever written.
type MessageCount struct {
	Type string
	N    int64
}

// MessageCounts returns how many messages of each type were ever written,
// those kept and those pruned, by type.
func (db *DB) MessageCounts(ctx context.Context) ([]MessageCount, error) {
	return queryAll(ctx, db.read, func(s scanner) (MessageCount, error) {
		var c MessageCount
		return c, s.Scan(&c.Type, &c.N)
	}, `SELECT type, SUM(n) FROM (SELECT type, count(*) AS n FROM app_messages GROUP BY type
		UNION ALL SELECT type, pruned FROM app_messages_pruned) counts GROUP BY type ORDER BY type`)
}

// CheckFeedClock refuses a PostgreSQL database whose messages carry
// transaction ids the server has not reached: one restored from a dump of
// another server (or moved by logical replication). New messages would sort
// before every cursor, and the feed and the app webhooks would pass over
// them.
func (db *DB) CheckFeedClock(ctx context.Context) error {
	if !db.Postgres() {
		return nil
	}
	var ahead bool
	err := db.read.QueryRowContext(ctx, `SELECT COALESCE(max(txid) >= pg_snapshot_xmax(pg_current_snapshot()), FALSE)
		FROM app_messages`).Scan(&ahead)
	if err != nil || !ahead {
		return err
	}
	return billing.Errorf(billing.ECONFLICT, "the app's messages carry transaction ids ahead of this PostgreSQL server "+
		"(was the database restored from another server?): new messages would be passed over. "+
		"Run UPDATE app_messages SET txid = '1'; UPDATE app_endpoints SET cursor = ''; "+
		"then start again: every message kept is sent again (receivers de-duplicate by webhook-id), "+
		"and feed readers start again without a cursor (README: the feed after a move)")
}
