package websocket

// Tests of Conn's behaviour over real connections: control frames while
// messages flow (M1, M2), UTF-8 (M3), read limits (M4), concurrent writers
// (M5), the close handshake (C1–C9), robustness (S1–S5), and the
// performance contract (allocations, Write and Read calls on the
// transport, buffers of idle connections).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"
)

// ---- Helpers of this file ----

// connTestWait receives from ch, or fails the test after testTimeout.
func connTestWait[T any](t testing.TB, ch <-chan T, what string) T {
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

// connTestFailCode returns the close code of the failure that err reports,
// or 0 if err is not a failure of the connection.
func connTestFailCode(err error) StatusCode {
	var f *failure
	if errors.As(err, &f) {
		return f.code
	}
	return 0
}

// connTestCloseNormal sends a close 1000 from the raw client and checks
// that the server echoes it and then closes the TCP connection.
func connTestCloseNormal(rc *rawClient) {
	rc.t.Helper()
	rc.write(clientFrame(0x88, closePayload(StatusNormalClosure, "")))
	rc.expectClose(StatusNormalClosure)
	rc.expectEOF()
}

// connTestFinish expects the server to fail the connection with code,
// answers its close frame as a well-behaved peer does, and checks that the
// server then closes the TCP connection.
func connTestFinish(rc *rawClient, code StatusCode) {
	rc.t.Helper()
	rc.expectClose(code)
	rc.write(clientFrame(0x88, closePayload(code, "")))
	rc.expectEOF()
}

// connTestServer starts a server whose handler echoes every message and
// sends the error that ended its reading to the returned channel.
func connTestServer(t testing.TB, u *Upgrader) (string, <-chan error) {
	errs := make(chan error, 32)
	url := startServer(t, u, func(c *Conn) {
		for {
			mt, p, err := c.ReadMessage()
			if err == nil {
				err = c.WriteMessage(mt, p)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	})
	return url, errs
}

// connTestDial opens a client Conn to a test server; the test's end closes
// its transport.
func connTestDial(t testing.TB, url string, opts *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.closeTransport)
	return c
}

// connTestReadData reads frames from the server until one carries data,
// skipping pongs, and returns it.
func connTestReadData(rc *rawClient) rawFrame {
	rc.t.Helper()
	for {
		f, err := rc.readFrame()
		if err != nil {
			rc.t.Fatalf("waiting for a data frame: %v", err)
		}
		if f.op == 0xA {
			continue
		}
		return f
	}
}

// connTestEchoCopy echoes one message with io.Copy from NextReader to
// NextWriter.
func connTestEchoCopy(c *Conn) error {
	mt, r, err := c.NextReader()
	if err != nil {
		return err
	}
	w, err := c.NextWriter(mt)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// connTestBig is a message far larger than what the socket buffers of a
// connection with connTestShrinkBuffers can hold.
var connTestBig = sync.OnceValue(func() []byte { return make([]byte, 8<<20) })

// connTestShrinkBuffers makes the kernel buffer little of what the server
// side of c writes, so that a peer that does not read stalls it soon.
func connTestShrinkBuffers(c *Conn) {
	if tc, ok := c.t.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
}

// connTestShrinkReadBuffer does the same for the raw client's receiving
// side.
func connTestShrinkReadBuffer(rc *rawClient) {
	if tc, ok := rc.conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(16 << 10)
	}
}

// connTestRaceEnabled reports whether the test binary runs under the race
// detector, where sync.Pool drops a random share of the buffers put back,
// so that counts of allocations are not exact.
func connTestRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// ---- M1: pings are answered promptly ----

// M1: a ping that arrives between the fragments of a message is answered
// with the same payload while the handler is still blocked reading that
// message, before the message has ended.
func TestConnM1PongWhileReadingFragments(t *testing.T) {
	tests := []struct {
		name string
		read func(c *Conn) ([]byte, error)
	}{
		{
			name: "M1/ReadMessage",
			read: func(c *Conn) ([]byte, error) {
				_, p, err := c.ReadMessage()
				return p, err
			},
		},
		{
			name: "M1/NextReader",
			read: func(c *Conn) ([]byte, error) {
				_, r, err := c.NextReader()
				if err != nil {
					return nil, err
				}
				return io.ReadAll(r)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 1)
			url := startServer(t, nil, func(c *Conn) {
				p, err := tt.read(c)
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				got <- string(p)
				c.ReadMessage() // until the client's close
			})
			rc := dialRaw(t, url)
			rc.write(clientFrame(0x01, []byte("hello, ")))
			rc.write(clientFrame(0x89, []byte("are you there?")))

			f, err := rc.readFrame()
			if err != nil {
				t.Fatalf("waiting for the pong: %v", err)
			}
			if f.op != 0xA || !f.fin || string(f.payload) != "are you there?" {
				t.Fatalf("got frame op %#x fin %v payload %q, want a pong with the ping's payload", f.op, f.fin, f.payload)
			}
			select {
			case p := <-got:
				t.Fatalf("the read returned %q before the message ended", p)
			default:
			}

			rc.write(clientFrame(0x80, []byte("world")))
			if p := connTestWait(t, got, "the message"); p != "hello, world" {
				t.Fatalf("the handler read %q, want %q", p, "hello, world")
			}
			connTestCloseNormal(rc)
		})
	}
}

// M1: the pong carries the ping's payload exactly however the ping
// arrives: cut in two anywhere, behind a message short or long enough
// that the ping lies across the end of the read buffer. The payload is
// answered from where it lies in that buffer, so a cut that moves it
// there piece by piece must not change it.
func TestConnM1PongFromSplitPing(t *testing.T) {
	payload := make([]byte, maxControlPayload)
	for i := range payload {
		payload[i] = byte(i*7 + 1)
	}
	ping := clientFrame(0x89, payload)
	for _, lead := range []int{5, defaultBufferSize - 70} {
		data := clientFrame(0x82, make([]byte, lead))
		for cut := 0; cut <= len(ping); cut++ {
			stream := append(append(data[:len(data):len(data)], ping...), clientFrame(0x88, nil)...)
			tr := &connTestChunkTransport{chunks: [][]byte{stream[:len(data)+cut], stream[len(data)+cut:]}}
			c := newConn(tr, nil, false, "", config{})
			if _, p, err := c.ReadMessage(); err != nil || len(p) != lead {
				t.Fatalf("lead %d, cut %d: read %d bytes, %v; want the %d-byte message", lead, cut, len(p), err, lead)
			}
			if _, _, err := c.ReadMessage(); !errors.As(err, new(*CloseError)) {
				t.Fatalf("lead %d, cut %d: second read returned %v, want the peer's close", lead, cut, err)
			}
			want := append([]byte{0x8A, byte(len(payload))}, payload...)
			if !bytes.HasPrefix(tr.written, want) {
				t.Fatalf("lead %d, cut %d: the server wrote % x..., want a pong with the ping's payload first", lead, cut, tr.written[:min(len(tr.written), 16)])
			}
		}
	}
}

// connTestChunkTransport delivers its chunks one Read at a time, each
// whole if p has room, and keeps what is written to it.
type connTestChunkTransport struct {
	chunks  [][]byte
	written []byte
}

func (t *connTestChunkTransport) Read(p []byte) (int, error) {
	for len(t.chunks) > 0 && len(t.chunks[0]) == 0 {
		t.chunks = t.chunks[1:]
	}
	if len(t.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, t.chunks[0])
	t.chunks[0] = t.chunks[0][n:]
	return n, nil
}
func (t *connTestChunkTransport) Write(p []byte) (int, error) {
	t.written = append(t.written, p...)
	return len(p), nil
}
func (t *connTestChunkTransport) Close() error                     { return nil }
func (t *connTestChunkTransport) SetReadDeadline(time.Time) error  { return nil }
func (t *connTestChunkTransport) SetWriteDeadline(time.Time) error { return nil }

// M1: while one goroutine streams a long message with NextWriter, a ping
// is answered by a pong that goes out between the frames of that message,
// not after its end.
func TestConnM1PongNotBehindStreamedMessage(t *testing.T) {
	const (
		chunk = 32 << 10
		// The stream ends by itself after this many chunks (64 MiB), so
		// that a pong held behind the message shows up after its end. It
		// is long beside the socket buffers of loopback (a few MiB), which
		// may take in a whole shorter message before the ping is even
		// read, and beside the 1 MiB frames it is cut into.
		maxChunks = 2048
	)
	streamed := make(chan int64, 1)
	url := startServer(t, nil, func(c *Conn) {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var n int64
			defer func() { streamed <- n }()
			w, err := c.NextWriter(BinaryMessage)
			if err != nil {
				return
			}
			buf := bytes.Repeat([]byte{'s'}, chunk)
		stream:
			for i := 0; i < maxChunks; i++ {
				select {
				case <-stop:
					break stream
				default:
				}
				m, err := w.Write(buf)
				n += int64(m)
				if err != nil {
					break
				}
			}
			w.Close()
		}()
		stopped := false
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				break
			}
			if string(p) == "pong seen" && !stopped {
				close(stop)
				stopped = true
			}
		}
		<-done
	})

	rc := dialRaw(t, url)
	f, err := rc.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	if f.op != 0x2 || f.fin {
		t.Fatalf("first frame: op %#x fin %v, want the start of a binary message", f.op, f.fin)
	}
	total := int64(len(f.payload))
	rc.write(clientFrame(0x89, []byte("m1 ping")))

	pongSeen := false
	for {
		f, err := rc.readFrame()
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		if f.op == 0xA {
			if string(f.payload) != "m1 ping" {
				t.Fatalf("pong payload %q, want %q", f.payload, "m1 ping")
			}
			pongSeen = true
			rc.write(clientFrame(0x81, []byte("pong seen")))
			continue
		}
		if f.op != 0x0 {
			t.Fatalf("frame op %#x inside the streamed message", f.op)
		}
		total += int64(len(f.payload))
		if f.fin {
			if !pongSeen {
				t.Fatalf("the streamed message (%d bytes) ended before the pong: the pong waited behind it", total)
			}
			break
		}
	}
	if n := connTestWait(t, streamed, "the streamer"); n != total {
		t.Fatalf("received %d bytes of the message, the server wrote %d", total, n)
	}
	connTestCloseNormal(rc)
}

// ---- M2: pongs ----

// M2: an unsolicited pong is accepted, reaches the pong handler with its
// payload when one is set, and does not disturb the message that follows.
func TestConnM2UnsolicitedPong(t *testing.T) {
	tests := []struct {
		name       string
		setHandler bool
	}{
		{
			name:       "M2/with a pong handler",
			setHandler: true,
		},
		{
			name:       "M2/without a pong handler",
			setHandler: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pongs := make(chan string, 2)
			msgs := make(chan string, 1)
			url := startServer(t, nil, func(c *Conn) {
				if tt.setHandler {
					c.SetPongHandler(func(p []byte) { pongs <- string(p) })
				}
				_, p, err := c.ReadMessage()
				if err != nil {
					msgs <- "error: " + err.Error()
					return
				}
				msgs <- string(p)
				c.ReadMessage()
			})
			rc := dialRaw(t, url)
			rc.write(clientFrame(0x8A, []byte("unsolicited")))
			rc.write(clientFrame(0x8A, nil))
			rc.write(clientFrame(0x81, []byte("after the pongs")))
			if p := connTestWait(t, msgs, "the message"); p != "after the pongs" {
				t.Fatalf("the handler read %q", p)
			}
			if tt.setHandler {
				for _, want := range []string{"unsolicited", ""} {
					if p := connTestWait(t, pongs, "a pong"); p != want {
						t.Fatalf("pong handler got %q, want %q", p, want)
					}
				}
			}
			connTestCloseNormal(rc)
		})
	}
}

