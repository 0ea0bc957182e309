package store

import (
	"fmt"
	"strings"

	"github.com/acme/billing"
)

// table is how rows of a table are written: one row (a statement per row,
// which is what SQLite and transactions that write as they go send), or
// many rows in one statement (PostgreSQL's group commits, from arrays).
type table struct {
	name string
	cols []column
	// conflict ends the INSERT: an ON CONFLICT clause, or "".
	conflict string
}

type column struct{ name, pgType string }

// newTable parses "name type, …" columns; upsert makes the conflict
// clause update every column but the first, the key.
func newTable(name, cols string, conflict string) *table {
	t := &table{name: name, conflict: conflict}
	for _, c := range strings.Split(cols, ",") {
		f := strings.Fields(c)
		t.cols = append(t.cols, column{f[0], f[1]})
	}
	return t
}

func upsert(name, cols string) *table {
	t := newTable(name, cols, "")
	sets := make([]string, 0, len(t.cols)-1)
	for _, c := range t.cols[1:] {
		sets = append(sets, c.name+" = excluded."+c.name)
	}
	t.conflict = "ON CONFLICT (" + t.cols[0].name + ") DO UPDATE SET " + strings.Join(sets, ", ")
	return t
}

func (t *table) names() string {
	ns := make([]string, len(t.cols))
	for i, c := range t.cols {
		ns[i] = c.name
	}
	return strings.Join(ns, ", ")
}

// one writes one row.
func (t *table) one(vals ...any) stmt {
	ps := make([]string, len(vals))
	for i := range vals {
		ps[i] = fmt.Sprintf("$%d", i+1)
	}
	return stmt{query: `INSERT INTO ` + t.name + ` (` + t.names() + `) VALUES (` + strings.Join(ps, ", ") + `) ` + t.conflict, args: vals}
}

// many writes rows, in their order.
func (t *table) many(db *DB, rows [][]any) []stmt {
	if len(rows) == 0 {
		return nil
	}
	if !db.Postgres() {
		ss := make([]stmt, len(rows))
		for i, r := range rows {
			ss[i] = t.one(r...)
		}
		return ss
	}
	arrays := make([]string, len(t.cols))
	args := make([]any, len(t.cols))
	for i, c := range t.cols {
		arrays[i] = fmt.Sprintf("$%d::%s[]", i+1, c.pgType)
		col := make([]any, len(rows))
		for j, r := range rows {
			col[j] = r[i]
		}
		args[i] = col
	}
	// WITH ORDINALITY keeps the rows' order, which serial columns follow.
	s := stmt{query: `INSERT INTO ` + t.name + ` (` + t.names() + `) SELECT ` + t.names() + ` FROM unnest(` +
		strings.Join(arrays, ", ") + `) WITH ORDINALITY AS r(` + t.names() + `, ord) ORDER BY ord ` + t.conflict, args: args}
	return []stmt{s}
}

