package websocket

// Faults over real TCP (C7, C9, S5): the peer vanishes with a reset in the
// middle of a message, of the opening handshake, or of the closing
// handshake; and a 101 response that cannot be written. The application
// must see a clear error, and no goroutine or file descriptor may outlive
// the connection.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// faultResources counts what a connection could leak.
type faultResources struct {
	goroutines int
	fds        int // -1 without /proc
}

// faultSnapshot counts the process's goroutines and open descriptors. The
// Hostile tests use it too.
func faultSnapshot() faultResources {
	fds := -1
	if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(entries)
	}
	return faultResources{goroutines: runtime.NumGoroutine(), fds: fds}
}

// faultWaitReturn waits until the goroutines and file descriptors are back
// to base, polling up to testTimeout, and fails with the counts and the
// goroutines' stacks if they are not.
func faultWaitReturn(t testing.TB, base faultResources) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(testTimeout)
	for {
		now := faultSnapshot()
		if now.goroutines <= base.goroutines && now.fds <= base.fds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines and %d file descriptors remain, %d and %d before the connection\n%s",
				now.goroutines, now.fds, base.goroutines, base.fds, buf)
		}
		<-tick.C
	}
}

// faultReset closes conn with a TCP reset instead of a FIN: with a linger
// time of zero, close(2) discards unsent data and sends RST.
func faultReset(t testing.TB, conn net.Conn) {
	t.Helper()
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		t.Fatalf("%T is not a *net.TCPConn", conn)
	}
	if err := tc.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := tc.Close(); err != nil {
		t.Fatal(err)
	}
}

// faultWait waits for a value on ch, up to testTimeout.
func faultWait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// faultDial opens a client connection; the test's end closes it.
func faultDial(t testing.TB, url string, opts *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// faultWantReset checks the error of a read that a reset from the peer
// ended: a CloseError with StatusAbnormalClosure whose cause is the reset.
// (A reset, unlike a FIN, is no end of stream, so the cause is not
// io.ErrUnexpectedEOF.)
func faultWantReset(t testing.TB, err error) {
	t.Helper()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure {
		t.Fatalf("read returned %v, want a CloseError with code 1006", err)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read returned %v, which does not wrap ECONNRESET", err)
	}
	faultWantOpError(t, err, "read")
}

// faultWantOpError checks that err wraps a *net.OpError for op, as errors
// of package net's own reads and writes do.
func faultWantOpError(t testing.TB, err error, op string) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != op || oe.Addr == nil || oe.Source == nil {
		t.Fatalf("%v does not wrap a *net.OpError for %s with both addresses", err, op)
	}
}

// A write to a peer that has reset the connection fails with the reset (or
// the broken pipe that follows it), wrapped as package net wraps it.
func TestFaultWriteAfterReset(t *testing.T) {
	errs := make(chan error, 1)
	reset := make(chan struct{})
	url := startServer(t, nil, func(c *Conn) {
		<-reset
		// The reset has reached the socket by the time close(2) returned
		// on loopback; a write or two may still be taken before the
		// error shows.
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			err = c.WriteMessage(BinaryMessage, []byte("after the reset"))
		}
		errs <- err
	})
	rc := dialRaw(t, url)
	faultReset(t, rc.conn)
	close(reset)
	err := faultWait(t, errs, "the server's write")
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("the write returned %v, which wraps neither ECONNRESET nor EPIPE", err)
	}
	faultWantOpError(t, err, "write")
}

// faultReadAPIs are the ways an application reads a message; each must
// report a vanished peer the same way.
var faultReadAPIs = []struct {
	name string
	read func(c *Conn) error
}{
	{
		name: "ReadMessage",
		read: func(c *Conn) error {
			_, _, err := c.ReadMessage()
			return err
		},
	},
	{
		name: "NextReader+Read",
		read: func(c *Conn) error {
			_, r, err := c.NextReader()
			if err != nil {
				return err
			}
			// io.ReadAll calls Read, never WriteTo.
			_, err = io.ReadAll(r)
			return err
		},
	},
	{
		name: "NextReader+WriteTo",
		read: func(c *Conn) error {
			_, r, err := c.NextReader()
			if err != nil {
				return err
			}
			_, err = r.(io.WriterTo).WriteTo(io.Discard)
			return err
		},
	},
}

