// Package stripeapi is the adapter through which the service calls Stripe:
// customers, Checkout Sessions, Customer Portal sessions and changes of
// subscriptions, with stripe-go's client. It implements billing.Payments and
// turns Stripe's errors into billing errors with codes the API maps to
// statuses.
package stripeapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	stripe "github.com/stripe/stripe-go/v85"

	"github.com/acme/billing"
	"github.com/acme/billing/redact"
	"github.com/acme/billing/webhook"
)

// Options configure a Client.
type Options struct {
	Key string
	// URL replaces Stripe's API address (stripe-mock in tests).
	URL string
	// Timeout bounds each call, stripe-go's own retries included.
	Timeout time.Duration
	// HTTPClient, when set, carries the requests (tests observe them).
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Redactor masks the configured secrets in Stripe's messages, which
	// are logged and shown; nil masks what redact.Text recognises.
	Redactor *redact.Redactor
}

// Client calls Stripe.
type Client struct {
	sc      *stripe.Client
	timeout time.Duration
	log     *slog.Logger
	redact  *redact.Redactor
}

var _ billing.Payments = (*Client)(nil)

// New returns a client for o.Key.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: o.Timeout}
	}
	cfg := &stripe.BackendConfig{
		HTTPClient: hc,
		// stripe-go retries network errors, 409s and 5xx with its own
		// idempotency keys; the call's deadline bounds them.
		MaxNetworkRetries: stripe.Int64(2),
		// Our own log lines carry what matters, never the key.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if o.URL != "" {
		cfg.URL = stripe.String(o.URL)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Client{
		sc:      stripe.NewClient(o.Key, stripe.WithBackends(stripe.NewBackendsWithConfig(cfg))),
		timeout: o.Timeout,
		log:     o.Logger,
		redact:  o.Redactor,
	}
}

// CreateCustomer implements billing.Payments. The idempotency key is the
// workspace's, so concurrent first checkouts create one customer.
func (c *Client) CreateCustomer(ctx context.Context, ws *billing.Workspace) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.CustomerCreateParams{
		Metadata: map[string]string{billing.MetadataWorkspaceID: ws.ID},
	}
	if ws.Name != "" {
		params.Name = stripe.String(ws.Name)
	}
	if ws.Email != "" {
		params.Email = stripe.String(ws.Email)
	}
	params.SetIdempotencyKey("billing-customer-" + ws.ID)
	cus, err := c.sc.V1Customers.Create(ctx, params)
	if err != nil {
		return "", c.fail(err, "create customer", "workspace", ws.ID)
	}
	c.log.Info("Created Stripe customer", "customer", cus.ID, "workspace", ws.ID)
	return cus.ID, nil
}

// CreateCheckoutSession implements billing.Payments: subscription mode for a
// plan's price, payment mode for credits. Every id Stripe's later events
// need to find the workspace is set: client_reference_id, metadata, and the
// subscription's or payment intent's own metadata.
func (c *Client) CreateCheckoutSession(ctx context.Context, r *billing.CheckoutRequest) (*billing.SessionLink, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.CheckoutSessionCreateParams{
		Customer:          stripe.String(r.CustomerID),
		ClientReferenceID: stripe.String(r.WorkspaceID),
		SuccessURL:        stripe.String(r.SuccessURL),
		CancelURL:         stripe.String(r.CancelURL),
		Metadata:          map[string]string{billing.MetadataWorkspaceID: r.WorkspaceID},
	}
	if r.Credits > 0 {
		params.Mode = stripe.String(string(stripe.CheckoutSessionModePayment))
		params.Metadata = billing.PurchaseMetadata(r.WorkspaceID, r.Credits)
		params.LineItems = []*stripe.CheckoutSessionCreateLineItemParams{{
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(r.CreditPrice.Currency),
				UnitAmount:  stripe.Int64(r.CreditPrice.UnitAmount),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String("Credits")},
			},
			Quantity: stripe.Int64(r.Credits),
		}}
		params.PaymentIntentData = &stripe.CheckoutSessionCreatePaymentIntentDataParams{
			Metadata: billing.PurchaseMetadata(r.WorkspaceID, r.Credits),
		}
	} else {
		subscriptionCheckout(params, r)
	}
	s, err := c.sc.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return nil, c.fail(err, "create checkout session", "workspace", r.WorkspaceID)
	}
	return &billing.SessionLink{URL: s.URL, ID: s.ID}, nil
}

