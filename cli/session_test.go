package cli_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/acme/billing/store/storetest"
)

// newBrowser is an operator's browser: it keeps cookies, for every port of
// a host as browsers do, and does not follow redirects, so tests see them.
func newBrowser(cookies ...*http.Cookie) *http.Client {
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(&url.URL{Scheme: "http", Host: "127.0.0.1", Path: "/admin/"}, cookies)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// sessionCookie is the dashboard session c holds.
func sessionCookie(t *testing.T, c *http.Client) *http.Cookie {
	t.Helper()
	for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: "127.0.0.1", Path: "/admin/"}) {
		if ck.Name == "billing_admin" {
			return &http.Cookie{Name: ck.Name, Value: ck.Value}
		}
	}
	t.Fatal("the browser holds no session cookie")
	return nil
}

// login logs c in to the dashboard of s.
func (s *service) login(c *http.Client) {
	s.t.Helper()
	resp, err := c.PostForm("http://"+s.addr+"/admin/login", url.Values{"key": {s.apiKey()}})
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		s.t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
}

// dashboard opens the events page of s with c's session: the page, or ok
// false when s sends c to the login form.
func (s *service) dashboard(c *http.Client) (page string, ok bool) {
	s.t.Helper()
	resp, err := c.Get("http://" + s.addr + "/admin/")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusOK && strings.Contains(string(body), "Webhook events"):
		return string(body), true
	case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/admin/login?"):
		return "", false
	}
	s.t.Fatalf("GET /admin/: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	return "", false
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// logout logs c out of s through the page's form.
func (s *service) logout(c *http.Client) {
	s.t.Helper()
	page, ok := s.dashboard(c)
	m := csrfField.FindStringSubmatch(page)
	if !ok || m == nil {
		s.t.Fatalf("no logout form for this browser:\n%s", page)
	}
	resp, err := c.PostForm("http://"+s.addr+"/admin/logout", url.Values{"csrf": {m[1]}})
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("logout: %d", resp.StatusCode)
	}
}

// `billing admin sessions revoke` ends a live session of a running
// dashboard, or all of them; `list` shows which there are, and no secret.
func TestAdminSessionsRevoke(t *testing.T) {
	s := startService(t)
	a, b := newBrowser(), newBrowser()
	s.login(a)
	s.login(b)
	code, out := s.run("admin", "sessions", "list")
	rows := regexp.MustCompile(`(?m)^(\d+) +\d{4}-\d\d-\d\dT\S+ +\d{4}-\d\d-\d\dT\S+ +127\.0\.0\.1$`).FindAllStringSubmatch(out, -1)
	if code != 0 || !strings.HasPrefix(out, "ID") || len(rows) != 2 {
		t.Fatalf("sessions list: %d\n%s\nwant a header and two sessions from 127.0.0.1", code, out)
	}
	secrets := []string{sessionCookie(t, a).Value, sessionCookie(t, b).Value, s.apiKey()}
	db := storetest.OpenURL(t, s.env["DATABASE_URL"], slog.New(slog.DiscardHandler))
	for _, id := range []string{rows[0][1], rows[1][1]} {
		var hash string
		if err := db.SQL().QueryRow(`SELECT token_hash FROM admin_sessions WHERE id = $1`, id).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, hash)
	}
	for _, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("sessions list shows a secret (%.8s…):\n%s", secret, out)
		}
	}

	// rows[0] is a's session: the first login.
	if code, out := s.run("admin", "sessions", "revoke", rows[0][1]); code != 0 || out != "Ended dashboard session "+rows[0][1]+".\n" {
		t.Fatalf("revoke %s: %d %s", rows[0][1], code, out)
	}
	if _, ok := s.dashboard(a); ok {
		t.Error("the revoked session still opens the dashboard")
	}
	if _, ok := s.dashboard(b); !ok {
		t.Error("revoking one session ended another")
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{rows[0][1]}, 1, "no dashboard session " + rows[0][1]},
		{[]string{"0x1"}, 1, "want a number"},
		{nil, 2, "usage: billing admin sessions revoke ID | --all"},
		{[]string{"--all", rows[1][1]}, 2, "usage:"},
		{[]string{rows[0][1], rows[1][1]}, 2, "usage:"},
	} {
		code, out := s.run(append([]string{"admin", "sessions", "revoke"}, c.args...)...)
		if code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("revoke %v: %d %q, want %d with %q", c.args, code, out, c.code, c.want)
		}
	}
	if _, ok := s.dashboard(b); !ok {
		t.Error("a refused revoke ended a session")
	}
	if code, out := s.run("admin", "sessions", "revoke", "--all"); code != 0 || out != "Dashboard sessions ended: 1.\n" {
		t.Fatalf("revoke --all: %d %s", code, out)
	}
	if _, ok := s.dashboard(b); ok {
		t.Error("revoke --all left a session")
	}
	if code, out := s.run("admin", "sessions", "list"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("sessions list after revoke --all: %d\n%s", code, out)
	}
}

// Sessions live in the database: a login on one instance opens the other,
// a logout on either ends it on both, and a session outlives a restart.
func TestDashboardSessionsSpanInstancesAndRestarts(t *testing.T) {
	one := startService(t)
	shared := map[string]string{"DATABASE_URL": one.env["DATABASE_URL"]}
	two := startService(t, shared)
	c := newBrowser()
	one.login(c)
	cookie := sessionCookie(t, c)
	if _, ok := two.dashboard(c); !ok {
		t.Fatal("a session made on one instance does not open the other")
	}
	two.logout(c)
	if _, ok := one.dashboard(newBrowser(cookie)); ok {
		t.Error("after a logout on the second instance, the session still opens the first")
	}

	d := newBrowser()
	one.login(d)
	one.stop()
	two.stop()
	restarted := startService(t, shared)
	if _, ok := restarted.dashboard(d); !ok {
		t.Error("the session did not survive a restart")
	}
}
