//lint:file-ignore SA1019 net/http's own client refuses the :protocol pseudo-header of an extended CONNECT (go1.26), so these tests use x/net/http2's Transport, deprecated for ordinary use

package h2test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rfc6455/websocket"
	"golang.org/x/net/http2"
)

const wait = 10 * time.Second

// TestMain runs the tests in a process that has the GODEBUG setting that
// turns on extended CONNECT in net/http's HTTP/2 server, starting the test
// binary again with it if this one lacks it.
func TestMain(m *testing.M) {
	if strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1") || os.Getenv("H2TEST_NO_XCONNECT") == "1" {
		os.Exit(m.Run())
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), "GODEBUG="+strings.TrimPrefix(os.Getenv("GODEBUG")+",http2xconnect=1", ","))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// ---- A server and a client over h2c ----

// serve starts an HTTP/1.1 and h2c server on loopback with h.
func serve(t *testing.T, h http.Handler, configure ...func(*http.Server)) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	for _, f := range configure {
		f(srv)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv, "http://" + ln.Addr().String()
}

// client returns an HTTP client that speaks h2c only: every request of a
// test goes over one HTTP/2 connection. It is golang.org/x/net/http2's:
// net/http's own client refuses the :protocol pseudo-header of an
// extended CONNECT (go1.26: "invalid header field name").
func client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// stream is the client side of a WebSocket over an HTTP/2 stream, framed
// by hand: the library's client speaks HTTP/1.1 only.
type stream struct {
	resp *http.Response
	in   *bufio.Reader
	out  *io.PipeWriter
	wmu  sync.Mutex
}

// connect sends an extended CONNECT to url with the given extra headers,
// and returns the stream, whatever the status.
func connect(t *testing.T, c *http.Client, url string, header map[string]string) *stream {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodConnect, url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req = req.WithContext(ctx)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("extended CONNECT: %v", err)
	}
	t.Cleanup(func() { pw.Close(); resp.Body.Close() })
	return &stream{resp: resp, in: bufio.NewReader(resp.Body), out: pw}
}

// send writes one masked frame.
func (s *stream) send(t *testing.T, fin bool, op byte, p []byte) {
	t.Helper()
	if err := s.trySend(fin, op, p); err != nil {
		t.Errorf("sending a frame: %v", err)
	}
}

func (s *stream) trySend(fin bool, op byte, p []byte) error {
	var h []byte
	b0 := op
	if fin {
		b0 |= 0x80
	}
	switch n := len(p); {
	case n < 126:
		h = []byte{b0, 0x80 | byte(n)}
	case n < 1<<16:
		h = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		h = binary.BigEndian.AppendUint64([]byte{b0, 0x80 | 127}, uint64(n))
	}
	var key [4]byte
	rand.Read(key[:])
	h = append(h, key[:]...)
	masked := make([]byte, len(p))
	for i := range p {
		masked[i] = p[i] ^ key[i%4]
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.out.Write(append(h, masked...))
	return err
}

type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// read reads one frame from the server, which must not be masked.
func (s *stream) read(t *testing.T) frame {
	t.Helper()
	type result struct {
		f   frame
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := s.tryRead()
		done <- result{f, err}
	}()
	r := waitFor(t, done, "a frame")
	if r.err != nil {
		t.Fatalf("reading a frame: %v", r.err)
	}
	return r.f
}

func (s *stream) tryRead() (frame, error) {
	var h [2]byte
	if _, err := io.ReadFull(s.in, h[:]); err != nil {
		return frame{}, err
	}
	if h[1]&0x80 != 0 {
		return frame{}, errors.New("a masked frame from the server")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(s.in, b[:]); err != nil {
			return frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(s.in, b[:]); err != nil {
			return frame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(s.in, p); err != nil {
		return frame{}, err
	}
	return frame{fin: h[0]&0x80 != 0, op: h[0] & 0x0f, payload: p}, nil
}

// readMessage reads a data message, answering nothing, skipping pongs.
func (s *stream) readMessage(t *testing.T) (byte, []byte) {
	t.Helper()
	var op byte
	var msg []byte
	for {
		f := s.read(t)
		switch {
		case f.op == 0xA:
			continue
		case f.op == 0x8:
			t.Fatalf("close %x while reading a message", f.payload)
		case f.op != 0:
			op = f.op
		}
		msg = append(msg, f.payload...)
		if f.fin {
			return op, msg
		}
	}
}

// echoServer serves an echo with Handler, and reports each request it
// upgraded.
func echoServer(t *testing.T, u *websocket.Upgrader) (string, <-chan *http.Request, <-chan error) {
	t.Helper()
	requests := make(chan *http.Request, 10)
	ends := make(chan error, 10)
	h := u.Handler(func(c *websocket.Conn) {
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				ends <- err
				return
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				ends <- err
				return
			}
		}
	})
	_, url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests <- r
		h.ServeHTTP(w, r)
	}))
	return url, requests, ends
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// ---- Tests ----

