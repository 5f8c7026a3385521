package websocket

// Tests of serving: Upgrader.EventHandler, whose connections wait for their
// peer without a goroutine, and the goroutine and panic handling of
// Upgrader.Handler.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// eventsRecorder records the callbacks of one EventHandler and echoes every
// message.
type eventsRecorder struct {
	t      *testing.T
	opened chan *Conn
	closed chan error
	mu     sync.Mutex
	calls  []string // "open", "message", "close", in order, of every connection
}

func newEventsRecorder(t *testing.T) *eventsRecorder {
	return &eventsRecorder{t: t, opened: make(chan *Conn, 100), closed: make(chan error, 100)}
}

func (r *eventsRecorder) note(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *eventsRecorder) events() Events {
	return Events{
		Open: func(c *Conn) {
			r.note("open")
			r.opened <- c
		},
		Message: func(c *Conn, t MessageType, m io.Reader) {
			r.note("message")
			w, err := c.NextWriter(t)
			if err != nil {
				return
			}
			io.Copy(w, m)
			w.Close()
		},
		Close: func(c *Conn, err error) {
			r.note("close")
			r.closed <- err
		},
	}
}

// eventsServe serves ev with u (nil for the zero Upgrader) on 127.0.0.1.
func eventsServe(t *testing.T, u *Upgrader, ev Events) string {
	if u == nil {
		u = &Upgrader{}
	}
	return serveHTTP(t, u.EventHandler(ev))
}

// eventsExpectData reads the next data message, whatever its fragments,
// and checks it.
func eventsExpectData(rc *rawClient, op byte, payload []byte) {
	rc.t.Helper()
	var got []byte
	for first := true; ; first = false {
		f, err := rc.readFrame()
		if err != nil {
			rc.t.Fatalf("waiting for the echo: %v", err)
		}
		if first && f.op != op || !first && f.op != 0 {
			rc.t.Fatalf("got op %d, want %d", f.op, op)
		}
		got = append(got, f.payload...)
		if f.fin {
			break
		}
	}
	if !bytes.Equal(got, payload) {
		rc.t.Fatalf("got %d bytes, want %d", len(got), len(payload))
	}
}