// M2: a ping from either side reaches the other, whose pong reaches the
// sender's pong handler with the ping's payload.
func TestConnM2PingPongBetweenConns(t *testing.T) {
	serverPongs := make(chan string, 1)
	serverErr := make(chan error, 1)
	url := startServer(t, nil, func(c *Conn) {
		c.SetPongHandler(func(p []byte) { serverPongs <- string(p) })
		if err := c.Ping([]byte("from the server")); err != nil {
			serverErr <- err
			return
		}
		_, _, err := c.ReadMessage()
		serverErr <- err
	})
	c := connTestDial(t, url, nil)
	clientPongs := make(chan string, 1)
	c.SetPongHandler(func(p []byte) { clientPongs <- string(p) })
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	if err := c.Ping([]byte("from the client")); err != nil {
		t.Fatal(err)
	}
	if p := connTestWait(t, clientPongs, "the client's pong"); p != "from the client" {
		t.Fatalf("client pong handler got %q", p)
	}
	if p := connTestWait(t, serverPongs, "the server's pong"); p != "from the server" {
		t.Fatalf("server pong handler got %q", p)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, ch := range []<-chan error{serverErr, readErr} {
		err := connTestWait(t, ch, "the end of a read")
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != StatusNormalClosure {
			t.Errorf("read ended with %v, want a CloseError with code 1000", err)
		}
	}
}

// ---- M3: UTF-8 ----

// M3: text messages are valid UTF-8 as a whole, checked across fragments
// and code points split between them; binary messages are not checked.
func TestConnM3TextUTF8(t *testing.T) {
	tests := []struct {
		name   string
		frames [][]byte
		fail   StatusCode // 0: the message is accepted and echoed
		echo   string
	}{
		{
			name:   "M3/invalid byte in a single frame",
			frames: [][]byte{clientFrame(0x81, []byte("ab\xffcd"))},
			fail:   StatusInvalidFramePayloadData,
		},
		{
			name:   "M3/overlong encoding in a single frame",
			frames: [][]byte{clientFrame(0x81, []byte("\xc0\xaf"))},
			fail:   StatusInvalidFramePayloadData,
		},
		{
			name: "M3/invalid bytes in the second fragment",
			frames: [][]byte{
				clientFrame(0x01, []byte("hello ")),
				clientFrame(0x80, []byte("w\xc0\xafrld")),
			},
			fail: StatusInvalidFramePayloadData,
		},
		{
			name: "M3/code point split between two fragments",
			frames: [][]byte{
				clientFrame(0x01, []byte("price: \xe2\x82")),
				clientFrame(0x80, []byte("\xac 5")),
			},
			echo: "price: € 5",
		},
		{
			name: "M3/code point split over three fragments",
			frames: [][]byte{
				clientFrame(0x01, []byte("\xf0\x9f")),
				clientFrame(0x00, []byte("\x98")),
				clientFrame(0x80, []byte("\x80!")),
			},
			echo: "😀!",
		},
		{
			name: "M3/code point split around a ping",
			frames: [][]byte{
				clientFrame(0x01, []byte("\xe2")),
				clientFrame(0x89, []byte("p")),
				clientFrame(0x80, []byte("\x82\xac")),
			},
			echo: "€",
		},
		{
			name: "M3/split code point with an invalid continuation",
			frames: [][]byte{
				clientFrame(0x01, []byte("a\xe2\x82")),
				clientFrame(0x80, []byte("(")),
			},
			fail: StatusInvalidFramePayloadData,
		},
		{
			name: "M3/surrogate split between fragments",
			frames: [][]byte{
				clientFrame(0x01, []byte("\xed")),
				clientFrame(0x80, []byte("\xa0\x80")),
			},
			fail: StatusInvalidFramePayloadData,
		},
		{
			name:   "M3/message ends inside a code point",
			frames: [][]byte{clientFrame(0x81, []byte("a\xe2\x82"))},
			fail:   StatusInvalidFramePayloadData,
		},
		{
			name: "M3/fragmented message ends inside a code point",
			frames: [][]byte{
				clientFrame(0x01, []byte("a\xe2")),
				clientFrame(0x80, nil),
			},
			fail: StatusInvalidFramePayloadData,
		},
		{
			name:   "M3/binary message is not checked",
			frames: [][]byte{clientFrame(0x82, []byte("\xff\xfe"))},
			echo:   "\xff\xfe",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, errs := connTestServer(t, nil)
			rc := dialRaw(t, url)
			for _, f := range tt.frames {
				rc.write(f)
			}
			if tt.fail != 0 {
				connTestFinish(rc, tt.fail)
				if code := connTestFailCode(connTestWait(t, errs, "the handler's error")); code != tt.fail {
					t.Fatalf("the handler's error has code %d, want %d", code, tt.fail)
				}
				return
			}
			f := connTestReadData(rc)
			if !f.fin || string(f.payload) != tt.echo {
				t.Fatalf("echo: fin %v payload %q, want %q", f.fin, f.payload, tt.echo)
			}
			connTestCloseNormal(rc)
		})
	}
}

