package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	stripe "github.com/stripe/stripe-go/v85"

	"github.com/acme/billing"
)

// Decode sets e.Object from e.Payload for the event types billing handles
// and leaves it nil for the others. It reads stripe-go's types, which follow
// the newest API version, and fills what older versions kept elsewhere from
// a small overlay of the old field names.
func Decode(e *billing.Event) error {
	if !billing.Handles(e.Type) {
		e.Object = nil
		return nil
	}
	raw, err := rawObject(e)
	if err != nil {
		return fmt.Errorf("decode %s: %w", e.Type, err)
	}
	raw = textSafe(raw)
	var obj any
	switch prefix, _, _ := strings.Cut(e.Type, "."); {
	case strings.HasPrefix(e.Type, "checkout.session."):
		obj, err = decodeCheckout(raw)
	case strings.HasPrefix(e.Type, "customer.subscription."):
		obj, err = decodeSubscription(raw)
	case strings.HasPrefix(e.Type, "customer.discount."):
		obj, err = decodeDiscount(raw)
	case prefix == "customer":
		obj, err = decodeCustomer(raw)
	case prefix == "invoice":
		obj, err = decodeInvoice(raw)
	case prefix == "invoice_payment":
		obj, err = decodeInvoicePayment(raw)
	case prefix == "payment_intent":
		obj, err = decodePaymentIntent(raw)
	case prefix == "refund" || e.Type == "charge.refund.updated":
		obj, err = decodeRefund(raw)
	case strings.HasPrefix(e.Type, "charge.dispute."):
		obj, err = decodeDispute(raw)
	case prefix == "charge":
		obj, err = decodeCharge(raw)
	default:
		err = fmt.Errorf("no decoder")
	}
	if err != nil {
		return fmt.Errorf("decode %s data.object: %w", e.Type, err)
	}
	e.Object = obj
	return nil
}

// textSafe returns a JSON object with what a text column of PostgreSQL
// refuses made storable: each byte that is not valid UTF-8 becomes U+FFFD,
// as encoding/json reads it inside a string, and each \u0000 escape becomes
// \ufffd. Stripe sends neither, but a signed event might carry them, and
// stripe-go reads an expandable field's id without unescaping it, so raw
// bytes would reach the store: SQLite would keep them and PostgreSQL refuse
// the event. In valid JSON both can only occur inside strings, so the result
// is valid JSON too. raw is returned as it is when it holds neither; the
// stored payload is never changed.
func textSafe(raw []byte) []byte {
	nul := []byte(`\u0000`)
	if utf8.Valid(raw) && !bytes.Contains(raw, nul) {
		return raw
	}
	out := make([]byte, 0, len(raw)+16)
	for i := 0; i < len(raw); {
		switch r, size := utf8.DecodeRune(raw[i:]); {
		case bytes.HasPrefix(raw[i:], nul):
			out = append(out, `\ufffd`...)
			i += len(nul)
		case r == '\\' && i+1 < len(raw) && raw[i+1] < utf8.RuneSelf:
			out = append(out, raw[i:i+2]...) // an escape pair: "\\u0000" is no NUL
			i += 2
		case r == utf8.RuneError && size == 1:
			out = utf8.AppendRune(out, utf8.RuneError)
			i++
		default:
			out = append(out, raw[i:i+size]...)
			i += size
		}
	}
	return out
}

// Decoder adapts Decode to billing.Decoder.
type Decoder struct{}

// Decode implements billing.Decoder.
func (Decoder) Decode(e *billing.Event) error { return Decode(e) }

// overlay unmarshals raw into an overlay of old fields when the newest
// version's fields were missing: parsing the object a second time costs as
// much as the first, and payloads of current versions never need it.
func overlay(raw json.RawMessage, missing bool, legacy any) error {
	if !missing {
		return nil
	}
	return json.Unmarshal(raw, legacy)
}

// ref is an expandable field of any version: an id string, an object with an
// id, or null.
type ref string

func (r *ref) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, (*string)(r))
	}
	var obj struct {
		ID string `json:"id"`
	}
	if string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*r = ref(obj.ID)
	return nil
}

func customerID(c *stripe.Customer) string {
	if c == nil {
		return ""
	}
	return c.ID
}

