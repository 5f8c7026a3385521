package websocket

import (
	"bytes"
	"context"
	"encoding/binary"
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

// pingPongTestReader reads c until it fails, which makes it answer pings
// and take in pongs. It passes on the messages it reads, so that a test
// knows what went before them has been read too, and closes the channel
// when it stops.
func pingPongTestReader(c *Conn) <-chan string {
	msgs := make(chan string, 10)
	go func() {
		defer close(msgs)
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			msgs <- string(p)
		}
	}()
	return msgs
}

// pingPongTestWaiting returns how many PingPong calls of c wait.
func pingPongTestWaiting(c *Conn) int {
	pw := c.pings.Load()
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return len(pw.waiting)
}

// PingPong returns once the pong to its ping has been read by another
// goroutine, with the round trip; many calls may wait at once, and the
// pong handler still sees every pong.
func TestPingPong(t *testing.T) {
	server, client := pipeConns(t, config{})
	pongs := make(chan []byte, 100)
	client.SetPongHandler(func(p []byte) { pongs <- bytes.Clone(p) })
	pingPongTestReader(server)
	pingPongTestReader(client)

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	start := time.Now()
	rtt, err := client.PingPong(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rtt <= 0 || rtt > time.Since(start) {
		t.Fatalf("round trip %v, want more than 0 and at most the %v the call took", rtt, time.Since(start))
	}
	if p := connTestWait(t, pongs, "the pong handler"); len(p) != 16 {
		t.Fatalf("the pong handler saw %x, want PingPong's 16-byte payload", p)
	}

	const calls = 20
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := client.PingPong(ctx)
			errs <- err
		}()
	}
	for range calls {
		if err := connTestWait(t, errs, "PingPong"); err != nil {
			t.Fatal(err)
		}
	}
	if n := pingPongTestWaiting(client); n != 0 {
		t.Fatalf("%d pings still wait after every call returned", n)
	}
}

// With nothing reading, no pong is taken in: PingPong waits for its
// context, and leaves nothing behind. Once a reader runs, the late pong
// to the abandoned ping ends no later call early, and the next call's pong
// ends it.
func TestPingPongNobodyReads(t *testing.T) {
	c, peer := tcpTestPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.PingPong(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PingPong with nothing reading: %v, want the context's deadline", err)
	}
	if pingPongTestWaiting(c) != 0 {
		t.Fatal("the abandoned ping still waits")
	}
	first, err := readRawFrame(peer, rawFrameLimit)
	if err != nil || first.op != 0x9 {
		t.Fatalf("the peer read %+v, %v; want the ping", first, err)
	}
	msgs := pingPongTestReader(c)

	result := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_, err := c.PingPong(ctx)
		result <- err
	}()
	second, err := readRawFrame(peer, rawFrameLimit)
	if err != nil || second.op != 0x9 {
		t.Fatalf("the peer read %+v, %v; want the second ping", second, err)
	}
	peer.Write(clientFrame(0x8A, first.payload))
	peer.Write(clientFrame(0x81, []byte("after the late pong")))
	connTestWait(t, msgs, "the message after the late pong")
	select {
	case err := <-result:
		t.Fatalf("the pong to the abandoned ping ended the next call: %v", err)
	default:
	}
	peer.Write(clientFrame(0x8A, second.payload))
	if err := connTestWait(t, result, "PingPong"); err != nil {
		t.Fatal(err)
	}
}

// A peer may answer only the latest of several pings (§5.5.3): its pong
// ends the wait of every call whose ping went before. Pongs that answer
// no ping of PingPong's end none.
func TestPingPongLatestAnswersAll(t *testing.T) {
	c, peer := tcpTestPair(t)
	msgs := pingPongTestReader(c)
	const calls = 3
	result := make(chan error, calls)
	for range calls {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			_, err := c.PingPong(ctx)
			result <- err
		}()
	}
	var last []byte
	for range calls {
		f, err := readRawFrame(peer, rawFrameLimit)
		if err != nil || f.op != 0x9 {
			t.Fatalf("the peer read %+v, %v; want a ping", f, err)
		}
		if last != nil && binary.BigEndian.Uint64(f.payload[8:]) <= binary.BigEndian.Uint64(last[8:]) {
			t.Fatalf("ping %x after %x: sequence numbers must grow", f.payload, last)
		}
		last = f.payload
	}
	foreign := bytes.Clone(last)
	foreign[0] ^= 0xFF // another nonce: not one of this connection's pings
	peer.Write(clientFrame(0x8A, foreign))
	peer.Write(clientFrame(0x8A, nil))
	peer.Write(clientFrame(0x8A, last[:8]))
	// A message after the pongs: once it is read, so are they.
	peer.Write(clientFrame(0x81, []byte("after the pongs")))
	connTestWait(t, msgs, "the message after the pongs")
	select {
	case err := <-result:
		t.Fatalf("a pong to no ping of PingPong's ended a call: %v", err)
	default:
	}
	peer.Write(clientFrame(0x8A, last))
	for range calls {
		if err := connTestWait(t, result, "PingPong"); err != nil {
			t.Fatal(err)
		}
	}
}

// A connection that closes while PingPong waits ends the wait at once
// with ErrClosed, and so does a call on a closed connection.
func TestPingPongConnectionCloses(t *testing.T) {
	c, peer := tcpTestPair(t)
	msgs := pingPongTestReader(c)
	result := make(chan error, 1)
	go func() {
		_, err := c.PingPong(context.Background())
		result <- err
	}()
	if f, err := readRawFrame(peer, rawFrameLimit); err != nil || f.op != 0x9 {
		t.Fatalf("the peer read %+v, %v; want the ping", f, err)
	}
	peer.Close()
	if err := connTestWait(t, result, "PingPong"); !errors.Is(err, ErrClosed) {
		t.Fatalf("PingPong when the connection was lost: %v, want ErrClosed", err)
	}
	if _, ok := <-msgs; ok {
		t.Fatal("the reader read a message from a peer that sent none")
	}
	if _, err := c.PingPong(context.Background()); err == nil {
		t.Fatal("PingPong on a closed connection succeeded")
	}
}
