package billing

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// recorder is the Tx the rules write through: it keeps each object as it
// was when the transaction first met it and as it was saved last, and the
// ledger entries added, so that flush can tell the app what changed.
type recorder struct {
	Tx
	s        *Service
	subs     changes[Subscription]
	invoices changes[Invoice]
	payments changes[Payment]
	ledger   []LedgerEntry
	attached []attachment
	asked    []asked
	recheck  []string // workspaces whose entitlement may have changed with time
}

type attachment struct{ workspaceID, customerID string }

// asked is a message a rule asks for, of an object whose state alone does
// not tell it (a trial reminder, a failed attempt); key makes it once.
type asked struct {
	typ, key, objectID string
}

// changes are the objects of one kind a transaction met, by id, in the
// order it met them.
type changes[T any] struct {
	byID  map[string]*change[T]
	order []string
}

type change[T any] struct {
	before *T // nil when the object did not exist
	after  *T // nil when not saved
}

func (c *changes[T]) get(id string) *change[T] {
	if ch, ok := c.byID[id]; ok {
		return ch
	}
	if c.byID == nil {
		c.byID = map[string]*change[T]{}
	}
	ch := &change[T]{}
	c.byID[id] = ch
	c.order = append(c.order, id)
	return ch
}

// read remembers the first state the transaction read of an object.
func (c *changes[T]) read(id string, v *T, err error) {
	if _, seen := c.byID[id]; seen || (err != nil && !isNotFound(err)) {
		return
	}
	ch := c.get(id)
	if err == nil {
		cp := *v
		ch.before = &cp
	}
}

// save remembers the state saved, reading the state before first when the
// transaction had not read it.
func (c *changes[T]) save(ctx context.Context, id string, v *T, load func(context.Context, string) (*T, error)) error {
	if _, seen := c.byID[id]; !seen {
		prev, err := load(ctx, id)
		if err != nil && !isNotFound(err) {
			return err
		}
		c.read(id, prev, err)
	}
	cp := *v
	c.get(id).after = &cp
	return nil
}

func (s *Service) record(tx Tx) *recorder { return &recorder{Tx: tx, s: s} }

func (r *recorder) Subscription(ctx context.Context, id string) (*Subscription, error) {
	v, err := r.Tx.Subscription(ctx, id)
	r.subs.read(id, v, err)
	return v, err
}

func (r *recorder) CurrentSubscription(ctx context.Context, workspaceID string) (*Subscription, error) {
	v, err := r.Tx.CurrentSubscription(ctx, workspaceID)
	if err == nil {
		r.subs.read(v.ID, v, nil)
	}
	return v, err
}

func (r *recorder) SaveSubscription(ctx context.Context, v *Subscription) error {
	if err := r.subs.save(ctx, v.ID, v, r.Tx.Subscription); err != nil {
		return err
	}
	return r.Tx.SaveSubscription(ctx, v)
}

func (r *recorder) Invoice(ctx context.Context, id string) (*Invoice, error) {
	v, err := r.Tx.Invoice(ctx, id)
	r.invoices.read(id, v, err)
	return v, err
}

func (r *recorder) SaveInvoice(ctx context.Context, v *Invoice) error {
	if err := r.invoices.save(ctx, v.ID, v, r.Tx.Invoice); err != nil {
		return err
	}
	return r.Tx.SaveInvoice(ctx, v)
}

func (r *recorder) Payment(ctx context.Context, id string) (*Payment, error) {
	v, err := r.Tx.Payment(ctx, id)
	r.payments.read(id, v, err)
	return v, err
}

func (r *recorder) SavePayment(ctx context.Context, v *Payment) error {
	if err := r.payments.save(ctx, v.ID, v, r.Tx.Payment); err != nil {
		return err
	}
	return r.Tx.SavePayment(ctx, v)
}

func (r *recorder) AttachUnlinked(ctx context.Context, workspaceID, customerID string) error {
	r.attached = append(r.attached, attachment{workspaceID, customerID})
	return r.Tx.AttachUnlinked(ctx, workspaceID, customerID)
}

func (r *recorder) AppendLedger(ctx context.Context, e *LedgerEntry) (bool, error) {
	inserted, err := r.Tx.AppendLedger(ctx, e)
	if inserted && err == nil {
		r.ledger = append(r.ledger, *e)
	}
	return inserted, err
}

