package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/acme/billing"
)

// unit is the billing.Tx of a group commit (DB.InBatch). In the round trip
// that begins the transaction and takes its locks, it reads every row its
// events will need (billing.Needs). The rules then read and write rows in
// memory, and what they wrote goes out with the COMMIT, each table's rows
// in one statement on PostgreSQL: two round trips, and a few statements,
// whatever the batch's size.
//
// A read that memory cannot answer (a miss) is sent to the database after
// everything written so far, so it sees what the database would have:
// the needs change speed, never results. The database must not see half
// an event, so a miss in an event that has written something undoes the
// event, writes the others', reads, and runs the event again from its
// start. An event that fails is undone alone: the rows it changed are
// restored in memory and its statements dropped, so none of it was sent.
type unit struct {
	t *tx
	// ctx is the batch's: what one request's context says must not stop
	// the writes and reads of the others.
	ctx  context.Context
	rows known
	// dirty names the rows to write, by table.
	dirty dirty
	// ledger and messages are the entries and messages added, to insert.
	ledger   []*billing.LedgerEntry
	messages []*billing.Message
	// How many of them the applied events added; the rest are the running
	// event's.
	ledgerDone, messagesDone int
	// done holds the statements with no row in memory (pending grants,
	// notifications, bulk updates) of applied events; cur the running
	// event's.
	done, cur []stmt
	// undo restores memory as it was before the running event.
	undo    []func()
	inEvent bool
	// reads are the misses to read before the running event runs again.
	reads  []func(context.Context) error
	misses int
	// broken is the error of a statement that failed. PostgreSQL then
	// aborts the transaction; SQLite undoes only the statement, and what
	// else the batch kept is lost. Either way the whole batch fails with it.
	broken error
}

// known is the rows the unit has read or written. A nil value is a row
// known to be absent; a missing key, one not read.
type known struct {
	events        map[string]*eventRow
	workspaces    map[string]*workspaceRow
	customers     map[string]*billing.Customer
	subscriptions map[string]*billing.Subscription
	invoices      map[string]*billing.Invoice
	payments      map[string]*billing.Payment
	checkouts     map[string]*billing.CheckoutSession
	refunds       map[string]*billing.Refund
	disputes      map[string]*billing.Dispute
	ledger        map[string]*billing.LedgerEntry
	messages      map[string]bool // by key: stored
	consumptions  map[string]*billing.Consumption
	// pending is each customer's waiting grants, all of them, oldest first.
	pending map[string][]billing.Grant
	// Whose subscriptions are all in subscriptions.
	subsOfWorkspace, subsOfCustomer map[string]bool
}

type dirty struct {
	events, workspaces, customers, subscriptions, invoices, payments, checkouts, refunds, disputes map[string]bool
}

type eventRow struct {
	// As stored before this transaction.
	status     billing.EventStatus
	apiVersion string
	payload    []byte
	// write is the event as it will be written, once begun here.
	write *billing.Event
}

type workspaceRow struct {
	w    billing.Workspace
	mark billing.WorkspaceMark // Credits holds the balance and lot
	// created is a row not in the database yet.
	created bool
}

func newUnit(ctx context.Context, t *tx) *unit {
	return &unit{t: t, ctx: ctx, rows: known{
		events: map[string]*eventRow{}, workspaces: map[string]*workspaceRow{},
		customers: map[string]*billing.Customer{}, subscriptions: map[string]*billing.Subscription{},
		invoices: map[string]*billing.Invoice{}, payments: map[string]*billing.Payment{},
		checkouts: map[string]*billing.CheckoutSession{}, refunds: map[string]*billing.Refund{}, disputes: map[string]*billing.Dispute{},
		ledger: map[string]*billing.LedgerEntry{}, messages: map[string]bool{}, consumptions: map[string]*billing.Consumption{},
		pending: map[string][]billing.Grant{}, subsOfWorkspace: map[string]bool{}, subsOfCustomer: map[string]bool{},
	}, dirty: dirty{
		events: map[string]bool{}, workspaces: map[string]bool{}, customers: map[string]bool{},
		subscriptions: map[string]bool{}, invoices: map[string]bool{}, payments: map[string]bool{},
		checkouts: map[string]bool{}, refunds: map[string]bool{}, disputes: map[string]bool{},
	}}
}

var _ billing.Tx = (*unit)(nil)

// put sets m[k] for a write, to be undone if the running event fails.
func put[V any](u *unit, m map[string]V, k string, v V) {
	if u.inEvent {
		old, had := m[k]
		u.undo = append(u.undo, func() {
			if had {
				m[k] = old
			} else {
				delete(m, k)
			}
		})
	}
	m[k] = v
}

// add keeps statements to send with the rows.
func (u *unit) add(ss ...stmt) { u.cur = append(u.cur, ss...) }

// errRerun ends an event that must run again after a miss; rules pass it
// on like any error of the store.
var errRerun = errors.New("store: read missed; the event runs again")

