// Package admin is the operators' dashboard at /admin/: the webhook event
// log with replay, the workspaces' billing state, the unsent email, and the
// app's webhook endpoints with their deliveries.
// Pages are rendered on the server with html/template from files embedded
// in the binary; they need no JavaScript.
//
// It is protected by BILLING_API_KEY: a login creates a session in the
// database and sets a cookie with its random token (HttpOnly, Secure,
// SameSite=Strict); every form that changes something carries a CSRF token
// tied to that session. Sessions end at logout, after 12 hours, when an
// operator revokes them, or when the API key changes, on every instance
// sharing the database.
package admin

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
	"github.com/acme/billing/appwebhook"
)

//go:embed templates static
var files embed.FS

// Store is what the dashboard reads: the billing store and its statistics.
type Store interface {
	billing.Store
	EventCounts(ctx context.Context, since, until time.Time) ([]billing.EventCount, error)
	EventsPerHour(ctx context.Context, since time.Time) ([]billing.HourCount, error)
	Workspaces(ctx context.Context, status string, offset, limit int) ([]billing.WorkspaceState, error)
	Notifications(ctx context.Context, unsent bool, limit int) ([]billing.Notification, error)
	WorkspaceNotifications(ctx context.Context, workspaceID string, limit int) ([]billing.Notification, error)
	UnsentNotifications(ctx context.Context) (int64, error)
	RetryNotification(ctx context.Context, id int64, now time.Time) error
	DiscardNotification(ctx context.Context, id int64, now time.Time) error
	// WorkspaceOf is the workspace of a stored object, else of its customer.
	WorkspaceOf(ctx context.Context, objectID, customerID string) (string, error)
	// Search finds the workspaces and events what an operator typed names.
	Search(ctx context.Context, q string) (workspaces, events []string, err error)
	// Sessions are stored under a hash of their token (see sessionHash).
	CreateSession(ctx context.Context, tokenHash, remoteAddr string, now, expires time.Time) (int64, error)
	ActiveSession(ctx context.Context, tokenHash string, now time.Time) (id int64, ok bool, err error)
	EndSession(ctx context.Context, tokenHash string) error
}

// Handler serves the dashboard.
type Handler struct {
	Service *billing.Service
	Store   Store
	// APIKey is the key operators log in with; it also keys the hash
	// sessions are stored under and the CSRF tokens, so changing it logs
	// everyone out.
	APIKey string
	Logger *slog.Logger
	// AppWebhooks keeps the deliveries to the app's webhook endpoints; nil
	// when no BILLING_APP_WEBHOOK_URL is configured (the page says how).
	AppWebhooks appwebhook.Store
	// EmailEnabled says whether an SMTP sender runs (the outbox page says so).
	EmailEnabled bool
	// Mode is the service's, shown on every page; Stripe links follow it.
	Mode billing.Mode
	// Now is the clock; tests inject one.
	Now func() time.Time

	pages map[string]*template.Template
	mux   *http.ServeMux
}

// Prefix is where the dashboard is served.
const Prefix = "/admin/"

const (
	cookieName = "billing_admin"
	sessionTTL = 12 * time.Hour
	pageSize   = 50
	// tokenBytes is a session token's randomness: 256 bits.
	tokenBytes = 32
	// MaxForm bounds the body of every form posted to the dashboard: they
	// hold a key, a token and a short path.
	MaxForm = 4 << 10
	// maxNext bounds the page a login returns to, so that the login form
	// stays far below MaxForm.
	maxNext = 512
)