// ask queues a message a rule asks for, once per key.
func (r *recorder) ask(typ, key, objectID string) {
	r.asked = append(r.asked, asked{typ: typ, key: key, objectID: objectID})
}

// draft is a message before its workspace's sequence is given.
type draft struct {
	typ, key, workspaceID string
	data, previous        any
	// entry, for a credits message, is its ledger entry: data is the entry
	// with the balance once written.
	entry *LedgerEntry
}

// flush writes the messages of what the transaction changed, by
// workspace, each workspace's sequence moving on once per message.
func (r *recorder) flush(ctx context.Context) error {
	var drafts []draft
	add := func(d ...draft) { drafts = append(drafts, d...) }
	for _, id := range r.payments.order {
		add(r.paymentMessages(r.payments.byID[id])...)
	}
	for _, id := range r.invoices.order {
		add(r.invoiceMessages(r.invoices.byID[id])...)
	}
	subs, err := r.subscriptionChanges(ctx)
	if err != nil {
		return err
	}
	for _, ch := range subs {
		add(r.subscriptionMessages(ch)...)
	}
	for _, a := range r.asked {
		d, err := r.askedMessage(ctx, a)
		if err != nil {
			return err
		}
		add(d...)
	}
	for i := range r.ledger {
		e := &r.ledger[i]
		if typ := ledgerMessageType(e); typ != "" {
			add(draft{typ: typ, workspaceID: e.WorkspaceID, entry: e})
		}
	}
	return r.write(ctx, drafts, r.touched(subs))
}

// creditsChange is the data of a credits message: the ledger entry and the
// balance after the transaction.
type creditsChange struct {
	Entry   LedgerEntryView `json:"entry"`
	Credits CreditsView     `json:"credits"`
}

// creditsLow is the data of credits.low.
type creditsLow struct {
	Credits   CreditsView `json:"credits"`
	Threshold int64       `json:"threshold"`
}

// touched says, of each workspace whose entitlement or credits may have
// changed, which to check.
type touched struct {
	order               []string
	entitlement, credit map[string]bool
}

func (t *touched) add(ws string, entitlement bool) {
	if ws == "" {
		return
	}
	if !t.entitlement[ws] && !t.credit[ws] {
		t.order = append(t.order, ws)
	}
	if entitlement {
		t.entitlement[ws] = true
	} else {
		t.credit[ws] = true
	}
}

// touched lists the workspaces whose entitlement or credits may have
// changed, in a fixed order.
func (r *recorder) touched(subs []*change[Subscription]) *touched {
	t := &touched{entitlement: map[string]bool{}, credit: map[string]bool{}}
	for _, ch := range subs {
		if !entitlementMoved(ch.before, ch.after) {
			continue
		}
		t.add(ch.after.WorkspaceID, true)
		if ch.before != nil {
			t.add(ch.before.WorkspaceID, true)
		}
	}
	for _, a := range r.attached {
		t.add(a.workspaceID, true)
	}
	for _, ws := range r.recheck {
		t.add(ws, true)
	}
	if r.s.CreditsLow > 0 {
		for _, e := range r.ledger {
			t.add(e.WorkspaceID, false)
		}
	}
	return t
}

// write gives each draft its workspace's next sequence number, checks each
// touched workspace against what it was last told, and stores the messages
// and the marks.
func (r *recorder) write(ctx context.Context, drafts []draft, t *touched) error {
	byWS := map[string][]draft{}
	order := t.order
	for _, d := range drafts {
		if _, ok := byWS[d.workspaceID]; !ok && !t.entitlement[d.workspaceID] && !t.credit[d.workspaceID] {
			order = append(order, d.workspaceID)
		}
		byWS[d.workspaceID] = append(byWS[d.workspaceID], d)
	}
	for _, ws := range order {
		if err := r.writeWorkspace(ctx, ws, byWS[ws], t); err != nil {
			return err
		}
	}
	return nil
}