// C9, S5: the peer resets the TCP connection in the middle of a message.
// Each stream holds a ping, and the peer waits for its pong before the
// reset, so that the reader is known to be inside the message when the
// reset comes.
func TestFaultResetMidMessage(t *testing.T) {
	// Each stream is built with frame, which encodes a frame as the role
	// sending it does: masked from a client, unmasked from a server.
	type frameFunc func(b0 byte, payload []byte) []byte
	ping := func(frame frameFunc) []byte { return frame(0x89, []byte("where")) }
	tests := []struct {
		name   string
		stream func(frame frameFunc) []byte
	}{
		{
			name: "C9/inside a frame's payload",
			stream: func(frame frameFunc) []byte {
				data := frame(0x82, make([]byte, 100))
				return append(ping(frame), data[:len(data)-50]...)
			},
		},
		{
			name: "C9/between two fragments",
			stream: func(frame frameFunc) []byte {
				return append(frame(0x02, []byte("first")), ping(frame)...)
			},
		},
		{
			name: "C9/inside the second fragment's header",
			stream: func(frame frameFunc) []byte {
				b := append(frame(0x02, []byte("first")), ping(frame)...)
				return append(b, frame(0x80, make([]byte, 300))[:3]...)
			},
		},
	}
	clientFrames := func(b0 byte, payload []byte) []byte { return clientFrame(b0, payload) }
	serverFrames := func(b0 byte, payload []byte) []byte { return encodeFrame(b0, payload, nil) }

	for _, tt := range tests {
		for _, api := range faultReadAPIs {
			t.Run("server role/"+tt.name+"/"+api.name, func(t *testing.T) {
				errs := make(chan error, 1)
				url := startServer(t, &Upgrader{CloseTimeout: time.Second}, func(c *Conn) {
					errs <- api.read(c)
				})
				base := faultSnapshot()

				rc := dialRaw(t, url)
				rc.write(tt.stream(clientFrames))
				if f, err := rc.readFrame(); err != nil || f.op != 0xA {
					t.Fatalf("waiting for the pong: frame %+v, %v", f, err)
				}
				faultReset(t, rc.conn)

				faultWantReset(t, faultWait(t, errs, "the server's read"))
				faultWaitReturn(t, base)
			})
			t.Run("client role/"+tt.name+"/"+api.name, func(t *testing.T) {
				url, peers := serveRaw(t, nil)
				base := faultSnapshot()

				c := faultDial(t, url, &DialOptions{CloseTimeout: time.Second})
				p := acceptRaw(t, peers)
				errs := make(chan error, 1)
				go func() { errs <- api.read(c) }()
				if _, err := p.conn.Write(tt.stream(serverFrames)); err != nil {
					t.Fatal(err)
				}
				if f, err := p.readFrame(); err != nil || f.op != 0xA {
					t.Fatalf("waiting for the pong: frame %+v, %v", f, err)
				}
				faultReset(t, p.conn)

				faultWantReset(t, faultWait(t, errs, "the client's read"))
				// The failed read closed the connection: the application
				// need not call Close for its descriptor to go.
				faultWaitReturn(t, base)
			})
		}
	}
}

