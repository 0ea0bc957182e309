package cli_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/email/smtptest"
	"github.com/acme/billing/store/storetest"
)

// A failed payment reaches the workspace's inbox through the real server:
// the webhook queues the email, serve's sender delivers it over SMTP once,
// and a replay of the event does not send it again.
func TestServeEmailsAFailedPayment(t *testing.T) {
	mail := smtptest.Start(t, "mailer", "smtp-password-42")
	s := startService(t, map[string]string{
		"SMTP_URL":               "smtp://mailer:smtp-password-42@" + mail.Addr + "?tls=none&auth=plain",
		"BILLING_EMAIL_FROM":     "Acme Billing <billing@acme.example>",
		"BILLING_EMAIL_INTERVAL": "100ms",
	})
	if code, out := s.run("workspaces", "create", "ws_mail", "--name", "Acme", "--email", "owner@acme.example"); code != 0 {
		t.Fatalf("workspaces create: %d %s", code, out)
	}
	code, out := s.run("trigger", "invoice.payment_failed", "--workspace", "ws_mail")
	if code != 0 || !strings.Contains(out, `"status":"processed"`) {
		t.Fatalf("trigger: %d %s", code, out)
	}
	id := regexp.MustCompile(`evt_[0-9a-f]+`).FindString(out)
	msgs := waitForMail(t, mail, 1)
	m := msgs[0]
	if m.From != "billing@acme.example" || len(m.To) != 1 || m.To[0] != "owner@acme.example" ||
		!strings.HasPrefix(m.Header.Get("Subject"), "Payment of 29.00 USD failed") ||
		!strings.Contains(m.Body, "https://invoice.stripe.com/i/") {
		t.Errorf("message = from %s to %v, subject %q\n%s", m.From, m.To, m.Header.Get("Subject"), m.Body)
	}
	if code, out := s.run("events", "replay", id); code != 0 {
		t.Fatalf("replay: %d %s", code, out)
	}
	// The replay queued nothing new: the outbox holds the one email, sent.
	db := storetest.OpenURL(t, s.env["DATABASE_URL"], slog.New(slog.DiscardHandler))
	if all, err := db.Notifications(context.Background(), false, 10); err != nil || len(all) != 1 || all[0].Status != billing.NotifySent {
		t.Errorf("outbox after a replay = %+v (%v), want one email, sent", all, err)
	}
	time.Sleep(5 * 100 * time.Millisecond) // five sender rounds, to see no second message
	if got := len(mail.Messages()); got != 1 {
		t.Errorf("server received %d messages, want 1", got)
	}
	if strings.Contains(s.out.String(), "smtp-password-42") {
		t.Errorf("the SMTP password is in serve's output")
	}
}

func waitForMail(t *testing.T, mail *smtptest.Server, n int) []smtptest.Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if msgs := mail.Messages(); len(msgs) >= n {
			return msgs
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the SMTP server received %d messages in 15s, want %d", len(mail.Messages()), n)
	return nil
}

// serve mounts the dashboard behind its API key.
func TestServeMountsTheDashboard(t *testing.T) {
	s := startService(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get("http://" + s.addr + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/admin/login" {
		t.Fatalf("GET /admin/ ended at %s, want the login form", resp.Request.URL)
	}
	resp, err = c.PostForm("http://"+s.addr+"/admin/login", url.Values{"key": {s.apiKey()}, "next": {"/admin/outbox"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/admin/outbox" || !strings.Contains(string(body), "No SMTP server is configured") {
		t.Errorf("after login: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	if !strings.Contains(s.out.String(), "Dashboard on http://"+s.addr+"/admin/") {
		t.Errorf("serve did not print the dashboard's address:\n%s", s.out)
	}
}
