package api

import (
	"container/list"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The connection limit's timings.
const (
	// pressureIdle replaces the server's IdleTimeout while the open
	// connections are at 3/4 of the limit or more.
	pressureIdle = 5 * time.Second
	// silentGrace is how long a new connection may send nothing before it
	// may be closed to make room: its request may still be on the way.
	silentGrace = time.Second
	sweepEvery  = time.Second
)

// ConnObserver is told what the connection limit does; package metrics
// implements it.
type ConnObserver interface {
	// ConnsOpen reports how many client connections are open.
	ConnsOpen(n int)
	// ConnClosed reports a quiet connection closed to make room: "limit"
	// when every slot was taken, "pressure" when it stayed quiet for
	// pressureIdle from 3/4 of the limit on.
	ConnClosed(reason string)
}

// LimitConns returns ln such that hs, serving it, holds at most maxConns client
// connections, so that a flood of idle ones cannot use up the file
// descriptors a delivery needs. Once every slot is taken, the longest-idle
// keep-alive connection is closed, so that the next newcomer is accepted
// at once; failing that, a new connection that has sent nothing for
// silentGrace. A connection whose request has begun is never closed: with
// nothing to close, Accept waits and the kernel's backlog holds the
// newcomer. From 3/4 of the limit on, connections are closed after
// pressureIdle without a request instead of the server's IdleTimeout. It
// sets hs.ConnState; obs must not be nil.
func LimitConns(hs *http.Server, ln net.Listener, maxConns int, obs ConnObserver) net.Listener {
	l := newConnLimiter(ln, maxConns, obs, time.Now)
	hs.ConnState = l.track
	go l.sweeper(sweepEvery)
	return l
}

// connLimiter is the listener LimitConns returns.
type connLimiter struct {
	net.Listener
	max  int
	obs  ConnObserver
	now  func() time.Time
	done chan struct{} // closed with the listener; ends the sweeper

	mu sync.Mutex
	// room is signalled when a slot frees, a connection turns quiet, or the
	// listener closes.
	room      sync.Cond
	open      int       // connections accepted whose descriptor may be open
	evicting  int       // of those, closed by us, not yet by their server goroutine
	accepting int       // slots taken by Accept calls in progress
	idle      list.List // *limitedConn between requests, longest idle first
	fresh     list.List // *limitedConn accepted that have sent nothing, oldest first
	closed    bool
}

func newConnLimiter(ln net.Listener, maxConns int, obs ConnObserver, now func() time.Time) *connLimiter {
	l := &connLimiter{Listener: ln, max: maxConns, obs: obs, now: now, done: make(chan struct{})}
	l.room.L = &l.mu
	return l
}

// limitedConn is an accepted connection; closing it frees its slot.
type limitedConn struct {
	net.Conn
	l *connLimiter
	// armed is set when the connection is listed idle or fresh; quiet once
	// the server, so listed, reads from it: it waits for a request then, and
	// may be closed to make room. A pipelined request already buffered is
	// served without a read, so a connection between two such requests is
	// listed idle for a moment but never quiet. Read's first byte, or the
	// server's next state, clears both.
	armed atomic.Bool
	quiet atomic.Bool
	// Guarded by l.mu: the list it is on and since when; whether we closed
	// it to make room, and whether its slot is free.
	queue    *list.List
	elem     *list.Element
	since    time.Time
	evicted  bool
	released bool
}

// Accept takes a slot, closing a quiet connection if that is what frees
// one, then accepts.
func (l *connLimiter) Accept() (net.Conn, error) {
	if err := l.reserve(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepting--
	if err != nil {
		l.room.Broadcast()
		return nil, err
	}
	l.open++
	l.obs.ConnsOpen(l.open)
	return &limitedConn{Conn: c, l: l}, nil
}

func (l *connLimiter) reserve() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.closed && l.open+l.accepting >= l.max {
		if l.open-l.evicting+l.accepting >= l.max {
			if c := l.closable(); c != nil {
				l.evict(c, "limit")
				continue
			}
		}
		l.room.Wait()
	}
	if l.closed {
		return net.ErrClosed
	}
	l.accepting++
	return nil
}

// closable is the connection to close to make room, or nil: the longest
// idle that is quiet, else the oldest fresh one quiet for silentGrace. l.mu
// is held.
func (l *connLimiter) closable() *limitedConn {
	for e := l.idle.Front(); e != nil; e = e.Next() {
		if c := e.Value.(*limitedConn); c.quiet.Load() {
			return c
		}
	}
	for e := l.fresh.Front(); e != nil; e = e.Next() {
		if c := e.Value.(*limitedConn); c.quiet.Load() && l.now().Sub(c.since) >= silentGrace {
			return c
		}
	}
	return nil
}

// evict takes c off its list and closes it, unless its request has begun
// meanwhile. Its slot frees when its server goroutine, woken from its read,
// closes it in turn: only then is the descriptor gone. l.mu is held.
func (l *connLimiter) evict(c *limitedConn, reason string) {
	l.unlist(c)
	if !c.quiet.CompareAndSwap(true, false) || c.released {
		return
	}
	c.evicted = true
	l.evicting++
	_ = c.Conn.Close()
	l.obs.ConnClosed(reason)
}

// track follows the server's view of each connection (http.Server.ConnState).
func (l *connLimiter) track(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateNew:
		l.list(c, &l.fresh)
	case http.StateIdle:
		l.list(c, &l.idle)
	default: // active, hijacked or closed: not to be closed by us
		c.armed.Store(false)
		c.quiet.Store(false)
		l.unlist(c)
	}
}

