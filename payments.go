package billing

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Payments is what the service asks of Stripe; package stripeapi implements
// it with stripe-go's client. Errors are *Error values with codes the API
// maps to statuses (ESTRIPE, ECARD, EUPSTREAM, EUNAVAILABLE).
type Payments interface {
	// CreateCustomer creates the Stripe customer of a workspace, with
	// metadata.workspace_id. Calls for one workspace are idempotent.
	CreateCustomer(ctx context.Context, ws *Workspace) (customerID string, err error)
	CreateCheckoutSession(ctx context.Context, s *CheckoutRequest) (*SessionLink, error)
	CreatePortalSession(ctx context.Context, customerID, returnURL string) (*SessionLink, error)
	// Prices retrieves Stripe prices by id, in the order given; a price
	// Stripe does not have is an error naming it.
	Prices(ctx context.Context, ids []string) ([]Price, error)
	// UpdateSubscription sends a change of a subscription and returns the
	// subscription as Stripe has it afterwards.
	UpdateSubscription(ctx context.Context, id string, c *SubscriptionChange) (*Subscription, error)
	// CancelSubscription ends a subscription now and returns it as Stripe
	// has it afterwards.
	CancelSubscription(ctx context.Context, id, idempotencyKey string) (*Subscription, error)
}

// CheckoutRequest is a Checkout Session to create: a subscription to
// Quantity of PriceID, or, with Credits set, a one-time payment for credits.
type CheckoutRequest struct {
	WorkspaceID string
	CustomerID  string
	PriceID     string
	Quantity    int64
	// TrialDays starts the subscription with a free trial; 0 for none.
	TrialDays int64
	// Coupon or PromotionCode (a promo_… id) discounts the subscription;
	// AllowPromotionCodes lets the customer enter a code on the page
	// instead. Stripe takes one of the three at most.
	Coupon              string
	PromotionCode       string
	AllowPromotionCodes bool
	Credits             int64
	CreditPrice         CreditPrice
	SuccessURL          string
	CancelURL           string
}

// SessionLink is where to send the user: a Checkout or Customer Portal page.
type SessionLink struct {
	URL string
	ID  string
}

// CreditPrice is what one purchased credit costs, in the currency's minor
// unit (cents for usd).
type CreditPrice struct {
	UnitAmount int64
	Currency   string
}

// Credit purchase bounds.
const MaxCreditsPurchase = 1_000_000

// PurchaseMetadata is the metadata a credits purchase carries, which the
// payment_intent.succeeded and checkout.session.completed webhooks read.
func PurchaseMetadata(workspaceID string, credits int64) map[string]string {
	return map[string]string{MetadataWorkspaceID: workspaceID, "purpose": "credits", "credits": strconv.FormatInt(credits, 10)}
}

func (s *Service) payments() (Payments, error) {
	if s.Payments == nil {
		return nil, Errorf(ENOSTRIPE, "Stripe is not configured: set STRIPE_SECRET_KEY")
	}
	return s.Payments, nil
}

// StartCheckout returns a Checkout Session that subscribes a workspace to a
// plan, creating the workspace's Stripe customer first if it has none. A
// workspace whose subscription is live is refused (EALREADYSUBSCRIBED)
// before anything is created at Stripe.
func (s *Service) StartCheckout(ctx context.Context, workspaceID string, c Checkout) (*SessionLink, error) {
	req, err := s.Plans.checkoutRequest(workspaceID, c)
	if err != nil {
		return nil, err
	}
	return s.checkout(ctx, req)
}

// Checkout is a subscription checkout an app asks for.
type Checkout struct {
	Plan string
	// Price is one of the plan's prices; "" is its first.
	Price string
	// Quantity is the seats, 1 to MaxQuantity; nil is 1.
	Quantity *int64
	// TrialDays, 1 to MaxTrialDays, starts with a free trial; nil for none.
	TrialDays *int64
	// Coupon (an id) or PromotionCode (a promo_… id) discounts the
	// subscription; AllowPromotionCodes lets the customer enter a code on
	// Stripe's page instead. "" is none.
	Coupon              string
	PromotionCode       string
	AllowPromotionCodes bool
	SuccessURL          string
	CancelURL           string
}

