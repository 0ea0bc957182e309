package admin_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/admin"
	"github.com/acme/billing/email"
	"github.com/acme/billing/email/smtptest"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
)

func TestPagesNeedALogin(t *testing.T) {
	d := start(t)
	c := d.client()
	for _, path := range []string{"/admin/", "/admin/events/evt_1", "/admin/workspaces", "/admin/workspaces/ws_1", "/admin/outbox", "/admin/app-webhooks", "/admin/app-webhooks/deliveries/1", "/admin/nowhere"} {
		r := d.do(c, http.MethodGet, path, nil)
		if r.code != http.StatusSeeOther || r.header.Get("Location") != "/admin/login?next="+url.QueryEscape(path) {
			t.Errorf("GET %s without a session: %d to %q, want 303 to the login form", path, r.code, r.header.Get("Location"))
		}
	}
	if r := d.do(c, http.MethodPost, "/admin/events/evt_1/replay", url.Values{"csrf": {"x"}}); r.code != http.StatusSeeOther {
		t.Errorf("POST replay without a session: %d, want 303", r.code)
	}
	forged := &http.Cookie{Name: "billing_admin", Value: fmt.Sprintf("%d.bm90LWEtc2lnbmF0dXJl", time.Now().Add(time.Hour).Unix())}
	u, _ := url.Parse(d.srv.URL + "/admin/")
	c.Jar.SetCookies(u, []*http.Cookie{forged})
	if r := d.do(c, http.MethodGet, "/admin/", nil); r.code != http.StatusSeeOther {
		t.Errorf("forged session: %d, want 303", r.code)
	}
}

func TestLogin(t *testing.T) {
	d := start(t)
	c := d.client()
	for host, warned := range map[string]bool{"": false, "billing.example.com": true, "[::1]:8000": false, "localhost:8000": false} {
		var headers []string
		if host != "" {
			headers = []string{"Host", host}
		}
		if r := d.do(c, http.MethodGet, "/admin/login", nil, headers...); strings.Contains(r.body, `id="plain-http"`) != warned {
			t.Errorf("login page for host %q: plain HTTP warning %v, want %v", host, !warned, warned)
		}
	}
	r := d.do(c, http.MethodPost, "/admin/login", url.Values{"key": {"not-the-key-0123456789"}})
	if r.code != http.StatusUnauthorized || !strings.Contains(r.body, "That is not the API key") || len(r.cookies) != 0 {
		t.Errorf("wrong key: %d, cookies %v", r.code, r.cookies)
	}
	ck := d.login(c)
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/admin/" || ck.MaxAge != 12*3600 {
		t.Errorf("session cookie = %+v, want HttpOnly, Secure, SameSite=Strict, Path /admin/, Max-Age 12 h", ck)
	}
	if r := d.do(c, http.MethodGet, "/admin/", nil); r.code != http.StatusOK || !strings.Contains(r.body, "Webhook events") {
		t.Errorf("events page after login: %d", r.code)
	}
	for next, want := range map[string]string{"/admin/outbox": "/admin/outbox", "//evil.example/admin/": "/admin/",
		"https://evil.example/": "/admin/", "/admin/\\evil": "/admin/",
		"/admin/?type=" + strings.Repeat("x", 600): "/admin/"} { // a long one would not fit the login form
		r := d.do(d.client(), http.MethodPost, "/admin/login", url.Values{"key": {apiKey}, "next": {next}})
		if got := r.header.Get("Location"); r.code != http.StatusSeeOther || got != want {
			t.Errorf("login with next=%q: %d to %q, want %q", next, r.code, got, want)
		}
	}
	// The session lasts 12 hours, and ends at logout.
	d.clock.Add(11 * time.Hour)
	if r := d.do(c, http.MethodGet, "/admin/", nil); r.code != http.StatusOK {
		t.Errorf("session after 11 hours: %d, want 200", r.code)
	}
	d.clock.Add(2 * time.Hour)
	if r := d.do(c, http.MethodGet, "/admin/", nil); r.code != http.StatusSeeOther {
		t.Errorf("expired session: %d, want 303", r.code)
	}
	d.clock.Add(-13 * time.Hour)
	page := d.do(c, http.MethodGet, "/admin/", nil).body
	r = d.do(c, http.MethodPost, "/admin/logout", url.Values{"csrf": {csrf(t, page)}})
	if r.code != http.StatusSeeOther || len(r.cookies) != 1 || r.cookies[0].MaxAge >= 0 {
		t.Errorf("logout: %d, cookies %+v", r.code, r.cookies)
	}
	if r := d.do(c, http.MethodGet, "/admin/", nil); r.code != http.StatusSeeOther {
		t.Errorf("after logout: %d, want 303", r.code)
	}
}