// An extended CONNECT is a WebSocket handshake: 200, the subprotocol and
// compression agreed, and then the protocol of RFC 6455 on the stream:
// text, binary, fragments, a megabyte, ping and pong, and a close with a
// code that the server sees.
func TestHTTP2Echo(t *testing.T) {
	u := &websocket.Upgrader{Subprotocols: []string{"chat"}, Compression: &websocket.Compression{}}
	url, requests, ends := echoServer(t, u)
	c := client(t)
	// Compression is agreed as over HTTP/1.1 (this test's client frames
	// by hand and does not inflate: the messages below go uncompressed).
	z := connect(t, c, url+"/ws", map[string]string{"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
	if got := z.resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(got, "permessage-deflate") {
		t.Fatalf("extensions %q, want permessage-deflate", got)
	}
	waitFor(t, requests, "the request")
	s := connect(t, c, url+"/ws", map[string]string{"Sec-WebSocket-Protocol": "other, chat"})
	r := waitFor(t, requests, "the request")
	if r.ProtoMajor != 2 || r.Method != http.MethodConnect {
		t.Fatalf("the server saw %s %s, want an HTTP/2 CONNECT", r.Proto, r.Method)
	}
	if s.resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s, want 200", s.resp.Status)
	}
	if got := s.resp.Header.Get("Sec-WebSocket-Protocol"); got != "chat" {
		t.Fatalf("subprotocol %q, want chat", got)
	}
	if got := s.resp.Header.Get("Sec-WebSocket-Accept"); got != "" {
		t.Fatalf("Sec-WebSocket-Accept %q over HTTP/2, which has no key", got)
	}

	s.send(t, true, 0x1, []byte("你好，世界"))
	if op, msg := s.readMessage(t); op != 0x1 || string(msg) != "你好，世界" {
		t.Fatalf("echo: op %d %q", op, msg)
	}
	s.send(t, false, 0x2, []byte{1, 2})
	s.send(t, true, 0x0, []byte{3})
	if op, msg := s.readMessage(t); op != 0x2 || string(msg) != "\x01\x02\x03" {
		t.Fatalf("fragmented echo: op %d %q", op, msg)
	}
	big := []byte(strings.Repeat("长", 1<<20/3+1))
	go s.trySend(true, 0x1, big)
	if op, msg := s.readMessage(t); op != 0x1 || string(msg) != string(big) {
		t.Fatalf("1 MiB echo: op %d, %d bytes", op, len(msg))
	}
	s.send(t, true, 0x9, []byte("ping?"))
	if f := s.read(t); f.op != 0xA || string(f.payload) != "ping?" {
		t.Fatalf("after a ping: op %d %q, want its pong", f.op, f.payload)
	}
	s.send(t, true, 0x8, binary.BigEndian.AppendUint16(nil, 4000))
	if f := s.read(t); f.op != 0x8 || binary.BigEndian.Uint16(f.payload) != 4000 {
		t.Fatalf("after a close: op %d %x, want the close echoed", f.op, f.payload)
	}
	if err := waitFor(t, ends, "the handler to end"); websocket.CloseStatus(err) != 4000 {
		t.Fatalf("the server's read ended with %v, want close 4000", err)
	}
	if _, err := s.tryRead(); err == nil {
		t.Fatal("the stream goes on after the close")
	}
}

// Handshakes that are not valid, or not allowed, are refused with a status
// that says why, and reach no application code.
func TestHTTP2Refused(t *testing.T) {
	u := &websocket.Upgrader{}
	url, _, _ := echoServer(t, u)
	c := client(t)
	tests := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"another :protocol", map[string]string{":protocol": "h2t"}, http.StatusBadRequest},
		{"no version", map[string]string{"Sec-WebSocket-Version": ""}, http.StatusUpgradeRequired},
		{"version 8", map[string]string{"Sec-WebSocket-Version": "8"}, http.StatusUpgradeRequired},
		{"another origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := connect(t, c, url+"/ws", tt.header)
			if s.resp.StatusCode != tt.status {
				t.Fatalf("status %s, want %d", s.resp.Status, tt.status)
			}
			body, _ := io.ReadAll(io.LimitReader(s.resp.Body, 512))
			if !strings.HasPrefix(string(body), "websocket: ") {
				t.Fatalf("body %q, want the reason", body)
			}
		})
	}
	t.Run("a CONNECT without :protocol", func(t *testing.T) {
		// It reaches the handler, as a tunnel request, and is refused.
		pr, pw := io.Pipe()
		defer pw.Close()
		req, _ := http.NewRequest(http.MethodConnect, url, pr)
		req.Host = strings.TrimPrefix(url, "http://")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %s, want 400", resp.Status)
		}
	})
	t.Run("a GET", func(t *testing.T) {
		resp, err := c.Get(url + "/ws")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodConnect {
			t.Fatalf("status %s, Allow %q; want 405 and CONNECT", resp.Status, resp.Header.Get("Allow"))
		}
	})
}

