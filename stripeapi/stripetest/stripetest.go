// Package stripetest runs stripe-mock for tests and records what the
// service sends to it.
package stripetest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the stripe-mock ./test.sh installs.
const Version = "v0.203.0"

// Start runs stripe-mock on a free loopback port until the test ends and
// returns its URL. Without the binary the test skips, loudly, or fails
// when CI=true.
func Start(t testing.TB) string {
	t.Helper()
	bin := binary()
	if bin == "" {
		msg := "stripe-mock is not installed: go install github.com/stripe/stripe-mock@" + Version + " (./test.sh does)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintln(os.Stderr, "SKIPPING STRIPE-MOCK TESTS:", msg)
		t.Skip(msg)
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				addr <- a
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("stripe-mock did not start within 30 s")
		return ""
	}
}

// Unreachable returns the URL of a loopback port nothing listens on: a
// Stripe whose connections are refused.
func Unreachable(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return "http://" + ln.Addr().String()
}

// binary is the stripe-mock go install put in GOBIN (or GOPATH/bin), the
// pinned one ./test.sh installs, else one on the PATH.
func binary() string {
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gobin = filepath.Join(strings.TrimSpace(string(out)), "bin")
		}
	}
	if p := filepath.Join(gobin, "stripe-mock"); gobin != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	return ""
}

// Request is one call the service made to Stripe; Form holds its
// parameters, from the body or the query string.
type Request struct {
	Method, Path string
	Header       http.Header
	Form         url.Values
}

// Recorder is an http.RoundTripper that passes requests on and keeps them,
// so tests can assert what was sent to Stripe, not only what came back.
type Recorder struct {
	// Rewrite, when set (before the first request), replaces the body of
	// each answer: stripe-mock answers a fixed fixture whatever was asked,
	// and a test makes it answer as Stripe would (see Subscription).
	Rewrite func(r Request, status int, body []byte) []byte

	mu       sync.Mutex
	requests []Request
}

// RoundTrip implements http.RoundTripper.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	form, _ := url.ParseQuery(string(body))
	for k, vs := range req.URL.Query() {
		form[k] = append(form[k], vs...)
	}
	rec := Request{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Form: form}
	r.mu.Lock()
	r.requests = append(r.requests, rec)
	r.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || r.Rewrite == nil {
		return resp, err
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	answer = r.Rewrite(rec, resp.StatusCode, answer)
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(answer)), int64(len(answer))
	resp.Header.Set("Content-Length", strconv.Itoa(len(answer)))
	return resp, nil
}

// Proxy serves on a loopback port until the test ends, passing each
// request on to target through rt (a Recorder): for a process that is given
// Stripe's address rather than an http.Client.
func Proxy(t testing.TB, target string, rt http.RoundTripper) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("proxy to %q: %v", target, err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = rt
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Requests returns the requests made to path so far.
func (r *Recorder) Requests(path string) []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Request
	for _, q := range r.requests {
		if q.Path == path {
			out = append(out, q)
		}
	}
	return out
}

// All returns every request made so far.
func (r *Recorder) All() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}
