package websocket

import (
	"errors"
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