func TestEventHandlerEcho(t *testing.T) {
	rec := newEventsRecorder(t)
	url := eventsServe(t, nil, rec.events())
	rc := dialRaw(t, url)
	connTestWait(t, rec.opened, "Open")
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 200000} {
		p := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		rc.write(clientFrame(0x82, p))
		eventsExpectData(rc, 0x2, p)
	}
	// A text message in three fragments, with a ping between them.
	rc.write(clientFrame(0x01, []byte("hel")))
	rc.write(clientFrame(0x89, []byte("are you there")))
	rc.write(clientFrame(0x00, []byte("lo, ")))
	rc.write(clientFrame(0x80, []byte("world")))
	f, err := rc.readFrame()
	if err != nil || f.op != 0xA || string(f.payload) != "are you there" {
		t.Fatalf("got op %d %q, %v; want the pong", f.op, f.payload, err)
	}
	eventsExpectData(rc, 0x1, []byte("hello, world"))

	connTestCloseNormal(rc)
	err = connTestWait(t, rec.closed, "Close")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusNormalClosure {
		t.Fatalf("Close got %v, want a *CloseError with 1000", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := "open " + strings.Repeat("message ", 8) + "close"
	if got := strings.Join(rec.calls, " "); got != want {
		t.Fatalf("callbacks %q, want %q", got, want)
	}
}

// The frames a client sends in the same write as its handshake are in the
// server's buffer before the connection exists; the poller never hears of
// them, and they must still be delivered.
func TestEventHandlerFramesWithHandshake(t *testing.T) {
	rec := newEventsRecorder(t)
	url := eventsServe(t, nil, rec.events())
	req := "GET / HTTP/1.1\r\nHost: " + tcpAddr(url) + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	raw := append([]byte(req), clientFrame(0x81, []byte("first"))...)
	raw = append(raw, clientFrame(0x81, []byte("second"))...)
	rc := dialHandshake(t, url, raw)
	eventsExpectData(rc, 0x1, []byte("first"))
	eventsExpectData(rc, 0x1, []byte("second"))
}

// Frames that arrive a byte at a time: the wait for a message may end with
// part of a header read, and must pick up from there.
func TestEventHandlerByteByByte(t *testing.T) {
	rec := newEventsRecorder(t)
	url := eventsServe(t, nil, rec.events())
	rc := dialRaw(t, url)
	frame := clientFrame(0x82, bytes.Repeat([]byte("xy"), 100))
	frame = append(frame, clientFrame(0x89, []byte("p"))...)
	for i := range frame {
		rc.write(frame[i : i+1])
	}
	eventsExpectData(rc, 0x2, bytes.Repeat([]byte("xy"), 100))
	f, err := rc.readFrame()
	if err != nil || f.op != 0xA || string(f.payload) != "p" {
		t.Fatalf("got op %d %q, %v; want the pong", f.op, f.payload, err)
	}
}

// What a Message callback leaves unread is skipped, and the next message
// comes whole.
func TestEventHandlerUnreadRest(t *testing.T) {
	got := make(chan string, 10)
	url := eventsServe(t, nil, Events{Message: func(c *Conn, _ MessageType, r io.Reader) {
		b := make([]byte, 3)
		n, _ := io.ReadFull(r, b)
		got <- string(b[:n])
	}})
	rc := dialRaw(t, url)
	rc.write(clientFrame(0x82, bytes.Repeat([]byte("abc"), 50000)))
	rc.write(clientFrame(0x82, []byte("xyz")))
	for _, want := range []string{"abc", "xyz"} {
		if s := connTestWait(t, got, "a message"); s != want {
			t.Fatalf("got %q, want %q", s, want)
		}
	}
}

// eventsReaders counts the goroutines that wait in a read of this package.
func eventsReaders() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "websocket.(*input).fill") {
			n++
		}
	}
	return n
}

// eventsUntil polls cond until it holds or the test times out: the
// goroutines it watches finish their work after the client has its answer.
func eventsUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// Idle connections of EventHandler wait with no goroutine at all, where
// Handler's each keep one in a read.
func TestEventHandlerIdleWithoutGoroutines(t *testing.T) {
	if !pollerUsed {
		t.Skip("connections wait in epoll on Linux only")
	}
	const conns = 50
	for _, mode := range []string{"Handler", "EventHandler"} {
		t.Run(mode, func(t *testing.T) {
			u := &Upgrader{}
			var h http.Handler
			if mode == "Handler" {
				h = u.Handler(echoMessages)
			} else {
				h = u.EventHandler(newEventsRecorder(t).events())
			}
			url := serveHTTP(t, h)
			before := eventsReaders()
			var rcs []*rawClient
			for range conns {
				rc := dialRaw(t, url)
				rc.write(clientFrame(0x81, []byte("hi")))
				eventsExpectData(rc, 0x1, []byte("hi"))
				rcs = append(rcs, rc)
			}
			// Readers of earlier tests may still be finishing, so the
			// count is compared with bounds, not exactly.
			if mode == "Handler" {
				eventsUntil(t, fmt.Sprintf("%d goroutines wait in reads", conns), func() bool { return eventsReaders() >= conns })
			} else {
				eventsUntil(t, fmt.Sprintf("no more than %d goroutines wait in reads", before), func() bool { return eventsReaders() <= before })
			}
			// And they still answer.
			for _, rc := range rcs {
				rc.write(clientFrame(0x81, []byte("again")))
				eventsExpectData(rc, 0x1, []byte("again"))
			}
		})
	}
}