func (r *recorder) writeWorkspace(ctx context.Context, ws string, drafts []draft, t *touched) error {
	mark, err := r.Tx.WorkspaceMark(ctx, ws)
	if isNotFound(err) {
		// Stripe named a workspace the app never created, in an object
		// stored before the workspace row existed.
		if err = r.Tx.EnsureWorkspace(ctx, ws, r.s.now()); err == nil {
			mark, err = r.Tx.WorkspaceMark(ctx, ws)
		}
	}
	if err != nil {
		return err
	}
	before, bal := *mark, mark.Credits
	if t.entitlement[ws] {
		d, err := r.entitlementMessage(ctx, mark, bal)
		if err != nil {
			return err
		}
		drafts = append(drafts, d...)
	}
	if t.entitlement[ws] || t.credit[ws] {
		drafts = append(drafts, r.s.creditsLowMessage(mark, bal, t.credit[ws])...)
	}
	batch, err := r.addMessages(ctx, mark, drafts)
	if err != nil {
		return err
	}
	if *mark == before {
		return r.Tx.AddMessages(ctx, batch, nil)
	}
	return r.Tx.AddMessages(ctx, batch, mark)
}

// addMessages gives a workspace's drafts the sequence numbers after the
// mark's, and moves the mark on. A keyed message is stored at once (one
// already stored takes no number); it returns the last ones after the last
// keyed one, for the caller to store with the mark.
func (r *recorder) addMessages(ctx context.Context, mark *WorkspaceMark, drafts []draft) ([]*Message, error) {
	now := r.s.now()
	var batch []*Message
	for _, d := range drafts {
		if d.entry != nil {
			d.data = creditsChange{Entry: ViewLedgerEntry(d.entry), Credits: ViewCredits(mark.Credits)}
		}
		m := &Message{ID: newMessageID(), Key: d.key, Type: d.typ, WorkspaceID: mark.WorkspaceID, Sequence: mark.Sequence + 1, CreatedAt: now}
		body, err := json.Marshal(messageBody{ID: m.ID, Type: m.Type, CreatedAt: *RFC3339(now), WorkspaceID: m.WorkspaceID,
			Sequence: m.Sequence, Data: d.data, Previous: d.previous})
		if err != nil {
			return nil, err
		}
		m.Body = body
		if m.Key == "" {
			batch = append(batch, m)
			mark.Sequence = m.Sequence
			continue
		}
		// Written in the order of their numbers, so that the feed has them so.
		if err := r.Tx.AddMessages(ctx, batch, nil); err != nil {
			return nil, err
		}
		batch = nil
		inserted, err := r.Tx.AddMessage(ctx, m)
		if err != nil {
			return nil, err
		}
		if inserted {
			mark.Sequence = m.Sequence
		}
	}
	return batch, nil
}

// entitlementMoved reports whether a subscription's change can change the
// entitlement of its workspace: what Entitle reads of it, its workspace, or
// its being new there. (The workspace's current subscription could also
// change by a tie on current_period_end between two live subscriptions,
// which one live subscription per workspace rules out.)
func entitlementMoved(b, a *Subscription) bool {
	return b == nil || b.WorkspaceID != a.WorkspaceID || b.Status != a.Status || b.PlanID != a.PlanID ||
		!b.cancelsAt().Equal(a.cancelsAt()) || !b.PastDueSince.Equal(a.PastDueSince) || stub(b) != stub(a) ||
		!b.Pause.same(a.Pause)
}

// entitlementMessage compares a workspace's entitlement now with the one
// last announced, and moves the mark to it.
func (r *recorder) entitlementMessage(ctx context.Context, mark *WorkspaceMark, bal Balance) ([]draft, error) {
	sub, err := r.Tx.CurrentSubscription(ctx, mark.WorkspaceID)
	switch {
	case isNotFound(err):
		sub = nil
	case err != nil:
		return nil, err
	case stub(sub):
		// Told once the subscription's own event says its plan; until then
		// nothing changes by time.
		mark.Until = time.Time{}
		return nil, nil
	}
	we := r.s.entitlementOf(sub, bal)
	sig := we.signature()
	was := mark.Entitlement
	if was == "" {
		was = r.s.entitlementOf(nil, Balance{}).signature()
	}
	mark.Entitlement, mark.Until = sig, we.Until
	if sig == was {
		return nil, nil
	}
	var prev struct {
		Entitled bool    `json:"entitled"`
		Reason   string  `json:"reason"`
		Plan     *string `json:"plan"`
	}
	var old struct {
		Entitled bool   `json:"entitled"`
		Reason   string `json:"reason"`
		Plan     string `json:"plan"`
	}
	_ = json.Unmarshal([]byte(was), &old)
	prev.Entitled, prev.Reason, prev.Plan = old.Entitled, old.Reason, orNull(old.Plan)
	return []draft{{typ: MsgEntitlementsChanged, workspaceID: mark.WorkspaceID, data: ViewEntitlement(we), previous: prev}}, nil
}