// M3: an invalid byte fails the connection as soon as it arrives: the
// server does not wait for the rest of a frame that claims 1000 bytes.
func TestConnM3FailsFast(t *testing.T) {
	payload := bytes.Repeat([]byte("a"), 1000)
	payload[4] = 0xFF
	frame := clientFrame(0x81, payload)
	const headerLen = 2 + 2 + 4
	sent := frame[:headerLen+10] // and never the rest

	tests := []struct {
		name string
		read func(c *Conn) error
	}{
		{
			name: "M3/ReadMessage",
			read: func(c *Conn) error {
				_, _, err := c.ReadMessage()
				return err
			},
		},
		{
			name: "M3/NextReader",
			read: func(c *Conn) error {
				_, r, err := c.NextReader()
				if err != nil {
					return fmt.Errorf("NextReader: %w", err)
				}
				buf := make([]byte, 4096)
				for {
					if _, err := r.Read(buf); err != nil {
						return err
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := make(chan error, 1)
			url := startServer(t, &Upgrader{CloseTimeout: 100 * time.Millisecond}, func(c *Conn) {
				errs <- tt.read(c)
			})
			rc := dialRaw(t, url)
			rc.write(sent)
			rc.expectClose(StatusInvalidFramePayloadData)
			rc.expectEOF()
			err := connTestWait(t, errs, "the handler's read")
			if code := connTestFailCode(err); code != StatusInvalidFramePayloadData {
				t.Fatalf("the read returned %v, want a failure with code 1007", err)
			}
		})
	}
}

// connTestValidPrefix reports whether p can begin a valid UTF-8 text: it is
// valid, or it ends with an incomplete sequence that some continuation
// bytes would complete. It finds out by trying them, using only the
// standard library's decoder.
func connTestValidPrefix(p []byte) bool {
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		if r == utf8.RuneError && n == 1 {
			if utf8.FullRune(p) {
				return false // an invalid sequence, not an unfinished one
			}
			for c := 0x80; c <= 0xBF; c++ {
				q := append(p[:len(p):len(p)], byte(c))
				if r, n := utf8.DecodeRune(q); r != utf8.RuneError && n == len(q) {
					return true
				}
				if len(q) < utf8.UTFMax && connTestValidPrefix(q) {
					return true
				}
			}
			return false
		}
		p = p[n:]
	}
	return true
}

// M3: utf8State agrees with unicode/utf8.Valid on inputs split at every
// offset, and fails at the first byte that no valid text can contain.
func TestConnM3UTF8State(t *testing.T) {
	inputs := []string{
		"",
		"plain ASCII",
		"abcdefghijklmnopqrstuvwxyz0123456789",
		"héllo wörld",
		"€", "😀", "日本語のテキスト",
		"abcdefghijklmnop\xff",             // invalid after the 8-byte fast path
		"abcdefgh\xe2\x82\xacabcdefghijk",  // multi-byte between fast runs
		"\xc0\x80", "\xc1\xbf", "\xc2\x80", // overlong two-byte, smallest valid one
		"\xe0\x80\x80", "\xe0\x9f\xbf", "\xe0\xa0\x80", // overlong three-byte, smallest valid one
		"\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf", "\xf0\x90\x80\x80", // overlong four-byte, smallest valid one
		"\xed\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xee\x80\x80", // around the surrogates U+D800–U+DFFF
		"\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", // U+10FFFF, and above it
		"\xf5\x80\x80\x80", "\xf7\xbf\xbf\xbf", "\xf8\x88\x80\x80\x80", "\xfe", "\xff",
		"\x80", "\xbf", "a\x80b", // lone continuation bytes
		"\xe2\x82", "\xf0\x9f\x98", "\xc3", // truncated at the end
		"\xe2\x28\xa1", "\xe2\x82\x28", "\xf0\x28\x8c\x28", "\xc3\x28", // bad continuations
		"\xef\xbf\xbf", "\xef\xbf\xbe", // U+FFFF and U+FFFE are valid
	}
	rng := rand.New(rand.NewSource(6455))
	special := []byte{'a', 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
		0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF}
	runes := []rune{'a', 'é', '€', 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF}
	for i := 0; i < 3000; i++ {
		var b []byte
		if i%2 == 0 {
			for n := rng.Intn(10) + 1; n > 0; n-- {
				b = append(b, special[rng.Intn(len(special))])
			}
		} else {
			for n := rng.Intn(6) + 1; n > 0; n-- {
				b = utf8.AppendRune(b, runes[rng.Intn(len(runes))])
			}
			if i%4 == 1 { // corrupt one byte of valid text
				b[rng.Intn(len(b))] = special[rng.Intn(len(special))]
			}
		}
		inputs = append(inputs, string(b))
	}

	for _, in := range inputs {
		b := []byte(in)
		want := utf8.Valid(b)
		for i := 0; i <= len(b); i++ {
			var s utf8State
			got := s.valid(b[:i]) && s.valid(b[i:]) && s.complete()
			if got != want {
				t.Fatalf("%q split at %d: valid %v, want %v", in, i, got, want)
			}
			if len(b) > 12 {
				continue
			}
			for j := i; j <= len(b); j++ {
				var s utf8State
				got := s.valid(b[:i]) && s.valid(b[i:j]) && s.valid(b[j:]) && s.complete()
				if got != want {
					t.Fatalf("%q split at %d and %d: valid %v, want %v", in, i, j, got, want)
				}
			}
		}

		// Fed one byte at a time, it fails at the first byte that makes the
		// text invalid whatever follows, not later.
		var s utf8State
		ok := true
		for i := range b {
			ok = s.valid(b[i : i+1])
			if wantOK := connTestValidPrefix(b[:i+1]); ok != wantOK {
				t.Fatalf("%q byte by byte: after %d bytes valid %v, want %v", in, i+1, ok, wantOK)
			}
			if !ok {
				break
			}
		}
		if ok && s.complete() != want {
			t.Fatalf("%q byte by byte: complete %v, want %v", in, s.complete(), want)
		}
	}
}

// ---- M4: read limit ----

// M4: a message larger than the read limit fails the connection with 1009
// as soon as the header that crosses the limit arrives; a message at the
// limit is accepted. The limit is set either on the Upgrader or with
// SetReadLimit.
func TestConnM4ReadLimit(t *testing.T) {
	const limit = 1000
	const headerLen = 2 + 2 + 4 // 16-bit length and key
	data := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	over := clientFrame(0x82, data(1001))
	first, second := clientFrame(0x02, data(600)), clientFrame(0x80, data(600))

	scenarios := []struct {
		name   string
		before []byte // sent, then the server must fail with 1009
		after  []byte // the rest, sent after the close
		echo   int    // without before: the length of the accepted message
		frames [][]byte
	}{
		{
			name:   "1001-byte frame refused from its header",
			before: over[:headerLen],
			after:  over[headerLen:],
		},
		{
			name:   "600+600 refused at the second header",
			before: append(append([]byte{}, first...), second[:headerLen]...),
			after:  second[headerLen:],
		},
		{
			name:   "1000-byte frame accepted",
			echo:   limit,
			frames: [][]byte{clientFrame(0x82, data(limit))},
		},
		{
			name: "500+500 accepted",
			echo: limit,
			frames: [][]byte{
				clientFrame(0x02, data(500)),
				clientFrame(0x80, data(500)),
			},
		},
	}
	setters := []struct {
		name     string
		upgrader *Upgrader
		set      bool
	}{
		{
			name:     "Upgrader.ReadLimit",
			upgrader: &Upgrader{ReadLimit: limit},
		},
		{
			name:     "SetReadLimit",
			upgrader: &Upgrader{},
			set:      true,
		},
	}
	for _, st := range setters {
		for _, sc := range scenarios {
			t.Run("M4/"+st.name+"/"+sc.name, func(t *testing.T) {
				errs := make(chan error, 1)
				url := startServer(t, st.upgrader, func(c *Conn) {
					if st.set {
						c.SetReadLimit(limit)
					}
					for {
						mt, p, err := c.ReadMessage()
						if err == nil {
							err = c.WriteMessage(mt, p)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				})
				rc := dialRaw(t, url)
				if sc.before != nil {
					rc.write(sc.before)
					rc.expectClose(StatusMessageTooBig)
					rc.write(sc.after)
					rc.write(clientFrame(0x88, closePayload(StatusMessageTooBig, "")))
					rc.expectEOF()
					err := connTestWait(t, errs, "the handler's error")
					if !errors.Is(err, ErrReadLimit) || connTestFailCode(err) != StatusMessageTooBig {
						t.Fatalf("the handler's error is %v, want one wrapping ErrReadLimit with code 1009", err)
					}
					return
				}
				for _, f := range sc.frames {
					rc.write(f)
				}
				f := connTestReadData(rc)
				if f.op != 0x2 || !f.fin || len(f.payload) != sc.echo {
					t.Fatalf("echo: op %#x fin %v %d bytes, want a %d-byte binary message", f.op, f.fin, len(f.payload), sc.echo)
				}
				connTestCloseNormal(rc)
			})
		}
	}
}

// ---- M5: concurrent writers ----

// connTestM5Sizes are the message sizes the writers cycle through: mostly
// small, some above the write buffer, one above maxFrameSize so that it is
// cut into several frames.
var connTestM5Sizes = []int{
	8, 16, 100, 1000, 4000, 4082, 4083, 5000, 8, 300,
	70000, 12, 64, 2048, 9000, 8, 16, 200, 3000, 8,
	10, 20, 30, 40, 50, 60, 70, 80, 90, 100,
	maxFrameSize + 135000, 8, 16, 32, 64, 128, 256, 512, 1024, 8,
}

// connTestM5Payload is message seq of writer w: its first 8 bytes name it,
// the rest is a pattern the reader can check.
func connTestM5Payload(w, seq int) []byte {
	p := make([]byte, connTestM5Sizes[(w*7+seq)%len(connTestM5Sizes)])
	binary.BigEndian.PutUint32(p, uint32(w))
	binary.BigEndian.PutUint32(p[4:], uint32(seq))
	for i := 8; i < len(p); i++ {
		p[i] = byte(w*31 + seq*7 + i)
	}
	return p
}

// connTestM5Check decodes the server's stream until its close frame and
// checks that no two messages mix their frames, and that every message of
// every writer arrives whole and in the writer's order.
func connTestM5Check(t *testing.T, rc *rawClient, writers, perWriter int) {
	t.Helper()
	next := make([]int, writers)
	var msg []byte
	inMessage := false
	messages, pings := 0, 0
	for {
		f, err := rc.readFrame()
		if err != nil {
			t.Fatalf("after %d messages: %v", messages, err)
		}
		switch f.op {
		case 0x9:
			if !f.fin || len(f.payload) > 125 {
				t.Fatalf("bad ping frame: fin %v, %d bytes", f.fin, len(f.payload))
			}
			pings++
			continue
		case 0x8:
			if inMessage {
				t.Fatal("close frame inside a message")
			}
			if messages != writers*perWriter {
				t.Fatalf("got %d messages, want %d", messages, writers*perWriter)
			}
			t.Logf("%d messages, %d pings between them", messages, pings)
			return
		case 0x1, 0x2:
			if inMessage {
				t.Fatalf("a new message started inside another, after %d messages: frames interleaved", messages)
			}
			inMessage = true
			msg = append(msg[:0], f.payload...)
		case 0x0:
			if !inMessage {
				t.Fatalf("continuation frame outside a message, after %d messages", messages)
			}
			msg = append(msg, f.payload...)
		default:
			t.Fatalf("unexpected opcode %#x", f.op)
		}
		if !f.fin {
			continue
		}
		inMessage = false
		if len(msg) < 8 {
			t.Fatalf("message of %d bytes, shorter than any sent", len(msg))
		}
		w, seq := int(binary.BigEndian.Uint32(msg)), int(binary.BigEndian.Uint32(msg[4:]))
		if w >= writers || seq != next[w] {
			t.Fatalf("got message %d of writer %d, want message %d of it", seq, w, next[w])
		}
		if !bytes.Equal(msg, connTestM5Payload(w, seq)) {
			t.Fatalf("message %d of writer %d arrived damaged (%d bytes)", seq, w, len(msg))
		}
		next[w]++
		messages++
	}
}

// M5: writes from many goroutines at once, with pings in between, never
// interleave frames of different messages on the wire, with WriteMessage
// and with NextWriter.
func TestConnM5ConcurrentWriters(t *testing.T) {
	chunks := []int{1, 7, 100, 4096, 5000, 70000}
	tests := []struct {
		name      string
		writers   int
		perWriter int
		write     func(c *Conn, p []byte) error
	}{
		{
			name:      "M5/WriteMessage",
			writers:   8,
			perWriter: 200,
			write: func(c *Conn, p []byte) error {
				return c.WriteMessage(BinaryMessage, p)
			},
		},
		{
			name:      "M5/NextWriter",
			writers:   4,
			perWriter: 60,
			write: func(c *Conn, p []byte) error {
				w, err := c.NextWriter(BinaryMessage)
				if err != nil {
					return err
				}
				for i := 0; len(p) > 0; i++ {
					n := min(len(p), chunks[i%len(chunks)])
					if _, err := w.Write(p[:n]); err != nil {
						w.Close()
						return err
					}
					p = p[n:]
				}
				return w.Close()
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := make(chan error, tt.writers+1)
			url := startServer(t, nil, func(c *Conn) {
				start := make(chan struct{})
				writersDone := make(chan struct{})
				var wg sync.WaitGroup
				for w := 0; w < tt.writers; w++ {
					wg.Add(1)
					go func(w int) {
						defer wg.Done()
						<-start
						for seq := 0; seq < tt.perWriter; seq++ {
							if err := tt.write(c, connTestM5Payload(w, seq)); err != nil {
								errs <- fmt.Errorf("writer %d message %d: %w", w, seq, err)
								return
							}
						}
					}(w)
				}
				pingerDone := make(chan struct{})
				go func() {
					defer close(pingerDone)
					<-start
					for i := 0; i < 2000; i++ {
						select {
						case <-writersDone:
							return
						default:
						}
						if err := c.Ping([]byte(fmt.Sprintf("ping %d", i))); err != nil {
							errs <- fmt.Errorf("ping %d: %w", i, err)
							return
						}
					}
				}()
				close(start)
				wg.Wait()
				close(writersDone)
				<-pingerDone
			})
			rc := dialRaw(t, url)
			connTestM5Check(t, rc, tt.writers, tt.perWriter)
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			rc.write(clientFrame(0x88, closePayload(StatusNormalClosure, "")))
			rc.expectEOF()
		})
	}
}

// ---- C1–C9: closing ----

// C1: the server answers the client's close with a close echoing its code,
// closes the TCP connection itself, and hands the code and reason to the
// handler.
func TestConnC1CloseHandshake(t *testing.T) {
	errs := make(chan error, 1)
	url := startServer(t, nil, func(c *Conn) {
		_, _, err := c.ReadMessage()
		errs <- err
	})
	rc := dialRaw(t, url)
	rc.write(clientFrame(0x88, closePayload(StatusNormalClosure, "bye")))
	rc.expectClose(StatusNormalClosure)
	rc.expectEOF() // the client never closed: the server closed TCP first
	err := connTestWait(t, errs, "the handler's read")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusNormalClosure || ce.Reason != "bye" {
		t.Fatalf("ReadMessage returned %v, want a CloseError with code 1000 and reason \"bye\"", err)
	}
}

// C2: once the server has sent its close frame, writes fail with ErrClosed
// and nothing follows the close frame on the wire.
func TestConnC2NoDataAfterClose(t *testing.T) {
	closeSeen := make(chan struct{})
	results := make(chan error, 4)
	url := startServer(t, nil, func(c *Conn) {
		closed := make(chan error, 1)
		go func() { closed <- c.CloseWithStatus(StatusGoingAway, "going") }()
		select {
		case <-closeSeen:
		case <-time.After(testTimeout):
		}
		results <- c.WriteMessage(TextMessage, []byte("too late"))
		if w, err := c.NextWriter(BinaryMessage); err != nil {
			results <- err
		} else {
			w.Write([]byte("too late as well"))
			results <- w.Close()
		}
		results <- c.Ping([]byte("too late"))
		results <- <-closed
	})
	rc := dialRaw(t, url)
	if reason := rc.expectClose(StatusGoingAway); reason != "going" {
		t.Fatalf("close reason %q, want %q", reason, "going")
	}
	close(closeSeen)
	for _, what := range []string{"WriteMessage", "NextWriter's Close", "Ping"} {
		if err := connTestWait(t, results, what); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after the close frame returned %v, want ErrClosed", what, err)
		}
	}
	rc.write(clientFrame(0x88, closePayload(StatusGoingAway, "")))
	f, err := rc.readFrame()
	if err == nil {
		t.Fatalf("a frame (op %#x, %q) followed the close frame", f.op, f.payload)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server did not close the TCP connection")
	}
	if err := connTestWait(t, results, "CloseWithStatus"); err != nil {
		t.Errorf("CloseWithStatus returned %v", err)
	}
}

// connTestCheckClose sends a close frame with the given payload and checks
// the server's answer: an echo of code when echo is set, else a failure
// with code.
func connTestCheckClose(t *testing.T, payload []byte, echo bool, code StatusCode) {
	t.Helper()
	errs := make(chan error, 1)
	url := startServer(t, nil, func(c *Conn) {
		_, _, err := c.ReadMessage()
		errs <- err
	})
	rc := dialRaw(t, url)
	rc.write(clientFrame(0x88, payload))
	if !echo {
		connTestFinish(rc, code)
		if err := connTestWait(t, errs, "the handler's read"); connTestFailCode(err) != code {
			t.Fatalf("the handler's read returned %v, want a failure with code %d", err, code)
		}
		return
	}
	if reason := rc.expectClose(code); reason != string(payload[2:]) {
		t.Fatalf("C1: the answering close carries reason %q, want the peer's %q echoed", reason, payload[2:])
	}
	rc.expectEOF()
	err := connTestWait(t, errs, "the handler's read")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != code || ce.Reason != string(payload[2:]) {
		t.Fatalf("the handler's read returned %v, want a CloseError with code %d and reason %q", err, code, payload[2:])
	}
}

// C3: a close payload of one byte is a protocol error.
func TestConnC3OneByteClosePayload(t *testing.T) {
	connTestCheckClose(t, []byte{0x03}, false, StatusProtocolError)
}

// C4: close codes received on the wire must be valid; the others are
// protocol errors.
func TestConnC4CloseCodes(t *testing.T) {
	refused := []StatusCode{0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}
	accepted := []StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999}
	for _, code := range refused {
		t.Run(fmt.Sprintf("C4/refused %d", uint16(code)), func(t *testing.T) {
			connTestCheckClose(t, closePayload(code, ""), false, StatusProtocolError)
		})
	}
	for _, code := range accepted {
		t.Run(fmt.Sprintf("C4/accepted %d", uint16(code)), func(t *testing.T) {
			connTestCheckClose(t, closePayload(code, "reason"), true, code)
		})
	}
}

// C4, C8: a peer whose close frame is invalid has closed all the same and
// sends nothing more, so the server answers with 1002 and closes TCP at
// once instead of waiting out its close timeout for a second close.
func TestConnC4InvalidCloseEndsAtOnce(t *testing.T) {
	u := &Upgrader{CloseTimeout: time.Hour} // far beyond the raw client's own deadline
	url := startServer(t, u, func(c *Conn) { c.ReadMessage() })
	rc := dialRaw(t, url)
	rc.write(clientFrame(0x88, closePayload(1004, "")))
	rc.expectClose(StatusProtocolError)
	rc.expectEOF()
}

// C5: the close reason must be valid UTF-8.
func TestConnC5CloseReasonUTF8(t *testing.T) {
	t.Run("C5/invalid reason", func(t *testing.T) {
		connTestCheckClose(t, closePayload(StatusNormalClosure, "bad \xff reason"), false, StatusInvalidFramePayloadData)
	})
	t.Run("C5/truncated code point", func(t *testing.T) {
		connTestCheckClose(t, closePayload(StatusNormalClosure, "caf\xc3"), false, StatusInvalidFramePayloadData)
	})
	t.Run("C5/valid non-ASCII reason", func(t *testing.T) {
		connTestCheckClose(t, closePayload(StatusGoingAway, "au revoir, café €"), true, StatusGoingAway)
	})
}

// C6: 1005, 1006 and 1015 are never sent: CloseWithStatus refuses them and
// sends nothing, and an empty close is answered by an empty close, not one
// carrying 1005.
func TestConnC6ReservedCodesNeverSent(t *testing.T) {
	reserved := []StatusCode{StatusNoStatusReceived, StatusAbnormalClosure, StatusTLSHandshake}
	results := make(chan error, len(reserved))
	readErr := make(chan error, 1)
	url := startServer(t, nil, func(c *Conn) {
		for _, code := range reserved {
			results <- c.CloseWithStatus(code, "")
		}
		c.WriteMessage(TextMessage, []byte("still open"))
		_, _, err := c.ReadMessage()
		readErr <- err
	})
	rc := dialRaw(t, url)
	for _, code := range reserved {
		if err := connTestWait(t, results, "CloseWithStatus"); err == nil {
			t.Errorf("CloseWithStatus(%d) returned no error", uint16(code))
		}
	}
	// The first frame on the wire is the message: nothing went out before.
	f, err := rc.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	if f.op != 0x1 || string(f.payload) != "still open" {
		t.Fatalf("first frame op %#x payload %q, want the text message", f.op, f.payload)
	}

	rc.write(clientFrame(0x88, nil))
	f, err = rc.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	if f.op != 0x8 || len(f.payload) != 0 {
		t.Fatalf("answer to an empty close: op %#x payload %x, want an empty close frame", f.op, f.payload)
	}
	rc.expectEOF()
	err = connTestWait(t, readErr, "the handler's read")
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusNoStatusReceived {
		t.Fatalf("the handler's read returned %v, want a CloseError with code 1005", err)
	}
}

// C6: the check behind CloseWithStatus, on its own.
func TestConnC6CheckCloseToSend(t *testing.T) {
	tests := []struct {
		name   string
		code   StatusCode
		reason string
		ok     bool
	}{
		{
			name: "C6/1000",
			code: StatusNormalClosure,
			ok:   true,
		},
		{
			name: "C6/1005",
			code: StatusNoStatusReceived,
		},
		{
			name: "C6/1006",
			code: StatusAbnormalClosure,
		},
		{
			name: "C6/1015",
			code: StatusTLSHandshake,
		},
		{
			name: "C6/0",
			code: 0,
		},
		{
			name:   "C6/123-byte reason",
			code:   StatusGoingAway,
			reason: strings.Repeat("r", 123),
			ok:     true,
		},
		{
			name:   "C6/124-byte reason",
			code:   StatusGoingAway,
			reason: strings.Repeat("r", 124),
		},
		{
			name:   "C6/invalid UTF-8 reason",
			code:   StatusGoingAway,
			reason: "\xff",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkCloseToSend(tt.code, tt.reason)
			if (err == nil) != tt.ok {
				t.Fatalf("checkCloseToSend(%d, %d bytes) = %v, want ok %v", uint16(tt.code), len(tt.reason), err, tt.ok)
			}
		})
	}
}

