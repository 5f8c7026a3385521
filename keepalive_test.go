package websocket

import (
	"context"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

// A peer that answers pings keeps the connection open across many
// intervals, and the pongs still reach the pong handler.
func TestKeepAliveAnsweredPingsKeepConnection(t *testing.T) {
	const wantPongs = 5
	pongs := make(chan struct{}, wantPongs)
	replies := make(chan error, 1)
	url := startServer(t, &Upgrader{PingInterval: 10 * time.Millisecond}, func(c *Conn) {
		c.SetPongHandler(func([]byte) {
			select {
			case pongs <- struct{}{}:
			default:
			}
		})
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			replies <- c.WriteMessage(mt, p)
		}
	})
	c, err := Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	received := make(chan []byte, 1)
	go func() {
		// Reading answers the server's pings.
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				close(received)
				return
			}
			received <- p
		}
	}()
	for range wantPongs {
		connTestWait(t, pongs, "a pong to the keepalive's ping")
	}
	if err := c.WriteMessage(TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if err := connTestWait(t, replies, "the echo"); err != nil {
		t.Fatal(err)
	}
	if p := connTestWait(t, received, "the echo"); string(p) != "still here" {
		t.Fatalf("echo %q after %d keepalive rounds, want %q", p, wantPongs, "still here")
	}
}

// A peer that reads the pings but never answers is found: the connection
// closes, and the server's read fails with ErrPongTimeout inside a
// CloseError for an abnormal closure.
func TestKeepAliveSilentPeerIsClosed(t *testing.T) {
	readErr := make(chan error, 1)
	u := &Upgrader{PingInterval: 20 * time.Millisecond, PongTimeout: 20 * time.Millisecond}
	url := startServer(t, u, func(c *Conn) {
		_, _, err := c.ReadMessage()
		readErr <- err
	})
	rc := dialRaw(t, url)
	f, err := rc.readFrame()
	if err != nil {
		t.Fatalf("waiting for the keepalive's ping: %v", err)
	}
	if f.op != 0x9 {
		t.Fatalf("first frame has opcode %#x, want a ping", f.op)
	}
	rc.expectEOF()
	err = connTestWait(t, readErr, "the server's read to fail")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure || !errors.Is(err, ErrPongTimeout) {
		t.Fatalf("read returned %v, want a CloseError 1006 wrapping ErrPongTimeout", err)
	}
}

// The keepalive costs no goroutine per connection while it waits: with it
// on, a set of idle connections adds as many goroutines as without. (A
// goroutine per connection would add conns more; the slack absorbs the
// runtime's and net/http's own comings and goings.)
func TestKeepAliveNoGoroutinePerConnection(t *testing.T) {
	const conns = 20
	count := func(u *Upgrader) int {
		before := runtime.NumGoroutine()
		ready := make(chan struct{}, conns)
		release := make(chan struct{})
		url := startServer(t, u, func(c *Conn) {
			ready <- struct{}{}
			<-release // idle, like a handler waiting for its next event
		})
		var clients []*Conn
		for range conns {
			c, err := Dial(context.Background(), url, nil)
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, c)
			connTestWait(t, ready, "the handler")
		}
		n := runtime.NumGoroutine() - before
		close(release)
		for _, c := range clients {
			c.Close()
		}
		return n
	}
	without := count(&Upgrader{})
	with := count(&Upgrader{PingInterval: time.Hour})
	if with > without+conns/4 {
		t.Fatalf("%d more goroutines with the keepalive on, %d without, for %d idle connections", with, without, conns)
	}
}

// S4: a peer that floods pings and reads nothing cannot hold the reading
// goroutine: the pong write is bounded by the close timeout, after which
// the read fails and the connection closes.
func TestS4PingFloodWithoutReading(t *testing.T) {
	readErr := make(chan error, 1)
	u := &Upgrader{CloseTimeout: 100 * time.Millisecond}
	url := startServer(t, u, func(c *Conn) {
		_, _, err := c.ReadMessage()
		readErr <- err
	})
	rc := dialRaw(t, url)
	ping := clientFrame(0x89, make([]byte, maxControlPayload))
	flood := make([]byte, 0, 64*len(ping))
	for range 64 {
		flood = append(flood, ping...)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Write until the server gives up on us and the writes fail.
		for {
			if _, err := rc.conn.Write(flood); err != nil {
				return
			}
		}
	}()
	err := connTestWait(t, readErr, "the server's read to fail")
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read returned %v, want the pong write's deadline", err)
	}
	rc.conn.Close()
	connTestWait(t, done, "the flood to stop")
}
