package websocket

// Test helpers shared by the test files: a server started on 127.0.0.1, and
// a hand-driven client that writes and reads raw frames with its own
// encoder and decoder, so that tests do not trust the code under test to
// check itself.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
	srv := httptest.NewServer(u.Handler(h))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// rawClient is a client that speaks in raw bytes.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
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
	addr := strings.TrimPrefix(wsURL, "ws://")
	if i := strings.IndexByte(addr, '/'); i >= 0 {
		addr = addr[:i]
	}
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(testTimeout))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, line := range extra {
		req += line + "\r\n"
	}
	req += "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &rawClient{t: t, conn: conn, br: br, resp: resp}
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

// rawFrame is a frame as the raw client decoded it.
type rawFrame struct {
	fin     bool
	rsv     byte
	op      byte
	masked  bool
	payload []byte
}

// readFrame decodes the next frame from the server.
func (rc *rawClient) readFrame() (rawFrame, error) {
	var f rawFrame
	var h [2]byte
	if _, err := io.ReadFull(rc.br, h[:]); err != nil {
		return f, err
	}
	f.fin = h[0]&0x80 != 0
	f.rsv = h[0] & 0x70
	f.op = h[0] & 0x0F
	f.masked = h[1]&0x80 != 0
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(rc.br, b[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(rc.br, b[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 64<<20 {
		return f, fmt.Errorf("frame of %d bytes is larger than the tests ever expect", n)
	}
	var key [4]byte
	if f.masked {
		if _, err := io.ReadFull(rc.br, key[:]); err != nil {
			return f, err
		}
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(rc.br, f.payload); err != nil {
		return f, err
	}
	if f.masked {
		for i := range f.payload {
			f.payload[i] ^= key[i%4]
		}
	}
	return f, nil
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
