package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/acme/billing"
)

// unit is the billing.Tx of a group commit (DB.InBatch). In the round trip
// that begins the transaction and takes its locks, it reads every row its
// events will need (billing.Needs); the rules then read from memory, each
// write is kept as a statement, and the statements go out with the COMMIT:
// two round trips whatever the batch's size. A read it cannot answer (a
// miss) sends the statements kept so far and then reads, so the answer is
// what the database holds: the needs change speed, never results.
//
// An event that fails is undone alone: its statements are dropped, the
// rows it changed in memory restored, and, if a miss had sent some of its
// statements already (after a SAVEPOINT), the savepoint rolled back.
type unit struct {
	t    *tx
	rows known
	// undo restores rows as they were before the running event.
	undo []func()
	// done holds the applied events' statements not sent yet; cur the
	// running event's; sent says a miss sent some of cur's after SAVEPOINT.
	done, cur []stmt
	inEvent   bool
	sent      bool
	misses    int
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
	ledger        map[string]*billing.LedgerEntry
	messages      map[string]bool // by key: stored
	// pending is each customer's waiting grants, all of them, oldest first.
	pending map[string][]billing.Grant
	// Whose subscriptions are all in subscriptions.
	subsOfWorkspace, subsOfCustomer map[string]bool
}

type eventRow struct {
	status     billing.EventStatus
	apiVersion string
	payload    []byte
}

type workspaceRow struct {
	w    billing.Workspace
	mark billing.WorkspaceMark // Credits holds the balance and lot
}

func newUnit(t *tx) *unit {
	return &unit{t: t, rows: known{
		events: map[string]*eventRow{}, workspaces: map[string]*workspaceRow{},
		customers: map[string]*billing.Customer{}, subscriptions: map[string]*billing.Subscription{},
		invoices: map[string]*billing.Invoice{}, payments: map[string]*billing.Payment{},
		ledger: map[string]*billing.LedgerEntry{}, messages: map[string]bool{},
		pending: map[string][]billing.Grant{}, subsOfWorkspace: map[string]bool{}, subsOfCustomer: map[string]bool{},
	}}
}

var _ billing.Tx = (*unit)(nil)

// put sets m[k], to be undone if the running event fails.
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

// add keeps statements to send later.
func (u *unit) add(ss ...stmt) { u.cur = append(u.cur, ss...) }

// flush sends every statement kept, before a read from the database.
func (u *unit) flush(ctx context.Context) error {
	return u.sendWith(ctx, nil)
}

// sendWith sends the statements kept, then qs, in one round trip.
func (u *unit) sendWith(ctx context.Context, qs []query) error {
	ss := u.done
	if len(u.cur) > 0 {
		if u.inEvent && !u.sent {
			ss = append(ss, stmt{query: `SAVEPOINT event`})
			u.sent = true
		}
		ss = append(ss, u.cur...)
	}
	if len(ss) == 0 && len(qs) == 0 {
		return nil
	}
	u.done, u.cur = nil, nil
	return u.t.c.sendQueries(ctx, ss, qs)
}

// miss reads what memory cannot answer from the database, after sending
// what the unit kept.
func (u *unit) miss(ctx context.Context) error {
	u.misses++
	return u.flush(ctx)
}

// run applies fn as one event: what it changed is undone if it fails.
func (u *unit) run(fn func(billing.Tx) error) error {
	u.inEvent, u.sent, u.undo = true, false, nil
	err := fn(u)
	u.inEvent = false
	if err == nil {
		u.done = append(u.done, u.cur...)
		if u.sent {
			u.done = append(u.done, stmt{query: `RELEASE SAVEPOINT event`})
		}
		u.cur, u.undo = nil, nil
		return nil
	}
	for i := len(u.undo) - 1; i >= 0; i-- {
		u.undo[i]()
	}
	u.cur, u.undo = nil, nil
	if u.sent {
		u.done = append(u.done, stmt{query: `ROLLBACK TO SAVEPOINT event`}, stmt{query: `RELEASE SAVEPOINT event`})
	}
	return err
}

// commit sends what is kept and commits, in one round trip.
func (u *unit) commit(ctx context.Context) error {
	ss := append(u.done, u.cur...)
	u.done, u.cur = nil, nil
	return u.t.c.send(ctx, ss, true)
}

