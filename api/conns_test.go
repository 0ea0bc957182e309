package api

import (
	"bufio"
	"container/list"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/billing/billingtest"
)

// The longest-idle keep-alive connection is closed first, one at a time,
// once the slots are all taken; a connection used again moves to the back.
func TestConnLimitClosesLongestIdleFirst(t *testing.T) {
	lt := newLimitTest(t, 4)
	a, b, c := lt.dial(), lt.dial(), lt.dial()
	for _, conn := range []*testConn{a, b, c} {
		lt.get(conn, "/")
		lt.waitStates(conn, http.StateIdle, 1)
	}
	lt.get(a, "/")
	lt.waitStates(a, http.StateIdle, 2) // idle now: b, c, a

	d := lt.dial() // takes the last slot: b goes, and only b
	lt.get(d, "/")
	lt.closedByServer(b)
	lt.quiet(c)
	lt.quiet(a)
	lt.waitStates(d, http.StateIdle, 1)
	e := lt.dial() // c goes
	lt.get(e, "/")
	lt.closedByServer(c)
	lt.quiet(a)
	lt.quiet(d)
	lt.wantClosed("limit", 2)
}

// A connection whose request has begun, or is in progress behind another
// it sent at once, is not closed to make room, nor is a new one before it
// has been silent for silentGrace: a newcomer waits in the backlog instead.
// A silent one may go once silentGrace has passed.
func TestConnLimitNeverClosesARequestInProgress(t *testing.T) {
	for _, tt := range []struct {
		name    string
		sends   string // what the second connection sends
		started func(lt *limitTest, c *testConn)
		finish  func(lt *limitTest, c *testConn) // completes its requests
		answers int
	}{
		{"silent", "", nil, nil, 0},
		{"request begun", "GET / HTTP/1.1\r\nHost: billing\r\n",
			func(lt *limitTest, c *testConn) {
				lt.waitFor("its first bytes to mark it busy", func() bool { return lt.l.fresh.Len() == 0 })
			},
			func(lt *limitTest, c *testConn) { lt.send(c, "\r\n") }, 1},
		{"pipelined", "GET / HTTP/1.1\r\nHost: billing\r\n\r\nGET /wait HTTP/1.1\r\nHost: billing\r\n\r\n",
			func(lt *limitTest, c *testConn) { lt.waitStates(c, http.StateActive, 2) },
			func(lt *limitTest, c *testConn) { lt.releaseWaits() }, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lt := newLimitTest(t, 2)
			// /hold, not /wait: the second's requests end first, so that it
			// is the one idle connection to close.
			active := lt.dial()
			lt.send(active, "GET /hold HTTP/1.1\r\nHost: billing\r\n\r\n")
			lt.waitStates(active, http.StateActive, 1)
			second := lt.dial()
			lt.waitStates(second, http.StateNew, 1)
			if tt.sends != "" {
				lt.send(second, tt.sends)
				tt.started(lt, second)
			}
			newcomer := lt.dial()
			lt.send(newcomer, "GET / HTTP/1.1\r\nHost: billing\r\n\r\n")
			lt.quiet(newcomer)

			lt.clock.Add(silentGrace)
			lt.l.sweep()
			if tt.sends == "" {
				lt.closedByServer(second)
				lt.answered(newcomer)
				return
			}
			lt.quiet(newcomer)
			tt.finish(lt, second)
			for range tt.answers {
				lt.answered(second) // whole, then closed to make room
			}
			lt.closedByServer(second)
			lt.answered(newcomer)
			close(lt.hold)
			lt.answered(active)
			lt.wantClosed("pressure", 0)
		})
	}
}

