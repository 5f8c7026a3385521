package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// ErrPongTimeout is wrapped by the *CloseError a read returns when the
// keepalive closed the connection because the peer did not answer a ping
// in time: the peer, or the network path to it, is gone.
var ErrPongTimeout = errors.New("websocket: no pong from the peer within the pong timeout")

// keepalive pings the peer when the connection has been quiet for an
// interval and closes the connection when the pong does not come. It runs
// on a single timer, so it costs no goroutine while it waits: a goroutine
// exists only for the moment a ping is sent or the connection closed.
type keepalive struct {
	interval, timeout time.Duration

	mu      sync.Mutex
	timer   *time.Timer
	waiting bool // a ping is out and no pong has come since
	stopped bool
	expired bool // the pong did not come: the connection was closed for it
}

// startKeepAlive arms the keepalive; interval <= 0 leaves it off.
func (c *Conn) startKeepAlive(interval, timeout time.Duration) {
	if interval <= 0 {
		return
	}
	if timeout <= 0 {
		timeout = interval
	}
	ka := &keepalive{interval: interval, timeout: timeout}
	ka.mu.Lock()
	defer ka.mu.Unlock()
	c.ka = ka
	ka.timer = time.AfterFunc(interval, c.keepAliveTick)
}

// keepAliveTick runs when the timer fires: either it is time for a ping,
// or the pong for the last one is overdue.
func (c *Conn) keepAliveTick() {
	ka := c.ka
	ka.mu.Lock()
	if ka.stopped {
		ka.mu.Unlock()
		return
	}
	if ka.waiting {
		ka.expired = true
		ka.mu.Unlock()
		c.closeTransport()
		return
	}
	ka.waiting = true
	// Arm the deadline for the pong before sending the ping: if the write
	// hangs on a peer that reads nothing, the deadline still closes the
	// connection, and the write with it.
	ka.timer.Reset(ka.timeout)
	ka.mu.Unlock()
	c.writeControl(opPing, nil)
}

// keepAlivePong notes a pong: the peer is alive, and the next ping is due
// an interval from now.
func (c *Conn) keepAlivePong() {
	ka := c.ka
	if ka == nil {
		return
	}
	ka.mu.Lock()
	defer ka.mu.Unlock()
	if ka.waiting && !ka.stopped {
		ka.waiting = false
		ka.timer.Reset(ka.interval)
	}
}

// keepAliveExpired reports whether the keepalive closed the connection.
func (c *Conn) keepAliveExpired() bool {
	ka := c.ka
	if ka == nil {
		return false
	}
	ka.mu.Lock()
	defer ka.mu.Unlock()
	return ka.expired
}

// stopKeepAlive disarms the keepalive for good.
func (c *Conn) stopKeepAlive() {
	ka := c.ka
	if ka == nil {
		return
	}
	ka.mu.Lock()
	defer ka.mu.Unlock()
	ka.stopped = true
	ka.timer.Stop()
}

// PingPong sends a ping and waits for the peer's pong to it, and returns
// the round trip: the time from sending the ping to reading the pong. It
// returns an error wrapping ctx's when ctx ends first, and ErrClosed when
// the connection closes first.
//
// Pongs are read by whatever reads the connection: another goroutine in
// ReadMessage or NextReader, or EventHandler. PingPong must not be called
// from the goroutine that reads, which would wait for itself; when nothing
// reads, it waits for ctx. Any number of PingPong calls may wait at once,
// alongside the keepalive; a pong answers the ping it echoes and every
// earlier one, since a peer may answer only the latest of several pings
// (RFC 6455 §5.5.3). PingPong's pings carry a 16-byte payload of their
// own, which the pong handler sees too.
func (c *Conn) PingPong(ctx context.Context) (time.Duration, error) {
	pw := c.pings.Load()
	if pw == nil {
		pw = &pingWaiters{nonce: rand.Uint64()}
		if !c.pings.CompareAndSwap(nil, pw) {
			pw = c.pings.Load()
		}
	}
	w := &pingWaiter{done: make(chan struct{})}
	var payload [16]byte
	pw.send.Lock()
	pw.mu.Lock()
	if pw.closed {
		pw.mu.Unlock()
		pw.send.Unlock()
		return 0, ErrClosed
	}
	pw.next++
	w.seq = pw.next
	pw.waiting = append(pw.waiting, w)
	binary.BigEndian.PutUint64(payload[:8], pw.nonce)
	binary.BigEndian.PutUint64(payload[8:], w.seq)
	pw.mu.Unlock()

	start := time.Now()
	err := c.writeControl(opPing, payload[:])
	pw.send.Unlock()
	if err != nil {
		pw.forget(w)
		return 0, err
	}
	select {
	case <-w.done:
		if w.at.IsZero() {
			return 0, ErrClosed
		}
		return w.at.Sub(start), nil
	case <-ctx.Done():
		pw.forget(w)
		return 0, fmt.Errorf("websocket: waiting for a pong: %w", ctx.Err())
	}
}

// pingWaiters are the pings PingPong sent whose pongs have not come, in
// the order they were sent. Their payloads are the connection's nonce and
// their sequence number, so that pongs to other pings are told apart.
type pingWaiters struct {
	nonce uint64
	// send is held from taking a sequence number to sending the ping, so
	// that pings go out in the order of their numbers: a pong answers the
	// latest ping, and ends the waits of the ones numbered before it.
	send sync.Mutex

	mu      sync.Mutex
	next    uint64 // the last sequence number given out
	waiting []*pingWaiter
	closed  bool // the connection is closed: no pong will come
}

// pingWaiter is one PingPong call. done is closed when its pong comes, at
// time at, or when the connection closes, with at zero.
type pingWaiter struct {
	seq  uint64
	done chan struct{}
	at   time.Time
}

// forget takes w out, if no pong or close has taken it already.
func (pw *pingWaiters) forget(w *pingWaiter) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	for i, x := range pw.waiting {
		if x == w {
			pw.waiting = slices.Delete(pw.waiting, i, i+1)
			return
		}
	}
}

// pongArrived ends the wait of the PingPong calls that pong p answers:
// the one whose ping it echoes, and every earlier one.
func (c *Conn) pongArrived(p []byte) {
	pw := c.pings.Load()
	if pw == nil || len(p) != 16 || binary.BigEndian.Uint64(p) != pw.nonce {
		return
	}
	seq := binary.BigEndian.Uint64(p[8:])
	now := time.Now()
	pw.mu.Lock()
	defer pw.mu.Unlock()
	n := 0
	for n < len(pw.waiting) && pw.waiting[n].seq <= seq {
		pw.waiting[n].at = now
		close(pw.waiting[n].done)
		n++
	}
	rest := copy(pw.waiting, pw.waiting[n:])
	clear(pw.waiting[rest:])
	pw.waiting = pw.waiting[:rest]
}

// failPings ends every PingPong wait: the connection has closed.
func (c *Conn) failPings() {
	pw := c.pings.Load()
	if pw == nil {
		return
	}
	pw.mu.Lock()
	defer pw.mu.Unlock()
	pw.closed = true
	for _, w := range pw.waiting {
		close(w.done)
	}
	pw.waiting = nil
}