// creditsLowMessage tells once per crossing that a workspace's balance
// fell below Service.CreditsLow, and re-arms when it is back above. Only a
// transaction that moved the credits can make them fall: a workspace that
// never had any, met first by its subscription, is marked low silently.
func (s *Service) creditsLowMessage(mark *WorkspaceMark, bal Balance, moved bool) []draft {
	if s.CreditsLow <= 0 {
		return nil
	}
	low := bal.Total() < s.CreditsLow
	crossed := low && !mark.CreditsLow && moved
	mark.CreditsLow = low
	if !crossed {
		return nil
	}
	return []draft{{typ: MsgCreditsLow, workspaceID: mark.WorkspaceID,
		data: creditsLow{Credits: ViewCredits(bal), Threshold: s.CreditsLow}}}
}

// subscriptionChanges are the subscriptions the transaction saved, and
// those it attached to a workspace without saving (they are new to it).
func (r *recorder) subscriptionChanges(ctx context.Context) ([]*change[Subscription], error) {
	var out []*change[Subscription]
	for _, id := range r.subs.order {
		ch := r.subs.byID[id]
		if ch.after == nil {
			continue
		}
		c := *ch
		if c.before != nil && (c.before.WorkspaceID != c.after.WorkspaceID || r.attachedNow(c.after) || stub(c.before)) {
			c.before = nil // new to this workspace, or to the app
		}
		out = append(out, &c)
	}
	for _, a := range r.attached {
		sub, err := r.Tx.CurrentSubscription(ctx, a.workspaceID)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if ch, ok := r.subs.byID[sub.ID]; ok && ch.after != nil || sub.CustomerID != a.customerID {
			continue
		}
		out = append(out, &change[Subscription]{after: sub})
	}
	return out, nil
}

// attachedNow reports whether the subscription's customer was linked to
// its workspace in this transaction, which attached what it had.
func (r *recorder) attachedNow(s *Subscription) bool {
	for _, a := range r.attached {
		if a.customerID == s.CustomerID && a.workspaceID == s.WorkspaceID {
			return true
		}
	}
	return false
}

// stub reports whether a subscription is known only from its checkout,
// which names no price: the app is told of it once its own event says what
// it is, so that subscription.activated always carries the plan.
func stub(s *Subscription) bool { return s.PriceID == "" }

func live(status string) bool { return status == SubActive || status == SubTrialing }

// subscriptionMessages tells how a subscription changed.
func (r *recorder) subscriptionMessages(ch *change[Subscription]) []draft {
	b, a := ch.before, ch.after
	if a.WorkspaceID == "" || stub(a) {
		return nil
	}
	view := ViewSubscription(a, r.s.Entitle(a).Entitled)
	msg := func(typ string) draft { return draft{typ: typ, workspaceID: a.WorkspaceID, data: view} }
	var out []draft
	statusTold := false
	switch {
	case live(a.Status) && (b == nil || !started(b.Status)):
		out, statusTold = append(out, msg(MsgSubscriptionActivated)), true
	case b == nil:
	case a.Status == SubPastDue && b.Status != SubPastDue:
		out, statusTold = append(out, msg(MsgSubscriptionPastDue)), true
	case a.Status == SubCanceled && b.Status != SubCanceled:
		out, statusTold = append(out, msg(MsgSubscriptionCanceled)), true
	}
	ending := a.Status != SubCanceled && !a.cancelsAt().IsZero()
	switch {
	case ending && (b == nil || b.cancelsAt().IsZero()):
		out = append(out, msg(MsgSubscriptionCanceling))
	case b != nil && !ending && a.Status != SubCanceled && !b.cancelsAt().IsZero():
		out = append(out, msg(MsgSubscriptionResumed))
	}
	if b == nil {
		return out
	}
	prev := map[string]any{}
	if a.PlanID != b.PlanID {
		prev["plan"] = orNull(b.PlanID)
	}
	if a.PriceID != b.PriceID {
		prev["price"] = orNull(b.PriceID)
	}
	if a.Quantity != b.Quantity {
		prev["quantity"] = positive(b.Quantity)
	}
	if a.Status != b.Status && !statusTold {
		prev["status"] = b.Status
	}
	if a.ActionInvoiceID != b.ActionInvoiceID {
		prev["requires_action"] = b.ActionInvoiceID != ""
	}
	if len(prev) > 0 {
		d := msg(MsgSubscriptionUpdated)
		d.previous = prev
		out = append(out, d)
	}
	return out
}