// From 3/4 of the limit on, connections idle for pressureIdle are closed;
// below it, or sooner, or while a request is in progress, none is.
func TestConnLimitShortensIdleTimeoutUnderPressure(t *testing.T) {
	for _, tt := range []struct {
		name         string
		idle, active int
		after        time.Duration
		closed       int
	}{
		{"3 of 4 idle", 3, 0, pressureIdle, 3},
		{"2 of 4 idle", 2, 0, pressureIdle, 0},
		{"3 of 4 idle, not long enough", 3, 0, pressureIdle - time.Second, 0},
		{"2 idle and 1 busy of 4", 2, 1, pressureIdle, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lt := newLimitTest(t, 4)
			var idle, active []*testConn
			for range tt.idle {
				c := lt.dial()
				lt.get(c, "/")
				lt.waitStates(c, http.StateIdle, 1)
				idle = append(idle, c)
			}
			for range tt.active {
				c := lt.dial()
				lt.send(c, "GET /wait HTTP/1.1\r\nHost: billing\r\n\r\n")
				lt.waitStates(c, http.StateActive, 1)
				active = append(active, c)
			}
			lt.clock.Add(tt.after)
			lt.l.sweep()
			lt.wantClosed("pressure", tt.closed)
			for _, c := range idle {
				if tt.closed > 0 {
					lt.closedByServer(c)
				} else {
					lt.get(c, "/")
				}
			}
			lt.releaseWaits()
			for _, c := range active {
				lt.answered(c)
			}
		})
	}
}

// A request refused before its body was read is answered, then
// half-closed as on a bare TCP connection: the client reads the answer and
// the end, not a reset.
func TestConnLimitKeepsHalfClose(t *testing.T) {
	lt := newLimitTest(t, 4)
	c := lt.dial()
	lt.send(c, "POST /small HTTP/1.1\r\nHost: billing\r\nContent-Length: 1048576\r\n\r\n"+strings.Repeat("x", 64<<10))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("answer %v, %v; want 413", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if n, err := c.r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after the answer: %d bytes, %v; want EOF", n, err)
	}
}

// limitTest serves through a connLimiter on a real loopback listener, with
// a clock the test moves and no sweeper: the test calls sweep. GET /wait
// answers once releaseWaits is called, POST /small 413 to a body over
// 1 KiB; any other path answers at once.
type limitTest struct {
	t     *testing.T
	l     *connLimiter
	clock *billingtest.Clock
	obs   *connCounts
	addr  string

	mu      sync.Mutex
	states  map[string][]http.ConnState // by client address, as the limiter saw them
	changed chan struct{}               // closed at each state change

	release     chan struct{}
	releaseOnce sync.Once
	hold        chan struct{} // GET /hold answers once it is closed
}

func newLimitTest(t *testing.T, maxConns int) *limitTest {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lt := &limitTest{t: t, clock: billingtest.NewClock(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)),
		obs: &connCounts{closed: map[string]int{}}, addr: ln.Addr().String(),
		states: map[string][]http.ConnState{}, changed: make(chan struct{}), release: make(chan struct{}),
		hold: make(chan struct{})}
	lt.l = newConnLimiter(ln, maxConns, lt.obs, lt.clock.Now)
	mux := http.NewServeMux()
	mux.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) { <-lt.release })
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) { <-lt.hold })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("POST /small", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<10)); err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	})
	hs := NewHTTPServer(mux)
	hs.ConnState = func(c net.Conn, s http.ConnState) {
		lt.l.track(c, s)
		lt.mu.Lock()
		defer lt.mu.Unlock()
		addr := c.RemoteAddr().String()
		lt.states[addr] = append(lt.states[addr], s)
		close(lt.changed)
		lt.changed = make(chan struct{})
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(lt.l) }()
	t.Cleanup(func() {
		lt.releaseWaits()
		hs.Close()
		select {
		case <-served:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return once the listener closed")
		}
		lt.obs.mu.Lock()
		defer lt.obs.mu.Unlock()
		if lt.obs.peak > maxConns {
			t.Errorf("%d connections were open at once, more than the limit %d", lt.obs.peak, maxConns)
		}
		if lt.obs.open != 0 {
			t.Errorf("%d slots still taken after every connection closed", lt.obs.open)
		}
	})
	return lt
}

func (lt *limitTest) releaseWaits() { lt.releaseOnce.Do(func() { close(lt.release) }) }

// testConn is a client's connection and its reader.
type testConn struct {
	net.Conn
	r *bufio.Reader
}