// C7: Close does not wait forever for a peer that never answers its close
// frame: after the close timeout the server closes the TCP connection,
// whether or not a goroutine is reading.
func TestConnC7CloseTimeout(t *testing.T) {
	tests := []struct {
		name    string
		reading bool
	}{
		{
			name: "C7/no reader",
		},
		{
			name:    "C7/reader blocked in ReadMessage",
			reading: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed := make(chan error, 1)
			url := startServer(t, &Upgrader{CloseTimeout: 200 * time.Millisecond}, func(c *Conn) {
				readDone := make(chan struct{})
				if tt.reading {
					go func() {
						defer close(readDone)
						c.ReadMessage()
					}()
				} else {
					close(readDone)
				}
				closed <- c.Close()
				<-readDone
			})
			rc := dialRaw(t, url)
			rc.expectClose(StatusNormalClosure)
			// The client never answers; the server must close TCP anyway.
			rc.expectEOF()
			connTestWait(t, closed, "Close to return")
		})
	}
}

// C7: Close returns while the peer reads nothing and another goroutine's
// write is stuck on a full TCP buffer: the write deadline Close sets frees
// the writer.
func TestConnC7CloseWithWriterStuck(t *testing.T) {
	closed := make(chan error, 1)
	writeErr := make(chan error, 1)
	url := startServer(t, &Upgrader{CloseTimeout: 200 * time.Millisecond}, func(c *Conn) {
		connTestShrinkBuffers(c)
		started := make(chan struct{})
		go func() {
			close(started)
			// Far more than the kernel buffers can hold for a peer that
			// does not read: this write cannot finish.
			writeErr <- c.WriteMessage(BinaryMessage, connTestBig())
		}()
		<-started
		closed <- c.Close()
	})
	rc := dialRaw(t, url)
	connTestShrinkReadBuffer(rc)
	connTestWait(t, closed, "Close to return")
	if err := connTestWait(t, writeErr, "the stuck writer"); err == nil {
		t.Fatal("the write of a message the peer never read returned no error")
	}
	// The connection is closed: reading what was sent ends, without a
	// timeout.
	if _, err := io.Copy(io.Discard, rc.br); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the server did not close the TCP connection")
		}
	}
}

// C8: failing the connection sends a close frame with the code of the
// failure, then closes TCP; also when the peer never answers that close.
func TestConnC8FailureSendsCloseFirst(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
	}{
		{
			name:  "C8/reserved opcode 0x3",
			frame: clientFrame(0x83, nil),
		},
		{
			name:  "C8/reserved opcode 0xB",
			frame: clientFrame(0x8B, []byte("x")),
		},
		{
			name:  "C8/RSV1 set",
			frame: clientFrame(0xC1, []byte("x")),
		},
		{
			name:  "C8/unmasked frame",
			frame: encodeFrame(0x81, []byte("unmasked"), nil),
		},
		{
			name:  "C8/continuation without a message",
			frame: clientFrame(0x80, []byte("x")),
		},
		{
			name:  "C8/fragmented ping",
			frame: clientFrame(0x09, []byte("x")),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, errs := connTestServer(t, nil)
			rc := dialRaw(t, url)
			rc.write(tt.frame)
			connTestFinish(rc, StatusProtocolError)
			if code := connTestFailCode(connTestWait(t, errs, "the handler's error")); code != StatusProtocolError {
				t.Fatalf("the handler's error has code %d, want 1002", code)
			}
		})
	}
	t.Run("C8/peer never answers the close", func(t *testing.T) {
		url, errs := connTestServer(t, &Upgrader{CloseTimeout: 100 * time.Millisecond})
		rc := dialRaw(t, url)
		rc.write(clientFrame(0x83, nil))
		rc.expectClose(StatusProtocolError)
		rc.expectEOF()
		if code := connTestFailCode(connTestWait(t, errs, "the handler's error")); code != StatusProtocolError {
			t.Fatalf("the handler's error has code %d, want 1002", code)
		}
	})
}

