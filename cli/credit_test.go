package cli_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/acme/billing/store/storetest"
)

// `billing credits adjust` repairs a ledger: a signed entry, once per key,
// never below zero, shown in the ledger and on the dashboard.
func TestCreditsAdjust(t *testing.T) {
	s := startService(t)
	for _, ws := range []string{"ws_1", "42"} {
		if code, out := s.run("workspaces", "create", ws); code != 0 {
			t.Fatalf("workspaces create %s: %d %s", ws, code, out)
		}
	}
	var logs strings.Builder
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"ws_1", "500", "--reason", "ticket 1: purchase not granted"}, 0, "Adjusted workspace ws_1 by +500 purchased credits (key auto-"},
		{[]string{"ws_1", "500", "--reason", "ticket 1: purchase not granted"}, 0, "Already applied (key auto-"},
		{[]string{"ws_1", "--key", "t2", "-200", "--reason", "ticket 2"}, 0, "Balance: 300 (0 subscription, 300 purchased)."},
		{[]string{"--reason", "-5", "ws_1", "+5"}, 0, "by +5 purchased credits"},
		{[]string{"ws_1", "-1000", "--reason", "too much"}, 1, "has 305 purchased credits: taking 1000 would leave it below zero"},
		{[]string{"ws_1", "5", "--reason", "x", "--bucket", "gift"}, 1, "bucket must be purchased or subscription"},
		{[]string{"ws_1", "5"}, 1, "a reason is required"},
		{[]string{"ws_1", "--reason", "x"}, 1, "AMOUNT is required"},
		{[]string{"ws_1", "lots", "--reason", "x"}, 1, `AMOUNT "lots": want a signed whole number`},
		{[]string{"ws_1", "5", "6", "--reason", "x"}, 2, "usage: billing credits adjust"},
		{[]string{"ws_nobody", "5", "--reason", "x"}, 1, `workspace "ws_nobody" not found`},
		// A workspace id may be a number: the first positional is always it.
		{[]string{"42", "7", "--reason", "numeric id"}, 0, "Adjusted workspace 42 by +7 purchased credits"},
		{[]string{"--reason", "numeric id, taken back", "42", "-7"}, 0, "Balance: 0 (0 subscription, 0 purchased)."},
	} {
		code, out := s.run(append([]string{"credits", "adjust"}, tt.args...)...)
		logs.WriteString(out)
		if code != tt.code || !strings.Contains(out, tt.out) {
			t.Errorf("credits adjust %q: %d %s\nwant %d and %q", tt.args, code, out, tt.code, tt.out)
		}
	}
	var ledger []struct {
		Amount         int64   `json:"amount"`
		Reason         string  `json:"reason"`
		IdempotencyKey string  `json:"idempotency_key"`
		EventID        *string `json:"event_id"`
	}
	s.getJSON("/api/billing/workspaces/ws_1/credits/ledger", &ledger)
	if len(ledger) != 3 || ledger[1].Amount != -200 || ledger[1].Reason != "ticket 2" || ledger[1].IdempotencyKey != "adjust:ws_1:t2" || ledger[1].EventID != nil {
		t.Errorf("ledger = %+v, want the three corrections", ledger)
	}
	if n := strings.Count(logs.String(), `"msg":"Credits adjusted by an operator"`); n != 5 {
		t.Errorf("%d log lines for the five corrections:\n%s", n, logs.String())
	}
	c := newBrowser()
	s.login(c)
	page := s.page(c, "/admin/workspaces/ws_1")
	if !strings.Contains(page, "operator adjustment") || !strings.Contains(page, "adjust:ws_1:t2") || !strings.Contains(page, "ticket 2") {
		t.Errorf("the dashboard's ledger does not show the corrections:\n%s", page)
	}
}

// A balance no release of this service can store any more (past 2^63 in
// both buckets together, or a REAL that an overflow left on SQLite) still
// reads: the API, a consumption, the dashboard and /metrics answer.
func TestReadersTolerateAnOverflowedBalance(t *testing.T) {
	s := startService(t)
	s.run("workspaces", "create", "ws_big")
	db := storetest.OpenURL(t, s.env["DATABASE_URL"], slog.New(slog.DiscardHandler))
	for _, stmt := range []string{
		`INSERT INTO credit_ledger (workspace_id, amount, bucket, reason, idempotency_key, created_at)
			VALUES ('ws_big', 9223372036854775807, 'purchased', 'old release', 'legacy:1', 0),
			       ('ws_big', 1000, 'subscription', 'old release', 'legacy:2', 0)`,
		`UPDATE workspaces SET credits_purchased = 9223372036854775807, credits_subscription = 1000 WHERE id = 'ws_big'`,
	} {
		if _, err := db.SQL().Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	c := newBrowser()
	s.login(c)
	check := func(when string) {
		t.Helper()
		var ws struct {
			Credits struct{ Balance, Purchased int64 } `json:"credits"`
		}
		if code := s.getJSON("/api/billing/workspaces/ws_big", &ws); code != 200 || ws.Credits.Balance != math.MaxInt64 || ws.Credits.Purchased != math.MaxInt64 {
			t.Errorf("%s: GET workspace %d %+v, want balance and purchased 2^63-1", when, code, ws.Credits)
		}
		if page := s.page(c, "/admin/workspaces"); !strings.Contains(page, "ws_big") {
			t.Errorf("%s: the dashboard's workspace list does not show ws_big", when)
		}
		if m := s.metrics(); !regexp.MustCompile(`(?m)^billing_credits_granted_total 9\.2233720368547\d+e\+18$`).MatchString(m) {
			t.Errorf("%s: /metrics has no billing_credits_granted_total:\n%s", when, m)
		}
		if code, out := s.post("/api/billing/workspaces/ws_big/credits/consume", `{"amount":5,"idempotency_key":"`+when+`"}`); code != 200 {
			t.Errorf("%s: consume %d %s", when, code, out)
		}
	}
	check("sum-past-2^63")
	if storetest.Postgres() {
		return // a BIGINT column cannot hold more
	}
	// SQLite: what an overflowing UPDATE of an older release left.
	if _, err := db.SQL().Exec(`UPDATE workspaces SET credits_purchased = credits_purchased + 10 WHERE id = 'ws_big'`); err != nil {
		t.Fatal(err)
	}
	var typ string
	if err := db.SQL().QueryRow(`SELECT typeof(credits_purchased) FROM workspaces WHERE id = 'ws_big'`).Scan(&typ); err != nil || typ != "real" {
		t.Fatalf("typeof = %q (%v), want real", typ, err)
	}
	check("real")
	// Put back what the ledger says, for the invariant the cleanup checks.
	if _, err := db.SQL().Exec(`UPDATE workspaces SET credits_purchased = (SELECT SUM(amount) FROM credit_ledger
		WHERE workspace_id = 'ws_big' AND bucket = 'purchased') WHERE id = 'ws_big'`); err != nil {
		t.Fatal(err)
	}
}

// page GETs a dashboard page with c's session and returns its HTML.
func (s *service) page(c *http.Client, path string) string {
	s.t.Helper()
	resp, err := c.Get("http://" + s.addr + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return string(body)
}

func (s *service) metrics() string {
	s.t.Helper()
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// post sends a JSON body to the app API with the key.
func (s *service) post(path, body string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+s.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.apiKey())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strconv.Itoa(resp.StatusCode) + " " + string(out)
}