// A replay changes billing state, so it needs the page's token and a
// same-site request: a forged form elsewhere cannot replay anything.
func TestReplayNeedsTheFormsToken(t *testing.T) {
	d := start(t)
	repair := storetest.Break(t, d.db, "credit_ledger", "disk on fire")
	id := d.send(trigger.Options{Type: "invoice.paid", Workspace: "ws_r"}, http.StatusInternalServerError)
	repair()
	c := d.client()
	d.login(c)
	page := d.do(c, http.MethodGet, "/admin/events/"+id, nil).body
	token := csrf(t, page)
	path := "/admin/events/" + id + "/replay"
	for _, bad := range []struct {
		name    string
		form    url.Values
		headers []string
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf": {"bm90LXRoZS10b2tlbg"}}, nil},
		{"cross-site", url.Values{"csrf": {token}}, []string{"Sec-Fetch-Site", "cross-site"}},
		{"other origin", url.Values{"csrf": {token}}, []string{"Origin", "https://evil.example"}},
	} {
		if r := d.do(c, http.MethodPost, path, bad.form, bad.headers...); r.code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", bad.name, r.code)
		}
	}
	if e, err := d.db.Event(t.Context(), id); err != nil || e.Status != "failed" {
		t.Fatalf("after refused replays the event is %v (%v), want failed", e.Status, err)
	}
	r := d.do(c, http.MethodPost, path, url.Values{"csrf": {token}})
	if r.code != http.StatusSeeOther || r.header.Get("Location") != "/admin/events/"+id+"?replayed=1" {
		t.Fatalf("replay: %d to %q", r.code, r.header.Get("Location"))
	}
	if page := d.do(c, http.MethodGet, r.header.Get("Location"), nil).body; !strings.Contains(page, "Replayed: processed") {
		t.Errorf("the event page does not tell the replay's outcome:\n%s", page)
	}
	if e, _ := d.db.Event(t.Context(), id); e.Status != "processed" {
		t.Errorf("after the replay the event is %s, want processed", e.Status)
	}
	if r := d.do(c, http.MethodPost, path, url.Values{"csrf": {token}}); r.code != http.StatusConflict {
		t.Errorf("replaying a processed event: %d, want 409", r.code)
	}
}