// C9: the peer's close code and reason reach the application as a
// *CloseError, in the server role and in the Dial client's.
func TestConnC9CloseErrorBothRoles(t *testing.T) {
	t.Run("C9/server reads the client's close", func(t *testing.T) {
		errs := make(chan error, 1)
		url := startServer(t, nil, func(c *Conn) {
			_, _, err := c.ReadMessage()
			errs <- err
		})
		c := connTestDial(t, url, nil)
		if err := c.CloseWithStatus(4001, "client bye"); err != nil {
			t.Fatalf("CloseWithStatus: %v", err)
		}
		err := connTestWait(t, errs, "the handler's read")
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "client bye" {
			t.Fatalf("the server read %v, want a CloseError 4001 \"client bye\"", err)
		}
	})
	t.Run("C9/client reads the server's close", func(t *testing.T) {
		closed := make(chan error, 1)
		url := startServer(t, nil, func(c *Conn) {
			closed <- c.CloseWithStatus(4002, "server bye")
		})
		c := connTestDial(t, url, nil)
		_, _, err := c.ReadMessage()
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != 4002 || ce.Reason != "server bye" {
			t.Fatalf("the client read %v, want a CloseError 4002 \"server bye\"", err)
		}
		if err := connTestWait(t, closed, "the server's CloseWithStatus"); err != nil {
			t.Fatalf("the server's CloseWithStatus returned %v after the client's answer", err)
		}
	})
}

// C9: a peer that vanishes in the middle of a frame gives a CloseError
// with code 1006 that wraps io.ErrUnexpectedEOF, in both roles.
func TestConnC9AbruptClose(t *testing.T) {
	tests := []struct {
		name       string
		sent       []byte
		unexpected bool // the stream ended inside a frame
		serverOnly bool // only client frames have a masking key
	}{
		{
			name:       "C9/inside the payload",
			sent:       clientFrame(0x82, make([]byte, 100))[:2+4+10],
			unexpected: true,
		},
		{
			name:       "C9/inside the first header bytes",
			sent:       []byte{0x82},
			unexpected: true,
		},
		{
			name:       "C9/inside the extended length",
			sent:       []byte{0x82, 0x80 | 126, 0x01},
			unexpected: true,
		},
		{
			name:       "C9/inside the masking key",
			sent:       []byte{0x82, 0x85, 0x01, 0x02},
			unexpected: true,
			serverOnly: true,
		},
		{
			name:       "C9/inside a ping",
			sent:       clientFrame(0x89, make([]byte, 20))[:2+4+3],
			unexpected: true,
		},
		{
			name:       "C9/inside the second fragment",
			sent:       append(clientFrame(0x02, []byte("first")), clientFrame(0x80, make([]byte, 50))[:2+4+5]...),
			unexpected: true,
		},
		{
			name: "C9/between frames",
			sent: nil,
		},
	}
	for _, tt := range tests {
		t.Run("server role/"+tt.name, func(t *testing.T) {
			errs := make(chan error, 1)
			url := startServer(t, nil, func(c *Conn) {
				_, _, err := c.ReadMessage()
				errs <- err
			})
			rc := dialRaw(t, url)
			if tt.sent != nil {
				rc.write(tt.sent)
			}
			rc.conn.Close()
			connTestCheckAbrupt(t, connTestWait(t, errs, "the handler's read"), tt.unexpected)
		})
	}
	for _, tt := range tests {
		if tt.serverOnly {
			continue
		}
		t.Run("client role/"+tt.name, func(t *testing.T) {
			url, peers := serveRaw(t, nil)
			c := connTestDial(t, url, nil)
			p := acceptRaw(t, peers)
			if tt.sent != nil {
				// The same bytes, unmasked as a server sends them.
				sent := connTestUnmaskFrames(tt.sent)
				if _, err := p.conn.Write(sent); err != nil {
					t.Fatal(err)
				}
			}
			p.conn.Close()
			c.SetReadDeadline(time.Now().Add(testTimeout))
			_, _, err := c.ReadMessage()
			connTestCheckAbrupt(t, err, tt.unexpected)
		})
	}
}

// connTestUnmaskFrames rewrites a client stream built by clientFrame, cut
// short anywhere but inside a masking key, as a server would send it: mask
// bits cleared, keys removed, payloads unmasked.
func connTestUnmaskFrames(b []byte) []byte {
	var out []byte
	for len(b) >= 2 {
		b0, b1 := b[0], b[1]
		n := int(b1 & 0x7F)
		ext := 0
		switch n {
		case 126:
			ext = 2
		case 127:
			ext = 8
		}
		if len(b) < 2+ext {
			return append(append(out, b0, b1&0x7F), b[2:]...)
		}
		if ext == 2 {
			n = int(binary.BigEndian.Uint16(b[2:]))
		}
		if b1&0x80 == 0 || len(b) < 2+ext+4 {
			return append(append(out, b0, b1&0x7F), b[2:2+ext]...)
		}
		var key [4]byte
		copy(key[:], b[2+ext:])
		out = append(append(out, b0, b1&0x7F), b[2:2+ext]...)
		body := b[2+ext+4:]
		k := min(n, len(body))
		for i := 0; i < k; i++ {
			out = append(out, body[i]^key[i%4])
		}
		b = body[k:]
	}
	return append(out, b...)
}

// connTestCheckAbrupt checks the error of a read that the peer's vanishing
// ended.
func connTestCheckAbrupt(t *testing.T, err error, unexpected bool) {
	t.Helper()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure {
		t.Fatalf("read returned %v, want a CloseError with code 1006", err)
	}
	if unexpected && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read returned %v, which does not wrap io.ErrUnexpectedEOF although the stream ended inside a frame", err)
	}
}

// ---- S1–S5: robustness ----

// connTestSettledMemStats reads the memory statistics after garbage
// collections that also empty the sync.Pool caches, which survive one.
func connTestSettledMemStats(m *runtime.MemStats) {
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(m)
}

// S1: a stream of 10,000 pings gets 10,000 pongs, in order and with their
// payloads, and the memory in use does not grow with the number of pings.
func TestConnS1PingFlood(t *testing.T) {
	const warmup, count, batch = 1000, 10000, 100
	url := startServer(t, nil, func(c *Conn) { c.ReadMessage() })
	rc := dialRaw(t, url)
	payload := func(i int) []byte {
		p := make([]byte, 125)
		binary.BigEndian.PutUint32(p, uint32(i))
		for j := 4; j < len(p); j++ {
			p[j] = byte(i + j)
		}
		return p
	}
	writeErr := make(chan error, 1)
	go func() {
		var buf []byte
		for i := 0; i < warmup+count; i++ {
			buf = append(buf, clientFrame(0x89, payload(i))...)
			if (i+1)%batch == 0 {
				if _, err := rc.conn.Write(buf); err != nil {
					writeErr <- err
					return
				}
				buf = buf[:0]
			}
		}
		writeErr <- nil
	}()
	var before, after runtime.MemStats
	for i := 0; i < warmup+count; i++ {
		if i == warmup {
			connTestSettledMemStats(&before)
		}
		f, err := rc.readFrame()
		if err != nil {
			t.Fatalf("pong %d: %v", i, err)
		}
		if f.op != 0xA || !bytes.Equal(f.payload, payload(i)) {
			t.Fatalf("frame %d: op %#x, want the pong of ping %d", i, f.op, i)
		}
	}
	connTestSettledMemStats(&after)
	if err := connTestWait(t, writeErr, "the pings to be sent"); err != nil {
		t.Fatal(err)
	}
	// 10,000 pings of 125 bytes: keeping anything of each would take more
	// than a megabyte.
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	if growth > 512<<10 {
		t.Errorf("heap in use grew by %d bytes over %d pings", growth, count)
	}
	connTestCloseNormal(rc)
}

// S2: the zero Upgrader limits messages to DefaultReadLimit: a header
// claiming one byte more is refused with 1009 before any payload is sent.
func TestConnS2DefaultReadLimit(t *testing.T) {
	errs := make(chan error, 1)
	limits := make(chan int64, 1)
	url := startServer(t, &Upgrader{}, func(c *Conn) {
		limits <- c.readLimit.Load()
		_, _, err := c.ReadMessage()
		errs <- err
	})
	rc := dialRaw(t, url)
	hdr := []byte{0x82, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, DefaultReadLimit+1)
	hdr = append(hdr, testKey[:]...)
	rc.write(hdr)
	rc.expectClose(StatusMessageTooBig)
	rc.conn.Close()
	if err := connTestWait(t, errs, "the handler's read"); !errors.Is(err, ErrReadLimit) {
		t.Fatalf("the handler's read returned %v, want ErrReadLimit", err)
	}
	if l := connTestWait(t, limits, "the limit"); l != DefaultReadLimit {
		t.Fatalf("the zero Upgrader's read limit is %d, want DefaultReadLimit (%d)", l, DefaultReadLimit)
	}
	if DefaultReadLimit != 16<<20 {
		t.Fatalf("DefaultReadLimit is %d, the documentation says 16 MiB", DefaultReadLimit)
	}
}

// S2: the zero Upgrader refuses an Origin from another host with 403 and
// accepts the page's own origin and requests without Origin.
func TestConnS2OriginCheckedByDefault(t *testing.T) {
	url := startServer(t, &Upgrader{}, func(c *Conn) { c.ReadMessage() })
	host := strings.TrimPrefix(url, "ws://")
	tests := []struct {
		name   string
		origin string
		status int
	}{
		{
			name:   "S2/foreign origin",
			origin: "http://evil.example",
			status: http.StatusForbidden,
		},
		{
			name:   "S2/foreign origin with the same port",
			origin: "http://evil.example:" + host[strings.LastIndexByte(host, ':')+1:],
			status: http.StatusForbidden,
		},
		{
			name:   "S2/same origin",
			origin: "http://" + host,
			status: http.StatusSwitchingProtocols,
		},
		{
			name:   "S2/no origin",
			status: http.StatusSwitchingProtocols,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra []string
			if tt.origin != "" {
				extra = append(extra, "Origin: "+tt.origin)
			}
			rc := dialRawNoCheck(t, url, extra...)
			if rc.resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", rc.resp.StatusCode, tt.status)
			}
			if tt.status == http.StatusSwitchingProtocols {
				connTestCloseNormal(rc)
			}
		})
	}
	t.Run("S2/Dial with a foreign origin", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		c, err := Dial(ctx, url, &DialOptions{Header: http.Header{"Origin": {"http://evil.example"}}})
		if err == nil {
			c.closeTransport()
			t.Fatal("Dial with a foreign Origin succeeded")
		}
	})
}

