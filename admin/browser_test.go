package admin_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
)

// chromium finds Debian's chromium (./test.sh installs it). Without one the
// test skips loudly, and fails in CI (CI=true).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (apt-get install chromium, or set CHROMIUM)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Log("SKIPPING BROWSER TEST: " + msg)
	t.Skip(msg)
	return ""
}

// browser starts a headless Chromium with a profile of its own, closed at
// cleanup.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // the test may run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 1000),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// An operator's night, in a real browser: log in, find the failed event,
// read why it failed, replay it, see it processed; then the workspace it
// fixed, the email still waiting for an SMTP server, and the app webhook
// the app refused, sent again.
func TestDashboardInChromium(t *testing.T) {
	d := start(t, withAppWebhooks)
	d.appDeliveries() // a checkout and a paid invoice of ws_a
	refused := d.attempt(http.StatusInternalServerError, "app database down")
	d.send(trigger.Options{Type: "invoice.payment_failed", Workspace: "ws_c"}, http.StatusOK)
	d.send(trigger.Options{Type: "invoice.upcoming", Workspace: "ws_a"}, http.StatusOK)
	repair := storetest.Break(t, d.db, "credit_ledger", "disk on fire")
	failed := d.send(trigger.Options{Type: "invoice.paid", Workspace: "ws_b"}, http.StatusInternalServerError)
	repair() // the disk is fixed; the event waits for a replay

	ctx := browser(t)
	do := func(step string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			url, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (at %s)", step, err, url)
		}
	}
	text := func(sel string) string { t.Helper(); return get(t, ctx, chromedp.Text(sel)) }

	do("open the dashboard", chromedp.Navigate(d.srv.URL+"/admin/"), chromedp.WaitVisible("#key"))
	if url := get(t, ctx, chromedp.Location()); !strings.Contains(url, "/admin/login?next=") {
		t.Errorf("without a session the dashboard went to %s, want the login form", url)
	}
	do("log in with a wrong key", chromedp.SendKeys("#key", "not-the-key-0123456789"), chromedp.Submit("#key"),
		chromedp.WaitVisible(".error"))
	if msg := text(".error"); !strings.Contains(msg, "not the API key") {
		t.Errorf("wrong key says %q", msg)
	}
	do("log in", chromedp.SendKeys("#key", apiKey), chromedp.Submit("#key"), chromedp.WaitVisible("#events"))
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	if c := cookies.Cookies; len(c) != 1 || !c[0].HTTPOnly || !c[0].Secure || c[0].SameSite != network.CookieSameSiteStrict {
		t.Errorf("cookies = %+v, want one HttpOnly, Secure, SameSite=Strict session", c)
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#chart rect.bar-failed').length`)); n != 1 {
		t.Errorf("the chart has %d failed bars, want 1", n)
	}
	saveScreenshot(t, "admin-events.png", get(t, ctx, chromedp.FullScreenshot(100)))
	if links := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#events td.workspace a[href^="/admin/workspaces/"]').length`)); links == 0 {
		t.Error("the event log links no event to its workspace")
	}

	do("filter failed events", chromedp.SetValue("#status", "failed"), chromedp.Click("#apply"),
		chromedp.WaitReady(`#status option[value="failed"][selected]`))
	rows := get(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#events tbody tr')].map(r => r.className)`))
	if url := get(t, ctx, chromedp.Location()); !strings.Contains(url, "status=failed") || len(rows) != 1 || rows[0] != "status-failed" {
		t.Fatalf("filtered to %s: rows %v, want the one failed event", url, rows)
	}

	do("open the failed event", chromedp.Click(`#events a[href="/admin/events/`+failed+`"]`), chromedp.WaitVisible("#replay"))
	if status, lastError := text("#event-status"), text("#last-error"); status != "failed" || !strings.Contains(lastError, "disk on fire") {
		t.Errorf("event page: status %q, error %q", status, lastError)
	}
	do("replay it", chromedp.Click("#replay"), chromedp.WaitVisible("#replay-result"))
	if result, status := text("#replay-result"), text("#event-status"); result != "Replayed: processed" || status != "processed" {
		t.Errorf("after the replay: %q, status %q", result, status)
	}
	saveScreenshot(t, "admin-replayed.png", get(t, ctx, chromedp.FullScreenshot(100)))
	if mode := text("#mode"); mode != "test mode" {
		t.Errorf("the header says %q, want test mode", mode)
	}
	do("follow the event to its workspace", chromedp.Click("#event-workspace a"), chromedp.WaitVisible("#credits"))
	if url := get(t, ctx, chromedp.Location()); !strings.HasSuffix(url, "/admin/workspaces/ws_b") {
		t.Errorf("the event's workspace link went to %s", url)
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`['#subscriptions', '#payments', '#checkouts', '#emails', '#disputes', '#refunds'].filter(s => document.querySelector(s)).length`)); n != 6 {
		t.Errorf("the workspace page has %d of its 6 new sections", n)
	}
	do("search for a Stripe customer", chromedp.SetValue("#search", trigger.ID("cus_TestCustomer1", "ws_c")),
		chromedp.Submit("#search"), chromedp.WaitVisible("#credits"))
	if url := get(t, ctx, chromedp.Location()); !strings.HasSuffix(url, "/admin/workspaces/ws_c") {
		t.Errorf("searching ws_c's customer went to %s", url)
	}

	do("list the past-due workspaces", chromedp.Navigate(d.srv.URL+"/admin/workspaces"),
		chromedp.Click(`#status-filter a[href="/admin/workspaces?status=past_due"]`), chromedp.WaitReady(`#status-filter a[aria-current="page"]`))
	if rows := get(t, ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#workspaces tbody a')].map(a => a.textContent)`)); strings.Join(rows, " ") != "ws_c" {
		t.Errorf("the past_due filter lists %v, want ws_c, whose payment failed", rows)
	}
	do("see the workspace it fixed", chromedp.Navigate(d.srv.URL+"/admin/workspaces"),
		chromedp.Click(`a[href="/admin/workspaces/ws_b"]`), chromedp.WaitVisible("#credits"))
	if credits := text("#credits"); !strings.HasPrefix(credits, "1000 from the subscription") {
		t.Errorf("ws_b credits %q, want the plan's 1000", credits)
	}
	do("see the unsent email", chromedp.Click(`a[href="/admin/outbox"]`), chromedp.WaitVisible("#smtp-off"))
	if outbox := text("#outbox"); !strings.Contains(outbox, "Payment of 29.00 USD failed") || !strings.Contains(outbox, "pending") {
		t.Errorf("outbox shows %q", outbox)
	}
	do("read the email's text", chromedp.Click("#outbox details summary"), chromedp.WaitVisible("#outbox details pre.body"))
	if body := text("#outbox details pre.body"); !strings.Contains(body, "We could not collect the payment of 29.00 USD") {
		t.Errorf("the email's text reads %q", body)
	}
	if n := get(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#outbox-done').length`)); n != 1 {
		t.Error("the outbox has no history of sent and discarded email")
	}
	delivery := fmt.Sprintf("/admin/app-webhooks/deliveries/%d", refused.ID)
	do("see the refused app webhook", chromedp.Click(`a[href="/admin/app-webhooks"]`), chromedp.WaitVisible("#deliveries"),
		chromedp.Click(`#deliveries a[href="`+delivery+`"]`), chromedp.WaitVisible("#send-again"))
	if attempts := text("#attempts"); !strings.Contains(attempts, "500") || !strings.Contains(attempts, "app database down") {
		t.Errorf("the delivery's attempts show %q", attempts)
	}
	do("send it again", chromedp.Click("#send-again"), chromedp.WaitVisible("#sent-again"))
	if status := text("#delivery-status"); status != "pending" {
		t.Errorf("after Send again the delivery is %q, want pending", status)
	}
	saveScreenshot(t, "admin-app-webhook.png", get(t, ctx, chromedp.FullScreenshot(100)))
	do("log out", chromedp.Click(".logout button"), chromedp.WaitVisible("#key"))
	if url := get(t, ctx, chromedp.Location()); !strings.HasSuffix(url, "/admin/login") {
		t.Errorf("after logout at %s", url)
	}
}

// get runs a browser action that reads something.
func get[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// saveScreenshot checks the screenshot is a real image and keeps it in
// $BILLING_SCREENSHOTS, or the test's temporary directory.
func saveScreenshot(t *testing.T, name string, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() < 800 {
		t.Fatalf("screenshot: %v (%d bytes)", err, len(shot))
	}
	dir := os.Getenv("BILLING_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
