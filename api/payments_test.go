package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/stripeapi"
	"github.com/acme/billing/stripeapi/stripetest"
	"github.com/acme/billing/trigger"
)

// withStripe serves the API with the Stripe client pointed at url (stripe-mock
// or a test server), its requests recorded, credits at 10 cents each.
func withStripe(t *testing.T, url, key string, timeout time.Duration, opts ...func(*billing.Service)) (*harness, *stripetest.Recorder) {
	t.Helper()
	t.Parallel()
	rec := &stripetest.Recorder{}
	logs := &billingtest.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	h := serve(t, storetest.Open(t, logger), logs, func(s *billing.Service) {
		usingStripe(url, key, timeout, logger, rec)(s)
		s.CreditPrice = billing.CreditPrice{UnitAmount: 10, Currency: "usd"}
		for _, o := range opts {
			o(s)
		}
	})
	return h, rec
}

// usingStripe gives a service a Stripe client pointed at url, its requests
// recorded by rec, for payments and thin events.
func usingStripe(url, key string, timeout time.Duration, logger *slog.Logger, rec *stripetest.Recorder) func(*billing.Service) {
	return func(s *billing.Service) {
		c := stripeapi.New(stripeapi.Options{Key: key, URL: url, Timeout: timeout, Logger: logger,
			HTTPClient: &http.Client{Transport: rec, Timeout: timeout}})
		s.Payments, s.Thin = c, c // as serve wires a secret key
	}
}

// plansWithYearly are the test plans with a second price, yearly, for pro.
var plansWithYearly = func() *billing.Plans {
	p, err := billing.NewPlans([]billing.Plan{
		{ID: "pro", Name: "Pro", StripePriceIDs: []string{proPrice, "price_TestProYearly"}, MonthlyCredits: 1000},
		{ID: "team", Name: "Team", StripePriceIDs: []string{"price_TestTeam"}, MonthlyCredits: 5000},
	})
	if err != nil {
		panic(err)
	}
	return p
}()

type sessionView struct {
	Code      int    `json:"-"`
	Body      string `json:"-"`
	Header    http.Header
	URL       string `json:"url"`
	SessionID string `json:"session_id"`
	Error     struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// call posts a JSON body to an API path with the API key.
func (h *harness) call(path, body string) sessionView {
	h.t.Helper()
	code, header, raw := h.postAPI(path, body, "")
	v := sessionView{Code: code, Body: string(raw), Header: header}
	if err := json.Unmarshal(raw, &v); err != nil {
		h.t.Fatalf("%s: answer is not JSON: %s", path, raw)
	}
	return v
}

// postAPI posts a body to an API path with the API key and, unless key is
// "", an Idempotency-Key header.
func (h *harness) postAPI(path, body, key string) (int, http.Header, []byte) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

func (h *harness) createWorkspace(id string) {
	h.t.Helper()
	if v := h.call("/api/billing/workspaces", `{"id":"`+id+`","name":"Acme","email":"billing@acme.test"}`); v.Code != http.StatusCreated {
		h.t.Fatalf("create workspace: %d %s", v.Code, v.Body)
	}
}

const urls = `"success_url":"https://app.example/ok","cancel_url":"https://app.example/cancel"`

func checkForm(t *testing.T, what string, got stripetest.Request, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got.Form.Get(k) != v {
			t.Errorf("%s sent %s=%q, want %q", what, k, got.Form.Get(k), v)
		}
	}
}