// S3: the Dial client masks every frame, control frames included, each
// with a key of its own.
func TestConnS3ClientMasksEveryFrame(t *testing.T) {
	url, peers := serveRaw(t, nil)
	c := connTestDial(t, url, nil)
	p := acceptRaw(t, peers)

	// 20 frames: 16 small messages, 2 pings, and a message of two frames.
	var want []rawFrame
	for i := 0; i < 16; i++ {
		msg := bytes.Repeat([]byte{byte('a' + i)}, i*250)
		if err := c.WriteMessage(BinaryMessage, msg); err != nil {
			t.Fatal(err)
		}
		want = append(want, rawFrame{fin: true, op: 0x2, payload: msg})
	}
	for i := 0; i < 2; i++ {
		ping := []byte(fmt.Sprintf("ping %d", i))
		if err := c.Ping(ping); err != nil {
			t.Fatal(err)
		}
		want = append(want, rawFrame{fin: true, op: 0x9, payload: ping})
	}
	long := bytes.Repeat([]byte("long message "), maxFrameSize/13+1000) // more than a frame holds
	if err := c.WriteMessage(TextMessage, long); err != nil {
		t.Fatal(err)
	}

	keys := make(map[[4]byte]int)
	var got []rawFrame
	for len(got) < 20 {
		f, err := readRawFrame(p.br, 2*maxFrameSize)
		if err != nil {
			t.Fatalf("frame %d: %v", len(got), err)
		}
		if !f.masked {
			t.Fatalf("frame %d (op %#x) is not masked", len(got), f.op)
		}
		if j, ok := keys[f.key]; ok {
			t.Fatalf("frames %d and %d have the same masking key %x", j, len(got), f.key)
		}
		keys[f.key] = len(got)
		got = append(got, f)
	}
	for i, w := range want {
		if got[i].fin != w.fin || got[i].op != w.op || !bytes.Equal(got[i].payload, w.payload) {
			t.Fatalf("frame %d: fin %v op %#x %d bytes, want fin %v op %#x %d bytes", i, got[i].fin, got[i].op, len(got[i].payload), w.fin, w.op, len(w.payload))
		}
	}
	if got[18].op != 0x1 || got[18].fin || got[19].op != 0x0 || !got[19].fin ||
		!bytes.Equal(append(got[18].payload, got[19].payload...), long) {
		t.Fatal("the long message did not arrive as two masked frames")
	}

	// The close frame is masked too, with yet another key.
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	f, err := readRawFrame(p.br, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if f.op != 0x8 || !f.masked {
		t.Fatalf("got op %#x masked %v, want a masked close frame", f.op, f.masked)
	}
	if _, ok := keys[f.key]; ok {
		t.Fatalf("the close frame reuses masking key %x", f.key)
	}
	p.conn.Write(encodeFrame(0x88, closePayload(StatusNormalClosure, ""), nil))
	p.conn.Close()
	if err := connTestWait(t, closed, "the client's Close"); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// S4: a peer that stops reading, or stops in the middle of a frame, does
// not hold up another connection to the same server.
func TestConnS4StalledPeerDoesNotBlockOthers(t *testing.T) {
	writing := make(chan struct{}, 1)
	ended := make(chan error, 3)
	url := startServer(t, nil, func(c *Conn) {
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				ended <- err
				return
			}
			if string(p) == "stall" {
				connTestShrinkBuffers(c)
				writing <- struct{}{}
				ended <- c.WriteMessage(BinaryMessage, connTestBig())
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				ended <- err
				return
			}
		}
	})

	notReading := dialRaw(t, url)
	connTestShrinkReadBuffer(notReading)
	notReading.write(clientFrame(0x81, []byte("stall")))
	connTestWait(t, writing, "the stalled write to start")

	halfFrame := dialRaw(t, url)
	halfFrame.write([]byte{0x82})

	c := connTestDial(t, url, nil)
	c.SetReadDeadline(time.Now().Add(testTimeout))
	for i := 0; i < 10; i++ {
		msg := []byte(fmt.Sprintf("message %d", i))
		if err := c.WriteMessage(TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		_, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("echo %d while other peers stall: %v", i, err)
		}
		if !bytes.Equal(p, msg) {
			t.Fatalf("echo %q, want %q", p, msg)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	notReading.conn.Close()
	halfFrame.conn.Close()
	for i := 0; i < 3; i++ {
		connTestWait(t, ended, "the handlers to end")
	}
}

// S4: SetReadDeadline makes a read return a timeout error, in both roles.
func TestConnS4ReadDeadline(t *testing.T) {
	check := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read returned %v, want os.ErrDeadlineExceeded", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read returned %v, which is not a timeout net.Error", err)
		}
	}
	t.Run("S4/server role", func(t *testing.T) {
		errs := make(chan error, 2)
		url := startServer(t, nil, func(c *Conn) {
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, _, err := c.ReadMessage()
			errs <- err
			_, _, err = c.ReadMessage()
			errs <- err
		})
		rc := dialRaw(t, url)
		check(t, connTestWait(t, errs, "the handler's read"))
		if err := connTestWait(t, errs, "the second read"); err == nil {
			t.Fatal("a read after the deadline failure succeeded")
		}
		rc.expectEOF()
	})
	t.Run("S4/client role", func(t *testing.T) {
		url := startServer(t, nil, func(c *Conn) { c.ReadMessage() })
		c := connTestDial(t, url, nil)
		c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, _, err := c.ReadMessage()
		check(t, err)
	})
}

// S4: SetWriteDeadline makes a write blocked on a peer that does not read
// return.
func TestConnS4WriteDeadline(t *testing.T) {
	errs := make(chan error, 1)
	url := startServer(t, nil, func(c *Conn) {
		connTestShrinkBuffers(c)
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		errs <- c.WriteMessage(BinaryMessage, connTestBig())
	})
	rc := dialRaw(t, url)
	connTestShrinkReadBuffer(rc)
	if err := connTestWait(t, errs, "the blocked write"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the write returned %v, want os.ErrDeadlineExceeded", err)
	}
}

// A frame larger than what the socket takes at once leaves in several
// writes, each sending what the one before left, header and payload in
// order. Both sides shrink their socket buffers, so that every large frame
// is split; each message's bytes depend on their position and on the
// message, so that a byte sent twice, skipped or out of place shows.
func TestConnPartialWrites(t *testing.T) {
	sizes := []int{3<<20 + 1, maxFrameSize, 100 << 10, 10}
	payload := func(i, n int) []byte {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(j + j>>8 + j>>16 + i*31)
		}
		return b
	}
	// check reads len(sizes) messages from c and compares them.
	check := func(c *Conn) error {
		c.SetReadDeadline(time.Now().Add(testTimeout)) // a lost byte stalls the stream
		for i, n := range sizes {
			_, p, err := c.ReadMessage()
			if err != nil {
				return err
			}
			if !bytes.Equal(p, payload(i, n)) {
				return fmt.Errorf("message %d (%d bytes) came as %d different bytes", i, n, len(p))
			}
		}
		return nil
	}
	// send writes the messages to c, each with a single Write, so that
	// whole frames leave straight from the payload.
	send := func(c *Conn) error {
		for i, n := range sizes {
			w, err := c.NextWriter(BinaryMessage)
			if err != nil {
				return err
			}
			if _, err := w.Write(payload(i, n)); err != nil {
				return err
			}
			if err := w.Close(); err != nil {
				return err
			}
		}
		return nil
	}
	shrink := func(c *Conn) {
		if tc, ok := c.t.(*net.TCPConn); ok {
			tc.SetWriteBuffer(16 << 10)
			tc.SetReadBuffer(16 << 10)
		}
	}
	errs := make(chan error, 1)
	url := startServer(t, nil, func(c *Conn) {
		shrink(c)
		err := check(c)
		if err == nil {
			err = send(c)
		}
		errs <- err
	})
	c := connTestDial(t, url, nil)
	shrink(c)
	if err := send(c); err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := check(c); err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := connTestWait(t, errs, "the server"); err != nil {
		t.Fatalf("server: %v", err)
	}
}

