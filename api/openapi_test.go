package api_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	valerrors "github.com/pb33f/libopenapi-validator/errors"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/acme/billing"
	"github.com/acme/billing/api"
)

const openAPIPath = "/api/billing/openapi.json"

// spec is api/openapi.json, parsed once per test binary.
type spec struct {
	model *v3.Document
	// requests checks requests, and the document's own answer; answers
	// checks every other answer in strict mode, where a field or header the
	// document does not name is a mismatch although the document leaves
	// answers open (so that clients tolerate fields added later).
	requests, answers validator.Validator
	// strict serialises the answers' checks: libopenapi-validator v0.16.3's
	// strict mode compiles a oneOf's schemas into a cache without a lock
	// (the race detector saw two parallel tests write it at once).
	strict sync.Mutex
}

var loadSpec = sync.OnceValues(func() (*spec, error) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		return nil, fmt.Errorf("parse api/openapi.json: %w", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("build api/openapi.json: %w", err)
	}
	return &spec{
		model:    &m.Model,
		requests: validator.NewValidatorFromV3Model(&m.Model, config.WithFormatAssertions()),
		answers:  validator.NewValidatorFromV3Model(&m.Model, config.WithFormatAssertions(), config.WithStrictMode()),
	}, nil
})

// contract is the transport of the suite's clients. It holds every exchange
// to api/openapi.json, and a mismatch fails the round trip, so the helper
// that sent the request fails its test: the answer must be one the document
// describes for the request (status, content type, headers and body), and a
// request the document refuses must not succeed.
type contract struct{ next http.RoundTripper }

func (c contract) RoundTrip(req *http.Request) (*http.Response, error) {
	s, err := loadSpec()
	if err != nil {
		return nil, err
	}
	sent, err := drain(req.Body)
	if err != nil {
		return nil, err
	}
	resp, err := c.next.RoundTrip(withBody(req, sent))
	if err != nil {
		return nil, err
	}
	got, err := drain(resp.Body)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(got))
	if err := s.check(withBody(req, sent), resp, got); err != nil {
		return nil, fmt.Errorf("api/openapi.json: %s %s answered %d %.300s: %w", req.Method, req.URL.Path, resp.StatusCode, got, err)
	}
	return resp, nil
}

// CloseIdleConnections lets httptest.Server.Close close the client's
// connections.
func (c contract) CloseIdleConnections() {
	if t, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
}

// checkedClient is a client whose exchanges are held to the document.
func checkedClient(timeout time.Duration, next http.RoundTripper) *http.Client {
	return &http.Client{Timeout: timeout, Transport: contract{next}}
}

func drain(body io.ReadCloser) ([]byte, error) {
	if body == nil || body == http.NoBody {
		return nil, nil
	}
	defer body.Close()
	return io.ReadAll(body)
}

// withBody is req with its body read again from sent; a body whose length
// was unknown stays so (and is sent chunked).
func withBody(req *http.Request, sent []byte) *http.Request {
	out := req.Clone(req.Context())
	if sent != nil {
		out.Body = io.NopCloser(bytes.NewReader(sent))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(sent)), nil }
	}
	return out
}

func (s *spec) check(req *http.Request, resp *http.Response, got []byte) error {
	if req.Body != nil && req.Header.Get("Content-Type") == "" {
		// The handlers read every body as JSON, and the suite sends most
		// without a Content-Type.
		req.Header.Set("Content-Type", "application/json")
	}
	requestOK, requestErrs := s.requests.ValidateHttpRequest(req)
	if slices.ContainsFunc(requestErrs, func(e *valerrors.ValidationError) bool {
		return e.IsPathMissingError() || e.IsOperationMissingError()
	}) {
		return unrouted(resp, got)
	}
	answers := s.answers
	if req.URL.Path == openAPIPath {
		answers = s.requests // the document's schema names only its required keys
	}
	answer := *resp
	answer.Body = io.NopCloser(bytes.NewReader(got))
	s.strict.Lock()
	ok, errs := answers.ValidateHttpResponse(req, &answer)
	s.strict.Unlock()
	if !ok {
		return fmt.Errorf("the answer is not one the document describes: %w", joined(errs))
	}
	// Stripe, not a client of the document, sends the webhook, and the
	// handler reads its envelope as stripe-go does (keys in any case, null
	// for absent), more leniently than the document describes Stripe's.
	fromStripe := strings.TrimSuffix(req.URL.Path, "/") == strings.TrimSuffix(api.WebhookPath, "/")
	if !requestOK && resp.StatusCode < 300 && !fromStripe {
		return fmt.Errorf("the document refuses this request, yet it was answered %d: %w", resp.StatusCode, joined(requestErrs))
	}
	return nil
}

