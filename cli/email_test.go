package cli_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing/email/smtptest"
)

// A failed payment reaches the workspace's inbox through the real server:
// the webhook queues the email, serve's sender delivers it over SMTP once,
// and neither a redelivery nor a replay sends it again.
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
	time.Sleep(time.Second) // ten polls of the outbox
	if got := len(mail.Messages()); got != 1 {
		t.Errorf("server received %d messages after a replay, want 1", got)
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