// S5: after connections end in every way (clean close, abrupt close,
// protocol error), no goroutine and no file descriptor is left behind.
func TestConnS5NoLeaks(t *testing.T) {
	url, _ := connTestServer(t, &Upgrader{CloseTimeout: time.Second})
	fds := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			return -1
		}
		return len(entries)
	}
	kinds := []func(t *testing.T){
		func(t *testing.T) { // clean close by the client
			c := connTestDial(t, url, nil)
			if err := c.WriteMessage(TextMessage, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.ReadMessage(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		},
		func(t *testing.T) { // the client vanishes
			rc := dialRaw(t, url)
			rc.write(clientFrame(0x81, []byte("hi")))
			connTestReadData(rc)
			rc.write(clientFrame(0x82, make([]byte, 10))[:8])
			rc.conn.Close()
		},
		func(t *testing.T) { // protocol error
			rc := dialRaw(t, url)
			rc.write(clientFrame(0x83, nil))
			connTestFinish(rc, StatusProtocolError)
			rc.conn.Close()
		},
	}
	baseG, baseFD := runtime.NumGoroutine(), fds()
	for i := 0; i < 20; i++ {
		kinds[i%len(kinds)](t)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(testTimeout)
	for {
		g, fd := runtime.NumGoroutine(), fds()
		if g <= baseG && fd <= baseFD {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines and %d file descriptors remain, %d and %d before the connections (fd -1: no /proc)\n%s", g, fd, baseG, baseFD, buf)
		}
		<-tick.C
	}
}

// ---- Performance contract ----

// TestConnAllocsWrite: writing a small message allocates nothing, whether
// with WriteMessage or with NextWriter, Write and Close.
func TestConnAllocsWrite(t *testing.T) {
	if connTestRaceEnabled() {
		t.Skip("allocation counts are not exact under the race detector")
	}
	server, client := pipeConns(t, config{})
	for _, c := range []*Conn{server, client} {
		go func(peer transport) {
			buf := make([]byte, 64<<10)
			for {
				if _, err := peer.Read(buf); err != nil {
					return
				}
			}
		}(c.t)
	}
	// The peers' transports are the pipe's two ends: each drain reads what
	// the other Conn writes.
	small, kib := make([]byte, 16), make([]byte, 1024)
	nextWriter := func(c *Conn) error {
		w, err := c.NextWriter(BinaryMessage)
		if err != nil {
			return err
		}
		if _, err := w.Write(kib); err != nil {
			return err
		}
		return w.Close()
	}
	tests := []struct {
		name  string
		write func() error
	}{
		{
			name:  "server WriteMessage 16 B",
			write: func() error { return server.WriteMessage(BinaryMessage, small) },
		},
		{
			name:  "server WriteMessage 1 KiB",
			write: func() error { return server.WriteMessage(BinaryMessage, kib) },
		},
		{
			name:  "server NextWriter 1 KiB",
			write: func() error { return nextWriter(server) },
		},
		{
			name:  "server Ping",
			write: func() error { return server.Ping(small) },
		},
		{
			name:  "client WriteMessage 16 B",
			write: func() error { return client.WriteMessage(BinaryMessage, small) },
		},
		{
			name:  "client WriteMessage 1 KiB",
			write: func() error { return client.WriteMessage(BinaryMessage, kib) },
		},
		{
			name:  "client NextWriter 1 KiB",
			write: func() error { return nextWriter(client) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			allocs := testing.AllocsPerRun(200, func() {
				if e := tt.write(); e != nil {
					err = e
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Fatalf("%v allocations per message, want 0", allocs)
			}
		})
	}
}

// TestConnAllocsRead: ReadMessage allocates only the slice it returns, and
// NextReader with io.Copy to io.Discard, or to NextWriter, allocates
// nothing.
func TestConnAllocsRead(t *testing.T) {
	if connTestRaceEnabled() {
		t.Skip("allocation counts are not exact under the race detector")
	}
	tests := []struct {
		name   string
		frame  []byte
		allocs float64
		read   func(c *Conn) error
	}{
		{
			name:   "ReadMessage 16 B",
			frame:  clientFrame(0x82, make([]byte, 16)),
			allocs: 1,
			read: func(c *Conn) error {
				_, _, err := c.ReadMessage()
				return err
			},
		},
		{
			name:   "ReadMessage 1 KiB text",
			frame:  clientFrame(0x81, bytes.Repeat([]byte("é"), 512)),
			allocs: 1,
			read: func(c *Conn) error {
				_, _, err := c.ReadMessage()
				return err
			},
		},
		{
			name:   "NextReader io.Copy 1 KiB",
			frame:  clientFrame(0x82, make([]byte, 1024)),
			allocs: 0,
			read: func(c *Conn) error {
				_, r, err := c.NextReader()
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, r)
				return err
			},
		},
		{
			name:   "NextReader io.Copy 100 KiB",
			frame:  clientFrame(0x82, make([]byte, 100<<10)),
			allocs: 0,
			read: func(c *Conn) error {
				_, r, err := c.NextReader()
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, r)
				return err
			},
		},
		{
			// The read buffer goes to the writer, which gives it back.
			name:   "echo with io.Copy to NextWriter 1 MiB",
			frame:  clientFrame(0x82, make([]byte, 1<<20)),
			allocs: 0,
			read:   connTestEchoCopy,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := pipeConns(t, config{})
			go func() {
				for {
					if _, err := client.t.Write(tt.frame); err != nil {
						return
					}
				}
			}()
			go io.Copy(io.Discard, client.t) // what the server sends back
			var err error
			allocs := testing.AllocsPerRun(50, func() {
				if e := tt.read(server); e != nil {
					err = e
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != tt.allocs {
				t.Fatalf("%v allocations per message, want %v", allocs, tt.allocs)
			}
		})
	}
}

// TestConnCopyUsesWriterToReaderFrom: the message reader is an io.WriterTo
// and the message writer an io.ReaderFrom, and io.Copy between them echoes
// messages of every size intact.
func TestConnCopyUsesWriterToReaderFrom(t *testing.T) {
	kinds := make(chan string, 2)
	url := startServer(t, nil, func(c *Conn) {
		for i := 0; ; i++ {
			mt, r, err := c.NextReader()
			if err != nil {
				return
			}
			w, err := c.NextWriter(mt)
			if err != nil {
				return
			}
			_, isWriterTo := r.(io.WriterTo)
			rf, isReaderFrom := w.(io.ReaderFrom)
			if i == 0 {
				kinds <- fmt.Sprintf("WriterTo %v, ReaderFrom %v", isWriterTo, isReaderFrom)
			}
			// Alternate between io.Copy, which takes the reader's
			// WriteTo, and the writer's ReadFrom called directly.
			if i%2 == 0 || !isReaderFrom {
				_, err = io.Copy(w, r)
			} else {
				_, err = rf.ReadFrom(r)
			}
			if err != nil {
				return
			}
			if err := w.Close(); err != nil {
				return
			}
		}
	})
	c := connTestDial(t, url, nil)
	for i, n := range []int{0, 1, 125, 4082, 4083, 10000, 70000, 200000} {
		mt := BinaryMessage
		msg := make([]byte, n)
		for j := range msg {
			msg[j] = byte(i + j*7)
		}
		if i%2 == 1 {
			mt = TextMessage
			msg = []byte(strings.Repeat("€", n/3+1)[:n/3*3])
		}
		if err := c.WriteMessage(mt, msg); err != nil {
			t.Fatal(err)
		}
		gotType, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("echo of %d bytes: %v", len(msg), err)
		}
		if gotType != mt || !bytes.Equal(got, msg) {
			t.Fatalf("echo of a %v message of %d bytes: got %v, %d bytes", mt, len(msg), gotType, len(got))
		}
		if i == 0 {
			if k := connTestWait(t, kinds, "the handler's types"); k != "WriterTo true, ReaderFrom true" {
				t.Fatalf("the message reader and writer implement: %s", k)
			}
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// connTestCountingTransport is a transport that records what is written
// to it and counts the Write calls.
type connTestCountingTransport struct {
	writes int
	out    bytes.Buffer
}

func (t *connTestCountingTransport) Read(p []byte) (int, error) { return 0, io.EOF }
func (t *connTestCountingTransport) Write(p []byte) (int, error) {
	t.writes++
	return t.out.Write(p)
}
func (t *connTestCountingTransport) Close() error                     { return nil }
func (t *connTestCountingTransport) SetReadDeadline(time.Time) error  { return nil }
func (t *connTestCountingTransport) SetWriteDeadline(time.Time) error { return nil }

// TestConnOneWritePerSmallMessage: a small message, header and payload,
// leaves in a single Write on the transport.
func TestConnOneWritePerSmallMessage(t *testing.T) {
	kib := bytes.Repeat([]byte("k"), 1024)
	tests := []struct {
		name    string
		write   func(c *Conn) error
		op      byte
		payload []byte
	}{
		{
			name:    "WriteMessage 1 KiB",
			write:   func(c *Conn) error { return c.WriteMessage(TextMessage, kib) },
			op:      0x1,
			payload: kib,
		},
		{
			name: "NextWriter 1 KiB in 8 writes",
			write: func(c *Conn) error {
				w, err := c.NextWriter(BinaryMessage)
				if err != nil {
					return err
				}
				for i := 0; i < 8; i++ {
					if _, err := w.Write(kib[i*128 : (i+1)*128]); err != nil {
						return err
					}
				}
				return w.Close()
			},
			op:      0x2,
			payload: kib,
		},
		{
			name:    "WriteMessage filling the write buffer",
			write:   func(c *Conn) error { return c.WriteMessage(BinaryMessage, make([]byte, 4096-maxHeaderSize)) },
			op:      0x2,
			payload: make([]byte, 4096-maxHeaderSize),
		},
		{
			name:    "Ping",
			write:   func(c *Conn) error { return c.Ping([]byte("p")) },
			op:      0x9,
			payload: []byte("p"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &connTestCountingTransport{}
			c := newConn(tr, nil, false, "", config{})
			if err := tt.write(c); err != nil {
				t.Fatal(err)
			}
			if tr.writes != 1 {
				t.Fatalf("%d Write calls on the transport, want 1", tr.writes)
			}
			rc := &rawClient{t: t, br: bufio.NewReader(&tr.out)}
			f, err := rc.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			if f.op != tt.op || !f.fin || f.masked || !bytes.Equal(f.payload, tt.payload) {
				t.Fatalf("frame op %#x fin %v masked %v %d bytes, want op %#x, %d bytes", f.op, f.fin, f.masked, len(f.payload), tt.op, len(tt.payload))
			}
			if rest, _ := io.ReadAll(rc.br); len(rest) != 0 {
				t.Fatalf("%d bytes follow the frame", len(rest))
			}
		})
	}
}

// connTestStreamTransport is a transport without a file descriptor, as a
// TLS connection is, that delivers a fixed byte stream and counts the Read
// calls that take it.
type connTestStreamTransport struct {
	r     *bytes.Reader
	reads int
}

func (t *connTestStreamTransport) Read(p []byte) (int, error) {
	t.reads++
	return t.r.Read(p)
}
func (t *connTestStreamTransport) Write(p []byte) (int, error)      { return len(p), nil }
func (t *connTestStreamTransport) Close() error                     { return nil }
func (t *connTestStreamTransport) SetReadDeadline(time.Time) error  { return nil }
func (t *connTestStreamTransport) SetWriteDeadline(time.Time) error { return nil }

// TestConnReadCallsWithoutFileDescriptor: over a transport without a file
// descriptor, a message arrives in reads of about a buffer each, not a few
// bytes at a time.
func TestConnReadCallsWithoutFileDescriptor(t *testing.T) {
	readMessage := func(c *Conn) (int, error) {
		_, p, err := c.ReadMessage()
		return len(p), err
	}
	copyMessage := func(c *Conn) (int, error) {
		_, r, err := c.NextReader()
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(io.Discard, r)
		return int(n), err
	}
	tests := []struct {
		name string
		size int
		read func(c *Conn) (int, error)
	}{
		{
			name: "ReadMessage 1 KiB",
			size: 1 << 10,
			read: readMessage,
		},
		{
			name: "ReadMessage 100 KiB",
			size: 100 << 10,
			read: readMessage,
		},
		{
			name: "NextReader io.Copy 1 KiB",
			size: 1 << 10,
			read: copyMessage,
		},
		{
			name: "NextReader io.Copy 100 KiB",
			size: 100 << 10,
			read: copyMessage,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &connTestStreamTransport{r: bytes.NewReader(clientFrame(0x82, make([]byte, tt.size)))}
			c := newConn(tr, nil, false, "", config{})
			n, err := tt.read(c)
			if err != nil || n != tt.size {
				t.Fatalf("read %d bytes, %v; want %d", n, err, tt.size)
			}
			// The read buffer holds 4096 bytes; allow one Read per KiB.
			if most := tt.size/1024 + 4; tr.reads > most {
				t.Errorf("%d Read calls on the transport for a %d-byte message, want at most %d", tr.reads, tt.size, most)
			}
		})
	}
}

// TestConnIdleHoldsNoReadBuffer: once a message has been read, a server
// Conn holds no read buffer, over TCP and over net.Pipe.
func TestConnIdleHoldsNoReadBuffer(t *testing.T) {
	sizes := []int{10, 1000, 5000, 100000}
	t.Run("TCP", func(t *testing.T) {
		idle := make(chan bool, 1)
		url := startServer(t, nil, func(c *Conn) {
			for {
				mt, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				idle <- c.in.buf == nil
				if err := c.WriteMessage(mt, p); err != nil {
					return
				}
			}
		})
		c := connTestDial(t, url, nil)
		for _, n := range sizes {
			if err := c.WriteMessage(BinaryMessage, make([]byte, n)); err != nil {
				t.Fatal(err)
			}
			if !connTestWait(t, idle, "the server's read") {
				t.Fatalf("after reading a %d-byte message the server Conn still holds a read buffer", n)
			}
			if _, _, err := c.ReadMessage(); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("net.Pipe", func(t *testing.T) {
		server, client := pipeConns(t, config{})
		for _, n := range sizes {
			for _, streaming := range []bool{false, true} {
				written := make(chan error, 1)
				go func() { written <- client.WriteMessage(BinaryMessage, make([]byte, n)) }()
				if streaming {
					_, r, err := server.NextReader()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, r); err != nil {
						t.Fatal(err)
					}
				} else if _, _, err := server.ReadMessage(); err != nil {
					t.Fatal(err)
				}
				if err := connTestWait(t, written, "the client's write"); err != nil {
					t.Fatal(err)
				}
				if server.in.buf != nil {
					t.Fatalf("after reading a %d-byte message (streaming %v) the server Conn still holds a read buffer", n, streaming)
				}
			}
		}
	})
}

// TestConnIdleMemory: a server Conn over TCP that waits for its next
// message keeps little heap of its own: the Conn, its done channel and its
// reading half's state, no buffer. (With room for control frames and a
// client's masking keys inside every Conn it was 1,293 bytes: the Conn
// passed 512 bytes, where the allocator adds a header and rounds up to
// 896.)
func TestConnIdleMemory(t *testing.T) {
	const conns, most = 64, 700
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted []net.Conn
	for range conns {
		peer, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		nc, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		accepted = append(accepted, nc)
	}
	held := make([]*Conn, conns)
	var before, after runtime.MemStats
	connTestSettledMemStats(&before)
	for i, nc := range accepted {
		held[i] = newConn(nc, nil, false, "", config{})
	}
	connTestSettledMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / conns
	t.Logf("%d bytes of heap per idle server Conn", per)
	if per > most {
		t.Errorf("an idle server Conn keeps %d bytes of heap, want at most %d", per, most)
	}
	runtime.KeepAlive(held)
}

// BenchmarkRoundTrip measures an echo over TCP: the client writes a message
// and reads it back from a server that copies it with NextReader and
// NextWriter.
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{16, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			url := startServer(b, nil, echoStreams)
			c := connTestDial(b, url, nil)
			msg := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.WriteMessage(BinaryMessage, msg); err != nil {
					b.Fatal(err)
				}
				_, r, err := c.NextReader()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			c.Close()
		})
	}
}

// C9: after Close, a read reports the peer's answer to the close as a
// *CloseError whether or not a goroutine was reading when Close ran.
func TestConnC9ReadAfterCloseReportsPeerAnswer(t *testing.T) {
	url := startServer(t, nil, func(c *Conn) { c.ReadMessage() })
	c, err := Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWithStatus(StatusGoingAway, "bye"); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusGoingAway || ce.Reason != "bye" {
		t.Fatalf("read after Close returned %v, want the server's answer: CloseError 1001 \"bye\"", err)
	}
	if err := c.WriteMessage(TextMessage, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close returned %v, want ErrClosed", err)
	}
}

// An echo through io.Copy from a NextReader into a NextWriter sends the
// message in as few frames as maxFrameSize allows, the last one carrying
// FIN: no empty frame follows to end it.
func TestConnCopyEchoFraming(t *testing.T) {
	url := startServer(t, nil, echoStreams)
	rc := dialRaw(t, url)
	for _, n := range []int{16 << 10, 200 << 10, 2*maxFrameSize + 5} {
		p := bytes.Repeat([]byte{0xA5}, n)
		rc.write(clientFrame(0x82, p))
		var got []byte
		frames := 0
		for {
			f, err := rc.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			frames++
			if len(f.payload) > maxFrameSize {
				t.Fatalf("%d bytes: a frame of %d bytes, more than %d", n, len(f.payload), maxFrameSize)
			}
			if len(f.payload) == 0 {
				t.Fatalf("%d bytes: an empty frame in the echo (frame %d)", n, frames)
			}
			got = append(got, f.payload...)
			if f.fin {
				break
			}
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("%d bytes: the echo differs", n)
		}
		if want := (n + maxFrameSize - 1) / maxFrameSize; frames != want {
			t.Errorf("%d bytes came back in %d frames, want %d", n, frames, want)
		}
	}
}

// connTestSpyTransport reads from in, and records what each Write sent
// and the memory that each Read filled and each Write was given (which may
// be reused later, so only its address counts).
type connTestSpyTransport struct {
	in     *bytes.Reader
	filled [][]byte
	given  [][]byte
	out    []byte
}

func (t *connTestSpyTransport) Read(p []byte) (int, error) {
	n, err := t.in.Read(p)
	t.filled = append(t.filled, p[:n])
	return n, err
}

func (t *connTestSpyTransport) Write(p []byte) (int, error) {
	t.given = append(t.given, p)
	t.out = append(t.out, p...)
	return len(p), nil
}

func (t *connTestSpyTransport) Close() error                     { return nil }
func (t *connTestSpyTransport) SetReadDeadline(time.Time) error  { return nil }
func (t *connTestSpyTransport) SetWriteDeadline(time.Time) error { return nil }

// within reports whether p lies inside the memory of one of bufs.
func connTestWithin(p []byte, bufs [][]byte) bool {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	for _, b := range bufs {
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		if start >= lo && start+uintptr(len(p)) <= lo+uintptr(len(b)) {
			return true
		}
	}
	return false
}

// A server that echoes a message with io.Copy from NextReader to
// NextWriter sends it back as one frame straight from the bytes it read:
// the payload is not copied on its way through. Writes after the copy
// still belong to the message.
func TestConnCopyEchoSendsFromReadBuffer(t *testing.T) {
	for _, n := range []int{64 << 10, maxFrameSize} {
		for _, tail := range []string{"", "and a tail"} {
			t.Run(fmt.Sprintf("%d bytes, tail %q", n, tail), func(t *testing.T) {
				p := bytes.Repeat([]byte("0123456789abcdef"), n/16)
				spy := &connTestSpyTransport{in: bytes.NewReader(clientFrame(0x82, p))}
				c := newConn(spy, nil, false, "", config{})
				mt, r, err := c.NextReader()
				if err != nil {
					t.Fatal(err)
				}
				w, err := c.NextWriter(mt)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(w, r); err != nil {
					t.Fatal(err)
				}
				if _, err := io.WriteString(w, tail); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}

				var got []byte
				frames := 0
				for rd := bytes.NewReader(spy.out); rd.Len() > 0; frames++ {
					f, err := readRawFrame(rd, rawFrameLimit)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, f.payload...)
					if f.fin != (rd.Len() == 0) {
						t.Fatalf("frame %d has FIN %v, with %d bytes after it", frames, f.fin, rd.Len())
					}
				}
				if want := append(p, tail...); !bytes.Equal(got, want) {
					t.Fatalf("the echo differs from the message (%d bytes, want %d)", len(got), len(want))
				}
				if tail == "" && frames != 1 {
					t.Errorf("the echo came back in %d frames, want 1", frames)
				}
				// Every write but the header's (which may have one of its
				// own without a file descriptor) sends payload, and from
				// the bytes read.
				sent := 0
				for _, b := range spy.given {
					if len(b) <= maxHeaderSize {
						continue
					}
					if !connTestWithin(b, spy.filled) {
						t.Fatal("the payload was sent from a copy, not from the bytes read")
					}
					sent += len(b)
				}
				if sent != n {
					t.Fatalf("%d bytes of payload were sent in writes of their own, want %d", sent, n)
				}
			})
		}
	}
}

// A long frame leaves in two writes, the first of headWrite bytes; a
// shorter one in a single write of header and payload. Whichever way the
// message is written.
func TestConnLongFrameLeavesWithAHead(t *testing.T) {
	writes := map[string]func(c *Conn, p []byte) error{
		"WriteMessage": func(c *Conn, p []byte) error { return c.WriteMessage(BinaryMessage, p) },
		"NextWriter": func(c *Conn, p []byte) error {
			w, err := c.NextWriter(BinaryMessage)
			if err != nil {
				return err
			}
			w.Write(p)
			return w.Close()
		},
		"io.Copy from NextReader": func(c *Conn, _ []byte) error { return connTestEchoCopy(c) },
	}
	for name, write := range writes {
		for _, n := range []int{16 << 10, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d bytes", name, n), func(t *testing.T) {
				p := bytes.Repeat([]byte{0x5A}, n)
				spy := &connTestSpyTransport{in: bytes.NewReader(clientFrame(0x82, p))}
				c := newConn(spy, nil, false, "", config{})
				if err := write(c, p); err != nil {
					t.Fatal(err)
				}
				f, err := readRawFrame(bytes.NewReader(spy.out), rawFrameLimit)
				if err != nil || !f.fin || !bytes.Equal(f.payload, p) {
					t.Fatalf("the message did not leave as one frame (%v)", err)
				}
				var ends []int // where each write ended, in the frame
				end := 0
				for _, b := range spy.given {
					if len(b) > 0 {
						end += len(b)
						ends = append(ends, end)
					}
				}
				// Without a file descriptor, the header may go in a
				// write of its own, before the payload.
				total := len(spy.out)
				if total > headWriteMin {
					if want := []int{headWrite, total}; !slices.Equal(ends[len(ends)-2:], want) {
						t.Fatalf("writes ended at %v, want the last two at %v", ends, want)
					}
				} else if !slices.Equal(ends, []int{total}) && !slices.Equal(ends, []int{total - n, total}) {
					t.Fatalf("writes ended at %v: a frame of %d bytes was cut", ends, total)
				}
			})
		}
	}
}