// subscriptionCheckout makes params a subscription checkout of r's price,
// seats, trial and discount.
func subscriptionCheckout(params *stripe.CheckoutSessionCreateParams, r *billing.CheckoutRequest) {
	params.Mode = stripe.String(string(stripe.CheckoutSessionModeSubscription))
	params.LineItems = []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String(r.PriceID), Quantity: stripe.Int64(max(r.Quantity, 1))}}
	params.SubscriptionData = &stripe.CheckoutSessionCreateSubscriptionDataParams{
		Metadata: map[string]string{billing.MetadataWorkspaceID: r.WorkspaceID},
	}
	if r.TrialDays > 0 {
		params.SubscriptionData.TrialPeriodDays = stripe.Int64(r.TrialDays)
	}
	switch {
	case r.Coupon != "":
		params.Discounts = []*stripe.CheckoutSessionCreateDiscountParams{{Coupon: stripe.String(r.Coupon)}}
	case r.PromotionCode != "":
		params.Discounts = []*stripe.CheckoutSessionCreateDiscountParams{{PromotionCode: stripe.String(r.PromotionCode)}}
	case r.AllowPromotionCodes:
		params.AllowPromotionCodes = stripe.Bool(true)
	}
}

// answerExpand is what every change expands in Stripe's answer: the
// discounts with their coupons, which the read model shows.
const answerExpand = "discounts.source.coupon"

// UpdateSubscription implements billing.Payments.
func (c *Client) UpdateSubscription(ctx context.Context, id string, ch *billing.SubscriptionChange) (*billing.Subscription, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.SubscriptionUpdateParams{CancelAtPeriodEnd: ch.CancelAtPeriodEnd}
	if ch.PriceID != "" || ch.Quantity > 0 {
		item := &stripe.SubscriptionUpdateItemParams{ID: stripe.String(ch.ItemID)}
		if ch.PriceID != "" {
			item.Price = stripe.String(ch.PriceID)
		}
		if ch.Quantity > 0 {
			item.Quantity = stripe.Int64(ch.Quantity)
		}
		params.Items = []*stripe.SubscriptionUpdateItemParams{item}
	}
	if ch.Proration != "" {
		params.ProrationBehavior = stripe.String(ch.Proration)
	}
	params.AddExpand(answerExpand)
	params.SetIdempotencyKey(ch.IdempotencyKey)
	s, err := c.sc.V1Subscriptions.Update(ctx, id, params)
	if err != nil {
		return nil, c.fail(err, "update subscription", "subscription", id)
	}
	return webhook.Subscription(s), nil
}

// CancelSubscription implements billing.Payments.
func (c *Client) CancelSubscription(ctx context.Context, id, idempotencyKey string) (*billing.Subscription, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	params := &stripe.SubscriptionCancelParams{}
	params.AddExpand(answerExpand)
	params.SetIdempotencyKey(idempotencyKey)
	s, err := c.sc.V1Subscriptions.Cancel(ctx, id, params)
	if err != nil {
		return nil, c.fail(err, "cancel subscription", "subscription", id)
	}
	return webhook.Subscription(s), nil
}

// CreatePortalSession implements billing.Payments.
func (c *Client) CreatePortalSession(ctx context.Context, customerID, returnURL string) (*billing.SessionLink, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s, err := c.sc.V1BillingPortalSessions.Create(ctx, &stripe.BillingPortalSessionCreateParams{
		Customer: stripe.String(customerID), ReturnURL: stripe.String(returnURL)})
	if err != nil {
		return nil, c.fail(err, "create portal session", "customer", customerID)
	}
	return &billing.SessionLink{URL: s.URL, ID: s.ID}, nil
}

// fail logs a failed call with Stripe's request id and returns it as a
// billing error: Stripe's own message for what the caller can fix, a
// generic one for what they cannot.
func (c *Client) fail(err error, op string, attrs ...any) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		c.log.Error("Stripe unreachable", append(attrs, "op", op, "error", err)...)
		return billing.Errorf(billing.EUPSTREAM, "Stripe could not be reached (%s)", op)
	}
	se.Msg = c.redact.String(se.Msg)
	c.log.Warn("Stripe refused a request", append(attrs, "op", op, "request_id", se.RequestID,
		"status", se.HTTPStatusCode, "type", se.Type, "code", se.Code, "message", se.Msg)...)
	switch {
	case se.HTTPStatusCode == http.StatusTooManyRequests || se.Code == stripe.ErrorCodeRateLimit:
		return billing.Errorf(billing.EUNAVAILABLE, "Stripe is rate limiting requests; retry shortly")
	case se.Type == stripe.ErrorTypeCard:
		return billing.Errorf(billing.ECARD, "%s", se.Msg)
	case se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden:
		return billing.Errorf(billing.EUPSTREAM, "Stripe refused the service's API key (check STRIPE_SECRET_KEY); request %s", se.RequestID)
	case se.Type == stripe.ErrorTypeInvalidRequest || se.Type == stripe.ErrorTypeIdempotency:
		return billing.Errorf(billing.ESTRIPE, "%s", strings.TrimSpace(se.Msg))
	}
	return billing.Errorf(billing.EUPSTREAM, "Stripe failed (%s); request %s", op, se.RequestID)
}