// A route pattern with a method, "GET /ws", does not match the CONNECT of
// a WebSocket over HTTP/2: net/http's mux answers 405 before the
// Upgrader sees it. (A pattern without a method matches both.)
func TestHTTP2RouteWithGETDoesNotMatch(t *testing.T) {
	u := &websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.Handle("GET /get-only", u.Handler(func(*websocket.Conn) {}))
	mux.Handle("/any", u.Handler(func(*websocket.Conn) {}))
	_, url := serve(t, mux)
	c := client(t)
	if s := connect(t, c, url+"/get-only", nil); s.resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("CONNECT to a GET route: %s, want 405 from the mux", s.resp.Status)
	}
	if s := connect(t, c, url+"/any", nil); s.resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT to a route without a method: %s, want 200", s.resp.Status)
	}
}

// A WebSocket whose application stopped reading does not stall the other
// streams of its HTTP/2 connection: it is failed with 1008 once 1 MiB
// waits for it, and the connection's flow-control credit comes back.
func TestHTTP2StalledStreamDoesNotBlockOthers(t *testing.T) {
	u := &websocket.Upgrader{}
	release := make(chan struct{})
	defer close(release)
	stalled := u.Handler(func(c *websocket.Conn) { <-release })
	mux := http.NewServeMux()
	mux.Handle("/stalled", stalled)
	mux.Handle("/echo", u.Handler(func(c *websocket.Conn) {
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(typ, msg)
		}
	}))
	_, url := serve(t, mux)
	c := client(t)
	a := connect(t, c, url+"/stalled", nil)
	b := connect(t, c, url+"/echo", nil)
	// 3 MiB to a handler that reads nothing: three times the HTTP/2
	// connection's receive window.
	go func() {
		for range 48 {
			if a.trySend(true, 0x2, make([]byte, 64<<10)) != nil {
				return // the server has ended the stream
			}
		}
	}()
	f := a.read(t)
	if f.op != 0x8 || binary.BigEndian.Uint16(f.payload) != uint16(websocket.StatusPolicyViolation) {
		t.Fatalf("the stalled stream got op %d %q, want close 1008", f.op, f.payload)
	}
	b.send(t, true, 0x1, []byte("hello"))
	if op, msg := b.readMessage(t); op != 0x1 || string(msg) != "hello" {
		t.Fatalf("echo beside the stalled stream: op %d %q", op, msg)
	}
}

