package websocket

// Test helpers shared by the test files: a server started on 127.0.0.1, a
// hand-driven client that writes and reads raw frames with its own encoder
// and decoder, and a hand-written server for the Dial client, so that
// tests do not trust the code under test to check itself.

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every wait in the tests, so that a broken behaviour
// fails a test instead of hanging it.
const testTimeout = 10 * time.Second

// startServer serves h on 127.0.0.1 until the test ends and returns the
// server's ws:// URL.
func startServer(t testing.TB, u *Upgrader, h func(*Conn)) string {
	t.Helper()
	if u == nil {
		u = &Upgrader{}
	}
	return serveHTTP(t, u.Handler(h))
}

// serveHTTP serves h on 127.0.0.1 until the test ends and returns its ws://
// URL.
func serveHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// tcpTestPair returns a server Conn over a loopback TCP connection and the
// client's end of it, both closed when the test ends.
func tcpTestPair(t testing.TB) (*Conn, net.Conn) {
	t.Helper()
	return tcpTestPairWith(t, config{})
}

// tcpTestPairWith is tcpTestPair with the server Conn configured by cfg.
func tcpTestPairWith(t testing.TB, cfg config) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		peer.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close(); nc.Close() })
	return newConn(nc, nil, false, "", cfg), peer
}

// echoMessages sends every message back with ReadMessage and WriteMessage
// until the connection fails.
func echoMessages(c *Conn) {
	for {
		mt, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(mt, p); err != nil {
			return
		}
	}
}

// echoStreams sends every message back with NextReader and NextWriter,
// streaming it through io.Copy, until the connection fails.
func echoStreams(c *Conn) {
	for {
		mt, r, err := c.NextReader()
		if err != nil {
			return
		}
		w, err := c.NextWriter(mt)
		if err != nil {
			return
		}
		_, err = io.Copy(w, r)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return
		}
	}
}

// rfcAccept computes Sec-WebSocket-Accept from the formula of §4.2.2, with
// the GUID spelled out here rather than taken from the library.
func rfcAccept(key string) string {
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// rawClient is a peer that speaks in raw bytes: the client side of
// dialRaw, or the server side of serveRaw (then resp is nil).
type rawClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// tcpAddr returns the host:port of a ws:// URL.
func tcpAddr(wsURL string) string {
	addr := strings.TrimPrefix(wsURL, "ws://")
	if i := strings.IndexByte(addr, '/'); i >= 0 {
		addr = addr[:i]
	}
	return addr
}

// dialWrite connects to the server at wsURL (as returned by startServer
// or serveHTTP)
// and sends raw in one write. The connection has a deadline of testTimeout
// and is closed when the test ends.
func dialWrite(t testing.TB, wsURL string, raw []byte) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", tcpAddr(wsURL), testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

// dialHandshake sends raw, a request's text, in one write and reads the
// response's head.
func dialHandshake(t testing.TB, wsURL string, raw []byte) *rawClient {
	t.Helper()
	conn, br := dialWrite(t, wsURL, raw)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	return &rawClient{t: t, conn: conn, br: br, resp: resp}
}

// dialRaw connects to a server started by startServer, sends a valid
// opening handshake with the extra header lines given (each "Name: value"),
// and checks for a 101 answer.
func dialRaw(t testing.TB, wsURL string, extra ...string) *rawClient {
	t.Helper()
	rc := dialRawNoCheck(t, wsURL, extra...)
	if rc.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake answered %s, want 101", rc.resp.Status)
	}
	return rc
}

// dialRawNoCheck is dialRaw without the check of the status.
func dialRawNoCheck(t testing.TB, wsURL string, extra ...string) *rawClient {
	t.Helper()
	req := "GET / HTTP/1.1\r\nHost: " + tcpAddr(wsURL) + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, line := range extra {
		req += line + "\r\n"
	}
	req += "\r\n"
	return dialHandshake(t, wsURL, []byte(req))
}

// switchingProtocols is the head of a valid 101 answer with the given
// Sec-WebSocket-Accept, without its final empty line.
func switchingProtocols(accept string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n"
}

// serveRaw listens on 127.0.0.1 and, for the first connection, reads the
// opening handshake with http.ReadRequest, writes the response head that
// head builds from the Sec-WebSocket-Accept the request calls for (nil:
// switchingProtocols), and hands the connection over on the returned
// channel, which is closed without a value if the handshake failed. It is
// a server written without the library, to watch what the Dial client
// sends or to make it misbehave. The test's end closes the listener and
// the connection.
func serveRaw(t testing.TB, head func(accept string) string) (string, <-chan *rawClient) {
	t.Helper()
	if head == nil {
		head = switchingProtocols
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var accepted net.Conn
	peers := make(chan *rawClient, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(peers)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		mu.Lock()
		accepted = conn
		mu.Unlock()
		conn.SetDeadline(time.Now().Add(testTimeout))
		br := bufio.NewReader(conn)
		req, err := http.ReadRequest(br)
		if err != nil {
			conn.Close()
			return
		}
		if _, err := io.WriteString(conn, head(rfcAccept(req.Header.Get("Sec-WebSocket-Key")))+"\r\n"); err != nil {
			conn.Close()
			return
		}
		peers <- &rawClient{t: t, conn: conn, br: br}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		if accepted != nil {
			accepted.Close()
		}
		mu.Unlock()
		<-done
	})
	return "ws://" + ln.Addr().String() + "/", peers
}