func TestCheckoutCreatesTheCustomerOnce(t *testing.T) {
	h, rec := withStripe(t, stripetest.Start(t), "sk_test_123", 10*time.Second)
	h.createWorkspace("ws_co")
	first := h.call("/api/billing/workspaces/ws_co/checkout", `{"plan":"pro",`+urls+`}`)
	if first.Code != http.StatusOK || !strings.HasPrefix(first.URL, "https://checkout.stripe.com/") || !strings.HasPrefix(first.SessionID, "cs_") {
		t.Fatalf("checkout = %d %s", first.Code, first.Body)
	}
	customers := rec.Requests("/v1/customers")
	if len(customers) != 1 {
		t.Fatalf("%d customer creations, want 1", len(customers))
	}
	checkForm(t, "customer create", customers[0], map[string]string{"metadata[workspace_id]": "ws_co", "name": "Acme", "email": "billing@acme.test"})
	if k := customers[0].Header.Get("Idempotency-Key"); k != "billing-customer-ws_co" {
		t.Errorf("customer create Idempotency-Key = %q", k)
	}
	w := h.workspace("ws_co")
	if w.StripeCustomerID == nil || !strings.HasPrefix(*w.StripeCustomerID, "cus_") {
		t.Fatalf("workspace customer = %v", w.StripeCustomerID)
	}
	sessions := rec.Requests("/v1/checkout/sessions")
	checkForm(t, "checkout", sessions[0], map[string]string{
		"mode": "subscription", "customer": *w.StripeCustomerID, "client_reference_id": "ws_co",
		"metadata[workspace_id]": "ws_co", "subscription_data[metadata][workspace_id]": "ws_co",
		"line_items[0][price]": proPrice, "line_items[0][quantity]": "1",
		"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel",
	})
	// A second checkout (another plan) reuses the customer.
	if again := h.call("/api/billing/workspaces/ws_co/checkout", `{"plan":"team",`+urls+`}`); again.Code != http.StatusOK {
		t.Fatalf("second checkout = %d %s", again.Code, again.Body)
	}
	if n := len(rec.Requests("/v1/customers")); n != 1 {
		t.Errorf("%d customer creations after two checkouts, want 1", n)
	}
	checkForm(t, "second checkout", rec.Requests("/v1/checkout/sessions")[1], map[string]string{
		"customer": *w.StripeCustomerID, "line_items[0][price]": "price_TestTeam"})
}

// Checkout's options reach Stripe: a price of the plan, seats, a trial and
// a discount, or the promotion code field on Stripe's page.
func TestCheckoutOptions(t *testing.T) {
	h, rec := withStripe(t, stripetest.Start(t), "sk_test_123", 10*time.Second,
		func(s *billing.Service) { s.Plans = plansWithYearly })
	h.createWorkspace("ws_opt")
	for i, tt := range []struct {
		body string
		want map[string]string // "" is a parameter not sent
	}{
		{`{"plan":"pro","price":"price_TestProYearly","quantity":3,"trial_days":14,"coupon":"SAVE20",` + urls + `}`, map[string]string{
			"line_items[0][price]": "price_TestProYearly", "line_items[0][quantity]": "3",
			"subscription_data[trial_period_days]": "14", "discounts[0][coupon]": "SAVE20",
			"discounts[0][promotion_code]": "", "allow_promotion_codes": "",
			"subscription_data[metadata][workspace_id]": "ws_opt", "client_reference_id": "ws_opt",
		}},
		{`{"plan":"pro","promotion_code":"promo_1Test",` + urls + `}`, map[string]string{
			"line_items[0][price]": proPrice, "line_items[0][quantity]": "1", "subscription_data[trial_period_days]": "",
			"discounts[0][promotion_code]": "promo_1Test", "discounts[0][coupon]": "", "allow_promotion_codes": "",
		}},
		{`{"plan":"team","allow_promotion_codes":true,"quantity":null,"trial_days":null,` + urls + `}`, map[string]string{
			"line_items[0][price]": "price_TestTeam", "line_items[0][quantity]": "1",
			"allow_promotion_codes": "true", "discounts[0][coupon]": "", "discounts[0][promotion_code]": "",
		}},
	} {
		if v := h.call("/api/billing/workspaces/ws_opt/checkout", tt.body); v.Code != http.StatusOK || v.SessionID == "" {
			t.Fatalf("%s: %d %s", tt.body, v.Code, v.Body)
		}
		checkForm(t, tt.body, rec.Requests("/v1/checkout/sessions")[i], tt.want)
	}
}