// New returns the dashboard; h's fields must be set.
func New(h *Handler) (*Handler, error) {
	if len(h.APIKey) < 16 {
		return nil, fmt.Errorf("admin: the API key is shorter than 16 characters")
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h.pages = pages
	static, _ := fs.Sub(files, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /admin/static/", http.StripPrefix("/admin/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /admin/login", h.loginPage)
	mux.HandleFunc("POST /admin/login", h.login)
	mux.Handle("POST /admin/logout", h.protect(h.logout))
	mux.Handle("GET /admin/{$}", h.protect(h.eventsPage))
	mux.Handle("GET /admin/events/{id}", h.protect(h.eventPage))
	mux.Handle("POST /admin/events/{id}/replay", h.protect(h.replay))
	mux.Handle("GET /admin/workspaces", h.protect(h.workspacesPage))
	mux.Handle("GET /admin/workspaces/{id}", h.protect(h.workspacePage))
	mux.Handle("GET /admin/outbox", h.protect(h.outboxPage))
	mux.Handle("POST /admin/outbox/{id}/retry", h.protect(h.operateEmail(Store.RetryNotification, "Email queued again from the dashboard")))
	mux.Handle("POST /admin/outbox/{id}/discard", h.protect(h.operateEmail(Store.DiscardNotification, "Email discarded from the dashboard")))
	mux.Handle("GET /admin/search", h.protect(h.search))
	mux.Handle("GET "+appWebhooksPath, h.protect(h.appWebhooksPage))
	mux.Handle("POST "+appWebhooksPath+"/enable", h.protect(h.enableEndpoint))
	mux.Handle("GET "+appWebhooksPath+"/deliveries/{id}", h.protect(h.deliveryPage))
	mux.Handle("POST "+appWebhooksPath+"/deliveries/{id}/retry", h.protect(h.sendAgain))
	mux.Handle("/admin/", h.protect(func(w http.ResponseWriter, r *http.Request, _ *session) {
		h.fail(w, r, http.StatusNotFound, "No such page.")
	}))
	h.mux = mux
	return h, nil
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{"when": when, "amount": billing.FormatAmount, "short": short, "pathesc": url.PathEscape, "millis": millis,
		"stripeURL": stripeURL}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if page == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(files, name)
		if err != nil {
			return nil, err
		}
		pages[page] = t
	}
	return pages, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("Cache-Control", "no-store")
	// Forms are also refused when the browser says they come from another
	// site: a second guard beside the tokens, and the only one for login.
	crossOrigin.Handler(http.HandlerFunc(h.route)).ServeHTTP(w, r)
}

var crossOrigin = http.NewCrossOriginProtection()

// route reads a POST's form before any handler sees the request, so that
// none can read more of a body than readForm allows.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && !h.readForm(w, r) {
		return
	}
	h.mux.ServeHTTP(w, r)
}

// readForm parses a URL-encoded form of at most MaxForm bytes into
// r.PostForm. It refuses a larger body with 413 and any other kind of body
// with 415, having read at most MaxForm bytes: no multipart parsing, so
// nothing is written to disk.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength > MaxForm {
		h.tooLarge(w, r)
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		h.fail(w, r, http.StatusUnsupportedMediaType, "Dashboard forms are sent as application/x-www-form-urlencoded.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxForm)
	err := r.ParseForm()
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		h.tooLarge(w, r)
		return false
	case err != nil:
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	return true
}

// tooLarge refuses a body over MaxForm and closes the connection, so that
// the client stops sending the rest.
func (h *Handler) tooLarge(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	h.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is larger than %d bytes.", MaxForm))
}

// session is a logged-in operator's request.
type session struct {
	CSRF string
	id   int64
	hash string // the stored hash of the session's token
}

// protect requires a valid session cookie, sending the browser to the login
// form otherwise, and a valid CSRF token on every POST.
func (h *Handler) protect(fn func(http.ResponseWriter, *http.Request, *session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.session(r)
		if err != nil {
			h.failErr(w, r, err)
			return
		}
		if s == nil {
			next := "/admin/"
			if r.Method == http.MethodGet {
				next = r.URL.RequestURI()
			}
			http.Redirect(w, r, "/admin/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !equal(r.PostForm.Get("csrf"), s.CSRF) {
			h.fail(w, r, http.StatusForbidden, "The form's security token is missing or stale: reload the page and try again.")
			return
		}
		fn(w, r, s)
	})
}

// session returns the request's live session, nil when it has none.
func (h *Handler) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, nil
	}
	// Whatever a cookie holds, only a token of the right shape is looked up.
	if b, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil || len(b) != tokenBytes {
		return nil, nil
	}
	hash := h.sessionHash(c.Value)
	id, ok, err := h.Store.ActiveSession(r.Context(), hash, h.now())
	if err != nil || !ok {
		return nil, err
	}
	return &session{CSRF: h.sign("csrf|" + c.Value), id: id, hash: hash}, nil
}