// maxReruns bounds the misses one event may cause; past it the event
// fails, and is applied again alone.
const maxReruns = 16

// fetch reads what memory lacks with read, after writing what is kept;
// in an event that wrote something, it keeps read for a rerun.
func (u *unit) fetch(read func(context.Context) error) error {
	u.misses++
	if u.inEvent && u.wrote() {
		u.reads = append(u.reads, read)
		return errRerun
	}
	return u.read(read)
}

// wrote reports whether the running event has written anything.
func (u *unit) wrote() bool {
	return len(u.undo) > 0 || len(u.cur) > 0 || len(u.ledger) > u.ledgerDone || len(u.messages) > u.messagesDone
}

// read writes what is kept, then reads; a read that fails breaks the batch.
func (u *unit) read(read func(context.Context) error) error {
	if err := u.flush(); err != nil {
		return err
	}
	if u.broken == nil {
		u.broken = read(u.ctx)
	}
	return u.broken
}

// flush writes every row and statement kept.
func (u *unit) flush() error {
	ss := u.writes()
	if len(ss) == 0 || u.broken != nil {
		return u.broken
	}
	u.broken = u.t.c.send(u.ctx, ss, false)
	return u.broken
}

// run applies fn as one event: what it changed is undone if it fails.
func (u *unit) run(fn func(billing.Tx) error) error {
	for reruns := 0; ; reruns++ {
		u.ledgerDone, u.messagesDone = len(u.ledger), len(u.messages)
		u.inEvent = true
		err := fn(u)
		u.inEvent = false
		if err == nil && len(u.reads) == 0 {
			u.done = append(u.done, u.cur...)
			u.cur, u.undo = nil, nil
			return nil
		}
		for i := len(u.undo) - 1; i >= 0; i-- {
			u.undo[i]()
		}
		u.cur, u.undo, u.ledger, u.messages = nil, nil, u.ledger[:u.ledgerDone], u.messages[:u.messagesDone]
		if len(u.reads) == 0 {
			return err
		}
		reads := u.reads
		u.reads = nil
		if reruns == maxReruns {
			return fmt.Errorf("store: %d reads missed by one event", reruns)
		}
		for _, read := range reads {
			if err := u.read(read); err != nil {
				return err
			}
		}
	}
}

// commit writes what is kept and commits, in one round trip.
func (u *unit) commit(ctx context.Context) error {
	return u.t.c.send(ctx, u.writes(), true)
}

// writes is the statements of every row and statement kept, which it
// then forgets: workspaces first, which the other rows refer to; then the
// statements, in their order (bulk updates of rows not read, which the
// rows written after them override as they should); then the rows.
func (u *unit) writes() []stmt {
	db := u.t.db
	var ss []stmt
	var stored, created [][]any
	for _, id := range sorted(u.dirty.workspaces) {
		r := u.rows.workspaces[id]
		if r.created {
			created = append(created, workspaceValues(r))
			c := *r
			c.created = false
			u.rows.workspaces[id] = &c
		} else {
			stored = append(stored, workspaceValues(r))
		}
	}
	ss = append(ss, workspacesTable.many(db, stored)...)
	ss = append(ss, newWorkspacesTable.many(db, created)...)
	ss = append(append(ss, u.done...), u.cur...)
	ss = append(ss, customersTable.many(db, values(u.rows.customers, u.dirty.customers, customerValues))...)
	ss = append(ss, subscriptionsTable.many(db, values(u.rows.subscriptions, u.dirty.subscriptions, subscriptionValues))...)
	ss = append(ss, invoicesTable.many(db, values(u.rows.invoices, u.dirty.invoices, invoiceValues))...)
	ss = append(ss, paymentsTable.many(db, values(u.rows.payments, u.dirty.payments, paymentValues))...)
	ss = append(ss, checkoutSessionsTable.many(db, values(u.rows.checkouts, u.dirty.checkouts, checkoutSessionValues))...)
	ss = append(ss, refundsTable.many(db, values(u.rows.refunds, u.dirty.refunds, refundValues))...)
	ss = append(ss, disputesTable.many(db, values(u.rows.disputes, u.dirty.disputes, disputeValues))...)
	ss = append(ss, ledgerTable.many(db, each(u.ledger, ledgerValues))...)
	var events [][]any
	for _, id := range sorted(u.dirty.events) {
		e := u.rows.events[id].write
		events = append(events, []any{e.ID, e.Type, e.APIVersion, e.Livemode, sec(e.Created), e.Account, e.Payload,
			e.Status, 1, "", sec(e.ReceivedAt), sec(e.ProcessedAt), e.Note, e.ObjectID, e.WorkspaceID})
	}
	ss = append(ss, eventsTable.many(db, events)...)
	ss = append(ss, messagesTable.many(db, each(u.messages, messageValues))...)
	u.done, u.cur, u.ledger, u.messages, u.ledgerDone, u.messagesDone = nil, nil, nil, nil, 0, 0
	for _, m := range []map[string]bool{u.dirty.events, u.dirty.workspaces, u.dirty.customers,
		u.dirty.subscriptions, u.dirty.invoices, u.dirty.payments, u.dirty.checkouts, u.dirty.refunds, u.dirty.disputes} {
		clear(m)
	}
	return ss
}