func (lt *limitTest) dial() *testConn {
	lt.t.Helper()
	c, err := net.Dial("tcp", lt.addr)
	if err != nil {
		lt.t.Fatal(err)
	}
	lt.t.Cleanup(func() { c.Close() })
	return &testConn{Conn: c, r: bufio.NewReader(c)}
}

func (lt *limitTest) send(c *testConn, s string) {
	lt.t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		lt.t.Fatal(err)
	}
}

// get asks for path on c and wants 200.
func (lt *limitTest) get(c *testConn, path string) {
	lt.t.Helper()
	lt.send(c, "GET "+path+" HTTP/1.1\r\nHost: billing\r\n\r\n")
	lt.answered(c)
}

// answered wants c's next answer to be a whole 200.
func (lt *limitTest) answered(c *testConn) {
	lt.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		lt.t.Fatalf("no answer on %s: %v", c.LocalAddr(), err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		lt.t.Fatalf("answer on %s: %d %q %v, want a whole 200", c.LocalAddr(), resp.StatusCode, body, err)
	}
}

// quiet wants nothing, neither an answer nor a close, to arrive on c for
// a while. (Where correct code sends nothing, this cannot flake.)
func (lt *limitTest) quiet(c *testConn) {
	lt.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.r.Peek(1); !isTimeout(err) {
		lt.t.Fatalf("%s was answered or closed (%v); want it left alone", c.LocalAddr(), err)
	}
}

// closedByServer wants the server to have closed c, with nothing more sent.
func (lt *limitTest) closedByServer(c *testConn) {
	lt.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.r.Read(make([]byte, 1)); n > 0 || err == nil || isTimeout(err) {
		lt.t.Fatalf("%s: read %d bytes, %v; want it closed by the server", c.LocalAddr(), n, err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// waitStates waits until the server has put c in state n times.
func (lt *limitTest) waitStates(c *testConn, state http.ConnState, n int) {
	lt.t.Helper()
	addr := c.LocalAddr().String()
	deadline := time.After(10 * time.Second)
	for {
		lt.mu.Lock()
		seen, changed := lt.states[addr], lt.changed
		lt.mu.Unlock()
		count := 0
		for _, s := range seen {
			if s == state {
				count++
			}
		}
		if count >= n {
			if state == http.StateIdle {
				// Idle, the server reads it for its next request: only
				// then is it quiet, and closable.
				lt.waitFor(addr+" quiet", func() bool { return lt.l.isQuiet(addr) })
			}
			return
		}
		select {
		case <-changed:
		case <-deadline:
			lt.t.Fatalf("%s: states %v, want %v %d times", addr, seen, state, n)
		}
	}
}

// isQuiet reports whether the listed connection from addr is quiet. l.mu is
// held.
func (l *connLimiter) isQuiet(addr string) bool {
	for _, q := range []*list.List{&l.idle, &l.fresh} {
		for e := q.Front(); e != nil; e = e.Next() {
			if c := e.Value.(*limitedConn); c.RemoteAddr().String() == addr {
				return c.quiet.Load()
			}
		}
	}
	return false
}

// waitFor waits until cond, read under the limiter's lock, holds.
func (lt *limitTest) waitFor(what string, cond func() bool) {
	lt.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		lt.l.mu.Lock()
		ok := cond()
		lt.l.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			lt.t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func (lt *limitTest) wantClosed(reason string, n int) {
	lt.t.Helper()
	lt.obs.mu.Lock()
	defer lt.obs.mu.Unlock()
	if got := lt.obs.closed[reason]; got != n {
		lt.t.Errorf("%d connections closed for %q, want %d (all: %v)", got, reason, n, lt.obs.closed)
	}
}

// connCounts records what a connLimiter reports.
type connCounts struct {
	mu         sync.Mutex
	open, peak int
	closed     map[string]int
}

func (o *connCounts) ConnsOpen(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.open, o.peak = n, max(o.peak, n)
}

func (o *connCounts) ConnClosed(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed[reason]++
}