// A connection closed by the server while it waits in the poller, with no
// goroutine reading, still reports the peer's answer to Close.
func TestEventHandlerCloseWhileIdle(t *testing.T) {
	rec := newEventsRecorder(t)
	url := eventsServe(t, nil, rec.events())
	rc := dialRaw(t, url)
	c := connTestWait(t, rec.opened, "Open")
	rc.write(clientFrame(0x81, []byte("hi")))
	eventsExpectData(rc, 0x1, []byte("hi"))

	done := make(chan error, 1)
	go func() { done <- c.CloseWithStatus(4000, "bye") }()
	if reason := rc.expectClose(4000); reason != "bye" {
		t.Fatalf("close reason %q, want bye", reason)
	}
	rc.write(clientFrame(0x88, closePayload(4000, "ok")))
	if err := connTestWait(t, done, "CloseWithStatus"); err != nil {
		t.Fatal(err)
	}
	err := connTestWait(t, rec.closed, "Close")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 4000 || ce.Reason != "ok" {
		t.Fatalf("Close got %v, want the peer's 4000 ok", err)
	}
	rc.expectEOF()
}

// The keepalive closes an idle connection whose peer stopped answering,
// and Close hears of it although no read was under way.
func TestEventHandlerPongTimeout(t *testing.T) {
	rec := newEventsRecorder(t)
	u := &Upgrader{PingInterval: 20 * time.Millisecond, PongTimeout: 20 * time.Millisecond}
	url := eventsServe(t, u, rec.events())
	rc := dialRaw(t, url)
	// The client answers one ping, then goes silent.
	f, err := rc.readFrame()
	if err != nil || f.op != 0x9 {
		t.Fatalf("got op %d, %v; want a ping", f.op, err)
	}
	rc.write(clientFrame(0x8A, f.payload))
	err = connTestWait(t, rec.closed, "Close")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure || !errors.Is(err, ErrPongTimeout) {
		t.Fatalf("Close got %v, want 1006 wrapping ErrPongTimeout", err)
	}
}

// Invalid input while the connection is served by events fails it as any
// connection: the close code goes to the peer and the failure to Close.
func TestEventHandlerInvalidUTF8(t *testing.T) {
	rec := newEventsRecorder(t)
	url := eventsServe(t, nil, rec.events())
	rc := dialRaw(t, url)
	rc.write(clientFrame(0x81, []byte{'o', 'k', 0xff}))
	connTestFinish(rc, StatusInvalidFramePayloadData)
	if code := connTestFailCode(connTestWait(t, rec.closed, "Close")); code != StatusInvalidFramePayloadData {
		t.Fatalf("Close got a failure with code %d, want 1007", code)
	}
}

// servingLog captures a server's ErrorLog.
type servingLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *servingLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *servingLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// A panic while serving a connection closes that connection with 1011 and
// is logged to the server's ErrorLog; the server goes on serving.
func TestServingPanic(t *testing.T) {
	for _, mode := range []string{"Handler", "EventHandler.Open", "EventHandler.Message"} {
		t.Run(mode, func(t *testing.T) {
			u := &Upgrader{}
			closed := make(chan error, 1)
			var h http.Handler
			switch mode {
			case "Handler":
				h = u.Handler(func(c *Conn) {
					if _, p, _ := c.ReadMessage(); string(p) == "panic" {
						panic("boom")
					}
					c.WriteMessage(TextMessage, []byte("fine"))
				})
			case "EventHandler.Open":
				var first sync.Once // a panic counts as done
				h = u.EventHandler(Events{
					Open:    func(*Conn) { first.Do(func() { panic("boom") }) },
					Message: func(c *Conn, _ MessageType, r io.Reader) { c.WriteMessage(TextMessage, []byte("fine")) },
					Close:   func(c *Conn, err error) { closed <- err },
				})
			case "EventHandler.Message":
				h = u.EventHandler(Events{
					Message: func(c *Conn, _ MessageType, r io.Reader) {
						if p, _ := io.ReadAll(r); string(p) == "panic" {
							panic("boom")
						}
						c.WriteMessage(TextMessage, []byte("fine"))
					},
					Close: func(c *Conn, err error) { closed <- err },
				})
			}
			var logged servingLog
			srv := httptest.NewUnstartedServer(h)
			srv.Config.ErrorLog = log.New(&logged, "", 0)
			srv.Start()
			t.Cleanup(srv.Close)
			url := "ws" + strings.TrimPrefix(srv.URL, "http")

			rc := dialRaw(t, url)
			rc.write(clientFrame(0x81, []byte("panic")))
			rc.expectClose(StatusInternalError)
			rc.write(clientFrame(0x88, closePayload(StatusInternalError, "")))
			if mode != "Handler" {
				if err := connTestWait(t, closed, "Close"); err == nil {
					t.Fatal("Close got a nil error")
				}
			}
			if s := logged.String(); !strings.Contains(s, "websocket: panic serving") || !strings.Contains(s, "boom") {
				t.Fatalf("server log %q, want the panic", s)
			}

			rc = dialRaw(t, url)
			rc.write(clientFrame(0x81, []byte("hello")))
			eventsExpectData(rc, 0x1, []byte("fine"))
		})
	}
}

