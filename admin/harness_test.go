package admin_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/admin"
	"github.com/acme/billing/api"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
	"github.com/acme/billing/webhook"
)

const (
	apiKey = "admin-test-key-0123456789"
	secret = "whsec_admin_test_secret"
)

// dash is the real server, with the dashboard, on a real database.
type dash struct {
	t       *testing.T
	srv     *httptest.Server
	handler *admin.Handler
	db      *store.DB
	clock   *billingtest.Clock
}

// start starts the dashboard; options set more of its handler's fields.
func start(t *testing.T, options ...func(*admin.Handler, *store.DB)) *dash {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	db := storetest.Open(t, logger)
	plans, err := billing.NewPlans([]billing.Plan{{ID: "pro", Name: "Pro", StripePriceIDs: []string{"price_TestPro"}, MonthlyCredits: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &billing.Service{Store: db, Decoder: webhook.Decoder{}, Plans: plans, Logger: logger}
	d := &dash{t: t, db: db, clock: billingtest.NewClock(time.Now())}
	h := &admin.Handler{Service: svc, Store: db, APIKey: apiKey, Logger: logger, Now: d.clock.Now}
	for _, o := range options {
		o(h, db)
	}
	h, err = admin.New(h)
	if err != nil {
		t.Fatal(err)
	}
	d.handler = h
	d.srv = httptest.NewServer((&api.Server{Service: svc, APIKey: apiKey, Logger: logger, Admin: h,
		Verifier: &webhook.Verifier{Secrets: []string{secret}, Tolerance: 5 * time.Minute, Mode: billing.ModeTest}}).Handler())
	t.Cleanup(d.srv.Close)
	return d
}

// withAppWebhooks gives the dashboard the database's app webhook deliveries.
func withAppWebhooks(h *admin.Handler, db *store.DB) { h.AppWebhooks = db }

// send delivers an event through the webhook endpoint and returns its id.
func (d *dash) send(o trigger.Options, wantCode int) string {
	d.t.Helper()
	if o.EventID == "" {
		o.EventID = trigger.NewEventID()
	}
	p, err := trigger.Build(o)
	if err != nil {
		d.t.Fatal(err)
	}
	r, err := trigger.Send(context.Background(), d.srv.Client(), d.srv.URL+api.WebhookPath, secret, p)
	if err != nil || r.Status != wantCode {
		d.t.Fatalf("%s: %v %v, want %d", o.Type, r, err, wantCode)
	}
	return o.EventID
}

// client is a browser-like HTTP client: it keeps cookies and does not
// follow redirects, so that tests see them.
func (d *dash) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login logs c in and returns the session cookie set.
func (d *dash) login(c *http.Client) *http.Cookie {
	d.t.Helper()
	resp := d.do(c, http.MethodPost, "/admin/login", url.Values{"key": {apiKey}, "next": {"/admin/"}})
	if resp.code != http.StatusSeeOther {
		d.t.Fatalf("login: %d %s", resp.code, resp.body)
	}
	for _, ck := range resp.cookies {
		if ck.Name == "billing_admin" {
			return ck
		}
	}
	d.t.Fatal("login set no session cookie")
	return nil
}

type response struct {
	code    int
	body    string
	header  http.Header
	cookies []*http.Cookie
}

// do sends a request; a form makes it a POST of that form.
func (d *dash) do(c *http.Client, method, path string, form url.Values, headers ...string) response {
	d.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, d.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	return d.roundTrip(c, req)
}

// post sends body as it is, of the given Content-Type ("" for none); a body
// of unknown length (contentLength -1) goes chunked.
func (d *dash) post(c *http.Client, path, contentType string, body io.Reader, contentLength int64) response {
	d.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.srv.URL+path, body)
	req.ContentLength = contentLength
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return d.roundTrip(c, req)
}

func (d *dash) roundTrip(c *http.Client, req *http.Request) response {
	d.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: string(b), header: resp.Header, cookies: resp.Cookies()}
}

// csrf reads the CSRF token from a page.
func csrf(t *testing.T, page string) string {
	t.Helper()
	const marker = `name="csrf" value="`
	i := strings.Index(page, marker)
	if i < 0 {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	rest := page[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}