// Server.Shutdown closes the WebSockets over HTTP/2 with 1001, instead of
// waiting for them until its context ends.
func TestHTTP2Shutdown(t *testing.T) {
	u := &websocket.Upgrader{}
	srv, url := serve(t, u.Handler(func(c *websocket.Conn) {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	s := connect(t, client(t), url+"/ws", nil)
	if s.resp.StatusCode != http.StatusOK {
		t.Fatal(s.resp.Status)
	}
	shut := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	go func() { shut <- srv.Shutdown(ctx) }()
	f := s.read(t)
	if f.op != 0x8 || binary.BigEndian.Uint16(f.payload) != uint16(websocket.StatusGoingAway) {
		t.Fatalf("at shutdown: op %d %q, want close 1001", f.op, f.payload)
	}
	s.send(t, true, 0x8, f.payload)
	if err := waitFor(t, shut, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// The server's ReadTimeout and WriteTimeout, meant for requests, do not
// end a WebSocket that outlives them.
func TestHTTP2OutlivesServerTimeouts(t *testing.T) {
	u := &websocket.Upgrader{}
	h := u.Handler(func(c *websocket.Conn) {
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(typ, msg)
		}
	})
	const timeout = 100 * time.Millisecond
	_, url := serve(t, h, func(s *http.Server) { s.ReadTimeout, s.WriteTimeout = timeout, timeout })
	s := connect(t, client(t), url+"/ws", nil)
	// Echo until three times the timeouts have passed.
	start := time.Now()
	for i := 0; time.Since(start) < 3*timeout; i++ {
		msg := fmt.Appendf(nil, "message %d", i)
		s.send(t, true, 0x1, msg)
		if _, got := s.readMessage(t); string(got) != string(msg) {
			t.Fatalf("got %q, want %q", got, msg)
		}
	}
}

// Without GODEBUG=http2xconnect=1, net/http's server does not offer
// extended CONNECT, and its client refuses to send one: a WebSocket over
// HTTP/2 needs the setting (see the package doc).
func TestHTTP2NeedsTheSetting(t *testing.T) {
	if os.Getenv("H2TEST_NO_XCONNECT") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHTTP2NeedsTheSetting$", "-test.v")
		env := []string{"H2TEST_NO_XCONNECT=1"}
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "GODEBUG=") {
				env = append(env, e)
			}
		}
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("without the setting: %v\n%s", err, out)
		}
		return
	}
	u := &websocket.Upgrader{}
	url, _, _ := echoServer(t, u)
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodConnect, url+"/ws", pr)
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err := client(t).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("an extended CONNECT to a server without the setting: %s, want an error", resp.Status)
	}
	t.Logf("without the setting: %v", err)
}

// The read limit and the keepalive apply over HTTP/2 as over HTTP/1.1.
func TestHTTP2ReadLimitAndKeepalive(t *testing.T) {
	u := &websocket.Upgrader{ReadLimit: 100, PingInterval: 20 * time.Millisecond, PongTimeout: wait}
	url, _, ends := echoServer(t, u)
	s := connect(t, client(t), url+"/ws", nil)
	if f := s.read(t); f.op != 0x9 {
		t.Fatalf("got op %d, want the keepalive's ping", f.op)
	}
	s.send(t, true, 0x2, make([]byte, 101))
	for {
		f := s.read(t)
		if f.op == 0x9 {
			continue
		}
		if f.op != 0x8 || binary.BigEndian.Uint16(f.payload) != uint16(websocket.StatusMessageTooBig) {
			t.Fatalf("after a message over the limit: op %d %q, want close 1009", f.op, f.payload)
		}
		break
	}
	if err := waitFor(t, ends, "the handler to end"); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("the server's read ended with %v, want 1009", err)
	}
}

// A client that resets its stream ends the connection: the server's
// read reports 1006, and writes fail with ErrClosed.
func TestHTTP2ClientResetsTheStream(t *testing.T) {
	u := &websocket.Upgrader{}
	reads := make(chan error, 1)
	writes := make(chan error, 1)
	opened := make(chan struct{})
	_, url := serve(t, u.Handler(func(c *websocket.Conn) {
		close(opened)
		_, _, err := c.ReadMessage()
		reads <- err
		writes <- c.WriteMessage(websocket.TextMessage, []byte("too late"))
	}))
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodConnect, url+"/ws", pr)
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitFor(t, opened, "the handler")
	// Cancelling the request and closing its response: x/net's client
	// resets the stream (RST_STREAM CANCEL).
	cancel()
	resp.Body.Close()
	// As when a TCP peer vanishes: 1006, no close frame (a browser whose
	// page closes resets the stream so).
	if err := waitFor(t, reads, "the read to end"); websocket.CloseStatus(err) != websocket.StatusAbnormalClosure {
		t.Fatalf("the read after a reset: %v, want the end of the connection, 1006", err)
	}
	if err := waitFor(t, writes, "the write"); !errors.Is(err, websocket.ErrClosed) {
		t.Fatalf("a write after a reset: %v, want ErrClosed", err)
	}
}