// started reports whether a subscription in this status was activated
// already: live, or fallen from live.
func started(status string) bool {
	switch status {
	case SubActive, SubTrialing, SubPastDue, SubUnpaid, SubPaused:
		return true
	}
	return false
}

func (r *recorder) invoiceMessages(ch *change[Invoice]) []draft {
	a := ch.after
	if a == nil || a.WorkspaceID == "" || a.Status != "paid" || (ch.before != nil && ch.before.Status == "paid") {
		return nil
	}
	return []draft{{typ: MsgInvoicePaid, workspaceID: a.WorkspaceID, data: ViewInvoice(a)}}
}

func (r *recorder) paymentMessages(ch *change[Payment]) []draft {
	a := ch.after
	if a == nil || a.WorkspaceID == "" || a.Status != "succeeded" || (ch.before != nil && ch.before.Status == "succeeded") {
		return nil
	}
	return []draft{{typ: MsgPaymentSucceeded, workspaceID: a.WorkspaceID, data: ViewPayment(a)}}
}

// askedMessage renders a message a rule asked for from the object's state
// at the end of the transaction.
func (r *recorder) askedMessage(ctx context.Context, a asked) ([]draft, error) {
	var ws string
	var data any
	switch a.typ {
	case MsgSubscriptionTrialWillEnd:
		s, err := latest(ctx, &r.subs, a.objectID, r.Tx.Subscription)
		if err != nil {
			return nil, err
		}
		ws, data = s.WorkspaceID, ViewSubscription(s, r.s.Entitle(s).Entitled)
	case MsgInvoicePaymentFailed:
		inv, err := latest(ctx, &r.invoices, a.objectID, r.Tx.Invoice)
		if err != nil {
			return nil, err
		}
		ws, data = inv.WorkspaceID, ViewInvoice(inv)
	case MsgPaymentFailed:
		p, err := latest(ctx, &r.payments, a.objectID, r.Tx.Payment)
		if err != nil {
			return nil, err
		}
		ws, data = p.WorkspaceID, ViewPayment(p)
	}
	if ws == "" {
		return nil, nil
	}
	return []draft{{typ: a.typ, key: a.key, workspaceID: ws, data: data}}, nil
}

// latest is an object as the transaction leaves it.
func latest[T any](ctx context.Context, c *changes[T], id string, load func(context.Context, string) (*T, error)) (*T, error) {
	if ch, ok := c.byID[id]; ok && ch.after != nil {
		return ch.after, nil
	}
	return load(ctx, id)
}

// ledgerMessageType is the message a ledger entry makes: none for a
// spending (the app asked for it) or an entry of nothing.
func ledgerMessageType(e *LedgerEntry) string {
	switch {
	case e.WorkspaceID == "" || e.Amount == 0 || strings.HasPrefix(e.IdempotencyKey, kindSpend+":") ||
		strings.HasPrefix(e.IdempotencyKey, "consume:"):
		return ""
	case strings.HasSuffix(e.IdempotencyKey, ":expire"):
		return MsgCreditsExpired
	case e.Amount > 0:
		return MsgCreditsGranted
	}
	return MsgCreditsTakenBack
}

// attemptKey names one failed attempt of an invoice's payment.
func attemptKey(typ, id string, attempt int64) string {
	return joinKey(typ, id, strconv.FormatInt(attempt, 10))
}

// trialKey names a trial's reminder.
func trialKey(subID string, end time.Time) string {
	return joinKey(MsgSubscriptionTrialWillEnd, subID, strconv.FormatInt(end.Unix(), 10))
}