// acceptRaw waits for the connection of serveRaw.
func acceptRaw(t testing.TB, peers <-chan *rawClient) *rawClient {
	t.Helper()
	select {
	case p := <-peers:
		if p == nil {
			t.Fatal("the raw server failed to accept the handshake")
		}
		return p
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for the raw server's connection")
	}
	return nil
}

// testKey is the masking key of the raw client's frames.
var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// encodeFrame builds a frame by hand: first byte as given (FIN, RSV and
// opcode bits), then the length in its shortest form, then the key and
// the masked payload when key is not nil.
func encodeFrame(b0 byte, payload []byte, key *[4]byte) []byte {
	var b []byte
	var m byte
	if key != nil {
		m = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, b0, m|byte(n))
	case n <= 0xFFFF:
		b = append(b, b0, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, b0, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if key == nil {
		return append(b, payload...)
	}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// clientFrame is encodeFrame with the raw client's key.
func clientFrame(b0 byte, payload []byte) []byte {
	return encodeFrame(b0, payload, &testKey)
}

// write sends raw bytes.
func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.conn.Write(b); err != nil {
		rc.t.Fatalf("raw write: %v", err)
	}
}

// rawFrame is a frame as readRawFrame decoded it, with the details of its
// encoding.
type rawFrame struct {
	fin      bool
	rsv      byte // the RSV bits in place (0x70 at most)
	op       byte
	masked   bool
	key      [4]byte // the masking key, when masked
	lenBytes int     // size of the extended length: 0, 2 or 8
	length   uint64  // the payload length as encoded
	payload  []byte  // unmasked
}

// rawFrameLimit is the largest frame the tests ever expect.
const rawFrameLimit = 64 << 20

// readRawFrame decodes the next frame from r byte by byte, independently
// of parseHeader, and unmasks its payload. A frame longer than limit is an
// error, read no further, so that a wrong length does not make the test
// allocate or wait for it.
func readRawFrame(r io.Reader, limit uint64) (rawFrame, error) {
	var f rawFrame
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return f, err
	}
	f.fin = h[0]&0x80 != 0
	f.rsv = h[0] & 0x70
	f.op = h[0] & 0x0F
	f.masked = h[1]&0x80 != 0
	f.length = uint64(h[1] & 0x7F)
	switch f.length {
	case 126:
		f.lenBytes = 2
	case 127:
		f.lenBytes = 8
	}
	if f.lenBytes > 0 {
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:f.lenBytes]); err != nil {
			return f, err
		}
		f.length = 0
		for _, c := range ext[:f.lenBytes] {
			f.length = f.length<<8 | uint64(c)
		}
	}
	if f.length > limit {
		return f, fmt.Errorf("frame of %d bytes is larger than the %d the test expects", f.length, limit)
	}
	if f.masked {
		if _, err := io.ReadFull(r, f.key[:]); err != nil {
			return f, err
		}
	}
	f.payload = make([]byte, f.length)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= f.key[i%4]
		}
	}
	return f, nil
}

// readFrame decodes the next frame from the peer.
func (rc *rawClient) readFrame() (rawFrame, error) {
	return readRawFrame(rc.br, rawFrameLimit)
}

// expectClose reads frames until a close frame and checks its code; data
// and pong frames before it are skipped. It returns the close frame's
// reason.
func (rc *rawClient) expectClose(want StatusCode) string {
	rc.t.Helper()
	for {
		f, err := rc.readFrame()
		if err != nil {
			rc.t.Fatalf("waiting for close %d: %v", want, err)
		}
		if f.op != 0x8 {
			continue
		}
		if len(f.payload) < 2 {
			rc.t.Fatalf("close frame without a code, want %d", want)
		}
		got := StatusCode(binary.BigEndian.Uint16(f.payload))
		if got != want {
			rc.t.Fatalf("close code %d (%s), want %d; reason %q", got, got, want, f.payload[2:])
		}
		return string(f.payload[2:])
	}
}

// expectEOF checks that the server closes the TCP connection.
func (rc *rawClient) expectEOF() {
	rc.t.Helper()
	for {
		_, err := rc.readFrame()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return
		}
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				rc.t.Fatal("the server did not close the TCP connection")
			}
			return // a reset is a close too
		}
	}
}

// closePayload builds a close frame body.
func closePayload(code StatusCode, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// pipeConns returns a server Conn and a client Conn joined by net.Pipe,
// for tests that need no network.
func pipeConns(t testing.TB, cfg config) (server, client *Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return newConn(a, nil, false, "", cfg), newConn(b, nil, true, "", cfg)
}