// checkoutRequest validates c, every field with an error naming it, and
// returns the session to create for a workspace.
func (p *Plans) checkoutRequest(workspaceID string, c Checkout) (*CheckoutRequest, error) {
	plan, ok := p.ByID(c.Plan)
	if !ok || len(plan.StripePriceIDs) == 0 {
		return nil, Errorf(EINVALID, "plan %q is not in the plans file", c.Plan)
	}
	price := plan.StripePriceIDs[0]
	if c.Price != "" {
		if !slices.Contains(plan.StripePriceIDs, c.Price) {
			return nil, Errorf(EINVALID, "price %q is not one of plan %q's prices (%s)", c.Price, plan.ID,
				strings.Join(plan.StripePriceIDs, ", "))
		}
		price = c.Price
	}
	for _, err := range []error{
		checkCount("quantity", c.Quantity, MaxQuantity),
		checkCount("trial_days", c.TrialDays, MaxTrialDays),
		checkText("coupon", c.Coupon, MaxDiscountCode),
		checkText("promotion_code", c.PromotionCode, MaxDiscountCode),
	} {
		if err != nil {
			return nil, err
		}
	}
	switch {
	case c.Coupon != "" && c.PromotionCode != "":
		return nil, Errorf(EINVALID, "give coupon or promotion_code, not both")
	case c.AllowPromotionCodes && (c.Coupon != "" || c.PromotionCode != ""):
		return nil, Errorf(EINVALID, "allow_promotion_codes cannot be combined with coupon or promotion_code: "+
			"Stripe applies a discount or lets the customer enter a code, not both")
	}
	return &CheckoutRequest{
		WorkspaceID: workspaceID, PriceID: price, Quantity: valueOr(c.Quantity, 1), TrialDays: valueOr(c.TrialDays, 0),
		Coupon: c.Coupon, PromotionCode: c.PromotionCode, AllowPromotionCodes: c.AllowPromotionCodes,
		SuccessURL: c.SuccessURL, CancelURL: c.CancelURL,
	}, nil
}

// refuseSecondSubscription answers EALREADYSUBSCRIBED when a workspace's
// subscription is live: a second checkout would bill it twice. For one
// waiting for a payment (incomplete, past_due) it names the open invoice's
// page, where the customer pays.
func (s *Service) refuseSecondSubscription(ctx context.Context, workspaceID string) error {
	st, err := s.Store.WorkspaceState(ctx, workspaceID)
	if err != nil {
		return err
	}
	sub := st.Subscription
	if sub == nil || !sub.Live() {
		return nil
	}
	e := Errorf(EALREADYSUBSCRIBED, "workspace %q already has subscription %s (%s): change its plan with a swap "+
		"(POST …/subscription/swap) rather than a second checkout", workspaceID, sub.ID, sub.Status)
	e.Fields = map[string]any{"subscription": sub.ID, "status": sub.Status, "hosted_invoice_url": nil}
	if sub.Status == SubIncomplete || sub.Status == SubPastDue {
		url, err := s.openInvoiceURL(ctx, workspaceID, sub.ID)
		if err != nil {
			return err
		}
		if url != "" {
			e.Fields["hosted_invoice_url"] = url
			e.Message += "; its open invoice is paid at hosted_invoice_url"
		}
	}
	return e
}

// openInvoiceURL is the page of a subscription's newest open invoice, ""
// when it has none.
func (s *Service) openInvoiceURL(ctx context.Context, workspaceID, subscriptionID string) (string, error) {
	invoices, err := s.Store.Invoices(ctx, workspaceID)
	if err != nil {
		return "", fmt.Errorf("invoices of workspace %q: %w", workspaceID, err)
	}
	for _, in := range invoices {
		if in.SubscriptionID == subscriptionID && in.Status == "open" && in.HostedInvoiceURL != "" {
			return in.HostedInvoiceURL, nil
		}
	}
	return "", nil
}