// unrouted checks the answer to a path or method the document does not
// have: a JSON error, 404 not_found (405 method_not_allowed on the
// webhook's path), or 413 too_large, as a body over its cap is refused
// before any route is chosen.
func unrouted(resp *http.Response, got []byte) error {
	want := map[int]string{http.StatusNotFound: billing.ENOTFOUND, http.StatusMethodNotAllowed: api.EMETHOD,
		http.StatusRequestEntityTooLarge: billing.ETOOLARGE}[resp.StatusCode]
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.DisallowUnknownFields()
	switch err := dec.Decode(&e); {
	case want == "":
		return errors.New("a route the document does not have answered, not 404, 405 or 413")
	case resp.Header.Get("Content-Type") != "application/json" || err != nil:
		return fmt.Errorf("the answer to a route the document does not have is no JSON error (%v)", err)
	case e.Error.Code != want || e.Error.Message == "":
		return fmt.Errorf("error code %q, want %q with a message", e.Error.Code, want)
	}
	return nil
}

func joined(errs []*valerrors.ValidationError) error {
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// Every route Handler registers for the API is in the document, and the
// document has no operation that no route serves. A pattern without a
// method is documented by every operation of its path.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string][]string{} // path → its methods
	for path, item := range s.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().KeysFromOldest() {
			documented[path] = append(documented[path], strings.ToUpper(method))
		}
	}
	served := map[string]bool{}
	for _, pattern := range api.RoutePatterns() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "", pattern
		}
		methods := documented[path]
		switch {
		case len(methods) == 0:
			t.Errorf("route %q is not in api/openapi.json", pattern)
		case method != "" && !slices.Contains(methods, method):
			t.Errorf("route %q: api/openapi.json has %s %s only", pattern, methods, path)
		}
		for _, m := range methods {
			if method == "" || m == method {
				served[m+" "+path] = true
			}
		}
	}
	for path, methods := range documented {
		for _, m := range methods {
			if !served[m+" "+path] {
				t.Errorf("api/openapi.json has %s %s, which no route serves", m, path)
			}
		}
	}
}

// The document's error codes are those of the error→status table.
func TestOpenAPIErrorCodes(t *testing.T) {
	s, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, c := range s.model.Components.Schemas.GetOrZero("ErrorCode").Schema().Enum {
		codes = append(codes, c.Value)
	}
	slices.Sort(codes)
	if want := api.ErrorCodes(); !slices.Equal(codes, want) {
		t.Errorf("ErrorCode enum = %v, want the codes of errorStatus %v", codes, want)
	}
}