// A Message callback that blocks holds up its own connection only: others
// are served meanwhile, however many are blocked.
func TestEventHandlerSlowCallback(t *testing.T) {
	release := make(chan struct{})
	blocked := make(chan struct{}, 10)
	url := eventsServe(t, nil, Events{Message: func(c *Conn, mt MessageType, r io.Reader) {
		p, _ := io.ReadAll(r)
		if string(p) == "block" {
			blocked <- struct{}{}
			<-release
		}
		c.WriteMessage(mt, p)
	}})
	const stuck = 5
	var slow []*rawClient
	for range stuck {
		rc := dialRaw(t, url)
		rc.write(clientFrame(0x81, []byte("block")))
		connTestWait(t, blocked, "a callback to block")
		slow = append(slow, rc)
	}
	rc := dialRaw(t, url)
	for i := range 3 {
		msg := []byte(fmt.Sprint("free ", i))
		rc.write(clientFrame(0x81, msg))
		eventsExpectData(rc, 0x1, msg)
	}
	close(release)
	for _, rc := range slow {
		eventsExpectData(rc, 0x1, []byte("block"))
	}
}

// Connections whose messages arrive together are served at the same
// time, not one after another: every callback here waits until all of
// them have begun, so a connection left waiting behind a blocked callback
// (in a queue of woken connections, say) would hold them all for ever.
func TestEventHandlerBlockedCallbacksTogether(t *testing.T) {
	const n = 16
	var mu sync.Mutex
	begun := 0
	all := make(chan struct{})
	quit := make(chan struct{}) // frees the callbacks if the test fails
	url := eventsServe(t, nil, Events{Message: func(c *Conn, mt MessageType, r io.Reader) {
		p, _ := io.ReadAll(r)
		mu.Lock()
		if begun++; begun == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-quit:
		}
		c.WriteMessage(mt, p)
	}})
	t.Cleanup(func() { close(quit) })
	var rcs []*rawClient
	for range n {
		rcs = append(rcs, dialRaw(t, url))
	}
	for i, rc := range rcs {
		rc.write(clientFrame(0x82, []byte{byte(i)}))
	}
	for i, rc := range rcs {
		eventsExpectData(rc, 0x2, []byte{byte(i)})
	}
}

// Bytes that arrive while Message runs raise their poller event while the
// connection is still being served, after the read that found its socket
// empty: once the callback returns, the loop must read again rather than
// trust that read, or the message waits for an event that has been spent.
func TestEventHandlerBytesDuringCallback(t *testing.T) {
	const n = 20
	got := make(chan struct{})
	sent := make(chan struct{})
	url := eventsServe(t, nil, Events{Message: func(c *Conn, mt MessageType, r io.Reader) {
		p, _ := io.ReadAll(r)
		got <- struct{}{}
		<-sent
		c.WriteMessage(mt, p)
	}})
	rc := dialRaw(t, url)
	rc.write(clientFrame(0x82, []byte{0}))
	for i := range n {
		connTestWait(t, got, fmt.Sprint("message ", i))
		if i+1 < n {
			rc.write(clientFrame(0x82, []byte{byte(i + 1)}))
		}
		sent <- struct{}{}
		eventsExpectData(rc, 0x2, []byte{byte(i)})
	}
}