// S5, C9: the client resets the TCP connection during the opening
// handshake. The WebSocket handler is never called for a request cut
// short; for a complete request it may be, and then its first read fails
// with an abnormal closure. Either way nothing outlives the connection.
func TestFaultResetMidHandshake(t *testing.T) {
	tests := []struct {
		name string
		// send writes the client's side of the handshake, of which request
		// is the first part; it returns when the reset is to come.
		send func(t *testing.T, conn net.Conn, request string)
		// called: whether the handler must (1), must not (-1) or may (0)
		// be called.
		called int
	}{
		{
			name: "S5/inside the request",
			send: func(t *testing.T, conn net.Conn, request string) {
				if _, err := io.WriteString(conn, request[:len(request)/2]); err != nil {
					t.Fatal(err)
				}
			},
			called: -1,
		},
		{
			name: "S5/before the response is read",
			send: func(t *testing.T, conn net.Conn, request string) {
				if _, err := io.WriteString(conn, request); err != nil {
					t.Fatal(err)
				}
			},
			called: 0,
		},
		{
			name: "C9/right after the response",
			send: func(t *testing.T, conn net.Conn, request string) {
				if _, err := io.WriteString(conn, request); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("handshake answered %s", resp.Status)
				}
			},
			called: 1,
		},
	}
	for _, tt := range tests {
		t.Run("server role/"+tt.name, func(t *testing.T) {
			var called atomic.Bool
			errs := make(chan error, 1)
			url := startServer(t, &Upgrader{CloseTimeout: time.Second}, func(c *Conn) {
				called.Store(true)
				_, _, err := c.ReadMessage()
				errs <- err
			})
			request := "GET / HTTP/1.1\r\nHost: " + tcpAddr(url) + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
			base := faultSnapshot()

			conn, err := net.DialTimeout("tcp", tcpAddr(url), testTimeout)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(testTimeout))
			tt.send(t, conn, request)
			faultReset(t, conn)

			if tt.called == 1 {
				// The connection was the library's when the reset came.
				faultWantReset(t, faultWait(t, errs, "the handler's read"))
			}
			// Once nothing is left of the connection, the handler has
			// returned if it was called at all.
			faultWaitReturn(t, base)
			switch {
			case tt.called == -1 && called.Load():
				t.Fatal("the handler was called for half a request")
			case tt.called == 0 && called.Load():
				// net/http may have taken the reset's error, so the
				// library may see only the end of the stream.
				var ce *CloseError
				err := <-errs
				if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure {
					t.Fatalf("the handler's first read returned %v, want a CloseError with code 1006", err)
				}
				t.Logf("the handler was called; its read returned %v", err)
			case tt.called == 0:
				t.Log("the handler was not called")
			}
		})
	}

	// The Dial client's side: the server resets before answering, or in the
	// middle of its 101 response. Dial fails, and leaves nothing behind.
	for _, tt := range []struct {
		name string
		sent string // the part of the response sent before the reset
		// reset: Dial's error wraps ECONNRESET. Inside the response it
		// need not: bufio.Reader.ReadLine returns a partial line without
		// its error, so net/http may report the cut line as malformed
		// before it sees the reset.
		reset bool
	}{
		{
			name:  "S5/before the response",
			reset: true,
		},
		{
			name: "S5/inside the response",
			sent: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConn",
		},
	} {
		t.Run("client role/"+tt.name, func(t *testing.T) {
			url, done := faultServeReset(t, tt.sent)
			base := faultSnapshot()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, err := Dial(ctx, url, nil)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded against a server that reset the connection")
			}
			t.Logf("Dial returned %v", err)
			if tt.reset && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("Dial returned %v, want an error wrapping ECONNRESET", err)
			}
			faultWait(t, done, "the raw server")
			faultWaitReturn(t, base)
		})
	}
}

// faultServeReset listens on 127.0.0.1 and, for the first connection,
// reads the request, sends sent and resets the connection. The returned
// channel closes when it is done.
func faultServeReset(t *testing.T, sent string) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		conn.SetDeadline(time.Now().Add(testTimeout))
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
			io.WriteString(conn, sent)
		}
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}()
	return "ws://" + ln.Addr().String() + "/", done
}

