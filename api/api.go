// Package api is the HTTP adapter: the Stripe webhook endpoint and the
// app's JSON API. It parses requests, calls the billing service and maps
// domain errors to HTTP statuses in one table (see errorStatus).
package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/acme/billing"
	"github.com/acme/billing/appwebhook"
	"github.com/acme/billing/webhook"
)

// Server serves the API. Observer and Metrics are optional.
type Server struct {
	Service  *billing.Service
	Verifier *webhook.Verifier
	// APIKey is the bearer token of the app's API.
	APIKey string
	Logger *slog.Logger
	// Ready reports whether the database takes writes, for GET /readyz.
	Ready func(ctx context.Context) error
	// Observer, when set, is told what the webhook endpoint did (metrics).
	Observer Observer
	// Metrics, when set, serves GET /metrics.
	Metrics http.Handler
	// Admin, when set, serves the dashboard under /admin/.
	Admin http.Handler
}

// Body caps: a request with a longer body is answered 413 before or while
// it is read, and nothing of it is kept. Stripe's events are far smaller
// than 1 MiB; the app API's requests are a few fields.
const (
	MaxWebhookBody = 1 << 20
	MaxAPIBody     = 64 << 10
)

// WebhookPath is where Stripe delivers events.
const WebhookPath = "/api/billing/webhooks/stripe/"

// Handler returns the routes: those of routes, which api/openapi.json
// describes, the dashboard under /admin/ when Admin is set, and a JSON 404
// for any other path.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routes(mux.Handle)
	if s.Admin != nil {
		mux.Handle("/admin/", s.Admin)
		mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
	}
	mux.HandleFunc("/", s.notFound)
	return s.refuseLoops(s.limitBodies(mux))
}

