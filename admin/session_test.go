package admin_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/acme/billing/admin"
	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
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

// Logging in again from a browser replaces its session: the cookie it had
// opens nothing afterwards.
func TestLoginAgainEndsTheOldSession(t *testing.T) {
	d := start(t)
	c := d.client()
	first := d.login(c)
	second := d.login(c)
	if first.Value == second.Value {
		t.Fatal("the second login kept the first cookie")
	}
	if d.loggedIn(d.clientWith(first)) {
		t.Error("the first cookie still opens the dashboard after a second login")
	}
	if !d.loggedIn(d.clientWith(second)) {
		t.Error("the second cookie does not open the dashboard")
	}
	if n := d.sessionRows(); n != 1 {
		t.Errorf("%d session rows, want 1", n)
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

// form is v URL-encoded and padded to size bytes.
func form(v url.Values, size int) string {
	s := v.Encode() + "&pad="
	return s + strings.Repeat("x", size-len(s))
}

func multipartForm(v url.Values) (body, contentType string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k := range v {
		_ = w.WriteField(k, v.Get(k))
	}
	_ = w.Close()
	return buf.String(), w.FormDataContentType()
}

// Every form the dashboard reads is URL-encoded and at most MaxForm bytes:
// a larger one is 413, another kind 415, whether or not it names a session,
// and neither changes anything.
func TestDashboardFormsAreCapped(t *testing.T) {
	d := start(t)
	repair := storetest.Break(t, d.db, "credit_ledger", "disk on fire")
	event := d.send(trigger.Options{Type: "invoice.paid", Workspace: "ws_f"}, http.StatusInternalServerError)
	repair()
	d.send(trigger.Options{Type: "invoice.payment_failed", Workspace: "ws_f"}, http.StatusOK)
	mail, err := d.db.Notifications(t.Context(), true, 10)
	if err != nil || len(mail) != 1 {
		t.Fatalf("outbox: %v %v", mail, err)
	}
	c := d.client()
	d.login(c)
	token := csrf(t, d.do(c, http.MethodGet, "/admin/", nil).body)
	posts := map[string]url.Values{
		"/admin/login":                       {"key": {apiKey}, "next": {"/admin/"}},
		"/admin/logout":                      {"csrf": {token}},
		"/admin/events/" + event + "/replay": {"csrf": {token}},
		fmt.Sprintf("/admin/outbox/%d/discard", mail[0].ID): {"csrf": {token}},
		fmt.Sprintf("/admin/outbox/%d/retry", mail[0].ID):   {"csrf": {token}},
	}
	for path, fields := range posts {
		mp, mpType := multipartForm(fields)
		big := form(fields, admin.MaxForm+1)
		for _, tc := range []struct {
			name, contentType, body string
			length                  int64
			want                    int
		}{
			{"one byte over the cap", "application/x-www-form-urlencoded", big, int64(len(big)), http.StatusRequestEntityTooLarge},
			{"over the cap, chunked", "application/x-www-form-urlencoded", big, -1, http.StatusRequestEntityTooLarge},
			{"5 KiB over the cap, chunked", "application/x-www-form-urlencoded", form(fields, admin.MaxForm+5<<10), -1, http.StatusRequestEntityTooLarge},
			{"multipart", mpType, mp, int64(len(mp)), http.StatusUnsupportedMediaType},
			{"JSON", "application/json", `{"csrf":"` + token + `"}`, -1, http.StatusUnsupportedMediaType},
			{"no Content-Type", "", fields.Encode(), -1, http.StatusUnsupportedMediaType},
		} {
			r := d.post(c, path, tc.contentType, strings.NewReader(tc.body), tc.length)
			if r.code != tc.want {
				t.Errorf("POST %s, %s: %d, want %d", path, tc.name, r.code, tc.want)
			}
		}
	}
	if e, _ := d.db.Event(t.Context(), event); e.Status != "failed" {
		t.Errorf("the event is %s, want it still failed", e.Status)
	}
	if after, _ := d.db.Notifications(t.Context(), true, 10); len(after) != 1 || after[0].Status != mail[0].Status {
		t.Errorf("outbox after refused forms = %+v, want it unchanged", after)
	}
	if !d.loggedIn(c) || d.sessionRows() != 1 {
		t.Errorf("after refused logins and logouts: %d sessions, want the one", d.sessionRows())
	}
	// The cap is what it says: a login of exactly MaxForm bytes is read.
	exact := form(posts["/admin/login"], admin.MaxForm)
	if r := d.post(d.client(), "/admin/login", "application/x-www-form-urlencoded", strings.NewReader(exact), int64(len(exact))); r.code != http.StatusSeeOther {
		t.Errorf("a login of %d bytes: %d, want 303", admin.MaxForm, r.code)
	}
}

// hugeBody is a multipart login of n bytes made as it is read, so that the
// test holds none of it and can tell how much the client got to send. The
// client closes it once it has stopped sending.
type hugeBody struct {
	head    string
	n, sent int64
	fill    []byte
	closed  chan struct{}
	once    sync.Once
}

func (b *hugeBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

func (b *hugeBody) Read(p []byte) (int, error) {
	if b.sent >= b.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.n-b.sent)]
	k := 0
	if b.sent < int64(len(b.head)) {
		k = copy(p, b.head[b.sent:])
	}
	for k < len(p) {
		k += copy(p[k:], b.fill)
	}
	b.sent += int64(len(p))
	return len(p), nil
}

// A 100 MiB multipart login is refused before its body is read: nothing
// reaches the temporary directory, memory does not grow by the body, and
// most of the body never leaves the client.
func TestHugeMultipartLoginIsNotRead(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where multipart parsing would spill the upload
	d := start(t)
	const size = 100 << 20
	for _, tc := range []struct {
		name   string
		length int64
		want   int
	}{
		{"with its Content-Length", size, http.StatusRequestEntityTooLarge},
		{"chunked", -1, http.StatusUnsupportedMediaType},
	} {
		mw := multipart.NewWriter(io.Discard)
		head := "--" + mw.Boundary() + "\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n" + apiKey +
			"\r\n--" + mw.Boundary() + "\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"big\"\r\n\r\n"
		body := &hugeBody{head: head, n: size, fill: bytes.Repeat([]byte("x"), 32<<10), closed: make(chan struct{})}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := d.post(d.client(), "/admin/login", mw.FormDataContentType(), body, tc.length)
		runtime.ReadMemStats(&after)
		if r.code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, r.code, tc.want)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
			t.Errorf("%s: the process allocated %d MiB answering it", tc.name, grew>>20)
		}
		<-body.closed
		if body.sent > 32<<20 {
			t.Errorf("%s: the client sent %d MiB of it: the server read the body", tc.name, body.sent>>20)
		}
		if files, _ := os.ReadDir(tmp); len(files) != 0 {
			t.Errorf("%s: the temporary directory holds %v", tc.name, files)
		}
	}
	if n := d.sessionRows(); n != 0 {
		t.Errorf("%d sessions after refused logins, want 0", n)
	}
}
