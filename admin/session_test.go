package admin_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/acme/billing/admin"
)

// clientWith is a client that presents the session cookie c, as a browser
// that kept it (or an attacker who copied it) would.
func (d *dash) clientWith(c *http.Cookie) *http.Client {
	cl := d.client()
	u, _ := url.Parse(d.srv.URL + admin.Prefix)
	cl.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value}})
	return cl
}

// loggedIn reports whether c's session opens the events page.
func (d *dash) loggedIn(c *http.Client) bool {
	d.t.Helper()
	r := d.do(c, http.MethodGet, "/admin/", nil)
	switch {
	case r.code == http.StatusOK && strings.Contains(r.body, "Webhook events"):
		return true
	case r.code == http.StatusSeeOther && strings.HasPrefix(r.header.Get("Location"), "/admin/login?"):
		return false
	}
	d.t.Fatalf("GET /admin/: %d to %q, want the page or the login form", r.code, r.header.Get("Location"))
	return false
}

// logout logs c out through its page's form.
func (d *dash) logout(c *http.Client) {
	d.t.Helper()
	page := d.do(c, http.MethodGet, "/admin/", nil).body
	if r := d.do(c, http.MethodPost, "/admin/logout", url.Values{"csrf": {csrf(d.t, page)}}); r.code != http.StatusSeeOther {
		d.t.Fatalf("logout: %d %s", r.code, r.body)
	}
}

func (d *dash) sessionRows() int {
	d.t.Helper()
	var n int
	if err := d.db.SQL().QueryRow(`SELECT COUNT(*) FROM admin_sessions`).Scan(&n); err != nil {
		d.t.Fatal(err)
	}
	return n
}

// Logging out ends the session in the database: its cookie, kept or
// copied, opens nothing afterwards, and its forms' token is dead with it.
func TestLogoutEndsTheSession(t *testing.T) {
	d := start(t)
	c := d.client()
	cookie := d.login(c)
	token := csrf(t, d.do(c, http.MethodGet, "/admin/", nil).body)
	d.logout(c)
	stale := d.clientWith(cookie)
	if d.loggedIn(stale) {
		t.Error("the cookie still opens the dashboard after logout")
	}
	r := d.do(stale, http.MethodPost, "/admin/logout", url.Values{"csrf": {token}})
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/admin/login?") {
		t.Errorf("a form of the ended session: %d to %q, want the login form", r.code, r.header.Get("Location"))
	}
	if n := d.sessionRows(); n != 0 {
		t.Errorf("%d session rows after logout, want 0", n)
	}
}

// Each login is a session of its own, even in the same second (the clock
// does not move here): logging one out leaves the other. The database
// keeps only a hash of each token, which is no cookie.
func TestLoginsInOneSecondAreSessionsOfTheirOwn(t *testing.T) {
	d := start(t)
	a, b := d.client(), d.client()
	ca, cb := d.login(a), d.login(b)
	if ca.Value == cb.Value {
		t.Fatalf("two logins got the same cookie %q", ca.Value)
	}
	for _, c := range []*http.Cookie{ca, cb} {
		if raw, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil || len(raw) < 16 {
			t.Errorf("cookie %q: want at least 128 random bits", c.Value)
		}
	}
	rows, err := d.db.SQL().Query(`SELECT token_hash FROM admin_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	var hashes []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	rows.Close()
	if len(hashes) != 2 {
		t.Fatalf("%d session rows, want 2", len(hashes))
	}
	for _, h := range hashes {
		if h == ca.Value || h == cb.Value {
			t.Errorf("the database holds a session token as it is: %q", h)
		}
		if d.loggedIn(d.clientWith(&http.Cookie{Name: ca.Name, Value: h})) {
			t.Errorf("the stored hash %q works as a cookie", h)
		}
	}
	d.logout(a)
	if d.loggedIn(d.clientWith(ca)) || !d.loggedIn(b) {
		t.Error("logging out one session must end it and only it")
	}
}
