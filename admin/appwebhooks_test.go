package admin_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing/appwebhook"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
)

const (
	appURL  = "https://app.example/billing/hooks?token=t0ken-in-the-url"
	goneURL = "https://gone.example/hooks"
)

// appDeliveries registers the two endpoints, writes messages for them
// (a checkout and a paid invoice) and makes their deliveries.
func (d *dash) appDeliveries() {
	d.t.Helper()
	ctx := d.t.Context()
	if err := d.db.SyncEndpoints(ctx, []string{appURL, goneURL}, d.clock.Now()); err != nil {
		d.t.Fatal(err)
	}
	d.send(trigger.Options{Type: "checkout.session.completed", Workspace: "ws_a"}, http.StatusOK)
	d.send(trigger.Options{Type: "invoice.paid", Workspace: "ws_a"}, http.StatusOK)
	for _, u := range []string{appURL, goneURL} {
		storetest.Dispatch(d.t, d.db, u, 1, d.clock.Now())
	}
}

// attempt claims the next due delivery and settles it as a sender would
// after an HTTP answer of status (2xx delivers it, else a retry in 5 min).
func (d *dash) attempt(status int, response string) *appwebhook.Delivery {
	d.t.Helper()
	ctx, now := d.t.Context(), d.clock.Now()
	del, err := d.db.ClaimDelivery(ctx, now, time.Minute)
	if err != nil || del == nil {
		d.t.Fatalf("claim: %v %v", del, err)
	}
	del.Attempts++
	del.LastStatus = status
	if status/100 == 2 {
		del.Status, del.DeliveredAt, del.LastError = appwebhook.StatusDelivered, now, ""
	} else {
		del.Status, del.NextAttemptAt, del.LastError = appwebhook.StatusPending, now.Add(5*time.Minute), fmt.Sprintf("HTTP %d", status)
	}
	a := appwebhook.Attempt{DeliveryID: del.ID, At: now, Duration: 42 * time.Millisecond, Status: status, Response: response, Error: del.LastError}
	if err := d.db.SettleDelivery(ctx, del, a); err != nil {
		d.t.Fatal(err)
	}
	return del
}

// The App webhooks page: each endpoint's health, without the token its URL
// holds; the deliveries by status; a delivery's body and attempts.
func TestAppWebhooksPage(t *testing.T) {
	d := start(t, withAppWebhooks)
	d.appDeliveries()
	failed := d.attempt(http.StatusInternalServerError, `{"error":"database down"}`)
	d.attempt(http.StatusOK, "ok")
	if err := d.db.DisableEndpoint(t.Context(), goneURL, "answered 410 Gone", d.clock.Now()); err != nil {
		t.Fatal(err)
	}
	c := d.client()
	d.login(c)
	cases := []struct {
		path       string
		code, rows int
		want       []string
	}{
		{"/admin/app-webhooks", 200, -1, []string{`<code>https://app.example/billing/hooks?…</code>`, "answered 410 Gone",
			`class="enable"`, "HTTP 500", `<a href="/admin/app-webhooks" aria-current="page">App webhooks</a>`}},
		{"/admin/app-webhooks?status=delivered", 200, 1, []string{`<span class="badge delivered">delivered</span>`}},
		{"/admin/app-webhooks?status=failed", 200, 0, []string{"No deliveries match."}},
		{"/admin/app-webhooks?status=lost", 400, 0, []string{"the status filter is one of pending, sending, delivered, failed"}},
		{fmt.Sprintf("/admin/app-webhooks/deliveries/%d", failed.ID), 200, -1, []string{failed.MessageID,
			`<td>500</td><td class="num">42 ms</td>`, `{&#34;error&#34;:&#34;database down&#34;}`, `id="send-again"`,
			"\n  &#34;type&#34;: &#34;" + failed.MessageType + "&#34;"}}, // the body, pretty-printed
		{"/admin/app-webhooks/deliveries/999999", 404, -1, []string{"999999"}},
		{"/admin/app-webhooks/deliveries/x", 404, -1, []string{"No such delivery."}},
	}
	for _, c2 := range cases {
		r := d.do(c, http.MethodGet, c2.path, nil)
		rows := strings.Count(r.body, `<tr class="delivery `)
		if r.code != c2.code || (c2.rows >= 0 && rows != c2.rows) {
			t.Errorf("GET %s: %d with %d rows, want %d with %d", c2.path, r.code, rows, c2.code, c2.rows)
		}
		for _, w := range c2.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("GET %s: %q not in the page:\n%s", c2.path, w, r.body)
			}
		}
		if strings.Contains(r.body, "t0ken-in-the-url") {
			t.Errorf("GET %s shows the endpoint's token", c2.path)
		}
	}
	if n := strings.Count(d.do(c, http.MethodGet, "/admin/app-webhooks", nil).body, `class="enable"`); n != 1 {
		t.Errorf("%d Enable buttons, want 1 for the disabled endpoint", n)
	}
}