// The decoders below read data.object into a copy of stripe-go's type that
// lacks its UnmarshalJSON: for an expandable type that method only checks
// for a bare id, then parses the whole object again, and data.object is
// never a bare id (Parse checks), so the copy reads each payload once less.

func decodeCheckout(raw json.RawMessage) (*billing.CheckoutSession, error) {
	type plain stripe.CheckoutSession
	var p plain
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	s := (*stripe.CheckoutSession)(&p)
	cs := &billing.CheckoutSession{
		ID: s.ID, Mode: string(s.Mode), Status: string(s.Status), PaymentStatus: string(s.PaymentStatus),
		CustomerID: customerID(s.Customer), ClientReferenceID: s.ClientReferenceID,
		AmountTotal: s.AmountTotal, Currency: string(s.Currency), Metadata: s.Metadata,
		CreatedAt: billing.Unix(s.Created), ExpiresAt: billing.Unix(s.ExpiresAt),
	}
	if s.Subscription != nil {
		cs.SubscriptionID = s.Subscription.ID
	}
	if s.PaymentIntent != nil {
		cs.PaymentIntentID = s.PaymentIntent.ID
	}
	return cs, nil
}

func decodeCustomer(raw json.RawMessage) (*billing.Customer, error) {
	type plain stripe.Customer
	var c plain
	var old struct {
		Discount *legacyDiscount `json:"discount"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	// Before 2025-03-31 a discount had its coupon whole, and no source.
	if err := overlay(raw, c.Discount != nil && c.Discount.Source == nil, &old); err != nil {
		return nil, err
	}
	out := Customer((*stripe.Customer)(&c))
	out.Discount = oneDiscount(c.Discount, old.Discount)
	return out, nil
}

// Customer converts a customer stripe-go read.
func Customer(c *stripe.Customer) *billing.Customer {
	return &billing.Customer{ID: c.ID, Email: c.Email, Name: c.Name, Deleted: c.Deleted, Metadata: c.Metadata,
		Discount: oneDiscount(c.Discount, nil)}
}

func decodeInvoicePayment(raw json.RawMessage) (*billing.InvoicePayment, error) {
	type plain stripe.InvoicePayment
	var p plain
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	out := &billing.InvoicePayment{ID: p.ID, AmountPaid: p.AmountPaid, Currency: string(p.Currency), Status: p.Status}
	if p.Invoice != nil {
		out.InvoiceID = p.Invoice.ID
	}
	if p.Payment != nil && p.Payment.PaymentIntent != nil {
		out.PaymentIntentID = p.Payment.PaymentIntent.ID
	}
	if p.StatusTransitions != nil {
		out.PaidAt = billing.Unix(p.StatusTransitions.PaidAt)
	}
	return out, nil
}

// decodeDiscount reads a customer.discount.* event's discount, of a
// subscription or, without one, of the customer.
func decodeDiscount(raw json.RawMessage) (*billing.DiscountChange, error) {
	type plain stripe.Discount
	var d plain
	var old legacyDiscount
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, err
	}
	if err := overlay(raw, d.Source == nil, &old); err != nil {
		return nil, err
	}
	out := &billing.DiscountChange{CustomerID: customerID(d.Customer), SubscriptionID: d.Subscription}
	if dd := oneDiscount((*stripe.Discount)(&d), &old); dd != nil {
		out.Discount = *dd
	}
	return out, nil
}

// legacySubscription holds what API versions before 2025-03-31 kept on the
// subscription itself: its period, its plan and its one discount, coupon
// and all.
type legacySubscription struct {
	CurrentPeriodStart int64 `json:"current_period_start"`
	CurrentPeriodEnd   int64 `json:"current_period_end"`
	Quantity           int64 `json:"quantity"`
	Plan               *struct {
		ID            string `json:"id"`
		Interval      string `json:"interval"`
		IntervalCount int64  `json:"interval_count"`
	} `json:"plan"`
	Discount *legacyDiscount `json:"discount"`
}

// legacyDiscount is a discount as versions before 2025-03-31 wrote it,
// with its coupon whole (since: discount.source.coupon).
type legacyDiscount struct {
	ID     string         `json:"id"`
	End    int64          `json:"end"`
	Coupon *stripe.Coupon `json:"coupon"`
}

func decodeSubscription(raw json.RawMessage) (*billing.Subscription, error) {
	type plain stripe.Subscription
	var s plain
	var old legacySubscription
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if err := overlay(raw, !itemPeriods(s.Items), &old); err != nil {
		return nil, err
	}
	return subscriptionOf((*stripe.Subscription)(&s), &old), nil
}

// Subscription converts a subscription stripe-go fetched from the API,
// which speaks the newest version and needs no overlay.
func Subscription(s *stripe.Subscription) *billing.Subscription {
	return subscriptionOf(s, &legacySubscription{})
}

func subscriptionOf(s *stripe.Subscription, old *legacySubscription) *billing.Subscription {
	sub := &billing.Subscription{
		ID: s.ID, CustomerID: customerID(s.Customer), Status: string(s.Status),
		CancelAtPeriodEnd: s.CancelAtPeriodEnd, CancelAt: billing.Unix(s.CancelAt), CanceledAt: billing.Unix(s.CanceledAt),
		EndedAt: billing.Unix(s.EndedAt), TrialStart: billing.Unix(s.TrialStart), TrialEnd: billing.Unix(s.TrialEnd),
		StartDate:          billing.Unix(s.StartDate),
		CurrentPeriodStart: billing.Unix(old.CurrentPeriodStart), CurrentPeriodEnd: billing.Unix(old.CurrentPeriodEnd),
		Metadata: s.Metadata, Discount: discountOf(s.Discounts, old),
	}
	if p := s.PauseCollection; p != nil && p.Behavior != "" {
		sub.Pause = &billing.Pause{Behavior: string(p.Behavior), ResumesAt: billing.Unix(p.ResumesAt)}
	}
	if s.Items != nil {
		for _, it := range s.Items.Data {
			if it == nil {
				continue
			}
			if item, ok := itemOf(it); ok {
				sub.Items = append(sub.Items, item)
			}
			if it.CurrentPeriodEnd > sec(sub.CurrentPeriodEnd) {
				sub.CurrentPeriodStart, sub.CurrentPeriodEnd = billing.Unix(it.CurrentPeriodStart), billing.Unix(it.CurrentPeriodEnd)
			}
		}
	}
	if len(sub.Items) == 0 && old.Plan != nil && old.Plan.ID != "" {
		sub.Items = []billing.SubscriptionItem{{PriceID: old.Plan.ID, Quantity: old.Quantity,
			Interval: old.Plan.Interval, IntervalCount: old.Plan.IntervalCount}}
	}
	return sub
}

// itemOf reads a subscription item's price, quantity and billing interval,
// from the price's recurrence or, in older payloads, its plan.
func itemOf(it *stripe.SubscriptionItem) (billing.SubscriptionItem, bool) {
	if it.Price == nil || it.Price.ID == "" {
		return billing.SubscriptionItem{}, false
	}
	item := billing.SubscriptionItem{ID: it.ID, PriceID: it.Price.ID, Quantity: it.Quantity}
	switch {
	case it.Price.Recurring != nil:
		item.Interval, item.IntervalCount = string(it.Price.Recurring.Interval), it.Price.Recurring.IntervalCount
	case it.Plan != nil:
		item.Interval, item.IntervalCount = string(it.Plan.Interval), it.Plan.IntervalCount
	}
	return item, true
}

// discountOf reads a subscription's first discount: from discounts (since
// 2025-03-31; an id alone unless the payload expanded it) or discount
// (before).
func discountOf(discounts []*stripe.Discount, old *legacySubscription) *billing.Discount {
	if len(discounts) > 0 {
		return oneDiscount(discounts[0], old.Discount)
	}
	return oneDiscount(nil, old.Discount)
}

// oneDiscount reads a discount of either shape, nil for none.
func oneDiscount(d *stripe.Discount, old *legacyDiscount) *billing.Discount {
	if d != nil && d.ID != "" {
		out := &billing.Discount{ID: d.ID, EndsAt: billing.Unix(d.End)}
		if d.Source != nil {
			couponInto(out, d.Source.Coupon)
		}
		if old != nil && out.Coupon == "" {
			couponInto(out, old.Coupon)
		}
		return out
	}
	if old != nil && (old.ID != "" || old.Coupon != nil) {
		out := &billing.Discount{ID: old.ID, EndsAt: billing.Unix(old.End)}
		couponInto(out, old.Coupon)
		return out
	}
	return nil
}

func couponInto(d *billing.Discount, c *stripe.Coupon) {
	if c == nil {
		return
	}
	d.Coupon, d.PercentOff, d.AmountOff, d.Currency = c.ID, c.PercentOff, c.AmountOff, string(c.Currency)
}

// itemPeriods reports whether every item has its price and period, as they
// do since API version 2025-03-31.
func itemPeriods(items *stripe.SubscriptionItemList) bool {
	if items == nil || len(items.Data) == 0 {
		return false
	}
	for _, it := range items.Data {
		if it == nil || it.Price == nil || it.CurrentPeriodEnd == 0 {
			return false
		}
	}
	return true
}

// legacyInvoice holds what API versions before 2025-03-31 kept elsewhere:
// the subscription at the top level and prices on the lines.
type legacyInvoice struct {
	Subscription        ref `json:"subscription"`
	SubscriptionDetails *struct {
		Metadata map[string]string `json:"metadata"`
	} `json:"subscription_details"`
	Lines *struct {
		Data []struct {
			Subscription ref `json:"subscription"`
			Price        *struct {
				ID string `json:"id"`
			} `json:"price"`
			Plan *struct {
				ID string `json:"id"`
			} `json:"plan"`
		} `json:"data"`
	} `json:"lines"`
}

func decodeInvoice(raw json.RawMessage) (*billing.Invoice, error) {
	type plain stripe.Invoice
	var p plain
	var old legacyInvoice
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	in := (*stripe.Invoice)(&p)
	if err := overlay(raw, !currentInvoice(in), &old); err != nil {
		return nil, err
	}
	return invoiceOf(in, &old), nil
}

// Invoice converts an invoice stripe-go fetched from the API.
func Invoice(in *stripe.Invoice) *billing.Invoice { return invoiceOf(in, &legacyInvoice{}) }

func invoiceOf(in *stripe.Invoice, old *legacyInvoice) *billing.Invoice {
	inv := &billing.Invoice{
		ID: in.ID, CustomerID: customerID(in.Customer), Status: string(in.Status), BillingReason: string(in.BillingReason),
		AmountDue: in.AmountDue, AmountPaid: in.AmountPaid, AmountRemaining: in.AmountRemaining,
		Currency: string(in.Currency), AttemptCount: in.AttemptCount, NextPaymentAttempt: billing.Unix(in.NextPaymentAttempt),
		Number: in.Number, HostedInvoiceURL: in.HostedInvoiceURL, InvoicePDF: in.InvoicePDF,
		DueDate: billing.Unix(in.DueDate), PeriodStart: billing.Unix(in.PeriodStart), PeriodEnd: billing.Unix(in.PeriodEnd),
		CreatedAt: billing.Unix(in.Created), Metadata: in.Metadata, SubscriptionID: string(old.Subscription),
		CollectionMethod: string(in.CollectionMethod),
	}
	if in.StatusTransitions != nil {
		inv.PaidAt = billing.Unix(in.StatusTransitions.PaidAt)
	}
	if old.SubscriptionDetails != nil {
		inv.SubscriptionMetadata = old.SubscriptionDetails.Metadata
	}
	if p := in.Parent; p != nil && p.SubscriptionDetails != nil {
		if p.SubscriptionDetails.Subscription != nil {
			inv.SubscriptionID = p.SubscriptionDetails.Subscription.ID
		}
		if p.SubscriptionDetails.Metadata != nil {
			inv.SubscriptionMetadata = p.SubscriptionDetails.Metadata
		}
	}
	if in.Lines != nil {
		for i, line := range in.Lines.Data {
			if inv.SubscriptionID == "" && line != nil && line.Parent != nil && line.Parent.SubscriptionItemDetails != nil {
				inv.SubscriptionID = line.Parent.SubscriptionItemDetails.Subscription
			}
			price := linePrice(line)
			if price == "" && old.Lines != nil && i < len(old.Lines.Data) {
				l := old.Lines.Data[i]
				if l.Price != nil {
					price = l.Price.ID
				} else if l.Plan != nil {
					price = l.Plan.ID
				}
				if inv.SubscriptionID == "" {
					inv.SubscriptionID = string(l.Subscription)
				}
			}
			// A credit line (a proration's "unused time" of the old price) ends
			// with the period too, but bills no price.
			if price == "" || line.Period == nil || line.Period.End < sec(inv.LinePeriodEnd) || line.Amount < 0 {
				continue
			}
			// The subscription's period is the latest period on the invoice.
			inv.LinePriceID = price
			inv.LinePeriodStart, inv.LinePeriodEnd = billing.Unix(line.Period.Start), billing.Unix(line.Period.End)
			if inv.SubscriptionMetadata == nil && line.Metadata != nil && line.Metadata[billing.MetadataWorkspaceID] != "" {
				inv.SubscriptionMetadata = line.Metadata
			}
		}
	}
	return inv
}

// currentInvoice reports whether the invoice has its subscription and line
// prices where API versions since 2025-03-31 put them; one-off invoices,
// which have no subscription, take the overlay too.
func currentInvoice(in *stripe.Invoice) bool {
	if in.Parent == nil || in.Parent.SubscriptionDetails == nil || in.Parent.SubscriptionDetails.Subscription == nil {
		return false
	}
	if in.Lines == nil {
		return true
	}
	for _, line := range in.Lines.Data {
		if linePrice(line) == "" {
			return false
		}
	}
	return true
}

func linePrice(line *stripe.InvoiceLineItem) string {
	if line == nil || line.Pricing == nil || line.Pricing.PriceDetails == nil || line.Pricing.PriceDetails.Price == nil {
		return ""
	}
	return line.Pricing.PriceDetails.Price.ID
}

func decodePaymentIntent(raw json.RawMessage) (*billing.Payment, error) {
	type plain stripe.PaymentIntent
	var pi plain
	if err := json.Unmarshal(raw, &pi); err != nil {
		return nil, err
	}
	return PaymentIntent((*stripe.PaymentIntent)(&pi)), nil
}

// PaymentIntent converts a payment intent stripe-go read.
func PaymentIntent(pi *stripe.PaymentIntent) *billing.Payment {
	p := &billing.Payment{
		ID: pi.ID, CustomerID: customerID(pi.Customer), Status: string(pi.Status), Amount: pi.Amount,
		Currency: string(pi.Currency), CreatedAt: billing.Unix(pi.Created), Metadata: pi.Metadata,
	}
	if pi.LastPaymentError != nil {
		p.ErrorMessage = pi.LastPaymentError.Msg
	}
	return p
}

func decodeCharge(raw json.RawMessage) (*billing.Charge, error) {
	type plain stripe.Charge
	var p plain
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	ch := (*stripe.Charge)(&p)
	c := &billing.Charge{
		ID: ch.ID, CustomerID: customerID(ch.Customer), Amount: ch.Amount, AmountRefunded: ch.AmountRefunded,
		Currency: string(ch.Currency), Status: string(ch.Status), Captured: ch.Captured, Created: billing.Unix(ch.Created),
		Metadata: ch.Metadata,
	}
	if ch.PaymentIntent != nil {
		c.PaymentIntentID = ch.PaymentIntent.ID
	}
	return c, nil
}

func decodeRefund(raw json.RawMessage) (*billing.Refund, error) {
	type plain stripe.Refund
	var p plain
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	r := (*stripe.Refund)(&p)
	out := &billing.Refund{ID: r.ID, Amount: r.Amount, Currency: string(r.Currency), Status: string(r.Status),
		Reason: string(r.Reason), CreatedAt: billing.Unix(r.Created), Metadata: r.Metadata}
	if r.Charge != nil {
		out.ChargeID = r.Charge.ID
	}
	if r.PaymentIntent != nil {
		out.PaymentIntentID = r.PaymentIntent.ID
	}
	return out, nil
}

func decodeDispute(raw json.RawMessage) (*billing.Dispute, error) {
	type plain stripe.Dispute
	var p plain
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	d := (*stripe.Dispute)(&p)
	out := &billing.Dispute{ID: d.ID, Amount: d.Amount, Currency: string(d.Currency), Status: string(d.Status),
		Reason: string(d.Reason), CreatedAt: billing.Unix(d.Created)}
	if d.Charge != nil {
		out.ChargeID = d.Charge.ID
	}
	if d.PaymentIntent != nil {
		out.PaymentIntentID = d.PaymentIntent.ID
	}
	if d.EvidenceDetails != nil {
		out.EvidenceDueBy = billing.Unix(d.EvidenceDetails.DueBy)
	}
	return out, nil
}

func sec(t interface{ Unix() int64 }) int64 {
	if u := t.Unix(); u > 0 {
		return u
	}
	return 0
}