// C7, S5: the peer resets the connection instead of answering a close
// frame. Close returns as soon as the reset arrives, well before the close
// timeout would end its wait, and the descriptor is gone when it returns.
func TestFaultResetDuringClose(t *testing.T) {
	// A close timeout that the test would notice: Close must not wait for
	// it once the reset has come.
	const closeTimeout = testTimeout
	const prompt = closeTimeout / 2
	tests := []struct {
		name string
		// reading: a goroutine is blocked in ReadMessage when Close is
		// called, so that Close waits for it rather than reading itself.
		reading bool
	}{
		{
			name: "C7/nobody reading",
		},
		{
			name:    "C7/a goroutine reading",
			reading: true,
		},
	}
	type outcome struct {
		err     error
		elapsed time.Duration
		readErr error // of the reading goroutine, if any
	}
	// closeConn calls Close on c and reports how it went; readErrs, if not
	// nil, delivers the error of the goroutine reading c.
	closeConn := func(c *Conn, readErrs <-chan error) outcome {
		start := time.Now()
		err := c.Close()
		o := outcome{err: err, elapsed: time.Since(start)}
		if readErrs != nil {
			select {
			case o.readErr = <-readErrs:
			case <-time.After(testTimeout):
				o.readErr = errors.New("the reading goroutine did not return")
			}
		}
		return o
	}
	// startReading starts a goroutine reading c.
	startReading := func(c *Conn) <-chan error {
		readErrs := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			readErrs <- err
		}()
		return readErrs
	}
	check := func(t *testing.T, o outcome, reading bool, base faultResources) {
		t.Helper()
		t.Logf("Close returned %v after %v", o.err, o.elapsed.Round(time.Microsecond))
		if o.elapsed > prompt {
			t.Errorf("Close took %v after the peer reset the connection, more than %v", o.elapsed, prompt)
		}
		if reading {
			faultWantReset(t, o.readErr)
		}
		faultWaitReturn(t, base)
	}

	for _, tt := range tests {
		t.Run("server role/"+tt.name, func(t *testing.T) {
			outcomes := make(chan outcome, 1)
			readerIn := make(chan struct{})
			url := startServer(t, &Upgrader{CloseTimeout: closeTimeout}, func(c *Conn) {
				var readErrs <-chan error
				if tt.reading {
					readErrs = startReading(c)
					select {
					case <-readerIn:
					case <-time.After(testTimeout):
					}
				}
				outcomes <- closeConn(c, readErrs)
			})
			base := faultSnapshot()
			rc := dialRaw(t, url)
			if tt.reading {
				// The pong shows the reader is inside ReadMessage.
				rc.write(clientFrame(0x89, nil))
				if f, err := rc.readFrame(); err != nil || f.op != 0xA {
					t.Fatalf("waiting for the pong: frame %+v, %v", f, err)
				}
				close(readerIn)
			}
			rc.expectClose(StatusNormalClosure)
			faultReset(t, rc.conn)
			check(t, faultWait(t, outcomes, "Close"), tt.reading, base)
		})
		t.Run("client role/"+tt.name, func(t *testing.T) {
			url, peers := serveRaw(t, nil)
			base := faultSnapshot()
			c := faultDial(t, url, &DialOptions{CloseTimeout: closeTimeout})
			p := acceptRaw(t, peers)
			var readErrs <-chan error
			if tt.reading {
				readErrs = startReading(c)
				// The pong shows the reader is inside ReadMessage.
				if _, err := p.conn.Write(encodeFrame(0x89, nil, nil)); err != nil {
					t.Fatal(err)
				}
				if f, err := p.readFrame(); err != nil || f.op != 0xA {
					t.Fatalf("waiting for the pong: frame %+v, %v", f, err)
				}
			}
			outcomes := make(chan outcome, 1)
			go func() { outcomes <- closeConn(c, readErrs) }()
			for {
				f, err := p.readFrame()
				if err != nil {
					t.Fatalf("waiting for the client's close: %v", err)
				}
				if f.op == 0x8 {
					break
				}
			}
			faultReset(t, p.conn)
			check(t, faultWait(t, outcomes, "Close"), tt.reading, base)
		})
	}
}

// faultHijackWriter is an http.ResponseWriter whose Hijack hands over conn,
// as net/http does, with a buffered reader and writer over it.
type faultHijackWriter struct {
	http.ResponseWriter
	conn net.Conn
}

func (w faultHijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}

// faultWriteFailsConn is a connection whose writes fail, as they do once
// the client has reset it; it records whether it was closed.
type faultWriteFailsConn struct {
	net.Conn
	closed atomic.Bool
}

func (c *faultWriteFailsConn) Write([]byte) (int, error) { return 0, syscall.ECONNRESET }

func (c *faultWriteFailsConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// H7, S5: when the 101 response cannot be written, Upgrade returns the
// error and closes the connection it hijacked, instead of returning a Conn
// over a connection nobody will close.
func TestFaultHandshakeResponseWriteFails(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	conn := &faultWriteFailsConn{Conn: server}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	w := faultHijackWriter{ResponseWriter: httptest.NewRecorder(), conn: conn}

	c, err := (&Upgrader{}).Upgrade(w, req, nil)
	if err == nil {
		c.closeTransport()
		t.Fatal("Upgrade returned a connection although the 101 response could not be written")
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("Upgrade returned %v, want an error wrapping the write's ECONNRESET", err)
	}
	if !conn.closed.Load() {
		t.Error("Upgrade left the hijacked connection open")
	}
}