func TestEventLogFiltersAndPages(t *testing.T) {
	d := start(t)
	for i := range 60 {
		d.send(trigger.Options{Type: "customer.created", Workspace: fmt.Sprintf("ws_%02d", i)}, http.StatusOK)
	}
	for range 3 {
		d.send(trigger.Options{Type: "invoice.upcoming"}, http.StatusOK)
	}
	c := d.client()
	d.login(c)
	day := func(days int) string { return time.Now().UTC().AddDate(0, 0, days).Format("2006-01-02") }
	// Around midnight the events may straddle two days: yesterday to tomorrow holds them all.
	from, to := day(-1), day(1)
	cases := []struct {
		query      string
		code, rows int
		want       []string
	}{
		{"", 200, 50, []string{`rel="next"`, "Page 1"}},
		{"?page=2", 200, 13, []string{`rel="prev"`, "Page 2"}},
		{"?status=ignored", 200, 3, []string{"invoice.upcoming"}},
		{"?type=customer.created&status=processed&from=" + from + "&to=" + to, 200, 50, []string{`rel="next"`}},
		{"?type=customer.created&status=processed&from=" + from + "&to=" + to + "&page=2", 200, 10, nil},
		{"?to=2020-01-01", 200, 0, []string{"No events match."}},
		{"?from=" + day(2), 200, 0, []string{"No events match."}},
		{"?to=2040-01-01&status=ignored", 200, 3, []string{"before 2040-01-02 00:00:00"}}, // past 32-bit seconds
		{"?from=yesterday", 400, 0, []string{"Dates are YYYY-MM-DD"}},
		{"?status=done", 400, 0, []string{`Unknown status &#34;done&#34;`}},
		{"?from=2026-02-01&to=2026-01-01", 400, 0, []string{"The from date is after the to date"}},
		{"?page=0", 400, 0, []string{"Bad page number"}},
	}
	for _, c2 := range cases {
		r := d.do(c, http.MethodGet, "/admin/"+c2.query, nil)
		rows := strings.Count(r.body, `<tr class="status-`)
		if r.code != c2.code || rows != c2.rows {
			t.Errorf("GET /admin/%s: %d with %d rows, want %d with %d", c2.query, r.code, rows, c2.code, c2.rows)
		}
		for _, w := range c2.want {
			if !strings.Contains(r.body, w) {
				t.Errorf("GET /admin/%s: %q not in the page", c2.query, w)
			}
		}
	}
	page := d.do(c, http.MethodGet, "/admin/", nil).body
	for _, w := range []string{
		`<td><a href="/admin/?type=customer.created">customer.created</a></td><td>60</td><td>60</td>`,
		`<td><a href="/admin/?type=invoice.upcoming">invoice.upcoming</a></td><td>3</td><td>0</td>`,
		`<rect class="bar-processed"`, `<rect class="bar-ignored"`,
	} {
		if !strings.Contains(page, w) {
			t.Errorf("%q not in the events page", w)
		}
	}
}

