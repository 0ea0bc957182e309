package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/cli"
	"github.com/acme/billing/email/smtptest"
	"github.com/acme/billing/store/storetest"
)

// The start-up line shows the configuration with every secret masked: a
// key without a type prefix shows at most 4 characters, and a database
// password passed as a query parameter is hidden like one in the user info.
func TestServeLogsItsConfigurationMasked(t *testing.T) {
	secrets := map[string]string{
		"BILLING_API_KEY":       "abcdefghi_jklmnopqrstu",
		"STRIPE_SECRET_KEY":     "sk_test_51StartupSecretKey",
		"STRIPE_WEBHOOK_SECRET": "whsec_StartupWebhookSecret",
		"SMTP_URL":              "smtp://mailer:smtp-startup-word@127.0.0.1:1?tls=none",
		"BILLING_EMAIL_FROM":    "billing@acme.example",
		"DATABASE_URL":          storetest.URL(t),
	}
	hidden := []string{"51StartupSecretKey", "StartupWebhookSecret", "smtp-startup-word"}
	if storetest.Postgres() {
		// The local server trusts loopback, so the password is never asked for.
		secrets["DATABASE_URL"] += "&password=db-word-in-the-query"
		hidden = append(hidden, "db-word-in-the-query")
	}
	s := startService(t, secrets)
	var line struct {
		Config map[string]any `json:"config"`
	}
	for l := range strings.Lines(s.out.String()) {
		if strings.Contains(l, `"msg":"Starting billing"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("start-up line %s: %v", l, err)
			}
		}
	}
	want := map[string]string{"api_key": "****", "stripe_secret_key": "sk_test_****", "webhook_secrets": "whsec_****",
		"smtp": "smtp://mailer:****@127.0.0.1:1?tls=none", "database": fmt.Sprint(line.Config["database"])}
	if storetest.Postgres() {
		want["database"] = strings.Replace(secrets["DATABASE_URL"], "db-word-in-the-query", "****", 1)
	}
	for k, v := range want {
		if line.Config[k] != v {
			t.Errorf("start-up line's %s = %q, want %q", k, line.Config[k], v)
		}
	}
	for _, secret := range hidden {
		if strings.Contains(s.out.String(), secret) {
			t.Errorf("serve's output shows %q:\n%s", secret, s.out)
		}
	}
}

// A DATABASE_URL the service cannot use stops it with a reason that never
// shows the password, whatever form the URL has.
func TestExitMessagesHideTheDatabasePassword(t *testing.T) {
	plans, err := filepath.Abs(filepath.Join("..", "plans.json"))
	if err != nil {
		t.Fatal(err)
	}
	// A value mistaken for a SQLite path would become a file here.
	t.Chdir(t.TempDir())
	tests := []struct {
		name, url string
		hidden    []string
	}{
		{"foreign scheme", "mysql://root:mysql-word-1@localhost:3306/billing", []string{"mysql-word-1"}},
		{"unescaped @ in the password", "postgres://billing:p@ss-word-2@127.0.0.1:1/billing", []string{"p@ss", "ss-word-2"}},
		{"unescaped / in the password", "postgres://billing:pa/ss-word-3@127.0.0.1:1/billing", []string{"pa/ss", "ss-word-3"}},
		{"digits around an unescaped /", "postgres://billing:1234/5678@127.0.0.1:1/billing", []string{"1234", "5678"}},
		{"no host", "postgres://billing:hostless-word-4/billing", []string{"hostless-word-4"}},
		{"keyword/value", "host=127.0.0.1 port=1 user=billing password=kv-word-5 dbname=billing", []string{"kv-word-5"}},
		{"quoted keyword/value", "host=127.0.0.1 port=1 password='kv word 6' dbname=billing", []string{"word 6"}},
		{"password in the query", "postgres://billing@127.0.0.1:1/billing?connect_timeout=2&password=query-word-7", []string{"query-word-7"}},
		{"bad escape in the password", "postgres://billing:bad%zzword-8@127.0.0.1:1/billing", []string{"word-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			env := map[string]string{"DATABASE_URL": tt.url, "BILLING_PLANS": plans}
			code := cli.Run(context.Background(), []string{"migrate"}, &cli.Env{Stdout: &out, Stderr: &out,
				Getenv: func(k string) string { return env[k] }})
			msg := strings.TrimSpace(out.String())
			if code != 1 || !strings.HasPrefix(msg, "billing migrate: ") {
				t.Errorf("exit %d, output %q; want 1 and the reason", code, msg)
			}
			for _, secret := range tt.hidden {
				if strings.Contains(msg, secret) {
					t.Errorf("the exit message shows %q: %s", secret, msg)
				}
			}
		})
	}
}

// A non-JSON error page from Stripe's API (a proxy's, say) that quotes the
// request's Authorization header reaches the log with the key masked.
func TestServeMasksTheKeyAStripeErrorPageQuotes(t *testing.T) {
	const key = "sk_test_51ErrorPageQuotesThisKey"
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<html><body><h1>502 Bad Gateway</h1><p>upstream refused %s</p></body></html>", r.Header.Get("Authorization"))
	}))
	t.Cleanup(page.Close)
	s := startService(t, map[string]string{"STRIPE_SECRET_KEY": key, "STRIPE_API_URL": page.URL})
	if code, out := s.run("workspaces", "create", "ws_page", "--email", "owner@acme.example"); code != 0 {
		t.Fatalf("workspaces create: %d %s", code, out)
	}
	body := `{"plan":"pro","success_url":"https://app.example/ok","cancel_url":"https://app.example/cancel"}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/api/billing/workspaces/ws_page/checkout", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.apiKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("checkout = %d %s, want 502", resp.StatusCode, answer)
	}
	log := s.out.String()
	if !strings.Contains(log, "Stripe unreachable") || !strings.Contains(log, "upstream refused Bearer sk_test_****") {
		t.Errorf("the log lacks Stripe's page with the key masked:\n%s", log)
	}
	if strings.Contains(log+string(answer), key[len("sk_test_"):]) {
		t.Errorf("the key is in the log or the answer:\n%s\n%s", log, answer)
	}
}

// An SMTP server's refusal that quotes the login reaches the log, the
// outbox and the dashboard with the password masked.
func TestServeMasksTheSMTPPasswordARefusalQuotes(t *testing.T) {
	const password = "smtp-login-word-42"
	mail := smtptest.Start(t, "mailer", password)
	mail.RefuseWith(550, "mailer:"+password+" may not send")
	s := startService(t, map[string]string{
		"SMTP_URL":               "smtp://mailer:" + password + "@" + mail.Addr + "?tls=none&auth=plain",
		"BILLING_EMAIL_FROM":     "Acme Billing <billing@acme.example>",
		"BILLING_EMAIL_INTERVAL": "100ms",
	})
	if code, out := s.run("workspaces", "create", "ws_refused", "--email", "owner@acme.example"); code != 0 {
		t.Fatalf("workspaces create: %d %s", code, out)
	}
	if code, out := s.run("trigger", "invoice.payment_failed", "--workspace", "ws_refused"); code != 0 {
		t.Fatalf("trigger: %d %s", code, out)
	}
	n := waitForFailedEmail(t, s)
	if !strings.Contains(n.LastError, "may not send") || strings.Contains(n.LastError, password) {
		t.Errorf("stored last error = %q, want the refusal without the password", n.LastError)
	}
	c := newBrowser()
	s.login(c)
	if page := s.page(c, "/admin/outbox"); !strings.Contains(page, "mailer:") || strings.Contains(page, password) {
		t.Errorf("the Outbox page lacks the refusal, or shows the password:\n%s", page)
	}
	if log := s.out.String(); !strings.Contains(log, "Email failed for good") || strings.Contains(log, password) {
		t.Errorf("the log lacks the refusal, or shows the password:\n%s", log)
	}
}

// waitForFailedEmail waits for the sender to give up on the one email the
// outbox holds.
func waitForFailedEmail(t *testing.T, s *service) billing.Notification {
	t.Helper()
	db := storetest.OpenURL(t, s.env["DATABASE_URL"], slog.New(slog.DiscardHandler))
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		all, err := db.Notifications(context.Background(), false, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == 1 && all[0].Status == billing.NotifyFailed {
			return all[0]
		}
	}
	t.Fatalf("no email failed for good in 15s:\n%s", s.out)
	return billing.Notification{}
}