// A workspace whose subscription is live gets 409 already_subscribed, with
// the subscription, its status and, for one waiting for a payment, the
// open invoice's page; nothing is created at Stripe. One that has ended
// checks out again.
func TestCheckoutRefusesASecondSubscription(t *testing.T) {
	h, rec := withStripe(t, stripetest.Start(t), "sk_test_123", 10*time.Second)
	for _, tt := range []struct {
		status   string
		invoice  bool // the open invoice is known
		refused  bool
		pageLink bool
	}{
		{"active", true, true, false},
		{"trialing", false, true, false},
		{"past_due", true, true, true},
		{"past_due", false, true, false},
		{"incomplete", true, true, true},
		{"unpaid", true, true, false},
		{"paused", false, true, false},
		{"canceled", false, false, false},
		{"incomplete_expired", false, false, false},
	} {
		name := fmt.Sprintf("%s, invoice %v", tt.status, tt.invoice)
		ws := "ws_" + strings.ReplaceAll(tt.status, "_", "-") + fmt.Sprint(tt.invoice)
		h.deliver(trigger.Options{Type: "customer.subscription.updated", Workspace: ws,
			Set: map[string]any{"data.object.status": tt.status}}, billing.StatusProcessed)
		if tt.invoice {
			h.deliver(trigger.Options{Type: "invoice.finalized", Workspace: ws}, billing.StatusProcessed)
		}
		sessions := len(rec.Requests("/v1/checkout/sessions"))
		code, _, raw := h.postAPI("/api/billing/workspaces/"+ws+"/checkout", `{"plan":"pro",`+urls+`}`, "")
		if !tt.refused {
			if code != http.StatusOK {
				t.Errorf("%s: %d %s, want a checkout", name, code, raw)
			}
			continue
		}
		var v struct {
			Error struct {
				Code, Message, Subscription, Status string
				HostedInvoiceURL                    *string `json:"hosted_invoice_url"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || code != http.StatusConflict || v.Error.Code != billing.EALREADYSUBSCRIBED ||
			v.Error.Subscription != trigger.ID("sub_TestSub1", ws) || v.Error.Status != tt.status ||
			!strings.Contains(v.Error.Message, "swap") {
			t.Errorf("%s: %d %s", name, code, raw)
		}
		if want := tt.pageLink; want != (v.Error.HostedInvoiceURL != nil) ||
			(want && !strings.HasPrefix(*v.Error.HostedInvoiceURL, "https://invoice.stripe.com/i/")) {
			t.Errorf("%s: hosted_invoice_url = %v, want one: %v (%s)", name, str(v.Error.HostedInvoiceURL), want, raw)
		}
		if n := len(rec.Requests("/v1/checkout/sessions")); n != sessions {
			t.Errorf("%s: a refused checkout reached Stripe", name)
		}
	}
	if n := len(rec.Requests("/v1/customers")); n != 0 {
		t.Errorf("%d customers created; every workspace has one from its events", n)
	}
}

func TestCreditsPurchaseCheckout(t *testing.T) {
	h, rec := withStripe(t, stripetest.Start(t), "sk_test_123", 10*time.Second)
	h.createWorkspace("ws_buy")
	v := h.call("/api/billing/workspaces/ws_buy/credits/purchase", `{"credits":500,`+urls+`}`)
	if v.Code != http.StatusOK || v.URL == "" || v.SessionID == "" {
		t.Fatalf("purchase = %d %s", v.Code, v.Body)
	}
	checkForm(t, "purchase checkout", rec.Requests("/v1/checkout/sessions")[0], map[string]string{
		"mode": "payment", "client_reference_id": "ws_buy",
		"line_items[0][quantity]": "500", "line_items[0][price_data][unit_amount]": "10",
		"line_items[0][price_data][currency]": "usd", "line_items[0][price_data][product_data][name]": "Credits",
		"payment_intent_data[metadata][purpose]": "credits", "payment_intent_data[metadata][credits]": "500",
		"payment_intent_data[metadata][workspace_id]": "ws_buy",
		"metadata[purpose]":                           "credits", "metadata[credits]": "500", "metadata[workspace_id]": "ws_buy",
	})
	for _, body := range []string{`{"credits":0,` + urls + `}`, `{"credits":1000001,` + urls + `}`, `{"credits":1.5,` + urls + `}`,
		`{"credits":"500",` + urls + `}`, `{"credits":-3,` + urls + `}`} {
		if bad := h.call("/api/billing/workspaces/ws_buy/credits/purchase", body); bad.Code != http.StatusBadRequest ||
			!strings.Contains(bad.Error.Message, "credits must be a whole number from 1 to 1000000") {
			t.Errorf("%s: %d %s", body, bad.Code, bad.Body)
		}
	}
	if n := len(rec.Requests("/v1/checkout/sessions")); n != 1 {
		t.Errorf("bad purchases reached Stripe: %d sessions", n)
	}
}

func TestPortalSession(t *testing.T) {
	h, rec := withStripe(t, stripetest.Start(t), "sk_test_123", 10*time.Second)
	h.createWorkspace("ws_portal")
	v := h.call("/api/billing/workspaces/ws_portal/portal", `{"return_url":"https://app.example/billing"}`)
	if v.Code != http.StatusOK || !strings.HasPrefix(v.URL, "https://") || v.SessionID != "" {
		t.Fatalf("portal = %d %s", v.Code, v.Body)
	}
	w := h.workspace("ws_portal")
	checkForm(t, "portal", rec.Requests("/v1/billing_portal/sessions")[0], map[string]string{
		"customer": *w.StripeCustomerID, "return_url": "https://app.example/billing"})
}

func TestPaymentsRefuseBadRequestsBeforeStripe(t *testing.T) {
	h, rec := withStripe(t, stripetest.Start(t), "sk_test_123", 10*time.Second)
	h.createWorkspace("ws_1")
	for _, tt := range []struct {
		path, body string
		code       int
		message    string
	}{
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"gold",` + urls + `}`, 400, `plan "gold" is not in the plans file`},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","success_url":"/ok","cancel_url":"https://app.example/c"}`, 400, "not an absolute http(s) URL"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","success_url":"javascript:alert(1)","cancel_url":"https://app.example/c"}`, 400, "not an absolute http(s) URL"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro"}`, 400, "not an absolute http(s) URL"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","seats":2,` + urls + `}`, 400, "unknown field"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","price":"price_TestTeam",` + urls + `}`, 400,
			`price "price_TestTeam" is not one of plan "pro"'s prices (price_TestPro)`},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","quantity":0,` + urls + `}`, 400, "quantity must be a whole number from 1 to 10000"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","quantity":10001,` + urls + `}`, 400, "quantity must be a whole number from 1 to 10000"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","quantity":1.5,` + urls + `}`, 400, "quantity must be a whole number"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","quantity":"2",` + urls + `}`, 400, "quantity must be a whole number"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","trial_days":0,` + urls + `}`, 400, "trial_days must be a whole number from 1 to 730"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","trial_days":731,` + urls + `}`, 400, "trial_days must be a whole number from 1 to 730"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","coupon":"SAVE\u0007",` + urls + `}`, 400, "coupon must be UTF-8 text without control characters"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","coupon":"` + strings.Repeat("c", 256) + `",` + urls + `}`, 400, "coupon is longer than 255 bytes"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","promotion_code":"promo\u0000",` + urls + `}`, 400, "promotion_code must be UTF-8 text"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","coupon":"SAVE20","promotion_code":"promo_1",` + urls + `}`, 400, "give coupon or promotion_code, not both"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","coupon":"SAVE20","allow_promotion_codes":true,` + urls + `}`, 400, "allow_promotion_codes cannot be combined"},
		{"/api/billing/workspaces/ws_1/checkout", `{"plan":"pro","allow_promotion_codes":"yes",` + urls + `}`, 400, "allow_promotion_codes"},
		{"/api/billing/workspaces/ws_1/portal", `{"return_url":"ftp://x"}`, 400, "not an absolute http(s) URL"},
		{"/api/billing/workspaces/ws_none/checkout", `{"plan":"pro",` + urls + `}`, 404, "ws_none"},
		{"/api/billing/workspaces/ws_none/portal", `{"return_url":"https://app.example/"}`, 404, "ws_none"},
	} {
		if v := h.call(tt.path, tt.body); v.Code != tt.code || !strings.Contains(v.Error.Message, tt.message) {
			t.Errorf("%s %s: %d %s, want %d %q", tt.path, tt.body, v.Code, v.Body, tt.code, tt.message)
		}
	}
	if n := len(rec.Requests("/v1/checkout/sessions")) + len(rec.Requests("/v1/customers")); n != 0 {
		t.Errorf("%d requests reached Stripe", n)
	}
}

// Without BILLING_CREDIT_PRICE, credit purchases are off: 501, and
// nothing reaches Stripe.
func TestCreditPurchasesNeedAPrice(t *testing.T) {
	h, rec := withStripe(t, stripetest.Start(t), "sk_test_123", 10*time.Second,
		func(s *billing.Service) { s.CreditPrice = billing.CreditPrice{} })
	h.createWorkspace("ws_1")
	v := h.call("/api/billing/workspaces/ws_1/credits/purchase", `{"credits":100,`+urls+`}`)
	if v.Code != http.StatusNotImplemented || !strings.Contains(v.Error.Message, "set BILLING_CREDIT_PRICE") {
		t.Errorf("purchase without a price = %d %s", v.Code, v.Body)
	}
	if n := len(rec.All()); n != 0 {
		t.Errorf("%d requests reached Stripe", n)
	}
}

func TestPaymentsWithoutStripe(t *testing.T) {
	h := setup(t)
	h.createWorkspace("ws_1")
	v := h.call("/api/billing/workspaces/ws_1/checkout", `{"plan":"pro",`+urls+`}`)
	if v.Code != http.StatusNotImplemented || !strings.Contains(v.Error.Message, "set STRIPE_SECRET_KEY") {
		t.Errorf("checkout without Stripe = %d %s", v.Code, v.Body)
	}
	h.deliver(trigger.Options{Type: "customer.subscription.created"}, billing.StatusProcessed)
	for _, route := range []string{"swap", "cancel", "resume", "quantity"} {
		body := map[string]string{"swap": `{"plan":"team"}`, "quantity": `{"quantity":2}`}[route]
		if v := h.changeOf("ws_1", route, body, ""); v.Code != http.StatusNotImplemented || !strings.Contains(v.Error.Message, "set STRIPE_SECRET_KEY") {
			t.Errorf("%s without Stripe = %d %s", route, v.Code, v.Body)
		}
	}
}

// stripeAnswering is a Stripe API that answers every request with status
// and body, as Stripe answers an error, and says not to retry.
func stripeAnswering(t *testing.T, status int, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Request-Id", "req_TestFailure")
		w.Header().Set("Stripe-Should-Retry", "false")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// refetching turns STRIPE_REFETCH on, with the harness's Stripe client.
func refetching(s *billing.Service) { s.Refetch = s.Payments.(billing.Refetcher) }

// Stripe's errors, as its API sends them, through stripe-go's real client.
func TestStripeErrorsMapToClearAnswers(t *testing.T) {
	mock := stripetest.Start(t)
	blackHole, _ := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	t.Cleanup(func() { blackHole.Close() })
	stripeSays := func(status int, body string) string { return stripeAnswering(t, status, body) }
	for _, tt := range []struct {
		name, url, key string
		code           int
		message        string
		requestID      bool // Stripe's request id must be logged
	}{
		{"live key at stripe-mock", mock, "sk_live_123", 502, "Stripe refused the service's API key", false},
		{"no such price", stripeSays(400, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"line_items[0][price]","message":"No such price: 'price_TestPro'"}}`),
			"sk_test_123", 400, "No such price: 'price_TestPro'", true},
		{"card declined", stripeSays(402, `{"error":{"type":"card_error","code":"card_declined","message":"Your card was declined."}}`),
			"sk_test_123", 402, "Your card was declined.", true},
		{"rate limited", stripeSays(429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`),
			"sk_test_123", 503, "rate limiting", true},
		{"Stripe fails", stripeSays(500, `{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}`),
			"sk_test_123", 502, "Stripe failed", true},
		{"connection refused", stripetest.Unreachable(t), "sk_test_123", 502, "Stripe could not be reached", false},
		{"no answer within the timeout", "http://" + blackHole.Addr().String(), "sk_test_123", 502, "Stripe could not be reached", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := withStripe(t, tt.url, tt.key, time.Second)
			h.createWorkspace("ws_1")
			start := time.Now()
			v := h.call("/api/billing/workspaces/ws_1/checkout", `{"plan":"pro",`+urls+`}`)
			if v.Code != tt.code || !strings.Contains(v.Error.Message, tt.message) {
				t.Errorf("%d %s, want %d %q", v.Code, v.Body, tt.code, tt.message)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("answered after %v; the Stripe timeout is 1 s", took)
			}
			if tt.code == 503 && v.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if strings.Contains(h.logs.String(), "sk_test_123") || strings.Contains(h.logs.String(), "sk_live_123") {
				t.Error("the secret key is in the log")
			}
			if tt.requestID && !strings.Contains(h.logs.String(), "req_TestFailure") {
				t.Error("Stripe's request id is not in the log")
			}
		})
	}
}

// Concurrent first checkouts of one workspace all use the one customer
// linked to it. (Stripe's idempotency key makes them one customer; stripe-mock
// ignores idempotency keys, so here the first link must win.)
func TestConcurrentFirstCheckoutsShareOneCustomer(t *testing.T) {
	h, rec := withStripe(t, stripetest.Start(t), "sk_test_123", 10*time.Second)
	h.createWorkspace("ws_race")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/billing/workspaces/ws_race/checkout", strings.NewReader(`{"plan":"pro",`+urls+`}`))
			req.Header.Set("Authorization", "Bearer "+testAPIKey)
			if resp, err := h.srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("checkout: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	w := h.workspace("ws_race")
	sessions := rec.Requests("/v1/checkout/sessions")
	if w.StripeCustomerID == nil || len(sessions) != 8 {
		t.Fatalf("customer %v, %d sessions", w.StripeCustomerID, len(sessions))
	}
	for _, s := range sessions {
		if s.Form.Get("customer") != *w.StripeCustomerID {
			t.Errorf("a session for customer %s, the workspace's is %s", s.Form.Get("customer"), *w.StripeCustomerID)
		}
	}
	for _, c := range rec.Requests("/v1/customers") {
		if k := c.Header.Get("Idempotency-Key"); k != "billing-customer-ws_race" {
			t.Errorf("customer create with Idempotency-Key %q", k)
		}
	}
}

// With refetch on, a subscription event is applied as Stripe has the
// subscription now (stripe-mock: active), not as the payload says (past_due);
// other objects are applied from their payload, with no call.
func TestRefetchAppliesStripesCurrentState(t *testing.T) {
	h, rec := withStripe(t, stripetest.Start(t), "sk_test_123", 10*time.Second, refetching)
	h.deliver(trigger.Options{Type: "payment_intent.succeeded"}, billing.StatusProcessed)
	if n := len(rec.All()); n != 0 {
		t.Fatalf("a payment intent event made %d calls to Stripe", n)
	}
	sub := trigger.ID("sub_TestSub1", "ws_1")
	updated := h.build(trigger.Options{Type: "customer.subscription.updated", Set: map[string]any{"data.object.status": "past_due"}})
	for _, want := range []string{"processed", "duplicate"} {
		if r := h.send(updated); r.Code != http.StatusOK || r.Status != want {
			t.Fatalf("got %d %q, want 200 %q", r.Code, r.Status, want)
		}
	}
	// The redelivery, a duplicate, needed no call.
	if got := rec.Requests("/v1/subscriptions/" + sub); len(got) != 1 || got[0].Method != http.MethodGet ||
		got[0].Form.Get("expand[0]") != "discounts.source.coupon" {
		t.Fatalf("refetch requests = %+v, want one GET expanding the discounts (their coupons)", got)
	}
	var status string
	if err := h.sqlDB().QueryRow(`SELECT status FROM subscriptions WHERE id = $1`, sub).Scan(&status); err != nil || status != "active" {
		t.Errorf("stored status = %q (%v), want stripe-mock's active", status, err)
	}
}

// With STRIPE_REFETCH, an event whose object Stripe cannot give now is not
// applied: it is recorded failed and answered 5xx, so that Stripe retries;
// an object Stripe no longer has is applied as the event carries it.
func TestRefetchFailureIsRetried(t *testing.T) {
	for _, tt := range []struct {
		name, typ  string
		status     int
		body       string
		code       int
		message    string
		wantStatus billing.EventStatus
	}{
		{"Stripe fails on a subscription", "customer.subscription.updated", 500,
			`{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}`, 500, "event not applied", billing.StatusFailed},
		{"Stripe fails on an invoice", "invoice.paid", 500,
			`{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}`, 500, "event not applied", billing.StatusFailed},
		{"Stripe rate limits", "customer.subscription.updated", 429,
			`{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}`, 503, "Stripe is rate limiting", billing.StatusFailed},
		{"Stripe has no such object", "customer.subscription.updated", 404,
			`{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such subscription"}}`, 200, "", billing.StatusProcessed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, rec := withStripe(t, stripeAnswering(t, tt.status, tt.body), "sk_test_123", time.Second, refetching)
			r := h.send(h.build(trigger.Options{Type: tt.typ}))
			if r.Code != tt.code || !strings.Contains(r.Error.Message, tt.message) {
				t.Errorf("answered %d %+v, want %d %q", r.Code, r.Error, tt.code, tt.message)
			}
			if tt.code == 503 && r.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if len(rec.All()) == 0 {
				t.Error("no call to Stripe")
			}
			var status billing.EventStatus
			if err := h.sqlDB().QueryRow(`SELECT status FROM events WHERE id = $1`, r.Event).Scan(&status); err != nil || status != tt.wantStatus {
				t.Errorf("stored event status %q (%v), want %q", status, err, tt.wantStatus)
			}
		})
	}
}