// sorted is a set's keys in order, so that concurrent batches lock the rows
// they write in one order.
func sorted(set map[string]bool) []string {
	ks := make([]string, 0, len(set))
	for k := range set {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func values[V any](m map[string]*V, ids map[string]bool, of func(*V) []any) [][]any {
	var out [][]any
	for _, id := range sorted(ids) {
		out = append(out, of(m[id]))
	}
	return out
}

func each[V any](vs []*V, of func(*V) []any) [][]any {
	out := make([][]any, len(vs))
	for i, v := range vs {
		out[i] = of(v)
	}
	return out
}

// load reads the rows needs names, with the locks, in one round trip.
func (u *unit) load(ctx context.Context, needs *billing.Needs) error {
	db := u.t.db
	var pre []stmt
	if db.Postgres() {
		if locks := distinct(needs.Locks); len(locks) > 0 {
			pre = append(pre, stmt{query: `SELECT billing_lock($1)`, args: []any{locks}})
			u.t.locked = map[string]struct{}{}
			for _, k := range locks {
				u.t.locked[k] = struct{}{}
			}
		}
	}
	ws, cus := distinct(needs.Workspaces), distinct(needs.Customers)
	// The workspaces named and those the customers are linked to. Each
	// condition is a list of keys, so that every read is index lookups.
	wsOf := func(w, c int) string {
		return fmt.Sprintf(`(id %s OR id %s)`, db.in(w), db.inQuery(fmt.Sprintf(`SELECT workspace_id FROM customers WHERE id %s`, db.in(c))))
	}
	var qs []query
	ask := func(ids []string, q string, args []any, scan func(rows) error) {
		if len(ids) > 0 {
			qs = append(qs, query{stmt{query: q, args: args}, scan})
		}
	}
	events := distinct(needs.Events)
	ask(events, `SELECT id, status, api_version, payload FROM events WHERE id `+db.in(1), []any{db.list(events)}, func(rs rows) error {
		for rs.Next() {
			var id string
			r := &eventRow{}
			if err := rs.Scan(&id, &r.status, &r.apiVersion, &r.payload); err != nil {
				return err
			}
			u.rows.events[id] = r
		}
		return nil
	})
	var lots []string
	ask(append(ws, cus...), `SELECT `+workspaceRowColumns+` FROM workspaces WHERE `+wsOf(1, 2)+` ORDER BY id`+db.forUpdate,
		[]any{db.list(ws), db.list(cus)}, func(rs rows) error {
			for rs.Next() {
				r, err := scanWorkspaceRow(rs)
				if err != nil {
					return err
				}
				u.rows.workspaces[r.w.ID] = r
				u.rows.subsOfWorkspace[r.w.ID] = true
				if r.mark.Credits.Lot != "" {
					lots = append(lots, expireKeyOf(r.mark.Credits.Lot))
				}
			}
			return nil
		})
	ask(cus, `SELECT `+customerColumns+` FROM customers WHERE id `+db.in(1), []any{db.list(cus)}, func(rs rows) error {
		return scanInto(rs, scanCustomer, u.rows.customers, func(c *billing.Customer) string { return c.ID })
	})
	subs := distinct(needs.Subscriptions)
	ask(append(subs, append(cus, ws...)...), `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE id `+db.in(1)+` OR customer_id `+db.in(2)+` OR workspace_id `+db.inQuery(`SELECT id FROM workspaces WHERE `+wsOf(3, 2)),
		[]any{db.list(subs), db.list(cus), db.list(ws)}, func(rs rows) error {
			return scanInto(rs, scanSubscription, u.rows.subscriptions, func(s *billing.Subscription) string { return s.ID })
		})
	invoices := distinct(needs.Invoices)
	ask(invoices, `SELECT `+invoiceColumns+` FROM invoices WHERE id `+db.in(1), []any{db.list(invoices)}, func(rs rows) error {
		return scanInto(rs, pointer(scanInvoice), u.rows.invoices, func(i *billing.Invoice) string { return i.ID })
	})
	payments := distinct(needs.Payments)
	ask(payments, `SELECT `+paymentColumns+` FROM payments WHERE id `+db.in(1), []any{db.list(payments)}, func(rs rows) error {
		return scanInto(rs, pointer(scanPayment), u.rows.payments, func(p *billing.Payment) string { return p.ID })
	})
	checkouts := distinct(needs.CheckoutSessions)
	ask(checkouts, `SELECT `+checkoutSessionColumns+` FROM checkout_sessions WHERE id `+db.in(1), []any{db.list(checkouts)}, func(rs rows) error {
		return scanInto(rs, pointer(scanCheckoutSession), u.rows.checkouts, func(cs *billing.CheckoutSession) string { return cs.ID })
	})
	refunds := distinct(needs.Refunds)
	ask(refunds, `SELECT `+refundColumns+` FROM refunds WHERE id `+db.in(1), []any{db.list(refunds)}, func(rs rows) error {
		return scanInto(rs, pointer(scanRefund), u.rows.refunds, func(r *billing.Refund) string { return r.ID })
	})
	disputes := distinct(needs.Disputes)
	ask(disputes, `SELECT `+disputeColumns+` FROM disputes WHERE id `+db.in(1), []any{db.list(disputes)}, func(rs rows) error {
		return scanInto(rs, pointer(scanDispute), u.rows.disputes, func(d *billing.Dispute) string { return d.ID })
	})
	keys := distinct(needs.LedgerKeys)
	ask(append(keys, append(ws, cus...)...), `SELECT `+ledgerColumns+` FROM credit_ledger WHERE idempotency_key `+db.in(1)+`
		OR idempotency_key `+db.inQuery(`SELECT sub_lot_key || ':expire' FROM workspaces WHERE sub_lot_key <> '' AND `+wsOf(2, 3)),
		[]any{db.list(keys), db.list(ws), db.list(cus)}, func(rs rows) error {
			return scanInto(rs, pointer(scanLedgerEntry), u.rows.ledger, func(e *billing.LedgerEntry) string { return e.IdempotencyKey })
		})
	ask(cus, `SELECT `+grantColumns+` FROM pending_grants WHERE customer_id `+db.in(1)+` ORDER BY seq`, []any{db.list(cus)}, func(rs rows) error {
		gs, err := scanAll(rs, scanGrant)
		for _, g := range gs {
			u.rows.pending[g.CustomerID] = append(u.rows.pending[g.CustomerID], g)
		}
		return err
	})
	msgKeys := distinct(needs.MessageKeys)
	ask(msgKeys, `SELECT key FROM app_messages WHERE key `+db.in(1), []any{db.list(msgKeys)}, func(rs rows) error {
		for rs.Next() {
			var k string
			if err := rs.Scan(&k); err != nil {
				return err
			}
			u.rows.messages[k] = true
		}
		return nil
	})
	if err := u.t.c.sendQueries(ctx, pre, qs); err != nil {
		return err
	}
	// What was asked for and not found is known to be absent.
	absent(u.rows.events, events)
	absent(u.rows.workspaces, ws)
	for _, w := range ws {
		if u.rows.workspaces[w] == nil {
			u.rows.subsOfWorkspace[w] = true // none can refer to it
		}
	}
	absent(u.rows.customers, cus)
	absent(u.rows.subscriptions, subs)
	absent(u.rows.invoices, invoices)
	absent(u.rows.payments, payments)
	absent(u.rows.checkouts, checkouts)
	absent(u.rows.refunds, refunds)
	absent(u.rows.disputes, disputes)
	absent(u.rows.ledger, append(keys, lots...))
	for _, k := range msgKeys {
		u.rows.messages[k] = u.rows.messages[k]
	}
	for _, c := range cus {
		u.rows.subsOfCustomer[c] = true
		if u.rows.pending[c] == nil {
			u.rows.pending[c] = []billing.Grant{}
		}
	}
	return nil
}

// expireKeyOf is the key of the entry that expires a lot (billing's
// expireKey).
func expireKeyOf(lot string) string { return lot + ":expire" }

func absent[V any](m map[string]*V, ids []string) {
	for _, id := range ids {
		if _, ok := m[id]; !ok {
			m[id] = nil
		}
	}
}

func scanInto[V any](rs rows, scan func(scanner) (*V, error), m map[string]*V, id func(*V) string) error {
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return err
		}
		m[id(v)] = v
	}
	return nil
}