// load reads the rows needs names, with the locks, in one round trip.
func (u *unit) load(ctx context.Context, needs *billing.Needs) error {
	db := u.t.db
	var pre []stmt
	if db.Postgres() {
		if locks := distinct(needs.Locks); len(locks) > 0 {
			pre = append(pre, stmt{`SELECT billing_lock($1)`, []any{locks}})
			u.t.locked = map[string]struct{}{}
			for _, k := range locks {
				u.t.locked[k] = struct{}{}
			}
		}
	}
	ws, cus := distinct(needs.Workspaces), distinct(needs.Customers)
	// The workspaces named, those of the customers, and the ones they name.
	wsOf := func(w, c int) string {
		return fmt.Sprintf(`(id %s OR stripe_customer_id %s OR id IN (SELECT workspace_id FROM customers WHERE id %s))`,
			db.in(w), db.in(c), db.in(c))
	}
	var qs []query
	ask := func(ids []string, q string, args []any, scan func(rows) error) {
		if len(ids) > 0 {
			qs = append(qs, query{stmt{q, args}, scan})
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
		WHERE id `+db.in(1)+` OR customer_id `+db.in(2)+` OR workspace_id IN (SELECT id FROM workspaces WHERE `+wsOf(3, 2)+`)`,
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
	keys := distinct(needs.LedgerKeys)
	ask(append(keys, append(ws, cus...)...), `SELECT `+ledgerColumns+` FROM credit_ledger WHERE idempotency_key `+db.in(1)+`
		OR idempotency_key IN (SELECT sub_lot_key || ':expire' FROM workspaces WHERE sub_lot_key <> '' AND `+wsOf(2, 3)+`)`,
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
	absent(u.rows.customers, cus)
	absent(u.rows.subscriptions, subs)
	absent(u.rows.invoices, invoices)
	absent(u.rows.payments, payments)
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

// distinct drops empty and repeated ids.
func distinct(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !slices.Contains(out, id) {
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

func (db *DB) list(ids []string) any {
	if db.Postgres() {
		return ids
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// Reads. Each returns a copy: the rules change what they read.

func (u *unit) workspaceRow(ctx context.Context, id string) (*workspaceRow, error) {
	if r, ok := u.rows.workspaces[id]; ok {
		return r, nil
	}
	if err := u.miss(ctx); err != nil {
		return nil, err
	}
	r, err := scanWorkspaceRow(u.t.queryRow(ctx, `SELECT `+workspaceRowColumns+` FROM workspaces WHERE id = $1`+u.t.db.forUpdate, id))
	if err := notFound(err, "workspace", id); err != nil && billing.ErrorCode(err) != billing.ENOTFOUND {
		return nil, err
	} else if err != nil {
		r = nil
	}
	put(u, u.rows.workspaces, id, r)
	return r, nil
}

func (u *unit) Workspace(ctx context.Context, id string) (*billing.Workspace, error) {
	r, err := u.workspaceRow(ctx, id)
	if err != nil || r == nil {
		return nil, cmp.Or(err, notFoundError("workspace", id))
	}
	w := r.w
	return &w, nil
}

func (u *unit) Balance(ctx context.Context, workspaceID string) (billing.Balance, error) {
	r, err := u.workspaceRow(ctx, workspaceID)
	if err != nil || r == nil {
		return billing.Balance{}, cmp.Or(err, notFoundError("workspace", workspaceID))
	}
	return r.mark.Credits, nil
}

func (u *unit) WorkspaceMark(ctx context.Context, workspaceID string) (*billing.WorkspaceMark, error) {
	r, err := u.workspaceRow(ctx, workspaceID)
	if err != nil || r == nil {
		return nil, cmp.Or(err, notFoundError("workspace", workspaceID))
	}
	m := r.mark
	return &m, nil
}

// changeWorkspace applies change to a copy of a workspace's row, if it is
// known: one not read will be read, statements sent, when asked for.
func (u *unit) changeWorkspace(id string, change func(*workspaceRow)) {
	if r := u.rows.workspaces[id]; r != nil {
		c := *r
		change(&c)
		put(u, u.rows.workspaces, id, &c)
	}
}

// get returns a copy of the row m holds under id, reading it with read
// when unknown.
func get[V any](ctx context.Context, u *unit, m map[string]*V, id string, read func() (*V, error)) (*V, error) {
	r, ok := m[id]
	if !ok {
		if err := u.miss(ctx); err != nil {
			return nil, err
		}
		var err error
		r, err = read()
		if err != nil && billing.ErrorCode(err) != billing.ENOTFOUND {
			return nil, err
		}
		if err != nil {
			r = nil
		}
		put(u, m, id, r)
	}
	if r == nil {
		return nil, notFoundError(kindOf(m), id)
	}
	c := *r
	return &c, nil
}

// kindOf names the rows of m in not-found errors.
func kindOf(m any) string {
	switch m.(type) {
	case map[string]*billing.Customer:
		return "customer"
	case map[string]*billing.Subscription:
		return "subscription"
	case map[string]*billing.Invoice:
		return "invoice"
	case map[string]*billing.Payment:
		return "payment"
	case map[string]*billing.LedgerEntry:
		return "ledger entry"
	}
	return "row"
}

func notFoundError(what, id string) error {
	return billing.Errorf(billing.ENOTFOUND, "%s %q not found", what, id)
}

func (u *unit) Customer(ctx context.Context, id string) (*billing.Customer, error) {
	return get(ctx, u, u.rows.customers, id, func() (*billing.Customer, error) { return u.t.Customer(ctx, id) })
}

func (u *unit) Subscription(ctx context.Context, id string) (*billing.Subscription, error) {
	s, err := get(ctx, u, u.rows.subscriptions, id, func() (*billing.Subscription, error) { return u.t.Subscription(ctx, id) })
	if s != nil && s.Discount != nil {
		d := *s.Discount
		s.Discount = &d
	}
	return s, err
}

func (u *unit) Invoice(ctx context.Context, id string) (*billing.Invoice, error) {
	return get(ctx, u, u.rows.invoices, id, func() (*billing.Invoice, error) { return u.t.Invoice(ctx, id) })
}

func (u *unit) Payment(ctx context.Context, id string) (*billing.Payment, error) {
	return get(ctx, u, u.rows.payments, id, func() (*billing.Payment, error) { return u.t.Payment(ctx, id) })
}

func (u *unit) LedgerEntry(ctx context.Context, key string) (*billing.LedgerEntry, error) {
	return get(ctx, u, u.rows.ledger, key, func() (*billing.LedgerEntry, error) { return u.t.LedgerEntry(ctx, key) })
}

func (u *unit) HasLedgerKey(ctx context.Context, key string) (bool, error) {
	_, err := u.LedgerEntry(ctx, key)
	if billing.ErrorCode(err) == billing.ENOTFOUND {
		return false, nil
	}
	return err == nil, err
}

// CurrentSubscription implements billing.Tx as currentSubscription's query
// does, from memory once all of the workspace's subscriptions are there.
func (u *unit) CurrentSubscription(ctx context.Context, workspaceID string) (*billing.Subscription, error) {
	if !u.rows.subsOfWorkspace[workspaceID] {
		if err := u.miss(ctx); err != nil {
			return nil, err
		}
		subs, err := queryAll(ctx, u.t, subscriptionRow, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE workspace_id = $1`, workspaceID)
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			put(u, u.rows.subscriptions, s.ID, &s)
		}
		put(u, u.rows.subsOfWorkspace, workspaceID, true)
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

func (u *unit) Consumption(ctx context.Context, workspaceID, key string) (*billing.Consumption, error) {
	if err := u.miss(ctx); err != nil {
		return nil, err
	}
	return u.t.Consumption(ctx, workspaceID, key)
}

func (u *unit) TakePendingGrants(ctx context.Context, customerID string) ([]billing.Grant, error) {
	gs, ok := u.rows.pending[customerID]
	if !ok {
		if err := u.miss(ctx); err != nil {
			return nil, err
		}
		var err error
		if gs, err = queryAll(ctx, u.t, scanGrant, `SELECT `+grantColumns+`
			FROM pending_grants WHERE customer_id = $1 ORDER BY seq`, customerID); err != nil {
			return nil, err
		}
	}
	if len(gs) == 0 {
		put(u, u.rows.pending, customerID, []billing.Grant{})
		return nil, nil
	}
	u.add(deletePendingGrants(customerID))
	put(u, u.rows.pending, customerID, []billing.Grant{})
	return slices.Clone(gs), nil
}

// Writes.

func (u *unit) BeginEvent(ctx context.Context, e *billing.Event) (*billing.Event, error) {
	r, ok := u.rows.events[e.ID]
	if !ok {
		if err := u.miss(ctx); err != nil {
			return nil, err
		}
		r = &eventRow{}
		err := u.t.queryRow(ctx, `SELECT status, api_version, payload FROM events WHERE id = $1`+u.t.db.forUpdate, e.ID).
			Scan(&r.status, &r.apiVersion, &r.payload)
		if err := notFound(err, "event", e.ID); err != nil && billing.ErrorCode(err) != billing.ENOTFOUND {
			return nil, err
		} else if err != nil {
			r = nil
		}
	}
	if r == nil {
		u.add(insertEvent(e))
		put(u, u.rows.events, e.ID, &eventRow{status: billing.StatusReceived, apiVersion: e.APIVersion, payload: e.Payload})
		return nil, nil
	}
	prev := &billing.Event{ID: e.ID, Status: r.status, APIVersion: r.apiVersion, Payload: r.payload}
	if prev.Status.Done() {
		return prev, nil
	}
	u.add(retryEvent(e))
	put(u, u.rows.events, e.ID, &eventRow{status: r.status, apiVersion: e.APIVersion, payload: e.Payload})
	return prev, nil
}

func (u *unit) FinishEvent(ctx context.Context, id string, status billing.EventStatus, at time.Time) error {
	u.add(finishEvent(id, status, at))
	if r := u.rows.events[id]; r != nil {
		put(u, u.rows.events, id, &eventRow{status: status, apiVersion: r.apiVersion, payload: r.payload})
	}
	return nil
}

// Lock implements billing.Tx: the batch took its locks as it began; a key
// it did not take is locked now, after what is kept is sent.
func (u *unit) Lock(ctx context.Context, keys ...string) error {
	if !u.t.db.Postgres() {
		return nil
	}
	for _, k := range keys {
		if _, held := u.t.locked[k]; !held && k != "" {
			if err := u.miss(ctx); err != nil {
				return err
			}
			return u.t.Lock(ctx, keys...)
		}
	}
	return nil
}

func (u *unit) EnsureWorkspace(ctx context.Context, id string, at time.Time) error {
	r, err := u.workspaceRow(ctx, id)
	if err != nil || r != nil {
		return err
	}
	w := &billing.Workspace{ID: id, CreatedAt: at}
	u.add(ensureWorkspace(id, at))
	put(u, u.rows.workspaces, id, newWorkspaceRow(w))
	return nil
}

func newWorkspaceRow(w *billing.Workspace) *workspaceRow {
	return &workspaceRow{w: *w, mark: billing.WorkspaceMark{WorkspaceID: w.ID}}
}

func (u *unit) CreateWorkspace(ctx context.Context, w *billing.Workspace) (bool, error) {
	r, err := u.workspaceRow(ctx, w.ID)
	if err != nil {
		return false, err
	}
	if r == nil {
		u.add(createWorkspace(w))
		put(u, u.rows.workspaces, w.ID, newWorkspaceRow(&billing.Workspace{ID: w.ID, Name: w.Name, Email: w.Email, CreatedAt: w.CreatedAt}))
		return true, nil
	}
	u.add(fillWorkspace(w))
	u.changeWorkspace(w.ID, func(r *workspaceRow) {
		r.w.Name, r.w.Email = cmp.Or(r.w.Name, w.Name), cmp.Or(r.w.Email, w.Email)
	})
	return false, nil
}

func (u *unit) SetWorkspaceCustomer(ctx context.Context, workspaceID, customerID string) error {
	u.add(setWorkspaceCustomer(workspaceID, customerID))
	u.changeWorkspace(workspaceID, func(r *workspaceRow) { r.w.StripeCustomerID = cmp.Or(r.w.StripeCustomerID, customerID) })
	return nil
}

func (u *unit) SaveCustomer(ctx context.Context, c *billing.Customer) error {
	u.add(saveCustomer(c))
	v := *c
	put(u, u.rows.customers, c.ID, &v)
	return nil
}

func (u *unit) SaveSubscription(ctx context.Context, s *billing.Subscription) error {
	u.add(saveSubscription(s))
	v := *s
	if s.Discount != nil {
		d := *s.Discount
		v.Discount = &d
	}
	put(u, u.rows.subscriptions, s.ID, &v)
	return nil
}

func (u *unit) SaveInvoice(ctx context.Context, i *billing.Invoice) error {
	u.add(saveInvoice(i))
	v := *i
	put(u, u.rows.invoices, i.ID, &v)
	return nil
}

func (u *unit) SavePayment(ctx context.Context, p *billing.Payment) error {
	u.add(savePayment(p))
	v := *p
	put(u, u.rows.payments, p.ID, &v)
	return nil
}

// AttachUnlinked implements billing.Tx: the rows in memory change as the
// statements change them in the database.
func (u *unit) AttachUnlinked(ctx context.Context, workspaceID, customerID string) error {
	u.add(attachUnlinked(workspaceID, customerID)...)
	attach(u, u.rows.subscriptions, workspaceID, customerID, func(s *billing.Subscription) (*string, string) { return &s.WorkspaceID, s.CustomerID })
	attach(u, u.rows.invoices, workspaceID, customerID, func(i *billing.Invoice) (*string, string) { return &i.WorkspaceID, i.CustomerID })
	attach(u, u.rows.payments, workspaceID, customerID, func(p *billing.Payment) (*string, string) { return &p.WorkspaceID, p.CustomerID })
	if !u.rows.subsOfCustomer[customerID] {
		put(u, u.rows.subsOfWorkspace, workspaceID, false)
	}
	return nil
}

// attach gives the unlinked rows of a customer in m the workspace.
func attach[V any](u *unit, m map[string]*V, workspaceID, customerID string, of func(*V) (ws *string, customer string)) {
	for id, r := range m {
		if r == nil {
			continue
		}
		if ws, c := of(r); c == customerID && *ws == "" {
			v := *r
			w, _ := of(&v)
			*w = workspaceID
			put(u, m, id, &v)
		}
	}
}

func (u *unit) SetSubscriptionLot(ctx context.Context, workspaceID, key string, start time.Time) error {
	u.add(setSubscriptionLot(workspaceID, key, start))
	u.changeWorkspace(workspaceID, func(r *workspaceRow) { r.mark.Credits.Lot, r.mark.Credits.LotStart = key, start })
	return nil
}

// AppendLedger implements billing.Tx. On PostgreSQL the balance moves only
// if the entry was inserted, in the same statement, so the two agree
// whatever another transaction did.
func (u *unit) AppendLedger(ctx context.Context, e *billing.LedgerEntry) (bool, error) {
	column := bucketColumn(e.Bucket)
	if column == "" {
		return false, fmt.Errorf("ledger entry %q: unknown bucket %q", e.IdempotencyKey, e.Bucket)
	}
	if done, err := u.HasLedgerKey(ctx, e.IdempotencyKey); err != nil || done {
		return false, err
	}
	if _, err := u.workspaceRow(ctx, e.WorkspaceID); err != nil {
		return false, err
	}
	insert := stmt{`INSERT INTO credit_ledger (workspace_id, amount, bucket, reason, idempotency_key, event_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING`,
		[]any{e.WorkspaceID, e.Amount, e.Bucket, e.Reason, e.IdempotencyKey, e.EventID, sec(e.CreatedAt)}}
	if u.t.db.Postgres() {
		u.add(stmt{`WITH added AS (` + insert.query + ` RETURNING amount)
			UPDATE workspaces SET ` + column + ` = ` + column + ` + (SELECT amount FROM added)
			WHERE id = $1 AND EXISTS (SELECT 1 FROM added)`, insert.args})
	} else {
		u.add(insert, stmt{`UPDATE workspaces SET ` + column + ` = ` + column + ` + $2 WHERE id = $1`, []any{e.WorkspaceID, e.Amount}})
	}
	v := *e
	put(u, u.rows.ledger, e.IdempotencyKey, &v)
	u.changeWorkspace(e.WorkspaceID, func(r *workspaceRow) {
		if e.Bucket == billing.BucketSubscription {
			r.mark.Credits.Subscription += e.Amount
		} else {
			r.mark.Credits.Purchased += e.Amount
		}
	})
	return true, nil
}

func (u *unit) SaveConsumption(ctx context.Context, c *billing.Consumption) error {
	u.add(saveConsumption(c))
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
		stored, ok := u.rows.messages[m.Key]
		if !ok {
			if err := u.miss(ctx); err != nil {
				return false, err
			}
			var n int
			if err := u.t.queryRow(ctx, `SELECT COUNT(*) FROM app_messages WHERE key = $1`, m.Key).Scan(&n); err != nil {
				return false, err
			}
			stored = n > 0
		}
		if stored {
			put(u, u.rows.messages, m.Key, true)
			return false, nil
		}
		put(u, u.rows.messages, m.Key, true)
	}
	u.add(addMessage(m))
	return true, nil
}

func (u *unit) AddMessages(ctx context.Context, ms []*billing.Message, mark *billing.WorkspaceMark) error {
	u.add(u.t.db.addMessages(ms, mark)...)
	if mark != nil {
		u.changeWorkspace(mark.WorkspaceID, func(r *workspaceRow) {
			r.mark.Sequence, r.mark.Entitlement, r.mark.Until, r.mark.CreditsLow = mark.Sequence, mark.Entitlement, mark.Until, mark.CreditsLow
		})
	}
	return nil
}