// list puts c, quiet as of now, at the back of q. l.mu is held.
func (l *connLimiter) list(c *limitedConn, q *list.List) {
	l.unlist(c)
	if c.evicted || c.released {
		return
	}
	c.queue, c.elem, c.since = q, q.PushBack(c), l.now()
	c.quiet.Store(false)
	c.armed.Store(true)
}

// unlist takes c off its list, if it is on one. l.mu is held.
func (l *connLimiter) unlist(c *limitedConn) {
	if c.elem != nil {
		c.queue.Remove(c.elem)
		c.queue, c.elem = nil, nil
	}
}

// sweeper sweeps every d until the listener closes.
func (l *connLimiter) sweeper(d time.Duration) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-tick.C:
			l.sweep()
		}
	}
}

// sweep closes the connections quiet for pressureIdle while the open ones
// are at 3/4 of the limit or more, and wakes a waiting Accept, for which a
// new connection may have been silent long enough by now.
func (l *connLimiter) sweep() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.room.Broadcast()
	if 4*l.open < 3*l.max {
		return
	}
	cutoff := l.now().Add(-pressureIdle)
	for _, q := range []*list.List{&l.idle, &l.fresh} {
		for e := q.Front(); e != nil && !e.Value.(*limitedConn).since.After(cutoff); {
			c, next := e.Value.(*limitedConn), e.Next()
			if c.quiet.Load() {
				l.evict(c, "pressure")
			}
			e = next
		}
	}
}

// Close stops accepting; Accept calls waiting for a slot return
// net.ErrClosed.
func (l *connLimiter) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
		l.room.Broadcast()
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

// Read makes a listed connection quiet when the server reads it for its
// next request, and busy again at the first byte that arrives, so that a
// request being sent is not closed to make room.
func (c *limitedConn) Read(p []byte) (int, error) {
	if c.armed.CompareAndSwap(true, false) {
		c.l.mu.Lock()
		if c.elem != nil { // still listed: not made busy meanwhile
			c.quiet.Store(true)
			c.l.room.Broadcast()
		}
		c.l.mu.Unlock()
	}
	n, err := c.Conn.Read(p)
	if n > 0 && c.quiet.CompareAndSwap(true, false) {
		c.l.mu.Lock()
		c.l.unlist(c)
		c.l.mu.Unlock()
	}
	return n, err
}

// Close closes the connection, then frees its slot, so that the process
// never holds more than the limit's descriptors.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released {
		return err
	}
	c.released = true
	l.unlist(c)
	if c.evicted {
		l.evicting--
	}
	l.open--
	l.obs.ConnsOpen(l.open)
	l.room.Broadcast()
	return err
}

// CloseWrite half-closes, as net/http does on a bare TCP connection before
// closing one whose request it did not read to the end, so that the client
// reads the answer rather than a reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