func TestDashboardAnswers(t *testing.T) {
	d := start(t)
	d.send(trigger.Options{Type: "checkout.session.completed", Workspace: "ws_a"}, http.StatusOK)
	d.send(trigger.Options{Type: "invoice.paid", Workspace: "ws_a"}, http.StatusOK)
	d.send(trigger.Options{Type: "checkout.session.completed", Variant: "payment", Workspace: "ws_f",
		Set: map[string]any{"data.object.payment_status": "unpaid"}}, http.StatusOK)
	d.send(trigger.Options{Type: "checkout.session.async_payment_failed", Variant: "payment", Workspace: "ws_f",
		Created: time.Now().Add(time.Hour)}, http.StatusOK)
	d.send(trigger.Options{Type: "payment_intent.succeeded", Workspace: "ws_r"}, http.StatusOK)
	d.send(trigger.Options{Type: "refund.created", Workspace: "ws_r", Created: time.Now().Add(time.Minute)}, http.StatusOK)
	d.send(trigger.Options{Type: "charge.dispute.created", Workspace: "ws_r", Created: time.Now().Add(time.Minute)}, http.StatusOK)
	d.send(trigger.Options{Type: "customer.created", Workspace: "ws_c"}, http.StatusOK)
	d.send(trigger.Options{Type: "customer.discount.created", Workspace: "ws_c", APIVersion: "2020-08-27",
		Set: map[string]any{"data.object.subscription": nil}, Created: time.Now().Add(time.Minute)}, http.StatusOK)
	d.send(trigger.Options{Type: "customer.subscription.created", Workspace: "ws_3ds"}, http.StatusOK)
	d.send(trigger.Options{Type: "invoice.payment_action_required", Workspace: "ws_3ds"}, http.StatusOK)
	d.send(trigger.Options{Type: "customer.subscription.updated", Workspace: "ws_p",
		Set: map[string]any{"data.object.pause_collection": map[string]any{"behavior": "void", "resumes_at": nil}}}, http.StatusOK)
	c := d.client()
	d.login(c)
	cases := []struct {
		path string
		code int
		want string
	}{
		{"/admin/workspaces", 200, `<a href="/admin/workspaces/ws_a">ws_a</a>`},
		{"/admin/workspaces/ws_a", 200, "1000 from the subscription, 0 purchased"},
		{"/admin/workspaces/ws_a", 200, `<dd id="entitled">yes (active)</dd>`},
		{"/admin/workspaces/ws_a", 200, `<td class="period">the period from 2026-01-01`},
		{"/admin/workspaces/ws_a", 200, `<dd id="customer"><a href="https://dashboard.stripe.com/test/customers/cus_T`},
		{"/admin/workspaces/ws_a", 200, `<dt>Subscription</dt><dd><a href="https://dashboard.stripe.com/test/subscriptions/sub_T`},
		{"/admin/workspaces/ws_p", 200, `<dd id="pause">void, service stops 2026-02-01`},
		{"/admin/workspaces/ws_f", 200, `<td>unpaid, <span class="err">failed `},
		{"/admin/workspaces/ws_3ds", 200, `<span class="badge requires_action">requires action</span>`},
		{"/admin/workspaces/ws_3ds", 200, `<dd id="requires-action">waits for the customer to confirm it`},
		{"/admin/workspaces/ws_r", 200, `<span class="badge pending">pending</span></td><td>25.00 USD</td><td>requested_by_customer</td>`},
		{"/admin/workspaces/ws_r", 200, `<span class="badge failed">needs_response</span></td><td>50.00 USD</td><td>fraudulent</td>`},
		{"/admin/workspaces/ws_c", 200, `<dd id="customer-discount">SUMMER25 (25 % off)</dd>`},
		{"/admin/workspaces/ws_missing", 404, "ws_missing"},
		{"/admin/workspaces?page=x", 400, "Bad page number"},
		{"/admin/events/evt_missing", 404, "evt_missing"},
		{"/admin/outbox", 200, "No SMTP server is configured"},
		{"/admin/nowhere", 404, "No such page."},
		{"/admin/static/admin.css", 200, ".badge"},
	}
	for _, c2 := range cases {
		r := d.do(c, http.MethodGet, c2.path, nil)
		if r.code != c2.code || !strings.Contains(r.body, c2.want) {
			t.Errorf("GET %s: %d, want %d with %q", c2.path, r.code, c2.code, c2.want)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", c2.path, csp)
		}
	}
}

