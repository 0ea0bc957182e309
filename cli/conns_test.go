package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/acme/billing/store/storetest"
	"github.com/acme/billing/trigger"
)

// TestServeIdleConnectionFlood is the outage of the hardening issue's point
// 4, scaled to a test: more idle keep-alive connections (5,000, each after
// one GET /healthz) than `billing serve` has file descriptors (4,096),
// those the server closes re-opened by the flood's goroutine. With
// BILLING_MAX_CONNS=1000, signed deliveries on fresh connections are
// meanwhile each answered 200 within 2 s, every flood connection is
// answered in its turn, the process never holds more than 1,000 client
// connections (counted in /proc) and never runs out of descriptors. The
// soft file limit it starts with (1,024) is raised to the hard one.
func TestServeIdleConnectionFlood(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts the server's connections in /proc")
	}
	const maxConns, idle, files, deliveries = 1000, 5000, 4096, 20
	needFiles(t, idle+500)
	plans, err := filepath.Abs(filepath.Join("..", "plans.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := startBilling(t, fileLimited(t, buildBilling(t), 1024, files), storetest.URL(t), plans,
		"BILLING_MAX_CONNS="+strconv.Itoa(maxConns))
	if soft, hard := openFileLimits(t, p.cmd.Process.Pid); soft != files || hard != files {
		t.Errorf("serve's open-file limit is %d (hard %d), want the soft one raised to %d", soft, hard, files)
	}
	addr := strings.TrimPrefix(p.base, "http://")
	peak := watchServerConns(t, p.cmd.Process.Pid, addr)

	f := startFlood(t, addr, idle)
	select {
	case <-f.allAnswered:
	case <-time.After(30 * time.Second):
		t.Errorf("in 30 s the server answered only %d of the %d flood connections' GET /healthz", f.answered.Load(), idle)
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var slowest time.Duration
	for i := range deliveries {
		payload, err := trigger.Build(trigger.Options{Type: "payment_intent.succeeded", Workspace: fmt.Sprintf("ws_flood_%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		d := post(client, p.base, payload)
		took := time.Since(start)
		if d.code != http.StatusOK || took > 2*time.Second {
			t.Errorf("delivery %d during the flood: %d %q %v after %v, want 200 within 2 s", i, d.code, d.status, d.err, took.Round(time.Millisecond))
		}
		slowest = max(slowest, took)
	}
	t.Logf("flood: %d GET /healthz answered, %d connections closed by the server and re-opened; slowest delivery %v",
		f.answered.Load(), f.closed.Load(), slowest.Round(time.Millisecond))
	f.stop()

	if n := peak(); n > maxConns {
		t.Errorf("serve held %d client connections at once, more than BILLING_MAX_CONNS=%d", n, maxConns)
	}
	// Room for the flood's 5,000 was made at the limit, or by the shorter
	// idle timeout if it took more than 5 s.
	limit, pressure := scrape(t, p.base, "limit"), scrape(t, p.base, "pressure")
	if limit == 0 || limit+pressure < idle-maxConns {
		t.Errorf("connections closed to make room: %v at the limit, %v under pressure; want at least the %d the flood needed", limit, pressure, idle-maxConns)
	}
	if out := p.out.String(); strings.Contains(out, "too many open files") {
		t.Errorf("serve ran out of file descriptors:\n%s", p.logTail())
	}
}

// serve refuses to start, in one line, with more connections than its
// open-file limit (raised to the hard limit first) leaves room for.
func TestServeRefusesConnsBeyondFileLimit(t *testing.T) {
	bin := buildBilling(t)
	for _, tt := range []struct {
		soft, hard int
		env        []string
		want       string
	}{
		{200, 200, nil, "billing serve: the open-file limit of 200 leaves no descriptors for connections after the 256 kept"},
		{1024, 4096, []string{"BILLING_MAX_CONNS=4000"}, "billing serve: BILLING_MAX_CONNS 4000: the open-file limit of 4096 allows at most 3840 connections"},
	} {
		// A serve that starts is killed after a while: the test fails.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, fileLimited(t, bin, tt.soft, tt.hard), "serve", "--addr", "127.0.0.1:0")
		cmd.Dir = t.TempDir()
		cmd.Env = append(childEnv(), tt.env...)
		out, err := cmd.CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], tt.want) {
			t.Errorf("serve with ulimit -n %d/%d and %v: %v, output %q; want exit 1 and one line starting %q", tt.soft, tt.hard, tt.env, err, out, tt.want)
		}
	}
}

// needFiles fails the test unless this process may open n files.
func needFiles(t *testing.T, n int) {
	t.Helper()
	if soft, _ := openFileLimits(t, os.Getpid()); soft < n {
		t.Fatalf("the test needs an open-file limit of %d (ulimit -n), not %d", n, soft)
	}
}

// fileLimited returns a command that runs bin with the given soft and hard
// open-file limits.
func fileLimited(t *testing.T, bin string, soft, hard int) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "billing-ulimit")
	body := fmt.Sprintf("#!/bin/sh\nulimit -Sn %d && ulimit -Hn %d || exit 1\nexec %q \"$@\"\n", soft, hard, bin)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// openFileLimits reads process pid's soft and hard open-file limits.
func openFileLimits(t *testing.T, pid int) (soft, hard int) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Max open files\s+(\d+)\s+(\d+)`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatalf("no open-file limit in /proc/%d/limits:\n%s", pid, data)
	}
	soft, _ = strconv.Atoi(m[1])
	hard, _ = strconv.Atoi(m[2])
	return soft, hard
}

// watchServerConns counts, until the test ends, the client connections
// process pid holds on addr, and returns a func reporting the most seen.
func watchServerConns(t *testing.T, pid int, addr string) (peak func() int) {
	t.Helper()
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	var most atomic.Int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if n, err := serverConns(pid, port); err == nil && int64(n) > most.Load() {
				most.Store(int64(n))
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
	return func() int { return int(most.Load()) }
}

// serverConns counts process pid's descriptors that are TCP connections
// from local port port: its accepted connections, not those waiting in
// the kernel's backlog, nor the listener.
func serverConns(pid, port int) (int, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	sockets := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			sockets[strings.TrimSuffix(inode, "]")] = true
		}
	}
	table, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return 0, err
	}
	local := fmt.Sprintf(":%04X", port)
	// A set: the table is read in pieces while it changes, so a line may
	// come twice.
	conns := map[string]bool{}
	for _, line := range strings.Split(string(table), "\n") {
		// sl local_address rem_address st … inode (the tenth field)
		f := strings.Fields(line)
		if len(f) > 9 && strings.HasSuffix(f[1], local) && f[3] != "0A" && sockets[f[9]] {
			conns[f[9]] = true
		}
	}
	return len(conns), nil
}

// flood holds keep-alive connections that each did one GET /healthz. One
// goroutine opens them, and opens a new one for each the server closes,
// until stopped.
type flood struct {
	addr        string
	size        int
	answered    atomic.Int64  // GET /healthz answered 200
	allAnswered chan struct{} // closed once size have been
	closed      atomic.Int64  // connections the server closed
	reopen      chan struct{}
	done        chan struct{}
	mu          sync.Mutex
	conns       map[net.Conn]bool
	wg          sync.WaitGroup
}

func startFlood(t *testing.T, addr string, n int) *flood {
	f := &flood{addr: addr, size: n, allAnswered: make(chan struct{}), reopen: make(chan struct{}, n),
		done: make(chan struct{}), conns: map[net.Conn]bool{}}
	for range n {
		f.reopen <- struct{}{}
	}
	f.wg.Go(f.opener)
	t.Cleanup(f.stop)
	return f
}

// opener opens a connection for each one asked, and leaves it to a
// goroutine that asks for a new one once the server has closed it.
func (f *flood) opener() {
	for {
		select {
		case <-f.done:
			return
		case <-f.reopen:
		}
		c, err := net.DialTimeout("tcp", f.addr, 10*time.Second)
		if err == nil {
			_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: billing\r\n\r\n")
		}
		if err != nil {
			// The backlog is full, or serve is gone: not in a busy loop.
			time.Sleep(10 * time.Millisecond)
			f.reopen <- struct{}{}
			continue
		}
		if !f.track(c) {
			c.Close()
			return
		}
		f.wg.Go(func() { f.hold(c) })
	}
}

// hold reads c's answer, then waits for the server to close it.
func (f *flood) hold(c net.Conn) {
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		c.Close()
		f.reopen <- struct{}{}
	}()
	// Plain reads: the race detector makes a parser cost the server the CPU
	// this process shares with it.
	buf := make([]byte, 512)
	n, err := io.ReadAtLeast(c, buf, len("HTTP/1.1 200"))
	if bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 200")) && f.answered.Add(1) == int64(f.size) {
		close(f.allAnswered)
	}
	for err == nil {
		_, err = c.Read(buf)
	}
	f.closed.Add(1)
}

// track records c, unless the flood is stopping.
func (f *flood) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.done:
		return false
	default:
	}
	f.conns[c] = true
	return true
}

// stop closes every connection and waits for the flood to end.
func (f *flood) stop() {
	f.mu.Lock()
	select {
	case <-f.done:
	default:
		close(f.done)
	}
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// scrape reads billing_http_connections_closed_total{reason} from the
// service's /metrics.
func scrape(t *testing.T, base, reason string) float64 {
	t.Helper()
	sample := `billing_http_connections_closed_total{reason="` + reason + `"}`
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics:\n%s", sample, body)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