// Messages sent back to back, many buffers' worth in one write, are all
// answered: a read that fills its buffer leaves bytes in the socket for
// which no event will come, so the loop must read on before it waits. The
// frames are 1 KiB with their headers, so that a full buffer ends where a
// message does.
func TestEventHandlerPipelined(t *testing.T) {
	const n, size = 200, 1024 - 8
	url := eventsServe(t, nil, newEventsRecorder(t).events())
	rc := dialRaw(t, url)
	var all []byte
	for i := range n {
		all = append(all, clientFrame(0x82, bytes.Repeat([]byte{byte(i)}, size))...)
	}
	rc.write(all)
	for i := range n {
		eventsExpectData(rc, 0x2, bytes.Repeat([]byte{byte(i)}, size))
	}
}

// A peer that sends a message and ends its side of the stream at once
// leaves the end behind bytes that a single read returns: the end raises
// no event of its own after that read, and the connection must still see
// it and report Close, not wait in the poller for ever. The message comes
// while the one before it is in its callback, so that the poller has
// reported everything by the time the loop reads.
func TestEventHandlerS5EndBehindMessage(t *testing.T) {
	got := make(chan struct{})
	release := make(chan struct{})
	closed := make(chan error, 1)
	url := eventsServe(t, nil, Events{
		Message: func(c *Conn, mt MessageType, r io.Reader) {
			p, _ := io.ReadAll(r)
			if string(p) == "first" {
				got <- struct{}{}
				<-release
			}
		},
		Close: func(c *Conn, err error) { closed <- err },
	})
	rc := dialRaw(t, url)
	rc.write(clientFrame(0x81, []byte("first")))
	connTestWait(t, got, "the first message")
	rc.write(clientFrame(0x81, []byte("second")))
	if err := rc.conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	close(release)
	err := connTestWait(t, closed, "Close after the peer's end")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure {
		t.Fatalf("Close got %v, want a *CloseError with 1006", err)
	}
}

// A message over the read limit is refused from its header, with 1009 to
// the peer, and Close receives an error wrapping ErrReadLimit.
func TestEventHandlerReadLimit(t *testing.T) {
	rec := newEventsRecorder(t)
	url := eventsServe(t, &Upgrader{ReadLimit: 100}, rec.events())
	rc := dialRaw(t, url)
	rc.write(clientFrame(0x82, make([]byte, 200)))
	rc.expectClose(StatusMessageTooBig)
	rc.write(clientFrame(0x88, closePayload(StatusMessageTooBig, "")))
	if err := connTestWait(t, rec.closed, "Close"); !errors.Is(err, ErrReadLimit) {
		t.Fatalf("Close got %v, want an error wrapping ErrReadLimit", err)
	}
}

// S5 for EventHandler: after connections end in every way (clean close by
// either side, the client vanishing, a protocol error), the poller holds
// none of them, no descriptor is left open, and the only goroutines left
// beyond those before are the free workers kept for the next messages.
func TestEventHandlerS5NoLeaks(t *testing.T) {
	closed := make(chan error, 100)
	opened := make(chan *Conn, 100)
	url := eventsServe(t, &Upgrader{CloseTimeout: time.Second}, Events{
		Open: func(c *Conn) { opened <- c },
		Message: func(c *Conn, mt MessageType, r io.Reader) {
			p, _ := io.ReadAll(r)
			c.WriteMessage(mt, p)
		},
		Close: func(c *Conn, err error) { closed <- err },
	})
	kinds := []func(t *testing.T){
		func(t *testing.T) { // clean close by the client
			rc := dialRaw(t, url)
			connTestWait(t, opened, "Open")
			rc.write(clientFrame(0x81, []byte("hi")))
			eventsExpectData(rc, 0x1, []byte("hi"))
			connTestCloseNormal(rc)
			rc.conn.Close()
		},
		func(t *testing.T) { // clean close by the server while idle
			rc := dialRaw(t, url)
			c := connTestWait(t, opened, "Open")
			go c.Close()
			rc.expectClose(StatusNormalClosure)
			rc.write(clientFrame(0x88, closePayload(StatusNormalClosure, "")))
			rc.expectEOF()
			rc.conn.Close()
		},
		func(t *testing.T) { // the client vanishes mid-frame
			rc := dialRaw(t, url)
			connTestWait(t, opened, "Open")
			rc.write(clientFrame(0x82, make([]byte, 10))[:8])
			rc.conn.Close()
		},
		func(t *testing.T) { // protocol error
			rc := dialRaw(t, url)
			connTestWait(t, opened, "Open")
			rc.write(clientFrame(0x83, nil))
			rc.expectClose(StatusProtocolError)
			rc.conn.Close()
		},
	}
	pollerStart()
	base := faultSnapshot()
	watching := pollerWatching()
	const conns = 20
	for i := range conns {
		kinds[i%len(kinds)](t)
	}
	for range conns {
		connTestWait(t, closed, "Close")
	}
	eventsUntil(t, "the poller lets go, descriptors are closed and only free workers remain", func() bool {
		now := faultSnapshot()
		return pollerWatching() <= watching && now.fds <= base.fds &&
			now.goroutines <= base.goroutines+idleWorkers()
	})
}