// BuyCredits returns a payment-mode Checkout Session for credits at the
// configured price.
func (s *Service) BuyCredits(ctx context.Context, workspaceID string, credits int64, successURL, cancelURL string) (*SessionLink, error) {
	if credits < 1 || credits > MaxCreditsPurchase {
		return nil, Errorf(EINVALID, "credits must be a whole number from 1 to %d", MaxCreditsPurchase)
	}
	if s.CreditPrice.UnitAmount < 1 || s.CreditPrice.Currency == "" {
		return nil, Errorf(ENOSTRIPE, "credit purchases are not configured: set BILLING_CREDIT_PRICE")
	}
	return s.checkout(ctx, &CheckoutRequest{WorkspaceID: workspaceID, Credits: credits, CreditPrice: s.CreditPrice,
		SuccessURL: successURL, CancelURL: cancelURL})
}

func (s *Service) checkout(ctx context.Context, req *CheckoutRequest) (*SessionLink, error) {
	if err := checkURLs(req.SuccessURL, req.CancelURL); err != nil {
		return nil, err
	}
	p, err := s.payments()
	if err != nil {
		return nil, err
	}
	if req.Credits == 0 {
		if err := s.refuseSecondSubscription(ctx, req.WorkspaceID); err != nil {
			return nil, err
		}
	}
	if req.CustomerID, err = s.customerOf(ctx, p, req.WorkspaceID); err != nil {
		return nil, err
	}
	link, err := p.CreateCheckoutSession(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("checkout for workspace %q: %w", req.WorkspaceID, err)
	}
	return link, nil
}

// OpenPortal returns a Customer Portal session for a workspace's customer.
func (s *Service) OpenPortal(ctx context.Context, workspaceID, returnURL string) (*SessionLink, error) {
	if err := checkURLs(returnURL); err != nil {
		return nil, err
	}
	p, err := s.payments()
	if err != nil {
		return nil, err
	}
	customerID, err := s.customerOf(ctx, p, workspaceID)
	if err != nil {
		return nil, err
	}
	link, err := p.CreatePortalSession(ctx, customerID, returnURL)
	if err != nil {
		return nil, fmt.Errorf("portal for workspace %q: %w", workspaceID, err)
	}
	return link, nil
}

// customerOf returns the workspace's Stripe customer, creating and linking
// it the first time. Concurrent first calls get one customer: the create is
// idempotent per workspace, and linking keeps the first link.
func (s *Service) customerOf(ctx context.Context, p Payments, workspaceID string) (string, error) {
	ws, err := s.Store.Workspace(ctx, workspaceID)
	if err != nil {
		return "", err
	}
	if ws.StripeCustomerID != "" {
		return ws.StripeCustomerID, nil
	}
	id, err := p.CreateCustomer(ctx, ws)
	if err != nil {
		return "", fmt.Errorf("create Stripe customer of workspace %q: %w", workspaceID, err)
	}
	err = s.inTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, workspaceID, id); err != nil {
			return err
		}
		// Another request, or a customer.created webhook, may have linked a
		// customer meanwhile: the first link stands.
		if now, err := tx.Workspace(ctx, workspaceID); err != nil || now.StripeCustomerID != "" {
			if err == nil && now.StripeCustomerID != id {
				s.logger().Warn("Workspace got a Stripe customer meanwhile; using it", "workspace", workspaceID,
					"customer", now.StripeCustomerID, "unused_customer", id)
				id = now.StripeCustomerID
			}
			return err
		}
		a := &applier{Service: s, tx: tx, e: &Event{}, log: s.logger().With("workspace", workspaceID)}
		return a.link(ctx, workspaceID, id)
	})
	if err != nil {
		return "", fmt.Errorf("link Stripe customer %s to workspace %q: %w", id, workspaceID, err)
	}
	return id, nil
}

// checkURLs requires absolute http(s) URLs, as Stripe does, so that a bad
// one is a clear 400 here rather than Stripe's error.
func checkURLs(urls ...string) error {
	for _, raw := range urls {
		if _, ok := WebURL(raw); !ok {
			return Errorf(EINVALID, "%q is not an absolute http(s) URL", raw)
		}
	}
	return nil
}

// WebURL parses an absolute http or https URL with a host.
func WebURL(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	return u, err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// IsLoopback reports whether a host name (without port or brackets) is
// this machine's own: localhost or a loopback address.
func IsLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