// connTestReadSizes is a transport that reports the size of every read.
type connTestReadSizes struct {
	net.Conn
	sizes chan int
}

func (r *connTestReadSizes) Read(p []byte) (int, error) {
	r.sizes <- len(p)
	return r.Conn.Read(p)
}

// S1: on a stream without a file descriptor (TLS, a pipe), a reader that
// waits on part of a header after a long frame waits with a buffer of the
// usual size, not one sized for that frame.
func TestConnS1PartialHeaderAfterLongFrameNoFD(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	tr := &connTestReadSizes{Conn: a, sizes: make(chan int, 1000)}
	server := newConn(tr, nil, false, "", config{})
	long := make([]byte, 1<<20-100) // the buffer for it has room to spare
	go func() {
		// A long message, and in the same write the first byte of the
		// next header: the read that ends the payload takes it too, into
		// the buffer sized for the payload.
		b.Write(append(clientFrame(0x82, long), 0x82))
	}()
	if _, r, err := server.NextReader(); err != nil {
		t.Fatal(err)
	} else if n, _ := io.Copy(io.Discard, r); n != int64(len(long)) {
		t.Fatalf("read %d bytes, want %d", n, len(long))
	}
	for len(tr.sizes) > 0 {
		<-tr.sizes
	}
	go server.NextReader() // waits for the rest of the header
	connTestWait(t, tr.sizes, "the read for the rest of the header")
	// The reader is blocked in that read, and the channel ordered its
	// writes before this look.
	if n := cap(*server.in.buf); n > defaultBufferSize {
		t.Fatalf("waiting on part of a header with a %d-byte buffer, want at most %d", n, defaultBufferSize)
	}
}

// A small frame echoed through io.Copy goes out in one write even where
// the transport cannot take a header and a payload in one call (TLS, an
// HTTP/2 stream), each write of which would be a record or a frame.
func TestConnCopyEchoSmallFrameOneWrite(t *testing.T) {
	for _, n := range []int{1, 125, 1 << 10, 4<<10 - 4} {
		p := bytes.Repeat([]byte("x"), n)
		spy := &connTestSpyTransport{in: bytes.NewReader(clientFrame(0x82, p))}
		c := newConn(spy, nil, false, "", config{})
		mt, r, err := c.NextReader()
		if err != nil {
			t.Fatal(err)
		}
		w, err := c.NextWriter(mt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if len(spy.given) != 1 {
			t.Errorf("%d bytes echoed in %d writes, want 1", n, len(spy.given))
		}
	}
}