// S1: a connection that waits on part of a header holds a buffer of the
// usual size, even right after a long frame, whose header was read into a
// buffer sized for it.
func TestEventHandlerS1PartialHeaderAfterLongFrame(t *testing.T) {
	if !pollerUsed {
		// Elsewhere a goroutine waits in the read, holding the read lock
		// that this test takes to look; TestConnS1PartialHeaderAfterLongFrameNoFD
		// covers the same rule there.
		t.Skip("connections wait in epoll on Linux only")
	}
	rec := newEventsRecorder(t)
	url := eventsServe(t, nil, rec.events())
	rc := dialRaw(t, url)
	c := connTestWait(t, rec.opened, "Open")
	long := make([]byte, 1<<20)
	for range 2 { // the second one's header is read with the hint
		rc.write(clientFrame(0x82, long))
		eventsExpectData(rc, 0x2, long)
	}
	// One byte of a ping's header, then silence.
	ping := clientFrame(0x89, []byte("p"))
	rc.write(ping[:1])
	held := func() int {
		c.readMu.Lock()
		defer c.readMu.Unlock()
		if c.in.buf == nil {
			return 0
		}
		return cap(*c.in.buf)
	}
	eventsUntil(t, "the byte is read", func() bool { return held() > 0 })
	if n := held(); n > defaultBufferSize {
		t.Fatalf("waiting on 1 byte of a header, the connection holds a %d-byte buffer, want at most %d", n, defaultBufferSize)
	}
	// The rest of the ping: the byte held was kept.
	rc.write(ping[1:])
	f, err := rc.readFrame()
	if err != nil || f.op != 0xA || string(f.payload) != "p" {
		t.Fatalf("got op %d %q, %v; want the pong", f.op, f.payload, err)
	}
}

// The queue of woken connections is first in, first out, through the
// compaction that reuses the room popped at its front, and grows with the
// most connections waiting at once, not with how many have gone through.
func TestConnQueueOrder(t *testing.T) {
	conns := make([]*Conn, 10)
	for i := range conns {
		conns[i] = new(Conn)
	}
	var q connQueue
	next, want, peak := 0, 0, 0
	push := func() {
		q.push(conns[next%len(conns)])
		next++
		peak = max(peak, next-want)
	}
	pop := func() {
		c := q.pop()
		if c != conns[want%len(conns)] {
			t.Fatalf("popped the wrong connection as number %d of %d pushed", want, next)
		}
		want++
	}
	for range 5 { // a standing backlog, never emptied below
		push()
	}
	for round := range 1000 {
		for range 1 + round%3 {
			push()
		}
		for range 1 + round%3 {
			pop()
		}
		if q.len() != next-want {
			t.Fatalf("round %d: len %d, want %d", round, q.len(), next-want)
		}
	}
	for want < next {
		pop()
	}
	if c := q.pop(); c != nil {
		t.Fatal("an empty queue popped a connection")
	}
	if cap(q.conns) > 4*peak {
		t.Fatalf("%d connections went through at most %d waiting, and the queue grew to %d", next, peak, cap(q.conns))
	}
}