var (
	customersTable = upsert("customers", `id text, workspace_id text, email text, name text, deleted boolean, last_event_at bigint,
		discount_event_at bigint, discount_id text, discount_coupon text, discount_percent_off float8, discount_amount_off bigint, discount_currency text,
		discount_ends_at bigint`)

	subscriptionsTable = upsert("subscriptions", `id text, customer_id text, workspace_id text, status text, price_id text,
		plan_id text, item_id text, quantity bigint, price_interval text, price_interval_count bigint,
		current_period_start bigint, current_period_end bigint, cancel_at_period_end boolean, cancel_at bigint,
		canceled_at bigint, ended_at bigint, trial_start bigint, trial_end bigint, discount_id text,
		discount_coupon text, discount_percent_off float8, discount_amount_off bigint, discount_currency text,
		discount_ends_at bigint, past_due_since bigint, paid_period_key text, paid_period_start bigint,
		period_credits bigint, start_date bigint, first_period_paid boolean, last_event_at bigint,
		pause_behavior text, pause_resumes_at bigint, pause_starts_at bigint, action_invoice_id text, action_url text,
		discount_event_at bigint`)

	invoicesTable = upsert("invoices", `id text, customer_id text, subscription_id text, workspace_id text, status text,
		billing_reason text, amount_due bigint, amount_paid bigint, amount_remaining bigint, currency text,
		attempt_count bigint, next_payment_attempt bigint, number text, hosted_invoice_url text, invoice_pdf text,
		due_date bigint, period_start bigint, period_end bigint, paid_at bigint, created_at bigint, last_event_at bigint,
		action_required_at bigint`)

	paymentsTable = upsert("payments", `id text, customer_id text, workspace_id text, invoice_id text, status text,
		amount bigint, amount_refunded bigint, currency text, purpose text, credits bigint, credits_refunded bigint,
		error_message text, created_at bigint, last_event_at bigint, refunds_total bigint, dispute_lost boolean`)

	checkoutSessionsTable = upsert("checkout_sessions", `id text, workspace_id text, customer_id text, mode text,
		status text, payment_status text, subscription_id text, payment_intent_id text, amount_total bigint,
		currency text, purpose text, created_at bigint, expires_at bigint, payment_failed_at bigint, last_event_at bigint`)

	refundsTable = upsert("refunds", `id text, payment_intent_id text, charge_id text, amount bigint, currency text,
		status text, reason text, created_at bigint, last_event_at bigint`)

	disputesTable = upsert("disputes", `id text, payment_intent_id text, charge_id text, amount bigint, currency text,
		status text, reason text, evidence_due_by bigint, created_at bigint, last_event_at bigint`)

	// workspacesTable writes a workspace's whole row, credits and mark
	// included; newWorkspacesTable inserts one the group commit found
	// absent. Like the ledger's and the keyed messages', its insert has no
	// ON CONFLICT: a row another transaction wrote first fails the batch,
	// whose events are then applied one by one, where it is no surprise.
	workspacesTable = upsert("workspaces", workspaceRowCols)

	newWorkspacesTable = newTable("workspaces", workspaceRowCols, "")

	// eventsTable writes an event as applied: a retry of one stored, not
	// done, counts an attempt, as BeginEvent does.
	eventsTable = newTable("events", `id text, type text, api_version text, livemode boolean, created bigint,
		account text, payload bytea, status text, attempts bigint, last_error text, received_at bigint, processed_at bigint, note text,
		object_id text, workspace_id text`,
		`ON CONFLICT (id) DO UPDATE SET attempts = events.attempts + 1, payload = excluded.payload,
		api_version = excluded.api_version, status = excluded.status, processed_at = excluded.processed_at, last_error = '',
		note = excluded.note, object_id = excluded.object_id, workspace_id = excluded.workspace_id`)

	ledgerTable = newTable("credit_ledger", `workspace_id text, amount bigint, bucket text, reason text,
		idempotency_key text, event_id text, created_at bigint, period_start bigint`, "")

	messagesTable = newTable("app_messages", `id text, key text, type text, workspace_id text, sequence bigint,
		created_at bigint, body text`, "")
)

const workspaceRowCols = `id text, name text, email text, stripe_customer_id text, credits_subscription bigint,
	credits_purchased bigint, sub_lot_key text, sub_lot_start bigint, message_sequence bigint,
	announced_entitlement text, announced_until bigint, credits_low integer, created_at bigint`

func customerValues(c *billing.Customer) []any {
	return append([]any{c.ID, null(c.WorkspaceID), c.Email, c.Name, c.Deleted, sec(c.LastEventAt), sec(c.DiscountEventAt)},
		discountValues(c.Discount)...)
}