// Send again and Enable change what is sent, so they need the page's
// token; Send again is refused while the delivery is being sent.
func TestAppWebhookActions(t *testing.T) {
	d := start(t, withAppWebhooks)
	d.appDeliveries()
	ctx := t.Context()
	failed := d.attempt(http.StatusServiceUnavailable, "")
	inFlight, err := d.db.ClaimDelivery(ctx, d.clock.Now(), time.Minute)
	if err != nil || inFlight == nil {
		t.Fatalf("claim: %v %v", inFlight, err)
	}
	if err := d.db.DisableEndpoint(ctx, goneURL, "answered 410 Gone", d.clock.Now()); err != nil {
		t.Fatal(err)
	}
	c := d.client()
	d.login(c)
	page := d.do(c, http.MethodGet, "/admin/app-webhooks", nil).body
	token := csrf(t, page)
	key := regexp.MustCompile(`name="endpoint" value="([0-9a-f]+)"`).FindStringSubmatch(page)
	if key == nil {
		t.Fatalf("no Enable form:\n%s", page)
	}
	retry := func(id int64) string { return fmt.Sprintf("/admin/app-webhooks/deliveries/%d/retry", id) }
	for _, bad := range []struct {
		name, path string
		form       url.Values
		code       int
		want       string
	}{
		{"send again without the token", retry(failed.ID), url.Values{}, 403, "security token"},
		{"enable without the token", "/admin/app-webhooks/enable", url.Values{"endpoint": {key[1]}}, 403, "security token"},
		{"enable with a stale token", "/admin/app-webhooks/enable", url.Values{"csrf": {"c3RhbGU"}, "endpoint": {key[1]}}, 403, "security token"},
		{"send again while being sent", retry(inFlight.ID), url.Values{"csrf": {token}}, 409, "being sent right now"},
		{"send again of no delivery", retry(999999), url.Values{"csrf": {token}}, 404, ""},
		{"enable of no endpoint", "/admin/app-webhooks/enable", url.Values{"csrf": {token}, "endpoint": {"00"}}, 404, "reload the page"},
	} {
		if r := d.do(c, http.MethodPost, bad.path, bad.form); r.code != bad.code || !strings.Contains(r.body, bad.want) {
			t.Errorf("%s: %d, want %d with %q", bad.name, r.code, bad.code, bad.want)
		}
	}
	if e := endpoint(t, d, goneURL); e.DisabledAt.IsZero() {
		t.Fatal("a refused Enable enabled the endpoint")
	}

	r := d.do(c, http.MethodPost, retry(failed.ID), url.Values{"csrf": {token}})
	if want := fmt.Sprintf("/admin/app-webhooks/deliveries/%d?sent=1", failed.ID); r.code != http.StatusSeeOther || r.header.Get("Location") != want {
		t.Fatalf("send again: %d to %q, want 303 to %s", r.code, r.header.Get("Location"), want)
	}
	if page := d.do(c, http.MethodGet, r.header.Get("Location"), nil).body; !strings.Contains(page, `id="sent-again"`) {
		t.Errorf("the delivery page does not say it was queued again:\n%s", page)
	}
	if again, err := d.db.Delivery(ctx, failed.ID); err != nil || again.Status != appwebhook.StatusPending || again.NextAttemptAt.After(d.clock.Now()) {
		t.Errorf("after Send again the delivery is %+v (%v), want pending and due now", again, err)
	}
	if r := d.do(c, http.MethodPost, "/admin/app-webhooks/enable", url.Values{"csrf": {token}, "endpoint": {key[1]}}); r.code != http.StatusSeeOther {
		t.Fatalf("enable: %d %s", r.code, r.body)
	}
	if e := endpoint(t, d, goneURL); !e.DisabledAt.IsZero() {
		t.Errorf("after Enable the endpoint is %+v, want enabled", e)
	}
	// Removed from the configuration, it comes back only with it: a crafted
	// Enable is refused, and it stays removed.
	if err := d.db.SyncEndpoints(ctx, []string{appURL}, d.clock.Now()); err != nil {
		t.Fatal(err)
	}
	r = d.do(c, http.MethodPost, "/admin/app-webhooks/enable", url.Values{"csrf": {token}, "endpoint": {key[1]}})
	if r.code != http.StatusConflict || !strings.Contains(r.body, "not in BILLING_APP_WEBHOOK_URL") {
		t.Errorf("enable of a removed endpoint: %d %s, want 409 saying it is not configured", r.code, r.body)
	}
	if e := endpoint(t, d, goneURL); e.DisabledReason != appwebhook.ReasonRemoved {
		t.Errorf("after a refused Enable the removed endpoint is %+v", e)
	}
}

func endpoint(t *testing.T, d *dash, u string) appwebhook.Endpoint {
	t.Helper()
	all, err := d.db.Endpoints(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if e.URL == u {
			return e
		}
	}
	t.Fatalf("no endpoint %s in %+v", u, all)
	return appwebhook.Endpoint{}
}

// Without BILLING_APP_WEBHOOK_URL the page says how to set it, and the
// deliveries' pages and actions are not there.
func TestAppWebhooksNotConfigured(t *testing.T) {
	d := start(t)
	c := d.client()
	d.login(c)
	if r := d.do(c, http.MethodGet, "/admin/app-webhooks", nil); r.code != http.StatusOK || !strings.Contains(r.body, "Set <code>BILLING_APP_WEBHOOK_URL</code>") {
		t.Errorf("page without app webhooks: %d\n%s", r.code, r.body)
	}
	token := csrf(t, d.do(c, http.MethodGet, "/admin/app-webhooks", nil).body)
	for _, r := range []response{
		d.do(c, http.MethodGet, "/admin/app-webhooks/deliveries/1", nil),
		d.do(c, http.MethodPost, "/admin/app-webhooks/deliveries/1/retry", url.Values{"csrf": {token}}),
		d.do(c, http.MethodPost, "/admin/app-webhooks/enable", url.Values{"csrf": {token}, "endpoint": {"00"}}),
	} {
		if r.code != http.StatusNotFound || !strings.Contains(r.body, "BILLING_APP_WEBHOOK_URL") {
			t.Errorf("without app webhooks: %d, want 404 naming BILLING_APP_WEBHOOK_URL", r.code)
		}
	}
}