// newToken returns a random session token for the cookie.
func newToken() string {
	b := make([]byte, tokenBytes)
	rand.Read(b) // never fails: it crashes the program rather than return less
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionHash is what the database keeps of a token: reading the table
// hands out no session, and under another API key no stored hash matches.
func (h *Handler) sessionHash(token string) string { return h.sign("session|" + token) }

// sign is an HMAC under a key derived from the API key.
func (h *Handler) sign(msg string) string {
	key := sha256.Sum256([]byte("billing admin\x00" + h.APIKey))
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (h *Handler) setCookie(w http.ResponseWriter, value string, exp time.Time) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: Prefix, Expires: exp,
		MaxAge: int(exp.Sub(h.now()).Seconds()), HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "login", nil, map[string]any{"Next": safeNext(r.URL.Query().Get("next")),
		"PlainHTTP": !secureContext(r)})
}

// secureContext reports whether a browser keeps a Secure cookie from this
// request: over TLS (here or at a proxy that says so), or from loopback.
func secureContext(r *http.Request) bool {
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return billing.IsLoopback(strings.Trim(host, "[]"))
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostForm.Get("next"))
	if !equal(r.PostForm.Get("key"), h.APIKey) {
		h.Logger.Warn("Dashboard login refused: wrong key", "remote", r.RemoteAddr)
		h.render(w, r, http.StatusUnauthorized, "login", nil, map[string]any{"Next": next,
			"Error": "That is not the API key (BILLING_API_KEY)."})
		return
	}
	// A login from a browser that has a session replaces it: the old
	// cookie, were it copied, opens nothing.
	if old, err := h.session(r); err == nil && old != nil {
		if err := h.Store.EndSession(r.Context(), old.hash); err != nil {
			h.failErr(w, r, err)
			return
		}
	}
	token, now := newToken(), h.now()
	exp := now.Add(sessionTTL)
	id, err := h.Store.CreateSession(r.Context(), h.sessionHash(token), remoteHost(r), now, exp)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	h.Logger.Info("Dashboard login", "session", id, "remote", r.RemoteAddr)
	h.setCookie(w, token, exp)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// remoteHost is the address a request came from, without its port.
func remoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// logout ends the session in the database, so its cookie is refused from
// now on wherever it is presented, then clears the cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := h.Store.EndSession(r.Context(), s.hash); err != nil {
		h.failErr(w, r, err)
		return
	}
	h.Logger.Info("Dashboard logout", "session", s.id, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// safeNext keeps a redirect after login on the dashboard, and short.
func safeNext(next string) string {
	if len(next) > maxNext || !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

// render writes a page in the layout.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, s *session, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["Session"] = s
	data["Path"] = r.URL.Path
	data["Mode"] = cmp.Or(h.Mode, billing.ModeTest)
	var buf strings.Builder
	if err := h.pages[page].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		h.Logger.Error("Dashboard page failed to render", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// fail shows an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", nil, map[string]any{"Status": status, "Message": msg})
}

// failErr shows an error from the billing service with the API's status
// for it: what it says when it is the caller's, a generic message when the
// service failed.
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, err error) {
	status := api.HTTPStatus(err)
	if status >= 500 {
		h.Logger.Error("Dashboard request failed", "path", r.URL.Path, "error", err)
		h.fail(w, r, status, "Internal error: see the service's log.")
		return
	}
	h.fail(w, r, status, billing.ErrorMessage(err))
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// when formats a time for the pages, "" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// short cuts a long text, e.g. an error, for a table cell.
// stripePages are the Stripe Dashboard's pages of objects, by id prefix.
var stripePages = map[string]string{
	"cus_": "customers/", "sub_": "subscriptions/", "in_": "invoices/", "pi_": "payments/", "ch_": "payments/",
	"evt_": "events/", "dp_": "disputes/", "du_": "disputes/", "re_": "refunds/", "cs_": "checkout/sessions/",
}

// stripeURL is an object's page in the Stripe Dashboard, under /test/ in
// test mode; "" for an id of no known kind.
func stripeURL(mode billing.Mode, id string) string {
	for prefix, page := range stripePages {
		if strings.HasPrefix(id, prefix) {
			base := "https://dashboard.stripe.com/"
			if !mode.Livemode() {
				base += "test/"
			}
			return base + page + url.PathEscape(id)
		}
	}
	return ""
}

func short(s string) string {
	if r := []rune(s); len(r) > 90 {
		return string(r[:89]) + "…"
	}
	return s
}