// GET /api/billing/openapi.json answers the checked-in document, without a
// token, and it is valid OpenAPI 3.1.
func TestOpenAPIServed(t *testing.T) {
	h := setup(t)
	resp, err := h.srv.Client().Get(h.srv.URL + openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served, _ := io.ReadAll(resp.Body)
	want, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(served, want) {
		t.Fatalf("GET %s: %d %q, %d bytes; want 200 application/json and api/openapi.json's %d bytes",
			openAPIPath, resp.StatusCode, resp.Header.Get("Content-Type"), len(served), len(want))
	}
	doc, err := libopenapi.NewDocument(served)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetSpecInfo().Version; !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	if ok, errs := v.ValidateDocument(); !ok {
		t.Errorf("not valid OpenAPI 3.1: %v", joined(errs))
	}
}

// The suite's transport fails a round trip whose answer or request the
// document does not allow, and passes one it does.
func TestContractCatchesMismatches(t *testing.T) {
	t.Parallel()
	workspace := `{"id":"ws_1","name":"","email":"","stripe_customer_id":null,"subscription":null,` +
		`"credits":{"balance":0,"subscription":0,"purchased":0},"customer_discount":null}`
	event := `{"id":"evt_1","type":"invoice.paid","api_version":"","livemode":false,"created":%s,` +
		`"status":"processed","attempts":1,"last_error":null,"account":null,"note":null,"object_id":null,"workspace_id":null,"received_at":null,"processed_at":null}`
	for _, tt := range []struct {
		name, method, path, body string
		auth                     bool
		status                   int
		contentType, answer      string
		header                   http.Header
		want                     string // in the error; "" for none
	}{
		{name: "a documented answer", method: "GET", path: "/healthz", status: 200, answer: `{"status":"ok"}`},
		{name: "a renamed field", method: "GET", path: "/healthz", status: 200, answer: `{"state":"ok"}`,
			want: "not one the document describes"},
		{name: "a field the document lacks", method: "GET", path: "/healthz", status: 200, answer: `{"status":"ok","up":true}`,
			want: "up"},
		{name: "an undocumented status", method: "GET", path: "/healthz", status: 201, answer: `{"status":"ok"}`,
			want: "201"},
		{name: "another content type", method: "GET", path: "/healthz", status: 200, contentType: "text/plain", answer: "ok",
			want: "not one the document describes"},
		{name: "a time that is no RFC 3339", method: "GET", path: "/api/billing/events/evt_1", auth: true, status: 200,
			answer: fmt.Sprintf(event, `"yesterday"`), want: "date-time"},
		{name: "an RFC 3339 time", method: "GET", path: "/api/billing/events/evt_1", auth: true, status: 200,
			answer: fmt.Sprintf(event, `"2026-01-01T00:00:00Z"`)},
		{name: "503 without Retry-After", method: "GET", path: "/api/billing/events/evt_1", auth: true, status: 503,
			answer: `{"error":{"code":"unavailable","message":"database down"}}`, want: "Retry-After"},
		{name: "401 without WWW-Authenticate", method: "GET", path: "/api/billing/events/evt_1", status: 401,
			answer: `{"error":{"code":"unauthorized","message":"no"}}`, want: "WWW-Authenticate"},
		{name: "an error code the document lacks", method: "GET", path: "/api/billing/events/evt_1", auth: true, status: 404,
			answer: `{"error":{"code":"gone","message":"no"}}`, want: "not one the document describes"},
		{name: "a request the document refuses, accepted", method: "POST", path: "/api/billing/workspaces", auth: true,
			body: `{"id":"ws_1","plan":"pro"}`, status: 201, answer: workspace, want: "refuses this request"},
		{name: "a request the document refuses, refused", method: "POST", path: "/api/billing/workspaces", auth: true,
			body: `{"id":"ws_1","plan":"pro"}`, status: 400, answer: `{"error":{"code":"invalid","message":"unknown field"}}`},
		{name: "no token, accepted", method: "GET", path: "/api/billing/workspaces/ws_1", status: 200, answer: workspace,
			want: "refuses this request"},
		{name: "an unknown route, answered", method: "GET", path: "/nowhere", status: 200, answer: `{}`,
			want: "route the document does not have"},
		{name: "an unknown route, 404", method: "GET", path: "/nowhere", status: 404,
			answer: `{"error":{"code":"not_found","message":"no route for GET /nowhere"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.Header().Set("Content-Type", cmp.Or(tt.contentType, "application/json"))
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.answer)
			}))
			t.Cleanup(srv.Close)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, body)
			if tt.auth {
				req.Header.Set("Authorization", "Bearer "+testAPIKey)
			}
			resp, err := checkedClient(10*time.Second, http.DefaultTransport).Do(req)
			if err == nil {
				resp.Body.Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}