func subscriptionValues(s *billing.Subscription) []any {
	d, p := s.Discount, s.Pause
	if d == nil {
		d = &billing.Discount{}
	}
	if p == nil {
		p = &billing.Pause{}
	}
	return []any{s.ID, s.CustomerID, null(s.WorkspaceID), s.Status, s.PriceID, s.PlanID,
		s.ItemID, s.Quantity, s.Interval, s.IntervalCount,
		sec(s.CurrentPeriodStart), sec(s.CurrentPeriodEnd), s.CancelAtPeriodEnd, sec(s.CancelAt), sec(s.CanceledAt), sec(s.EndedAt),
		sec(s.TrialStart), sec(s.TrialEnd), d.ID, d.Coupon, d.PercentOff, d.AmountOff,
		d.Currency, sec(d.EndsAt), sec(s.PastDueSince), s.PaidPeriodKey, sec(s.PaidPeriodStart), s.PeriodCredits,
		sec(s.StartDate), s.FirstPeriodPaid, sec(s.LastEventAt), p.Behavior, sec(p.ResumesAt), sec(p.StartsAt),
		s.ActionInvoiceID, s.ActionURL, sec(s.DiscountEventAt)}
}

func invoiceValues(i *billing.Invoice) []any {
	return []any{i.ID, i.CustomerID, i.SubscriptionID, null(i.WorkspaceID), i.Status, i.BillingReason,
		i.AmountDue, i.AmountPaid, i.AmountRemaining, i.Currency, i.AttemptCount, sec(i.NextPaymentAttempt),
		i.Number, i.HostedInvoiceURL, i.InvoicePDF, sec(i.DueDate), sec(i.PeriodStart), sec(i.PeriodEnd),
		sec(i.PaidAt), sec(i.CreatedAt), sec(i.LastEventAt), sec(i.ActionRequiredAt)}
}

func checkoutSessionValues(cs *billing.CheckoutSession) []any {
	return []any{cs.ID, null(cs.WorkspaceID), cs.CustomerID, cs.Mode, cs.Status, cs.PaymentStatus, cs.SubscriptionID,
		cs.PaymentIntentID, cs.AmountTotal, cs.Currency, cs.Purpose, sec(cs.CreatedAt), sec(cs.ExpiresAt),
		sec(cs.PaymentFailedAt), sec(cs.LastEventAt)}
}

func refundValues(r *billing.Refund) []any {
	return []any{r.ID, r.PaymentIntentID, r.ChargeID, r.Amount, r.Currency, r.Status, r.Reason,
		sec(r.CreatedAt), sec(r.LastEventAt)}
}

func disputeValues(d *billing.Dispute) []any {
	return []any{d.ID, d.PaymentIntentID, d.ChargeID, d.Amount, d.Currency, d.Status, d.Reason, sec(d.EvidenceDueBy),
		sec(d.CreatedAt), sec(d.LastEventAt)}
}

func paymentValues(p *billing.Payment) []any {
	return []any{p.ID, p.CustomerID, null(p.WorkspaceID), p.InvoiceID, p.Status, p.Amount, p.AmountRefunded, p.Currency,
		p.Purpose, p.Credits, p.CreditsRefunded, p.ErrorMessage, sec(p.CreatedAt), sec(p.LastEventAt), p.RefundsTotal, p.DisputeLost}
}

func workspaceValues(r *workspaceRow) []any {
	w, m := &r.w, &r.mark
	low := 0
	if m.CreditsLow {
		low = 1
	}
	return []any{w.ID, w.Name, w.Email, null(w.StripeCustomerID), m.Credits.Subscription, m.Credits.Purchased,
		m.Credits.Lot, sec(m.Credits.LotStart), m.Sequence, m.Entitlement, sec(m.Until), low, sec(w.CreatedAt)}
}

func ledgerValues(e *billing.LedgerEntry) []any {
	return []any{e.WorkspaceID, e.Amount, string(e.Bucket), e.Reason, e.IdempotencyKey, e.EventID, sec(e.CreatedAt), sec(e.PeriodStart)}
}

func messageValues(m *billing.Message) []any {
	return []any{m.ID, null(m.Key), m.Type, m.WorkspaceID, m.Sequence, sec(m.CreatedAt), string(m.Body)}
}