// Sessions are stored under a hash keyed by the API key: rotating the key
// logs everyone out.
func TestRotatingTheKeyEndsSessions(t *testing.T) {
	d := start(t)
	c := d.client()
	session := d.login(c)
	rotated, err := admin.New(&admin.Handler{Store: d.db, APIKey: apiKey + "-rotated", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for key, h := range map[string]http.Handler{"the same key": d.handler, "a rotated key": rotated} {
		req := httptest.NewRequest(http.MethodGet, "/admin/", nil)
		req.AddCookie(session)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := http.StatusOK
		if key == "a rotated key" {
			want = http.StatusSeeOther
		}
		if rec.Code != want {
			t.Errorf("session under %s: %d, want %d", key, rec.Code, want)
		}
	}
}

func TestNewRefusesAShortKey(t *testing.T) {
	if _, err := admin.New(&admin.Handler{APIKey: "short", Logger: slog.New(slog.DiscardHandler)}); err == nil {
		t.Error("New accepted a 5-character key")
	}
}

// An email refused for good can be sent again once its cause is fixed, by
// an operator's click; nothing else sends it twice.
func TestSendEmailAgain(t *testing.T) {
	d := start(t)
	ctx := t.Context()
	err := d.db.InTx(ctx, func(tx billing.Tx) error {
		_, err := tx.CreateWorkspace(ctx, &billing.Workspace{ID: "ws_m", Email: "owner@m.test", CreatedAt: time.Now()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	d.send(trigger.Options{Type: "invoice.payment_failed", Workspace: "ws_m"}, http.StatusOK)
	server := smtptest.Start(t, "", "")
	server.Refuse(550)
	mailer, err := email.NewMailer("smtp://"+server.Addr+"?tls=none", "billing@example.com", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sender := &email.Sender{Outbox: d.db, Mailer: mailer, Logger: slog.New(slog.DiscardHandler), Now: d.clock.Now}
	sendDue := func() int {
		n, err := sender.SendDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := sendDue(); n != 0 {
		t.Fatalf("sent %d despite a 550", n)
	}
	c := d.client()
	d.login(c)
	page := d.do(c, http.MethodGet, "/admin/outbox", nil).body
	action := regexp.MustCompile(`action="(/admin/outbox/\d+/retry)"`).FindStringSubmatch(page)
	if action == nil || !strings.Contains(page, "550") {
		t.Fatalf("the outbox offers no Send again for the refused email:\n%s", page)
	}
	if r := d.do(c, http.MethodPost, action[1], url.Values{}); r.code != http.StatusForbidden {
		t.Errorf("without the token: %d, want 403", r.code)
	}
	if r := d.do(c, http.MethodPost, action[1], url.Values{"csrf": {csrf(t, page)}}); r.code != http.StatusSeeOther {
		t.Fatalf("send again: %d", r.code)
	}
	if r := d.do(c, http.MethodPost, action[1], url.Values{"csrf": {csrf(t, page)}}); r.code != http.StatusConflict {
		t.Errorf("send again of a pending email: %d, want 409", r.code)
	}
	if n := sendDue(); n != 1 || len(server.Messages()) != 1 {
		t.Fatalf("after send again: sent %d, server has %d", n, len(server.Messages()))
	}
	if r := d.do(c, http.MethodGet, "/admin/outbox", nil); !strings.Contains(r.body, "Every email has been sent.") {
		t.Errorf("the outbox still lists mail:\n%s", r.body)
	}
}

// An email still waiting can be discarded; one being sent right now can be
// neither discarded nor sent again, so no operator's click sends it twice.
func TestDiscardEmail(t *testing.T) {
	d := start(t)
	ctx := t.Context()
	d.send(trigger.Options{Type: "invoice.payment_failed", Workspace: "ws_1"}, http.StatusOK)
	d.send(trigger.Options{Type: "invoice.payment_failed", Workspace: "ws_2"}, http.StatusOK)
	inFlight, err := d.db.ClaimNotification(ctx, d.clock.Now())
	if err != nil || inFlight == nil {
		t.Fatalf("claim: %v %v", inFlight, err)
	}
	c := d.client()
	d.login(c)
	page := d.do(c, http.MethodGet, "/admin/outbox", nil).body
	forms := regexp.MustCompile(`action="/admin/outbox/(\d+)/(retry|discard)"`).FindAllStringSubmatch(page, -1)
	if len(forms) != 1 || forms[0][1] == fmt.Sprint(inFlight.ID) || forms[0][2] != "discard" {
		t.Fatalf("outbox forms = %v, want only Discard for the waiting email (in flight: %d)", forms, inFlight.ID)
	}
	token := csrf(t, page)
	for _, op := range []string{"retry", "discard"} {
		path := fmt.Sprintf("/admin/outbox/%d/%s", inFlight.ID, op)
		if r := d.do(c, http.MethodPost, path, url.Values{"csrf": {token}}); r.code != http.StatusConflict {
			t.Errorf("%s of an email being sent: %d, want 409", op, r.code)
		}
	}
	if r := d.do(c, http.MethodPost, "/admin/outbox/"+forms[0][1]+"/discard", url.Values{"csrf": {token}}); r.code != http.StatusSeeOther {
		t.Fatalf("discard: %d %s", r.code, r.body)
	}
	if n, err := d.db.ClaimNotification(ctx, d.clock.Now()); err != nil || n != nil {
		t.Errorf("after the discard a sender claims %+v (%v), want nothing", n, err)
	}
	if r := d.do(c, http.MethodPost, "/admin/outbox/999999/discard", url.Values{"csrf": {token}}); r.code != http.StatusNotFound {
		t.Errorf("discard of a missing email: %d, want 404", r.code)
	}
	// Ten minutes on, the in-flight one counts as interrupted: an operator may act.
	d.clock.Add(billing.InterruptedAfter + time.Minute)
	page = d.do(c, http.MethodGet, "/admin/outbox", nil).body
	if !strings.Contains(page, fmt.Sprintf(`action="/admin/outbox/%d/retry"`, inFlight.ID)) {
		t.Errorf("an interrupted send is not offered again:\n%s", page)
	}
}

// A connected account's event the service does not apply shows its account
// and why on the dashboard, and can be replayed (after the setting changed).
func TestUnappliedEventShowsItsNote(t *testing.T) {
	d := start(t)
	id := d.send(trigger.Options{Type: "checkout.session.completed", Workspace: "ws_n",
		Set: map[string]any{"account": "acct_1Elsewhere"}}, http.StatusOK)
	c := d.client()
	d.login(c)
	list := d.do(c, http.MethodGet, "/admin/", nil).body
	if !strings.Contains(list, `<td class="account">acct_1Elsewhere</td>`) || !strings.Contains(list, "STRIPE_CONNECT_ACCOUNTS") {
		t.Errorf("the event log does not show the account and the note:\n%s", list)
	}
	page := d.do(c, http.MethodGet, "/admin/events/"+id, nil).body
	if !strings.Contains(page, `id="event-note"`) || !strings.Contains(page, `id="replay"`) {
		t.Fatalf("the event page lacks the note or the replay button:\n%s", page)
	}
	r := d.do(c, http.MethodPost, "/admin/events/"+id+"/replay", url.Values{"csrf": {csrf(t, page)}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("replay: %d %s", r.code, r.body)
	}
	if page := d.do(c, http.MethodGet, r.header.Get("Location"), nil).body; !strings.Contains(page, "Replayed: ignored") {
		t.Errorf("a replay while the account is still unlisted should leave it ignored:\n%s", page)
	}
}

// Every page says the mode; an event's page links to its object at Stripe
// (the test dashboard in test mode) and to its workspace, and shows its
// last error whole.
func TestEventPageLinks(t *testing.T) {
	d := start(t)
	id := d.send(trigger.Options{Type: "customer.subscription.updated", Workspace: "ws_l"}, http.StatusOK)
	c := d.client()
	if page := d.do(c, http.MethodGet, "/admin/login", nil).body; !strings.Contains(page, `<span class="mode mode-test" id="mode">test mode</span>`) {
		t.Errorf("the login page does not say the mode:\n%s", page)
	}
	d.login(c)
	page := d.do(c, http.MethodGet, "/admin/events/"+id, nil).body
	sub := trigger.ID("sub_TestSub1", "ws_l")
	for _, want := range []string{
		`<span class="mode mode-test" id="mode">test mode</span>`,
		`<a href="https://dashboard.stripe.com/test/events/` + id + `" rel="noreferrer" id="event-stripe">`,
		`<dd id="event-object">subscription <a href="https://dashboard.stripe.com/test/subscriptions/` + sub + `" rel="noreferrer">` + sub + `</a></dd>`,
		`<dd id="event-workspace"><a href="/admin/workspaces/ws_l">ws_l</a></dd>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the event page lacks %s", want)
		}
	}
	list := d.do(c, http.MethodGet, "/admin/", nil).body
	if !strings.Contains(list, `<td class="object"><a href="https://dashboard.stripe.com/test/subscriptions/`+sub+`" rel="noreferrer">`+sub+`</a></td>`) ||
		!strings.Contains(list, `<td class="workspace"><a href="/admin/workspaces/ws_l">ws_l</a></td>`) {
		t.Errorf("the event log lacks the event's object and workspace links:\n%s", list)
	}
	// An ignored event's object, of a customer never seen, names none.
	lone := d.send(trigger.Options{Type: "invoice.upcoming", Workspace: "ws_lone"}, http.StatusOK)
	if page := d.do(c, http.MethodGet, "/admin/events/"+lone, nil).body; !strings.Contains(page, `<dd id="event-workspace">none known</dd>`) {
		t.Errorf("an ignored event's page:\n%s", page)
	}
}

// One search box finds a workspace by its id, a part of its name or its
// email, and by any Stripe id of its objects; an event by its id; several
// matches are listed, none said so.
func TestSearch(t *testing.T) {
	d := start(t)
	c := d.client()
	d.login(c)
	d.send(trigger.Options{Type: "customer.created", Workspace: "ws_find",
		Set: map[string]any{"data.object.email": "Ops@Acme.example"}}, http.StatusOK)
	d.send(trigger.Options{Type: "checkout.session.completed", Workspace: "ws_find"}, http.StatusOK)
	paid := d.send(trigger.Options{Type: "invoice.paid", Workspace: "ws_find"}, http.StatusOK)
	d.send(trigger.Options{Type: "payment_intent.succeeded", Workspace: "ws_find"}, http.StatusOK)
	d.send(trigger.Options{Type: "refund.created", Workspace: "ws_find", Created: time.Now().Add(time.Minute)}, http.StatusOK)
	d.send(trigger.Options{Type: "customer.created", Workspace: "ws_findtoo"}, http.StatusOK)
	for _, ws := range []string{"ws_find", "ws_findtoo"} {
		if _, _, err := d.handler.Service.CreateWorkspace(t.Context(), billing.Workspace{ID: ws, Name: "Finders " + ws}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		q, location string
	}{
		{"ws_find", "/admin/workspaces/ws_find"},
		{"ops@acme.EXAMPLE", "/admin/workspaces/ws_find"},
		{trigger.ID("cus_TestCustomer1", "ws_find"), "/admin/workspaces/ws_find"},
		{trigger.ID("sub_TestSub1", "ws_find"), "/admin/workspaces/ws_find"},
		{trigger.ID("in_TestInvoice1", "ws_find"), "/admin/workspaces/ws_find"},
		{trigger.ID("pi_TestCredits1", "ws_find"), "/admin/workspaces/ws_find"},
		{trigger.ID("cs_test_Sub1", "ws_find"), "/admin/workspaces/ws_find"},
		{trigger.ID("re_TestRefund1", "ws_find"), "/admin/workspaces/ws_find"},
		{paid, "/admin/events/" + paid},
		{"  ", "/admin/"},
	} {
		r := d.do(c, http.MethodGet, "/admin/search?q="+url.QueryEscape(tt.q), nil)
		if r.code != http.StatusSeeOther || r.header.Get("Location") != tt.location {
			t.Errorf("search %q: %d to %q, want %s", tt.q, r.code, r.header.Get("Location"), tt.location)
		}
	}
	list := d.do(c, http.MethodGet, "/admin/search?q=finders", nil)
	if list.code != http.StatusOK || !strings.Contains(list.body, `<a href="/admin/workspaces/ws_find">ws_find</a>`) ||
		!strings.Contains(list.body, `<a href="/admin/workspaces/ws_findtoo">ws_findtoo</a>`) {
		t.Errorf("a search matching two names: %d\n%s", list.code, list.body)
	}
	if r := d.do(c, http.MethodGet, "/admin/search?q=%25", nil); r.code != http.StatusOK || !strings.Contains(r.body, `id="no-match"`) {
		t.Errorf("a search for %%, a wildcard in LIKE, matched something: %d\n%s", r.code, r.body)
	}
	if r := d.do(c, http.MethodGet, "/admin/search?q=%00", nil); r.code != http.StatusBadRequest {
		t.Errorf("a search with a NUL: %d, want 400", r.code)
	}
	if page := d.do(c, http.MethodGet, "/admin/", nil).body; !strings.Contains(page, `<input type="search" name="q" id="search"`) {
		t.Error("the event log has no search box")
	}
}

// The outbox keeps what was sent or discarded, with why, and every email's
// text; a workspace's page lists its own.
func TestOutboxKeepsTheHistory(t *testing.T) {
	d := start(t)
	d.send(trigger.Options{Type: "invoice.payment_failed", Workspace: "ws_dun", Created: time.Now().Add(-time.Minute)}, http.StatusOK)
	d.send(trigger.Options{Type: "invoice.paid", Workspace: "ws_dun", Set: map[string]any{"data.object.billing_reason": "subscription_cycle"}}, http.StatusOK)
	c := d.client()
	d.login(c)
	page := d.do(c, http.MethodGet, "/admin/outbox", nil).body
	done := page[strings.Index(page, `id="outbox-done"`):]
	for _, want := range []string{`<summary>Payment of 29.00 USD failed (invoice 7C2B9E41-0002)</summary>`,
		`<span class="badge discarded">discarded</span>`, `<td class="reason">the invoice was paid before it was sent</td>`,
		`We could not collect the payment of 29.00 USD`} {
		if !strings.Contains(done, want) {
			t.Errorf("the outbox's history lacks %s:\n%s", want, done)
		}
	}
	ws := d.do(c, http.MethodGet, "/admin/workspaces/ws_dun", nil).body
	if !strings.Contains(ws, `id="emails"`) || !strings.Contains(ws, `<td class="reason">the invoice was paid before it was sent</td>`) {
		t.Errorf("the workspace page lacks its emails:\n%s", ws)
	}
}

// The workspaces list filters by the current subscription's status, past
// due first among the filters.
func TestWorkspacesByStatus(t *testing.T) {
	d := start(t)
	d.send(trigger.Options{Type: "customer.subscription.created", Workspace: "ws_ok"}, http.StatusOK)
	d.send(trigger.Options{Type: "customer.subscription.created", Workspace: "ws_late",
		Set: map[string]any{"data.object.status": "past_due"}}, http.StatusOK)
	if _, _, err := d.handler.Service.CreateWorkspace(t.Context(), billing.Workspace{ID: "ws_none"}); err != nil {
		t.Fatal(err)
	}
	c := d.client()
	d.login(c)
	for _, tt := range []struct {
		status string
		want   []string
	}{{"past_due", []string{"ws_late"}}, {"active", []string{"ws_ok"}}, {"none", []string{"ws_none"}}, {"", []string{"ws_late", "ws_none", "ws_ok"}}} {
		r := d.do(c, http.MethodGet, "/admin/workspaces?status="+tt.status, nil)
		var got []string
		for _, ws := range []string{"ws_late", "ws_none", "ws_ok"} {
			if strings.Contains(r.body, `<a href="/admin/workspaces/`+ws+`">`) {
				got = append(got, ws)
			}
		}
		if r.code != http.StatusOK || strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("status %q: %d %v, want %v", tt.status, r.code, got, tt.want)
		}
	}
	page := d.do(c, http.MethodGet, "/admin/workspaces", nil).body
	if i, j := strings.Index(page, `?status=past_due"`), strings.Index(page, `?status=active"`); i < 0 || j < i {
		t.Errorf("the filters do not put past_due first:\n%s", page)
	}
	if r := d.do(c, http.MethodGet, "/admin/workspaces?status=bogus", nil); r.code != http.StatusBadRequest {
		t.Errorf("an unknown status: %d, want 400", r.code)
	}
}
