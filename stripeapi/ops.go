package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	stripe "github.com/stripe/stripe-go/v85"

	"github.com/acme/billing"
	"github.com/acme/billing/webhook"
)

// APIVersion is the Stripe API version stripe-go speaks, which a webhook
// endpoint created by SetupWebhook is pinned to.
const APIVersion = stripe.APIVersion

// Endpoint is a webhook endpoint SetupWebhook created or updated.
type Endpoint struct {
	ID         string
	URL        string
	APIVersion string
	// Secret is the signing secret; Stripe shows it only at creation.
	Secret  string
	Created bool
}

// SetupWebhook makes sure a webhook endpoint at url receives events: an
// endpoint already there gets the list (its API version, fixed at creation,
// is left), else one is created pinned to APIVersion.
func (c *Client) SetupWebhook(ctx context.Context, url string, events []string) (*Endpoint, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*c.timeout)
	defer cancel()
	for we, err := range c.sc.V1WebhookEndpoints.List(ctx, &stripe.WebhookEndpointListParams{}).All(ctx) {
		if err != nil {
			return nil, c.fail(err, "list webhook endpoints")
		}
		if we.URL != url {
			continue
		}
		up, err := c.sc.V1WebhookEndpoints.Update(ctx, we.ID, &stripe.WebhookEndpointUpdateParams{
			EnabledEvents: stripe.StringSlice(events), Disabled: stripe.Bool(false)})
		if err != nil {
			return nil, c.fail(err, "update webhook endpoint", "endpoint", we.ID)
		}
		return &Endpoint{ID: up.ID, URL: up.URL, APIVersion: up.APIVersion}, nil
	}
	we, err := c.sc.V1WebhookEndpoints.Create(ctx, &stripe.WebhookEndpointCreateParams{
		URL: stripe.String(url), EnabledEvents: stripe.StringSlice(events), APIVersion: stripe.String(APIVersion),
		Description: stripe.String("billing service"),
	})
	if err != nil {
		return nil, c.fail(err, "create webhook endpoint")
	}
	return &Endpoint{ID: we.ID, URL: we.URL, APIVersion: we.APIVersion, Secret: we.Secret, Created: true}, nil
}

// UndeliveredEvents calls fn with the JSON of each event of the given types
// created since then whose delivery to some endpoint has not succeeded,
// oldest first as Stripe pages them newest first; the Events API keeps 30
// days.
func (c *Client) UndeliveredEvents(ctx context.Context, since time.Time, types []string, fn func(payload []byte) error) error {
	params := &stripe.EventListParams{
		DeliverySuccess: stripe.Bool(false),
		Types:           stripe.StringSlice(types),
		CreatedRange:    &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
	}
	var payloads [][]byte
	for e, err := range c.sc.V1Events.List(ctx, params).All(ctx) {
		if err != nil {
			return c.fail(err, "list events")
		}
		p, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
		payloads = append(payloads, p)
	}
	for i := len(payloads) - 1; i >= 0; i-- {
		if err := fn(payloads[i]); err != nil {
			return err
		}
	}
	return nil
}

// Refetch implements billing.Refetcher. An object Stripe no longer has (a
// deleted draft invoice) keeps the event's payload.
func (c *Client) Refetch(ctx context.Context, obj any) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var fresh any
	var err error
	switch o := obj.(type) {
	case *billing.Subscription:
		var s *stripe.Subscription
		params := &stripe.SubscriptionRetrieveParams{}
		params.AddExpand(answerExpand)
		if s, err = c.sc.V1Subscriptions.Retrieve(ctx, o.ID, params); err == nil {
			fresh = webhook.Subscription(s)
		}
	case *billing.Invoice:
		var in *stripe.Invoice
		if in, err = c.sc.V1Invoices.Retrieve(ctx, o.ID, nil); err == nil {
			fresh = webhook.Invoice(in)
		}
	default:
		return obj, nil
	}
	if missing(err) {
		return obj, nil
	}
	if err != nil {
		return nil, c.fail(err, "refetch")
	}
	return fresh, nil
}

// FetchRelated implements billing.ThinFetcher with stripe-go's thin-event
// notification: the object it names, as Stripe has it now, in the context
// of its account. nil when it names none, or Stripe no longer has it.
func (c *Client) FetchRelated(ctx context.Context, e *billing.Event) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	n, err := stripe.EventNotificationFromJSON(e.Payload, *c.sc)
	if err != nil {
		return nil, fmt.Errorf("thin event %s: %w", e.ID, err)
	}
	u, ok := n.(*stripe.UnknownEventNotification)
	if !ok || u.RelatedObject == nil || u.RelatedObject.URL == "" {
		return nil, nil
	}
	obj, err := u.FetchRelatedObject(ctx)
	switch {
	case missing(err):
		return nil, nil
	case err != nil:
		return nil, c.fail(err, "fetch "+u.RelatedObject.Type, "object", u.RelatedObject.ID)
	}
	return obj.LastResponse.RawJSON, nil
}

// SyncFilter narrows what Objects pages through.
type SyncFilter struct {
	Since      time.Time // objects created since; zero for all
	CustomerID string    // one customer's objects; "" for all
}

// Objects pages through the account's customers, subscriptions (of every
// status), invoices and payment intents, in that order so that customers
// are linked before their objects, and calls fn with each, converted.
func (c *Client) Objects(ctx context.Context, f SyncFilter, fn func(obj any) error) error {
	var created *stripe.RangeQueryParams
	if !f.Since.IsZero() {
		created = &stripe.RangeQueryParams{GreaterThanOrEqual: f.Since.Unix()}
	}
	var customer *string
	if f.CustomerID != "" {
		customer = stripe.String(f.CustomerID)
		cus, err := c.sc.V1Customers.Retrieve(ctx, f.CustomerID, nil)
		if err != nil {
			return c.fail(err, "retrieve customer", "customer", f.CustomerID)
		}
		if err := fn(webhook.Customer(cus)); err != nil {
			return err
		}
	} else {
		for cus, err := range c.sc.V1Customers.List(ctx, &stripe.CustomerListParams{CreatedRange: created}).All(ctx) {
			if err := each(c, err, "list customers", fn, func() any { return webhook.Customer(cus) }); err != nil {
				return err
			}
		}
	}
	subs := &stripe.SubscriptionListParams{Customer: customer, Status: stripe.String("all"), CreatedRange: created}
	subs.AddExpand("data." + answerExpand) // the coupon of each, which a webhook names by id only
	for s, err := range c.sc.V1Subscriptions.List(ctx, subs).All(ctx) {
		if err := each(c, err, "list subscriptions", fn, func() any { return webhook.Subscription(s) }); err != nil {
			return err
		}
	}
	for in, err := range c.sc.V1Invoices.List(ctx, &stripe.InvoiceListParams{Customer: customer, CreatedRange: created}).All(ctx) {
		if err := each(c, err, "list invoices", fn, func() any { return webhook.Invoice(in) }); err != nil {
			return err
		}
	}
	pis := &stripe.PaymentIntentListParams{Customer: customer, CreatedRange: created}
	for pi, err := range c.sc.V1PaymentIntents.List(ctx, pis).All(ctx) {
		if err := each(c, err, "list payment intents", fn, func() any { return webhook.PaymentIntent(pi) }); err != nil {
			return err
		}
	}
	return nil
}

// each hands one listed object to fn, or returns the listing's error.
func each(c *Client, err error, op string, fn func(any) error, obj func() any) error {
	if err != nil {
		return c.fail(err, op)
	}
	return fn(obj())
}
