package email_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/billingtest"
	"github.com/acme/billing/email"
	"github.com/acme/billing/email/smtptest"
	"github.com/acme/billing/store"
	"github.com/acme/billing/store/storetest"
)

const from = "Billing <billing@example.com>"

type fixture struct {
	db    *store.DB
	smtp  *smtptest.Server
	clock *billingtest.Clock
	logs  *billingtest.Buffer
}

func setup(t *testing.T) *fixture {
	t.Helper()
	return &fixture{
		db:    storetest.Open(t, slog.New(slog.DiscardHandler)),
		smtp:  smtptest.Start(t, "", ""),
		clock: billingtest.NewClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)),
		logs:  &billingtest.Buffer{},
	}
}

func (f *fixture) sender(t *testing.T, smtpURL string) *email.Sender {
	t.Helper()
	m, err := email.NewMailer(smtpURL, from, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &email.Sender{Outbox: f.db, Mailer: m, Now: f.clock.Now,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil))}
}

func (f *fixture) url() string { return "smtp://" + f.smtp.Addr + "?tls=none" }

// queue stores a workspace with an email and a notification owed to it, as
// an event's transaction does.
func (f *fixture) queue(t *testing.T, key, workspaceEmail string) {
	t.Helper()
	ctx := context.Background()
	err := f.db.InTx(ctx, func(tx billing.Tx) error {
		ws := "ws_" + key
		if _, err := tx.CreateWorkspace(ctx, &billing.Workspace{ID: ws, Name: "Acme", Email: workspaceEmail, CreatedAt: f.clock.Now()}); err != nil {
			return err
		}
		return tx.AddNotification(ctx, &billing.Notification{Key: key, WorkspaceID: ws, CustomerID: "cus_" + key,
			Kind: billing.KindPaymentFailed, ObjectID: "in_" + key, Subject: "Payment of 19.99 USD failed (invoice " + key + ")",
			Body: "We could not collect the payment.\nPay here: https://invoice.stripe.com/i/" + key + "\n", CreatedAt: f.clock.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) status(t *testing.T, key string) billing.Notification {
	t.Helper()
	all, err := f.db.Notifications(context.Background(), false, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all {
		if n.Key == key {
			return n
		}
	}
	t.Fatalf("notification %s not in the outbox", key)
	return billing.Notification{}
}

func sendDue(t *testing.T, s *email.Sender) int {
	t.Helper()
	n, err := s.SendDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSenderDeliversEachNotificationOnce(t *testing.T) {
	f := setup(t)
	f.queue(t, "a", "owner@acme.test")
	f.queue(t, "b", "ops@beta.test")
	s := f.sender(t, f.url())
	if n := sendDue(t, s); n != 2 {
		t.Fatalf("sent %d, want 2", n)
	}
	if n := sendDue(t, s); n != 0 {
		t.Fatalf("second pass sent %d, want 0", n)
	}
	msgs := f.smtp.Messages()
	if len(msgs) != 2 {
		t.Fatalf("server received %d messages, want 2", len(msgs))
	}
	m := msgs[0]
	checks := map[string][2]string{
		"envelope from":  {m.From, "billing@example.com"},
		"envelope to":    {strings.Join(m.To, ","), "owner@acme.test"},
		"From":           {m.Header.Get("From"), `"Billing" <billing@example.com>`},
		"To":             {m.Header.Get("To"), "<owner@acme.test>"},
		"Subject":        {m.Header.Get("Subject"), "Payment of 19.99 USD failed (invoice a)"},
		"Message-ID":     {m.Header.Get("Message-ID"), "<" + email.MessageID("a", "billing@example.com") + ">"},
		"Auto-Submitted": {m.Header.Get("Auto-Submitted"), "auto-generated"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if !strings.Contains(m.Body, "https://invoice.stripe.com/i/a") {
		t.Errorf("body lacks the invoice link:\n%s", m.Body)
	}
	n := f.status(t, "a")
	if n.Status != billing.NotifySent || n.Attempts != 1 || !n.SentAt.Equal(f.clock.Now()) || n.LastError != "" {
		t.Errorf("outbox row = %+v, want sent once at %v", n, f.clock.Now())
	}
}

// tls=opportunistic sends over a server that offers no STARTTLS (the
// default, required, refuses it: see TestSenderFailures).
func TestOpportunisticTLSSendsInTheClear(t *testing.T) {
	f := setup(t)
	f.queue(t, "a", "owner@acme.test")
	if n := sendDue(t, f.sender(t, "smtp://"+f.smtp.Addr+"?tls=opportunistic")); n != 1 || len(f.smtp.Messages()) != 1 {
		t.Errorf("sent %d, server has %d, want 1 and 1:\n%s", n, len(f.smtp.Messages()), f.logs)
	}
}

// A refusal the server calls temporary (4xx) is retried after a backoff
// that doubles; the message arrives once.
func TestSenderRetriesTemporaryRefusalsWithBackoff(t *testing.T) {
	f := setup(t)
	f.queue(t, "a", "owner@acme.test")
	f.smtp.Refuse(451, 451)
	s := f.sender(t, f.url())
	for attempt, wait := range []time.Duration{time.Minute, 2 * time.Minute} {
		if n := sendDue(t, s); n != 0 {
			t.Fatalf("attempt %d: sent %d despite the refusal", attempt+1, n)
		}
		n := f.status(t, "a")
		if n.Status != billing.NotifyPending || n.Attempts != attempt+1 || !strings.Contains(n.LastError, "451") ||
			!n.NextAttemptAt.Equal(f.clock.Now().Add(wait)) {
			t.Fatalf("after attempt %d: %+v, want pending, 451, retry in %v", attempt+1, n, wait)
		}
		f.clock.Add(wait - time.Second)
		if n := sendDue(t, s); n != 0 {
			t.Fatalf("sent %d before the backoff ended", n)
		}
		f.clock.Add(time.Second)
	}
	if n := sendDue(t, s); n != 1 {
		t.Fatalf("third attempt sent %d, want 1", n)
	}
	if got := len(f.smtp.Messages()); got != 1 {
		t.Errorf("server received %d messages, want 1", got)
	}
	if n := f.status(t, "a"); n.Status != billing.NotifySent || n.Attempts != 3 {
		t.Errorf("outbox row = %+v, want sent after 3 attempts", n)
	}
}

func TestSenderFailures(t *testing.T) {
	closed := func() string { // a port nothing listens on
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()
	cases := []struct {
		name       string
		refuse     []int
		url        func(f *fixture) string
		email      string
		attempts   int
		wantStatus billing.NotificationStatus
		wantError  string
	}{
		{"permanent refusal is not retried", []int{550}, (*fixture).url, "owner@acme.test", 1, billing.NotifyFailed, "550"},
		{"no such mailbox is not retried", nil, func(f *fixture) string {
			f.smtp.RefuseRecipient(550, [3]int{5, 1, 1})
			return f.url()
		}, "owner@acme.test", 1, billing.NotifyFailed, "5.1.1"},
		{"relaying denied (the sender's configuration) is retried", nil, func(f *fixture) string {
			f.smtp.RefuseRecipient(554, [3]int{5, 7, 1})
			f.smtp.RefuseRecipient(554, [3]int{5, 7, 1})
			return f.url()
		}, "owner@acme.test", 1, billing.NotifyPending, "5.7.1"},
		{"server down is retried", nil, func(*fixture) string { return "smtp://" + closed + "?tls=none" }, "owner@acme.test", 1, billing.NotifyPending, "connect to " + closed},
		{"no address is retried", nil, (*fixture).url, "", 1, billing.NotifyPending, "no email address"},
		// smtp:// requires STARTTLS unless told otherwise: no silent downgrade.
		{"a server without STARTTLS is refused", nil, func(f *fixture) string { return "smtp://" + f.smtp.Addr },
			"owner@acme.test", 1, billing.NotifyPending, "STARTTLS"},
		{"sender refused (a login the server wants) is retried", nil, func(f *fixture) string {
			f.smtp = smtptest.Start(t, "mailer", "secret")
			return f.url()
		}, "owner@acme.test", 1, billing.NotifyPending, "530"},
		{"given up after the last attempt", []int{451, 451, 451, 451, 451, 451, 451, 451, 451, 451, 451, 451}, (*fixture).url, "owner@acme.test", email.MaxAttempts, billing.NotifyFailed, "451"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t)
			f.queue(t, "a", c.email)
			f.smtp.Refuse(c.refuse...)
			s := f.sender(t, c.url(f))
			for range c.attempts {
				sendDue(t, s)
				f.clock.Add(7 * time.Hour) // past any backoff
			}
			if n := sendDue(t, s); n != 0 && c.wantStatus == billing.NotifyFailed {
				t.Errorf("a failed notification was sent later")
			}
			n := f.status(t, "a")
			if c.wantStatus == billing.NotifyPending {
				// One more attempt ran just above; it failed the same way.
				c.attempts++
			}
			if n.Status != c.wantStatus || n.Attempts != c.attempts || !strings.Contains(n.LastError, c.wantError) {
				t.Errorf("outbox row = status %s, attempts %d, error %q; want %s, %d, %q",
					n.Status, n.Attempts, n.LastError, c.wantStatus, c.attempts, c.wantError)
			}
			if got := len(f.smtp.Messages()); got != 0 {
				t.Errorf("server received %d messages, want 0", got)
			}
		})
	}
}

// A server that fails after it took the message (here: it drops the
// connection, so RSET and QUIT fail) has the message: it is sent, once.
func TestAcceptedThenDisconnectedIsSent(t *testing.T) {
	f := setup(t)
	f.queue(t, "a", "owner@acme.test")
	f.smtp.DropAfterAccept(1)
	s := f.sender(t, f.url())
	if n := sendDue(t, s); n != 1 {
		t.Fatalf("sent %d, want 1:\n%s", n, f.logs)
	}
	f.clock.Add(7 * time.Hour)
	sendDue(t, s)
	if got := len(f.smtp.Messages()); got != 1 {
		t.Errorf("server received %d messages, want 1", got)
	}
	if n := f.status(t, "a"); n.Status != billing.NotifySent {
		t.Errorf("status = %s (%s), want sent", n.Status, n.LastError)
	}
}

// A server that hangs up after the whole message, before answering, may
// or may not have it: the sender leaves it claimed for an operator.
func TestUnansweredMessageIsLeftForAnOperator(t *testing.T) {
	f := setup(t)
	f.queue(t, "a", "owner@acme.test")
	f.smtp.HangUpBeforeAnswer(1)
	s := f.sender(t, f.url())
	if n := sendDue(t, s); n != 0 {
		t.Fatalf("sent %d, want 0", n)
	}
	f.clock.Add(24 * time.Hour)
	if n := sendDue(t, s); n != 0 {
		t.Fatalf("sent %d on its own, want 0", n)
	}
	n := f.status(t, "a")
	if n.Status != billing.NotifySending || !strings.Contains(n.LastError, "delivery unknown") {
		t.Errorf("outbox row = %s %q, want sending, delivery unknown", n.Status, n.LastError)
	}
	if !n.Interrupted(f.clock.Now()) {
		t.Error("a day later the row is not offered as interrupted")
	}
}

// A sender that stopped during the SMTP exchange leaves its notification
// claimed: whether it went out is unknown, so no sender sends it again.
func TestClaimedNotificationIsNeverSentAgain(t *testing.T) {
	f := setup(t)
	f.queue(t, "a", "owner@acme.test")
	claimed, err := f.db.ClaimNotification(context.Background(), f.clock.Now())
	if err != nil || claimed == nil || claimed.Key != "a" || claimed.Recipient != "owner@acme.test" {
		t.Fatalf("claim = %+v, %v", claimed, err)
	}
	f.clock.Add(24 * time.Hour)
	if n := sendDue(t, f.sender(t, f.url())); n != 0 {
		t.Fatalf("sent %d, want 0", n)
	}
	if n := f.status(t, "a"); n.Status != billing.NotifySending {
		t.Errorf("status = %s, want sending", n.Status)
	}
	// An operator who checked that it never arrived sends it again.
	if err := f.db.RetryNotification(context.Background(), claimed.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n := sendDue(t, f.sender(t, f.url())); n != 1 || len(f.smtp.Messages()) != 1 {
		t.Errorf("after the operator's retry: sent %d, server has %d", n, len(f.smtp.Messages()))
	}
}

// Senders in several processes share one outbox: each message goes once.
// (On SQLite the one writer serialises claims anyway; ./test.sh also runs
// this on PostgreSQL, where SKIP LOCKED does the work.)
func TestConcurrentSendersSendEachOnce(t *testing.T) {
	f := setup(t)
	const total = 40
	for i := range total {
		f.queue(t, fmt.Sprintf("n%02d", i), fmt.Sprintf("owner%02d@acme.test", i))
	}
	var wg sync.WaitGroup
	sent, errs := make([]int, 4), make([]error, 4)
	for i := range sent {
		s := f.sender(t, f.url())
		wg.Go(func() { sent[i], errs[i] = s.SendDue(context.Background()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if sum := sent[0] + sent[1] + sent[2] + sent[3]; sum != total {
		t.Errorf("senders report %v sent, want %d in all", sent, total)
	}
	ids := map[string]int{}
	for _, m := range f.smtp.Messages() {
		ids[m.Header.Get("Message-ID")]++
	}
	if len(ids) != total {
		t.Errorf("server received %d distinct messages, want %d", len(ids), total)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("message %s received %d times", id, n)
		}
	}
}

// The SMTP password reaches the server but never the logs.
func TestSenderLogsInWithoutLoggingThePassword(t *testing.T) {
	f := setup(t)
	f.smtp = smtptest.Start(t, "mailer", "s3cret-pa55")
	f.queue(t, "a", "owner@acme.test")
	wrong := f.sender(t, "smtp://mailer:wrong@"+f.smtp.Addr+"?tls=none&auth=plain")
	if n := sendDue(t, wrong); n != 0 {
		t.Fatalf("sent %d with a wrong password", n)
	}
	f.clock.Add(time.Hour)
	s := f.sender(t, "smtp://mailer:s3cret-pa55@"+f.smtp.Addr+"?tls=none&auth=plain")
	if n := sendDue(t, s); n != 1 || f.smtp.Logins() != 1 {
		t.Fatalf("sent %d with %d logins, want 1 and 1:\n%s", n, f.smtp.Logins(), f.logs)
	}
	for _, secret := range []string{"s3cret-pa55", "wrong"} {
		if strings.Contains(f.logs.String(), secret) || strings.Contains(f.status(t, "a").LastError, secret) {
			t.Errorf("password %q in the logs or the outbox:\n%s", secret, f.logs)
		}
	}
}

func TestNewMailerRefusesBadConfiguration(t *testing.T) {
	cases := []struct{ url, from, want string }{
		{"", from, "SMTP_URL"},
		{"http://mail.example.com", from, "SMTP_URL"},
		{"smtp://", from, "SMTP_URL"},
		{"smtp://mail.example.com:notaport", from, "SMTP_URL"},
		{"smtp://mail.example.com?tls=maybe", from, "tls="},
		{"smtp://u:p@mail.example.com?auth=magic", from, "auth="},
		{"smtp://mail.example.com", "not an address", "BILLING_EMAIL_FROM"},
		{"smtp://mail.example.com", "", "BILLING_EMAIL_FROM"},
	}
	for _, c := range cases {
		_, err := email.NewMailer(c.url, c.from, time.Second)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewMailer(%q, %q) = %v, want an error about %s", c.url, c.from, err, c.want)
		}
	}
	for _, ok := range []string{"smtp://mail.example.com", "smtps://u:p@mail.example.com", "smtp://127.0.0.1:25?tls=none"} {
		if _, err := email.NewMailer(ok, from, time.Second); err != nil {
			t.Errorf("NewMailer(%q) = %v", ok, err)
		}
	}
}

func TestBackoffDoublesUpToSixHours(t *testing.T) {
	want := map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 9: 256 * time.Minute,
		10: 6 * time.Hour, 11: 6 * time.Hour}
	for attempt, d := range want {
		if got := email.Backoff(attempt); got != d {
			t.Errorf("Backoff(%d) = %v, want %v", attempt, got, d)
		}
	}
}