func pointer[V any](scan func(scanner) (V, error)) func(scanner) (*V, error) {
	return func(s scanner) (*V, error) {
		v, err := scan(s)
		return &v, err
	}
}

// distinct drops empty and repeated ids, keeping their order.
func distinct(ids []string) []string {
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// in is a condition that its parameter n, a list (see list), holds the
// value: an array on PostgreSQL, a JSON array on SQLite.
func (db *DB) in(n int) string {
	if db.Postgres() {
		return fmt.Sprintf(`= ANY($%d)`, n)
	}
	return fmt.Sprintf(`IN (SELECT value FROM json_each($%d))`, n)
}

// inQuery is a condition that a subquery's rows hold the value: on
// PostgreSQL an array, which an index scan can look up, where IN would
// filter every row.
func (db *DB) inQuery(q string) string {
	if db.Postgres() {
		return `= ANY(ARRAY(` + q + `))`
	}
	return `IN (` + q + `)`
}

func (db *DB) list(ids []string) any {
	if db.Postgres() {
		return ids
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// Reads. Each returns a copy: the rules change what they read.

// workspaceRow returns a workspace's row, or nil for none.
func (u *unit) workspaceRow(ctx context.Context, id string) (*workspaceRow, error) {
	if r, ok := u.rows.workspaces[id]; ok {
		return r, nil
	}
	err := u.fetch(func(ctx context.Context) error {
		r, err := scanWorkspaceRow(u.t.queryRow(ctx, `SELECT `+workspaceRowColumns+` FROM workspaces WHERE id = $1`+u.t.db.forUpdate, id))
		if r, err = found(r, notFound(err, "workspace", id)); err != nil {
			return err
		}
		u.rows.workspaces[id] = r
		return nil
	})
	return u.rows.workspaces[id], err
}

// found turns a not-found error into a nil row.
func found[V any](v *V, err error) (*V, error) {
	if billing.ErrorCode(err) == billing.ENOTFOUND {
		return nil, nil
	}
	return v, err
}

// storedWorkspace is workspaceRow with ENOTFOUND for none.
func (u *unit) storedWorkspace(ctx context.Context, id string) (*workspaceRow, error) {
	r, err := u.workspaceRow(ctx, id)
	if err == nil && r == nil {
		err = notFoundError("workspace", id)
	}
	return r, err
}

func (u *unit) Workspace(ctx context.Context, id string) (*billing.Workspace, error) {
	r, err := u.storedWorkspace(ctx, id)
	if err != nil {
		return nil, err
	}
	w := r.w
	return &w, nil
}

func (u *unit) Balance(ctx context.Context, workspaceID string) (billing.Balance, error) {
	m, err := u.WorkspaceMark(ctx, workspaceID)
	if err != nil {
		return billing.Balance{}, err
	}
	return m.Credits, nil
}

func (u *unit) WorkspaceMark(ctx context.Context, workspaceID string) (*billing.WorkspaceMark, error) {
	r, err := u.storedWorkspace(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	m := r.mark
	return &m, nil
}

// changeWorkspace applies change to a copy of a workspace's row, to be
// written; a workspace that does not exist is left alone, as an UPDATE
// would leave it.
func (u *unit) changeWorkspace(ctx context.Context, id string, change func(*workspaceRow)) error {
	r, err := u.workspaceRow(ctx, id)
	if err != nil || r == nil {
		return err
	}
	c := *r
	change(&c)
	put(u, u.rows.workspaces, id, &c)
	put(u, u.dirty.workspaces, id, true)
	return nil
}

// get returns a copy of the row m holds under id, reading it with read
// when unknown.
func get[V any](u *unit, m map[string]*V, what, id string, read func(context.Context) (*V, error)) (*V, error) {
	if _, ok := m[id]; !ok {
		err := u.fetch(func(ctx context.Context) error {
			r, err := found(read(ctx))
			if err == nil {
				m[id] = r
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	r := m[id]
	if r == nil {
		return nil, notFoundError(what, id)
	}
	c := *r
	return &c, nil
}

func notFoundError(what, id string) error {
	return billing.Errorf(billing.ENOTFOUND, "%s %q not found", what, id)
}

func (u *unit) Customer(ctx context.Context, id string) (*billing.Customer, error) {
	return get(u, u.rows.customers, "customer", id, func(ctx context.Context) (*billing.Customer, error) { return u.t.Customer(ctx, id) })
}

func (u *unit) Subscription(ctx context.Context, id string) (*billing.Subscription, error) {
	s, err := get(u, u.rows.subscriptions, "subscription", id, func(ctx context.Context) (*billing.Subscription, error) {
		return u.t.Subscription(ctx, id)
	})
	if s != nil && s.Discount != nil {
		d := *s.Discount
		s.Discount = &d
	}
	return s, err
}

func (u *unit) Invoice(ctx context.Context, id string) (*billing.Invoice, error) {
	return get(u, u.rows.invoices, "invoice", id, func(ctx context.Context) (*billing.Invoice, error) { return u.t.Invoice(ctx, id) })
}

func (u *unit) Payment(ctx context.Context, id string) (*billing.Payment, error) {
	return get(u, u.rows.payments, "payment", id, func(ctx context.Context) (*billing.Payment, error) { return u.t.Payment(ctx, id) })
}

func (u *unit) Dispute(ctx context.Context, id string) (*billing.Dispute, error) {
	return get(u, u.rows.disputes, "dispute", id, func(ctx context.Context) (*billing.Dispute, error) { return u.t.Dispute(ctx, id) })
}

func (u *unit) Refund(ctx context.Context, id string) (*billing.Refund, error) {
	return get(u, u.rows.refunds, "refund", id, func(ctx context.Context) (*billing.Refund, error) { return u.t.Refund(ctx, id) })
}

func (u *unit) CheckoutSession(ctx context.Context, id string) (*billing.CheckoutSession, error) {
	return get(u, u.rows.checkouts, "checkout session", id, func(ctx context.Context) (*billing.CheckoutSession, error) {
		return u.t.CheckoutSession(ctx, id)
	})
}

func (u *unit) LedgerEntry(ctx context.Context, key string) (*billing.LedgerEntry, error) {
	return get(u, u.rows.ledger, "ledger entry", key, func(ctx context.Context) (*billing.LedgerEntry, error) {
		return u.t.LedgerEntry(ctx, key)
	})
}

func (u *unit) HasLedgerKey(ctx context.Context, key string) (bool, error) {
	_, err := u.LedgerEntry(ctx, key)
	if billing.ErrorCode(err) == billing.ENOTFOUND {
		return false, nil
	}
	return err == nil, err
}

func (u *unit) Consumption(ctx context.Context, workspaceID, key string) (*billing.Consumption, error) {
	return get(u, u.rows.consumptions, "consumption", joinKeyParts(workspaceID, key), func(ctx context.Context) (*billing.Consumption, error) {
		return u.t.Consumption(ctx, workspaceID, key)
	})
}

// joinKeyParts joins a workspace and a key into one map key.
func joinKeyParts(workspaceID, key string) string { return workspaceID + "\x00" + key }

// CurrentSubscription implements billing.Tx as currentSubscription's query
// does, from memory once all of the workspace's subscriptions are there.
func (u *unit) CurrentSubscription(ctx context.Context, workspaceID string) (*billing.Subscription, error) {
	if !u.rows.subsOfWorkspace[workspaceID] {
		err := u.fetch(func(ctx context.Context) error {
			subs, err := queryAll(ctx, u.t, subscriptionRow, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE workspace_id = $1`, workspaceID)
			for _, s := range subs {
				u.rows.subscriptions[s.ID] = &s
			}
			u.rows.subsOfWorkspace[workspaceID] = err == nil
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	var best *billing.Subscription
	for _, s := range u.rows.subscriptions {
		if s != nil && s.WorkspaceID == workspaceID && s.Status != "" && (best == nil || shownBefore(s, best)) {
			best = s
		}
	}
	if best == nil {
		return nil, notFoundError("subscription of workspace", workspaceID)
	}
	return u.Subscription(ctx, best.ID)
}

// shownBefore orders subscriptions as currentSubscription does: not ended
// first, then by period end and last event, newest first; then by id, so
// that the answer never depends on map order.
func shownBefore(a, b *billing.Subscription) bool {
	if ea, eb := endedStatus(a.Status), endedStatus(b.Status); ea != eb {
		return !ea
	}
	if !a.CurrentPeriodEnd.Equal(b.CurrentPeriodEnd) {
		return a.CurrentPeriodEnd.After(b.CurrentPeriodEnd)
	}
	if !a.LastEventAt.Equal(b.LastEventAt) {
		return a.LastEventAt.After(b.LastEventAt)
	}
	return a.ID < b.ID
}

func endedStatus(s string) bool { return s == "canceled" || s == "incomplete_expired" }

func (u *unit) TakePendingGrants(ctx context.Context, customerID string) ([]billing.Grant, error) {
	if _, ok := u.rows.pending[customerID]; !ok {
		err := u.fetch(func(ctx context.Context) error {
			gs, err := queryAll(ctx, u.t, scanGrant, `SELECT `+grantColumns+` FROM pending_grants WHERE customer_id = $1 ORDER BY seq`, customerID)
			if err == nil {
				u.rows.pending[customerID] = append([]billing.Grant{}, gs...)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	gs := u.rows.pending[customerID]
	if len(gs) == 0 {
		return nil, nil
	}
	u.add(deletePendingGrants(customerID))
	put(u, u.rows.pending, customerID, []billing.Grant{})
	return slices.Clone(gs), nil
}

// Writes.

func (u *unit) BeginEvent(ctx context.Context, e *billing.Event) (*billing.Event, error) {
	if _, ok := u.rows.events[e.ID]; !ok {
		err := u.fetch(func(ctx context.Context) error {
			r := &eventRow{}
			err := u.t.queryRow(ctx, `SELECT status, api_version, payload FROM events WHERE id = $1`+u.t.db.forUpdate, e.ID).
				Scan(&r.status, &r.apiVersion, &r.payload)
			if r, err = found(r, notFound(err, "event", e.ID)); err == nil {
				u.rows.events[e.ID] = r
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	r := u.rows.events[e.ID]
	var prev *billing.Event
	if r != nil {
		prev = &billing.Event{ID: e.ID, Status: r.status, APIVersion: r.apiVersion, Payload: r.payload}
		if w := r.write; w != nil {
			// Begun earlier in this batch: as it will be stored.
			prev.Status, prev.APIVersion, prev.Payload = w.Status, w.APIVersion, w.Payload
		}
		if prev.Status.Done() {
			return prev, nil
		}
	}
	w := *e
	w.Status = billing.StatusReceived
	c := eventRow{write: &w}
	if r != nil {
		c.status, c.apiVersion, c.payload = r.status, r.apiVersion, r.payload
	}
	put(u, u.rows.events, e.ID, &c)
	return prev, nil
}

func (u *unit) FinishEvent(ctx context.Context, e *billing.Event, status billing.EventStatus, at time.Time) error {
	r := u.rows.events[e.ID]
	if r == nil || r.write == nil {
		// Not begun here: as the UPDATE would, change the stored row.
		u.add(finishEvent(e, status, at))
		return nil
	}
	c := *r
	w := *r.write
	w.Status, w.ProcessedAt, w.Note, w.ObjectID, w.WorkspaceID = status, at, e.Note, e.ObjectID, e.WorkspaceID
	c.write = &w
	put(u, u.rows.events, e.ID, &c)
	put(u, u.dirty.events, e.ID, true)
	return nil
}

// Lock implements billing.Tx: the batch took its locks as it began; a key
// it did not take is locked after what is kept is written.
func (u *unit) Lock(ctx context.Context, keys ...string) error {
	if !u.t.db.Postgres() {
		return nil
	}
	for _, k := range keys {
		if _, held := u.t.locked[k]; !held && k != "" {
			return u.fetch(func(ctx context.Context) error { return u.t.Lock(ctx, keys...) })
		}
	}
	return nil
}

func (u *unit) EnsureWorkspace(ctx context.Context, id string, at time.Time) error {
	r, err := u.workspaceRow(ctx, id)
	if err != nil || r != nil {
		return err
	}
	u.createWorkspace(&billing.Workspace{ID: id, CreatedAt: at})
	return nil
}

func (u *unit) createWorkspace(w *billing.Workspace) {
	put(u, u.rows.workspaces, w.ID, &workspaceRow{w: *w, mark: billing.WorkspaceMark{WorkspaceID: w.ID}, created: true})
	put(u, u.dirty.workspaces, w.ID, true)
	put(u, u.rows.subsOfWorkspace, w.ID, true)
}

func (u *unit) CreateWorkspace(ctx context.Context, w *billing.Workspace) (bool, error) {
	r, err := u.workspaceRow(ctx, w.ID)
	if err != nil {
		return false, err
	}
	if r == nil {
		u.createWorkspace(&billing.Workspace{ID: w.ID, Name: w.Name, Email: w.Email, CreatedAt: w.CreatedAt})
		return true, nil
	}
	return false, u.changeWorkspace(ctx, w.ID, func(r *workspaceRow) {
		r.w.Name, r.w.Email = cmp.Or(r.w.Name, w.Name), cmp.Or(r.w.Email, w.Email)
	})
}

func (u *unit) SetWorkspaceCustomer(ctx context.Context, workspaceID, customerID string) error {
	return u.changeWorkspace(ctx, workspaceID, func(r *workspaceRow) { r.w.StripeCustomerID = cmp.Or(r.w.StripeCustomerID, customerID) })
}

// save keeps a copy of a row to write.
func save[V any](u *unit, m map[string]*V, dirty map[string]bool, id string, v V) {
	put(u, m, id, &v)
	put(u, dirty, id, true)
}

func (u *unit) SaveCustomer(ctx context.Context, c *billing.Customer) error {
	save(u, u.rows.customers, u.dirty.customers, c.ID, *c)
	return nil
}

func (u *unit) SaveSubscription(ctx context.Context, s *billing.Subscription) error {
	v := *s
	if s.Discount != nil {
		d := *s.Discount
		v.Discount = &d
	}
	save(u, u.rows.subscriptions, u.dirty.subscriptions, s.ID, v)
	return nil
}

func (u *unit) SaveInvoice(ctx context.Context, i *billing.Invoice) error {
	save(u, u.rows.invoices, u.dirty.invoices, i.ID, *i)
	return nil
}

func (u *unit) SavePayment(ctx context.Context, p *billing.Payment) error {
	save(u, u.rows.payments, u.dirty.payments, p.ID, *p)
	return nil
}

func (u *unit) SaveCheckoutSession(ctx context.Context, cs *billing.CheckoutSession) error {
	save(u, u.rows.checkouts, u.dirty.checkouts, cs.ID, *cs)
	return nil
}

func (u *unit) SaveRefund(ctx context.Context, r *billing.Refund) error {
	save(u, u.rows.refunds, u.dirty.refunds, r.ID, *r)
	return nil
}

func (u *unit) SaveDispute(ctx context.Context, d *billing.Dispute) error {
	save(u, u.rows.disputes, u.dirty.disputes, d.ID, *d)
	return nil
}

// AttachUnlinked implements billing.Tx: its statements change the rows
// not in memory, the rows in memory change as they would.
func (u *unit) AttachUnlinked(ctx context.Context, workspaceID, customerID string) error {
	u.add(attachUnlinked(workspaceID, customerID)...)
	attach(u, u.rows.subscriptions, u.dirty.subscriptions, workspaceID, customerID, func(s *billing.Subscription) (*string, string) { return &s.WorkspaceID, s.CustomerID })
	attach(u, u.rows.invoices, u.dirty.invoices, workspaceID, customerID, func(i *billing.Invoice) (*string, string) { return &i.WorkspaceID, i.CustomerID })
	attach(u, u.rows.payments, u.dirty.payments, workspaceID, customerID, func(p *billing.Payment) (*string, string) { return &p.WorkspaceID, p.CustomerID })
	attach(u, u.rows.checkouts, u.dirty.checkouts, workspaceID, customerID, func(cs *billing.CheckoutSession) (*string, string) { return &cs.WorkspaceID, cs.CustomerID })
	if !u.rows.subsOfCustomer[customerID] {
		put(u, u.rows.subsOfWorkspace, workspaceID, false)
	}
	return nil
}

// attach gives the unlinked rows of a customer in m the workspace.
func attach[V any](u *unit, m map[string]*V, dirty map[string]bool, workspaceID, customerID string, of func(*V) (ws *string, customer string)) {
	for id, r := range m {
		if r == nil {
			continue
		}
		if ws, c := of(r); c == customerID && *ws == "" {
			v := *r
			w, _ := of(&v)
			*w = workspaceID
			save(u, m, dirty, id, v)
		}
	}
}

func (u *unit) SetSubscriptionLot(ctx context.Context, workspaceID, key string, start time.Time) error {
	return u.changeWorkspace(ctx, workspaceID, func(r *workspaceRow) { r.mark.Credits.Lot, r.mark.Credits.LotStart = key, start })
}

// AppendLedger implements billing.Tx: the entry is inserted with the other
// rows, and the cached balance written with the workspace's row, which the
// transaction holds locked; should the insert find the key taken after
// all, the batch fails and its events are applied again one by one.
func (u *unit) AppendLedger(ctx context.Context, e *billing.LedgerEntry) (bool, error) {
	if bucketColumn(e.Bucket) == "" {
		return false, fmt.Errorf("ledger entry %q: unknown bucket %q", e.IdempotencyKey, e.Bucket)
	}
	if done, err := u.HasLedgerKey(ctx, e.IdempotencyKey); err != nil || done {
		return false, err
	}
	if r, err := u.workspaceRow(ctx, e.WorkspaceID); err != nil || r == nil {
		return false, cmp.Or(err, fmt.Errorf("ledger entry %q: %w", e.IdempotencyKey, notFoundError("workspace", e.WorkspaceID)))
	}
	v := *e
	put(u, u.rows.ledger, e.IdempotencyKey, &v)
	u.ledger = append(u.ledger, &v)
	return true, u.changeWorkspace(ctx, e.WorkspaceID, func(r *workspaceRow) {
		if e.Bucket == billing.BucketSubscription {
			r.mark.Credits.Subscription += e.Amount
		} else {
			r.mark.Credits.Purchased += e.Amount
		}
	})
}

func (u *unit) SaveConsumption(ctx context.Context, c *billing.Consumption) error {
	u.add(saveConsumption(c))
	put(u, u.rows.consumptions, joinKeyParts(c.WorkspaceID, c.IdempotencyKey), c)
	return nil
}

func (u *unit) AddPendingGrant(ctx context.Context, g *billing.Grant) error {
	u.add(addPendingGrant(g))
	if gs, ok := u.rows.pending[g.CustomerID]; ok && !slices.ContainsFunc(gs, func(h billing.Grant) bool { return h.Key == g.Key }) {
		put(u, u.rows.pending, g.CustomerID, append(slices.Clone(gs), *g))
	}
	return nil
}

func (u *unit) AddNotification(ctx context.Context, n *billing.Notification) error {
	u.add(addNotification(n))
	return nil
}

func (u *unit) DiscardNotifications(ctx context.Context, objectID, reason string) error {
	u.add(u.t.db.discardNotifications(objectID, reason))
	return nil
}

func (u *unit) AddMessage(ctx context.Context, m *billing.Message) (bool, error) {
	if m.Key != "" {
		if _, ok := u.rows.messages[m.Key]; !ok {
			err := u.fetch(func(ctx context.Context) error {
				var n int
				err := u.t.queryRow(ctx, `SELECT COUNT(*) FROM app_messages WHERE key = $1`, m.Key).Scan(&n)
				u.rows.messages[m.Key] = n > 0
				return err
			})
			if err != nil {
				return false, err
			}
		}
		if u.rows.messages[m.Key] {
			return false, nil
		}
		put(u, u.rows.messages, m.Key, true)
	}
	u.messages = append(u.messages, m)
	return true, nil
}

func (u *unit) AddMessages(ctx context.Context, ms []*billing.Message, mark *billing.WorkspaceMark) error {
	u.messages = append(u.messages, ms...)
	if mark == nil {
		return nil
	}
	return u.changeWorkspace(ctx, mark.WorkspaceID, func(r *workspaceRow) {
		r.mark.Sequence, r.mark.Entitlement, r.mark.Until, r.mark.CreditsLow = mark.Sequence, mark.Entitlement, mark.Until, mark.CreditsLow
	})
}