// refuseLoops answers 508 to the service's own app webhooks: an endpoint
// that leads back here (through a proxy the start-up check cannot see)
// then fails visibly instead of feeding the service its own messages.
func (s *Server) refuseLoops(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() == appwebhook.UserAgent {
			s.Logger.Warn("Refused an app webhook sent to this service: BILLING_APP_WEBHOOK_URL leads back to it",
				"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			s.writeError(w, r, billing.Errorf(ELOOP, "this is the billing service: an app webhook must go to the app, not back here"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// routes registers every route of the API through handle. A new route needs
// its entry in api/openapi.json too: a test holds the document to this list.
func (s *Server) routes(handle func(pattern string, h http.Handler)) {
	handle(WebhookPath, http.HandlerFunc(s.stripeWebhookHandler))
	handle(strings.TrimSuffix(WebhookPath, "/"), http.HandlerFunc(s.stripeWebhookHandler))
	handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	handle("GET /readyz", http.HandlerFunc(s.readyHandler))
	handle("GET /metrics", s.metrics())
	handle("GET /api/billing/openapi.json", http.HandlerFunc(openAPIHandler))
	handle("POST /api/billing/workspaces", s.auth(s.createWorkspaceHandler))
	handle("GET /api/billing/workspaces/{id}", s.auth(s.workspaceRoute(s.getWorkspaceHandler)))
	handle("GET /api/billing/workspaces/{id}/subscriptions", s.auth(s.workspaceRoute(s.listSubscriptionsHandler)))
	handle("GET /api/billing/workspaces/{id}/entitlements", s.auth(s.workspaceRoute(s.entitlementsHandler)))
	handle("GET /api/billing/workspaces/{id}/entitlements/{feature}", s.auth(s.workspaceRoute(s.featureHandler)))
	handle("GET /api/billing/workspaces/{id}/invoices", s.auth(s.workspaceRoute(s.listInvoicesHandler)))
	handle("GET /api/billing/workspaces/{id}/payments", s.auth(s.workspaceRoute(s.listPaymentsHandler)))
	handle("GET /api/billing/workspaces/{id}/checkout-sessions", s.auth(s.workspaceRoute(s.listCheckoutSessionsHandler)))
	handle("GET /api/billing/workspaces/{id}/refunds", s.auth(s.workspaceRoute(s.listRefundsHandler)))
	handle("GET /api/billing/workspaces/{id}/disputes", s.auth(s.workspaceRoute(s.listDisputesHandler)))
	handle("GET /api/billing/workspaces/{id}/credits/ledger", s.auth(s.workspaceRoute(s.listLedgerHandler)))
	handle("POST /api/billing/workspaces/{id}/credits/consume", s.auth(s.workspaceRoute(s.consumeHandler)))
	handle("POST /api/billing/workspaces/{id}/credits/purchase", s.auth(s.workspaceRoute(s.purchaseHandler)))
	handle("POST /api/billing/workspaces/{id}/checkout", s.auth(s.workspaceRoute(s.checkoutHandler)))
	handle("POST /api/billing/workspaces/{id}/portal", s.auth(s.workspaceRoute(s.portalHandler)))
	handle("POST /api/billing/workspaces/{id}/subscription/swap", s.auth(s.workspaceRoute(s.swapHandler)))
	handle("POST /api/billing/workspaces/{id}/subscription/cancel", s.auth(s.workspaceRoute(s.cancelHandler)))
	handle("POST /api/billing/workspaces/{id}/subscription/resume", s.auth(s.workspaceRoute(s.resumeHandler)))
	handle("POST /api/billing/workspaces/{id}/subscription/quantity", s.auth(s.workspaceRoute(s.quantityHandler)))
	handle("GET /api/billing/events/feed", s.auth(s.feedHandler))
	handle("GET /api/billing/events/{id}", s.auth(s.getEventHandler))
	handle("GET /api/billing/plans", s.auth(s.listPlansHandler))
}

// metrics serves Metrics; without it, /metrics is answered as any path the
// API does not have.
func (s *Server) metrics() http.Handler {
	if s.Metrics == nil {
		return http.HandlerFunc(s.notFound)
	}
	return s.Metrics
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, billing.Errorf(billing.ENOTFOUND, "no route for %s %s", r.Method, r.URL.Path))
}

// limitBodies caps every request body before a handler reads it: a declared
// length over the cap is answered 413 at once, and a body that turns out
// longer (chunked) fails the read that passes the cap, after which the
// server closes the connection rather than read on.
func (s *Server) limitBodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(MaxAPIBody)
		if strings.TrimSuffix(r.URL.Path, "/") == strings.TrimSuffix(WebhookPath, "/") {
			limit = MaxWebhookBody
		}
		if r.ContentLength > limit {
			s.Logger.Warn("Refused request: body too large", "method", r.Method, "path", r.URL.Path,
				"length", r.ContentLength, "limit", limit, "remote", r.RemoteAddr)
			w.Header().Set("Connection", "close")
			s.writeError(w, r, tooLarge(limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}

func tooLarge(limit int64) error {
	return billing.Errorf(billing.ETOOLARGE, "request body is larger than %d bytes", limit)
}

// NewHTTPServer returns the HTTP server for h, with the limits a public
// endpoint needs: slow or endless requests are cut off, headers are bounded.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// auth requires the API key as a bearer token.
func (s *Server) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || s.APIKey == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.APIKey)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="billing"`)
			s.writeError(w, r, billing.Errorf(billing.EUNAUTHORIZED, "missing or wrong bearer token (BILLING_API_KEY)"))
			return
		}
		h(w, r)
	})
}

// workspaceRoute answers 400 for a {id} that is no valid workspace id, so
// that no handler meets one: ids follow billing.ValidateWorkspaceID.
func (s *Server) workspaceRoute(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := billing.ValidateWorkspaceID(r.PathValue("id")); err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r)
	}
}

// errorStatus maps domain error codes to HTTP statuses.
var errorStatus = map[string]int{
	billing.EINVALID:           http.StatusBadRequest,
	billing.EUNAUTHORIZED:      http.StatusUnauthorized,
	billing.ENOTFOUND:          http.StatusNotFound,
	billing.ECONFLICT:          http.StatusConflict,
	billing.ETOOLARGE:          http.StatusRequestEntityTooLarge,
	billing.EINTERNAL:          http.StatusInternalServerError,
	billing.EUNAVAILABLE:       http.StatusServiceUnavailable,
	billing.EINSUFFICIENT:      http.StatusPaymentRequired,
	billing.ENOTENTITLED:       http.StatusPaymentRequired,
	billing.ENOSTRIPE:          http.StatusNotImplemented,
	billing.ESTRIPE:            http.StatusBadRequest,
	billing.ECARD:              http.StatusPaymentRequired,
	billing.EUPSTREAM:          http.StatusBadGateway,
	billing.EALREADYSUBSCRIBED: http.StatusConflict,
	billing.ENOSUBSCRIPTION:    http.StatusNotFound,
	billing.EINVALIDSTATE:      http.StatusConflict,
	EMETHOD:                    http.StatusMethodNotAllowed,
	ELOOP:                      http.StatusLoopDetected,
}

// ELOOP is the code of a request the service sent itself (an app webhook).
const ELOOP = "loop_detected"

// EMETHOD is the code of a request with a method the route does not serve.
const EMETHOD = "method_not_allowed"

// HTTPStatus is the status that answers an error, by its domain code.
func HTTPStatus(err error) int {
	if status, ok := errorStatus[billing.ErrorCode(err)]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// writeError answers {"error":{"code","message"}}, with the error's
// billing.ErrorFields beside them. Internal errors are logged and shown
// only as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := billing.ErrorCode(err)
	status := HTTPStatus(err)
	switch code {
	case billing.EINTERNAL:
		s.Logger.Error("Internal error", "method", r.Method, "path", r.URL.Path, "error", err)
	case billing.EUNAVAILABLE:
		s.Logger.Warn("Unavailable", "method", r.Method, "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", "5")
	}
	body := map[string]any{}
	maps.Copy(body, billing.ErrorFields(err))
	body["code"], body["message"] = code, billing.ErrorMessage(err)
	writeJSON(w, status, map[string]any{"error": body})
}

// readyHandler answers 200 while the database takes writes within two
// seconds, else 503 saying which of "database unavailable" or "database
// not writable", so a load balancer sends no traffic to an instance that
// would only answer 503. Ready logs why (store.Readiness, when it changes).
func (s *Server) readyHandler(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		status := billing.ErrorMessage(err)
		if billing.ErrorCode(err) != billing.EUNAVAILABLE {
			status = "database unavailable"
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": status})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody reads a request body that limitBodies capped.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	var large *http.MaxBytesError
	switch {
	case errors.As(err, &large):
		return nil, tooLarge(large.Limit)
	case err != nil:
		return nil, billing.Errorf(billing.EINVALID, "request body unreadable")
	}
	return body, nil
}

// decodeJSON reads a small JSON request body into v, refusing unknown
// fields and bytes that are not UTF-8: encoding/json would quietly turn
// them into U+FFFD. The domain refuses control characters in what it keeps.
func decodeJSON(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeBody(body, v)
}

// decodeOptionalJSON is decodeJSON for a route whose every field has a
// default: an empty body is {}.
func decodeOptionalJSON(r *http.Request, v any) error {
	body, err := readBody(r)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return err
	}
	return decodeBody(body, v)
}

func decodeBody(body []byte, v any) error {
	if !utf8.Valid(body) {
		return billing.Errorf(billing.EINVALID, "request body is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return billing.Errorf(billing.EINVALID, "request body: %v", err)
	}
	return nil
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
