package websocket

// Tests of the opening handshake (checklist rows H1..H13), of the headers an
// application may add to the 101 response, and of Dial's handshake.
// Requests are written as raw text, so that header lines reach the server
// exactly as a client spelled them, and are run both through
// httptest.NewRecorder (which cannot hijack: a refusal must be an HTTP
// answer) and through a real server on 127.0.0.1.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Header lines of a valid opening handshake (RFC 6455 §4.1), for tables
// that change one of them.
const (
	hsUpgrade    = "Upgrade: websocket"
	hsConnection = "Connection: Upgrade"
	hsKey        = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="
	hsVersion    = "Sec-WebSocket-Version: 13"
)

// The example of RFC 6455 §1.3.
const (
	hsRFCKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	hsRFCAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// hsMaxBody is what the tests take as a "short" error body.
const hsMaxBody = 512

// hsKeyOf returns a Sec-WebSocket-Key line for the base64 of n bytes.
func hsKeyOf(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0xA5 + 7*i)
	}
	return "Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(b)
}

// hsRequestText builds a request's text: method and proto default to GET
// and HTTP/1.1; each line is "Name: value".
func hsRequestText(method, proto, host string, lines []string) string {
	if method == "" {
		method = http.MethodGet
	}
	if proto == "" {
		proto = "HTTP/1.1"
	}
	var b strings.Builder
	b.WriteString(method + " /chat " + proto + "\r\n")
	b.WriteString("Host: " + host + "\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// hsParseRequest parses a request's text as a server would.
func hsParseRequest(t testing.TB, raw string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("test request does not parse: %v\n%s", err, raw)
	}
	return r
}

// hsReadHead reads a response's head line by line, without parsing it, up
// to and without the empty line.
func hsReadHead(t testing.TB, br *bufio.Reader) []string {
	t.Helper()
	var lines []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the response head after %q: %v", lines, err)
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "" {
			return lines
		}
		lines = append(lines, line)
	}
}

// hsReadMessage reads frames from the server until one with FIN and
// returns the message's opcode and payload; the frames must be unmasked
// and have no RSV bits (no extension was agreed).
func hsReadMessage(t testing.TB, rc *rawClient) (byte, []byte) {
	t.Helper()
	var op byte
	var payload []byte
	for {
		f, err := rc.readFrame()
		if err != nil {
			t.Fatalf("reading the echo: %v", err)
		}
		if f.masked || f.rsv != 0 {
			t.Fatalf("server frame masked=%v rsv=%#x, want unmasked with no RSV bits", f.masked, f.rsv)
		}
		if op == 0 {
			op = f.op
		}
		payload = append(payload, f.payload...)
		if f.fin {
			return op, payload
		}
	}
}

// hsCheckRefusal checks an HTTP refusal of a handshake (H11): the status,
// the headers that go with it, and a short plain-text body.
func hsCheckRefusal(t testing.TB, want, status int, h http.Header, body string) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d; body %q", status, want, body)
	}
	if strings.TrimSpace(body) == "" || len(body) > hsMaxBody {
		t.Errorf("body %q: want a short non-empty text", body)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	switch want {
	case http.StatusUpgradeRequired:
		// §4.4: the server names the versions it speaks.
		if v := h.Values("Sec-WebSocket-Version"); len(v) != 1 || v[0] != "13" {
			t.Errorf("426 with Sec-WebSocket-Version %q, want [13]", v)
		}
	case http.StatusMethodNotAllowed:
		if !headerHasToken(h, "Allow", "GET") {
			t.Errorf("405 with Allow %q, want GET", h.Values("Allow"))
		}
	}
}

// hsCase is a handshake request and the status it must get.
type hsCase struct {
	name   string
	method string   // "" means GET
	proto  string   // "" means HTTP/1.1
	lines  []string // header lines after Host
	want   int      // 101 for a valid request
}

// hsRun runs each case twice: through an httptest.NewRecorder, which
// cannot hijack, so that a refusal must be its own 4xx and never the 500 of
// a failed hijack (H11), and over TCP against a real server.
func hsRun(t *testing.T, cases []hsCase) {
	t.Helper()
	url := startServer(t, &Upgrader{}, func(*Conn) {})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := hsRequestText(c.method, c.proto, "example.com", c.lines)

			r := hsParseRequest(t, raw)
			rec := httptest.NewRecorder()
			conn, err := (&Upgrader{}).Upgrade(rec, r, nil)
			if conn != nil || err == nil {
				t.Fatalf("recorder: Upgrade returned (%v, %v), want an error and no connection", conn, err)
			}
			if c.want == http.StatusSwitchingProtocols {
				if _, herr := checkRequest(r); herr != nil {
					t.Fatalf("checkRequest refused a valid request: %v", herr)
				}
				if rec.Code != http.StatusInternalServerError {
					t.Fatalf("recorder: status %d for a valid request, want 500 (cannot hijack)", rec.Code)
				}
			} else {
				hsCheckRefusal(t, c.want, rec.Code, rec.Header(), rec.Body.String())
			}

			rc := dialHandshake(t, url, []byte(raw))
			if c.want == http.StatusSwitchingProtocols {
				if rc.resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("tcp: status %s, want 101", rc.resp.Status)
				}
				key := strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))
				if got, want := rc.resp.Header.Get("Sec-WebSocket-Accept"), rfcAccept(key); got != want {
					t.Fatalf("tcp: Sec-WebSocket-Accept %q, want %q", got, want)
				}
				return
			}
			body, err := io.ReadAll(io.LimitReader(rc.resp.Body, 4*hsMaxBody))
			if err != nil {
				t.Fatalf("tcp: reading the body: %v", err)
			}
			hsCheckRefusal(t, c.want, rc.resp.StatusCode, rc.resp.Header, string(body))
		})
	}
}

// H1: GET and HTTP/1.1 or newer; 405 with Allow for another method, 400
// for HTTP/1.0.
func TestH1_MethodAndVersion(t *testing.T) {
	hsRun(t, []hsCase{
		{
			name:  "H1/GET HTTP/1.1",
			lines: []string{hsUpgrade, hsConnection, hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:   "H1/POST",
			method: http.MethodPost,
			lines:  []string{hsUpgrade, hsConnection, hsKey, hsVersion},
			want:   http.StatusMethodNotAllowed,
		},
		{
			name:   "H1/PUT",
			method: http.MethodPut,
			lines:  []string{hsUpgrade, hsConnection, hsKey, hsVersion},
			want:   http.StatusMethodNotAllowed,
		},
		{
			name:   "H1/lower-case get",
			method: "get",
			lines:  []string{hsUpgrade, hsConnection, hsKey, hsVersion},
			want:   http.StatusMethodNotAllowed,
		},
		{
			name:  "H1/HTTP/1.0",
			proto: "HTTP/1.0",
			lines: []string{hsUpgrade, hsConnection, hsKey, hsVersion},
			want:  http.StatusBadRequest,
		},
	})
}

// H2: Upgrade lists the token websocket, case-insensitively, possibly
// among others and over several lines.
func TestH2_UpgradeHeader(t *testing.T) {
	hsRun(t, []hsCase{
		{
			name:  "H2/websocket",
			lines: []string{"Upgrade: websocket", hsConnection, hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H2/WebSocket",
			lines: []string{"Upgrade: WebSocket", hsConnection, hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H2/WEBSOCKET",
			lines: []string{"Upgrade: WEBSOCKET", hsConnection, hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H2/several tokens",
			lines: []string{"Upgrade: h2c, websocket", hsConnection, hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H2/several lines",
			lines: []string{"Upgrade: h2c", hsConnection, "Upgrade: websocket", hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H2/missing",
			lines: []string{hsConnection, hsKey, hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H2/another protocol",
			lines: []string{"Upgrade: h2c", hsConnection, hsKey, hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H2/token with a suffix",
			lines: []string{"Upgrade: websockets", hsConnection, hsKey, hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H2/empty",
			lines: []string{"Upgrade:", hsConnection, hsKey, hsVersion},
			want:  http.StatusBadRequest,
		},
	})
}

// H3: Connection lists the token Upgrade, case-insensitively, in a list,
// possibly over several lines.
func TestH3_ConnectionHeader(t *testing.T) {
	hsRun(t, []hsCase{
		{
			name:  "H3/Upgrade",
			lines: []string{hsUpgrade, "Connection: Upgrade", hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H3/lower case",
			lines: []string{hsUpgrade, "Connection: upgrade", hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H3/keep-alive, Upgrade",
			lines: []string{hsUpgrade, "Connection: keep-alive, Upgrade", hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H3/no spaces",
			lines: []string{hsUpgrade, "Connection: keep-alive,UPGRADE", hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H3/split over two lines",
			lines: []string{hsUpgrade, "Connection: keep-alive", hsKey, "Connection: Upgrade", hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H3/missing",
			lines: []string{hsUpgrade, hsKey, hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H3/keep-alive only",
			lines: []string{hsUpgrade, "Connection: keep-alive", hsKey, hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H3/token with a suffix",
			lines: []string{hsUpgrade, "Connection: Upgraded", hsKey, hsVersion},
			want:  http.StatusBadRequest,
		},
	})
}

// H4: Sec-WebSocket-Key is present and the base64 of exactly 16 bytes.
func TestH4_Key(t *testing.T) {
	hsRun(t, []hsCase{
		{
			name:  "H4/RFC key",
			lines: []string{hsUpgrade, hsConnection, hsKey, hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H4/16 bytes",
			lines: []string{hsUpgrade, hsConnection, hsKeyOf(16), hsVersion},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H4/missing",
			lines: []string{hsUpgrade, hsConnection, hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H4/empty",
			lines: []string{hsUpgrade, hsConnection, "Sec-WebSocket-Key:", hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H4/15 bytes",
			lines: []string{hsUpgrade, hsConnection, hsKeyOf(15), hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H4/17 bytes",
			lines: []string{hsUpgrade, hsConnection, hsKeyOf(17), hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H4/not base64",
			lines: []string{hsUpgrade, hsConnection, "Sec-WebSocket-Key: this is no base64 !!!!!", hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H4/URL-safe alphabet",
			lines: []string{hsUpgrade, hsConnection, "Sec-WebSocket-Key: -_-_-_-_-_-_-_-_-_-_-w==", hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H4/two keys",
			lines: []string{hsUpgrade, hsConnection, hsKey, hsKeyOf(16), hsVersion},
			want:  http.StatusBadRequest,
		},
	})
}

// H5: Sec-WebSocket-Version is 13, otherwise 426 with
// Sec-WebSocket-Version: 13.
func TestH5_Version(t *testing.T) {
	hsRun(t, []hsCase{
		{
			name:  "H5/13",
			lines: []string{hsUpgrade, hsConnection, hsKey, "Sec-WebSocket-Version: 13"},
			want:  http.StatusSwitchingProtocols,
		},
		{
			name:  "H5/missing",
			lines: []string{hsUpgrade, hsConnection, hsKey},
			want:  http.StatusUpgradeRequired,
		},
		{
			name:  "H5/8",
			lines: []string{hsUpgrade, hsConnection, hsKey, "Sec-WebSocket-Version: 8"},
			want:  http.StatusUpgradeRequired,
		},
		{
			name:  "H5/14",
			lines: []string{hsUpgrade, hsConnection, hsKey, "Sec-WebSocket-Version: 14"},
			want:  http.StatusUpgradeRequired,
		},
		{
			name:  "H5/not a number",
			lines: []string{hsUpgrade, hsConnection, hsKey, "Sec-WebSocket-Version: thirteen"},
			want:  http.StatusUpgradeRequired,
		},
	})
}

// H6: Sec-WebSocket-Accept is base64(SHA-1(key + GUID)), checked against
// the RFC's own vector, directly and in a real 101 response.
func TestH6_AcceptKey(t *testing.T) {
	t.Run("H6/RFC vector", func(t *testing.T) {
		if got := acceptKey(hsRFCKey); got != hsRFCAccept {
			t.Fatalf("acceptKey(%q) = %q, want %q", hsRFCKey, got, hsRFCAccept)
		}
	})
	t.Run("H6/other keys", func(t *testing.T) {
		for _, line := range []string{hsKeyOf(16), "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==", "Sec-WebSocket-Key: /////////////////////w=="} {
			key := strings.TrimPrefix(line, "Sec-WebSocket-Key: ")
			if got, want := acceptKey(key), rfcAccept(key); got != want {
				t.Errorf("acceptKey(%q) = %q, want %q", key, got, want)
			}
		}
	})
	t.Run("H6/in the 101 response", func(t *testing.T) {
		url := startServer(t, nil, func(*Conn) {})
		rc := dialRaw(t, url) // dialRaw sends the RFC's key
		if got := rc.resp.Header.Values("Sec-WebSocket-Accept"); len(got) != 1 || got[0] != hsRFCAccept {
			t.Fatalf("Sec-WebSocket-Accept %q, want [%s]", got, hsRFCAccept)
		}
	})
}

// H7: the success response is 101 Switching Protocols with Upgrade:
// websocket and Connection: Upgrade, and ends exactly where the frames
// begin.
func TestH7_SwitchingProtocolsResponse(t *testing.T) {
	url := startServer(t, nil, echoMessages)
	rc := dialRaw(t, url)
	resp := rc.resp
	if resp.Proto != "HTTP/1.1" || resp.Status != "101 Switching Protocols" {
		t.Fatalf("status line %s %s, want HTTP/1.1 101 Switching Protocols", resp.Proto, resp.Status)
	}
	if v := resp.Header.Values("Upgrade"); len(v) != 1 || !strings.EqualFold(v[0], "websocket") {
		t.Errorf("Upgrade %q, want [websocket]", v)
	}
	if v := resp.Header.Values("Connection"); len(v) != 1 || !strings.EqualFold(v[0], "Upgrade") {
		t.Errorf("Connection %q, want [Upgrade]", v)
	}
	rc.write(clientFrame(0x81, []byte("after the handshake")))
	op, p := hsReadMessage(t, rc)
	if op != 0x1 || string(p) != "after the handshake" {
		t.Fatalf("echo opcode %#x payload %q, want a text frame with what was sent", op, p)
	}
}

// H8: the server picks at most one of the offered subprotocols, in its own
// order of preference, and never one the client did not offer.
func TestH8_Subprotocols(t *testing.T) {
	cases := []struct {
		name   string
		server []string
		offers []string // header lines
		want   string   // "" means no Sec-WebSocket-Protocol header
	}{
		{
			name:   "H8/single offer",
			server: []string{"chat"},
			offers: []string{"Sec-WebSocket-Protocol: chat"},
			want:   "chat",
		},
		{
			name:   "H8/server preference wins",
			server: []string{"v2.chat", "v1.chat"},
			offers: []string{"Sec-WebSocket-Protocol: v1.chat, v2.chat"},
			want:   "v2.chat",
		},
		{
			name:   "H8/several lines",
			server: []string{"v2.chat", "v1.chat"},
			offers: []string{"Sec-WebSocket-Protocol: v1.chat", "Sec-WebSocket-Protocol: v2.chat"},
			want:   "v2.chat",
		},
		{
			name:   "H8/only the second offer is known",
			server: []string{"v1.chat"},
			offers: []string{"Sec-WebSocket-Protocol: mqtt,v1.chat"},
			want:   "v1.chat",
		},
		{
			name:   "H8/empty list elements",
			server: []string{"chat"},
			offers: []string{"Sec-WebSocket-Protocol: , chat ,,"},
			want:   "chat",
		},
		{
			name:   "H8/none matches",
			server: []string{"chat"},
			offers: []string{"Sec-WebSocket-Protocol: superchat, chat.v2"},
			want:   "",
		},
		{
			name:   "H8/different case is another name",
			server: []string{"chat"},
			offers: []string{"Sec-WebSocket-Protocol: Chat"},
			want:   "",
		},
		{
			name:   "H8/server has none",
			server: nil,
			offers: []string{"Sec-WebSocket-Protocol: chat"},
			want:   "",
		},
		{
			name:   "H8/client offers none",
			server: []string{"chat"},
			offers: nil,
			want:   "",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := make(chan string, 1)
			url := startServer(t, &Upgrader{Subprotocols: c.server}, func(conn *Conn) { got <- conn.Subprotocol() })
			rc := dialRaw(t, url, c.offers...)
			v := rc.resp.Header.Values("Sec-WebSocket-Protocol")
			switch {
			case c.want == "" && len(v) != 0:
				t.Fatalf("Sec-WebSocket-Protocol %q, want no header", v)
			case c.want != "" && (len(v) != 1 || v[0] != c.want):
				t.Fatalf("Sec-WebSocket-Protocol %q, want [%s]", v, c.want)
			}
			select {
			case s := <-got:
				if s != c.want {
					t.Fatalf("server Conn.Subprotocol() = %q, want %q", s, c.want)
				}
			case <-time.After(testTimeout):
				t.Fatal("the handler did not run")
			}
		})
	}
}

// H8: Dial offers its subprotocols and reports the server's choice.
func TestH8_DialSubprotocol(t *testing.T) {
	cases := []struct {
		name   string
		server []string
		client []string
		want   string
	}{
		{
			name:   "H8/server preference",
			server: []string{"b", "a"},
			client: []string{"a", "b"},
			want:   "b",
		},
		{
			name:   "H8/one in common",
			server: []string{"x", "a"},
			client: []string{"a", "b"},
			want:   "a",
		},
		{
			name:   "H8/none in common",
			server: []string{"x"},
			client: []string{"a", "b"},
			want:   "",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := make(chan string, 1)
			url := startServer(t, &Upgrader{Subprotocols: c.server}, func(conn *Conn) {
				got <- conn.Subprotocol()
				conn.ReadMessage()
			})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			conn, err := Dial(ctx, url, &DialOptions{Subprotocols: c.client})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if s := conn.Subprotocol(); s != c.want {
				t.Errorf("client Conn.Subprotocol() = %q, want %q", s, c.want)
			}
			select {
			case s := <-got:
				if s != c.want {
					t.Errorf("server Conn.Subprotocol() = %q, want %q", s, c.want)
				}
			case <-time.After(testTimeout):
				t.Fatal("the handler did not run")
			}
		})
	}
}

// H9: offered extensions that the server does not support are ignored:
// the handshake succeeds, no Sec-WebSocket-Extensions comes back, and
// frames carry no RSV bits.
func TestH9_Extensions(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
	}{
		{
			name:  "H9/two lines",
			lines: []string{"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", "Sec-WebSocket-Extensions: x-unknown"},
		},
		{
			name:  "H9/one line",
			lines: []string{"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-unknown"},
		},
		{
			name:  "H9/malformed offer",
			lines: []string{"Sec-WebSocket-Extensions: ;;, =x; =; permessage-deflate;;"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := startServer(t, nil, echoMessages)
			rc := dialRaw(t, url, c.lines...)
			if v := rc.resp.Header.Values("Sec-WebSocket-Extensions"); len(v) != 0 {
				t.Fatalf("Sec-WebSocket-Extensions %q, want none", v)
			}
			msg := bytes.Repeat([]byte("compressible "), 40)
			rc.write(clientFrame(0x81, msg))
			op, p := hsReadMessage(t, rc)
			if op != 0x1 || !bytes.Equal(p, msg) {
				t.Fatalf("echo opcode %#x payload %q, want the text sent", op, p)
			}
		})
	}
}

// H10: the default origin policy and its configuration, over a real
// server: 101 when allowed, 403 with a body when refused.
func TestH10_Origin(t *testing.T) {
	yes := func(*http.Request) bool { return true }
	no := func(*http.Request) bool { return false }
	cases := []struct {
		name     string
		upgrader Upgrader
		host     string
		origin   string // "" means no Origin header
		want     int
	}{
		{
			name: "H10/no Origin",
			host: "example.com",
			want: http.StatusSwitchingProtocols,
		},
		{
			name:   "H10/same host",
			host:   "example.com",
			origin: "https://example.com",
			want:   http.StatusSwitchingProtocols,
		},
		{
			name:   "H10/same host, other case, with port",
			host:   "Example.COM:8080",
			origin: "http://example.com:8080",
			want:   http.StatusSwitchingProtocols,
		},
		{
			name:   "H10/same host, other port",
			host:   "example.com:8080",
			origin: "http://example.com:9090",
			want:   http.StatusForbidden,
		},
		{
			name:   "H10/other host",
			host:   "example.com",
			origin: "https://evil.example",
			want:   http.StatusForbidden,
		},
		{
			name:   "H10/host as a prefix",
			host:   "example.com",
			origin: "https://example.com.evil.example",
			want:   http.StatusForbidden,
		},
		{
			name:   "H10/null",
			host:   "example.com",
			origin: "null",
			want:   http.StatusForbidden,
		},
		{
			name:   "H10/not a URL",
			host:   "example.com",
			origin: "example.com",
			want:   http.StatusForbidden,
		},
		{
			name:     "H10/AllowedOrigins subdomain",
			upgrader: Upgrader{AllowedOrigins: []string{"*.example.com"}},
			host:     "api.example.net",
			origin:   "https://app.example.com",
			want:     http.StatusSwitchingProtocols,
		},
		{
			name:     "H10/AllowedOrigins subdomain, other case",
			upgrader: Upgrader{AllowedOrigins: []string{"*.Example.com"}},
			host:     "api.example.net",
			origin:   "https://APP.example.COM",
			want:     http.StatusSwitchingProtocols,
		},
		{
			name:     "H10/AllowedOrigins does not match the parent",
			upgrader: Upgrader{AllowedOrigins: []string{"*.example.com"}},
			host:     "api.example.net",
			origin:   "https://example.com.evil.example",
			want:     http.StatusForbidden,
		},
		{
			name:     "H10/AllowedOrigins other host",
			upgrader: Upgrader{AllowedOrigins: []string{"*.example.com"}},
			host:     "api.example.net",
			origin:   "https://evil.example",
			want:     http.StatusForbidden,
		},
		{
			name:     "H10/AllowedOrigins any port",
			upgrader: Upgrader{AllowedOrigins: []string{"localhost:*"}},
			host:     "api.example.net",
			origin:   "http://localhost:3000",
			want:     http.StatusSwitchingProtocols,
		},
		{
			name:     "H10/AllowedOrigins does not allow null",
			upgrader: Upgrader{AllowedOrigins: []string{"*.example.com", "localhost:*"}},
			host:     "api.example.net",
			origin:   "null",
			want:     http.StatusForbidden,
		},
		{
			name:     "H10/AllowedOrigins * does not allow null",
			upgrader: Upgrader{AllowedOrigins: []string{"*"}},
			host:     "api.example.net",
			origin:   "null",
			want:     http.StatusForbidden,
		},
		{
			name:     "H10/CheckOrigin allows another host",
			upgrader: Upgrader{CheckOrigin: yes},
			host:     "example.com",
			origin:   "https://evil.example",
			want:     http.StatusSwitchingProtocols,
		},
		{
			name:     "H10/CheckOrigin refuses the same host",
			upgrader: Upgrader{CheckOrigin: no},
			host:     "example.com",
			origin:   "https://example.com",
			want:     http.StatusForbidden,
		},
		{
			name:     "H10/CheckOrigin refuses no Origin",
			upgrader: Upgrader{CheckOrigin: no},
			host:     "example.com",
			want:     http.StatusForbidden,
		},
		{
			name:     "H10/CheckOrigin replaces AllowedOrigins",
			upgrader: Upgrader{CheckOrigin: no, AllowedOrigins: []string{"*"}},
			host:     "example.com",
			origin:   "https://app.example.com",
			want:     http.StatusForbidden,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.upgrader
			url := startServer(t, &u, func(*Conn) {})
			lines := []string{hsUpgrade, hsConnection, hsKey, hsVersion}
			if c.origin != "" {
				lines = append(lines, "Origin: "+c.origin)
			}
			rc := dialHandshake(t, url, []byte(hsRequestText("", "", c.host, lines)))
			if c.want == http.StatusSwitchingProtocols {
				if rc.resp.StatusCode != c.want {
					t.Fatalf("status %s, want 101", rc.resp.Status)
				}
				return
			}
			body, err := io.ReadAll(io.LimitReader(rc.resp.Body, 4*hsMaxBody))
			if err != nil {
				t.Fatal(err)
			}
			hsCheckRefusal(t, c.want, rc.resp.StatusCode, rc.resp.Header, string(body))
		})
	}
}

// H11: a refused handshake is an HTTP answer with a short text body, and
// the connection is never hijacked: a recorder (which cannot hijack) gets
// the 4xx, and over TCP the same connection goes on serving HTTP.
func TestH11_RefusalIsPlainHTTP(t *testing.T) {
	valid := []string{hsUpgrade, hsConnection, hsKey, hsVersion}
	cases := []struct {
		name     string
		upgrader Upgrader
		method   string
		lines    []string
		want     int
	}{
		{
			name:   "H11/405",
			method: http.MethodPost,
			lines:  valid,
			want:   http.StatusMethodNotAllowed,
		},
		{
			name:  "H11/400",
			lines: []string{hsUpgrade, hsConnection, hsVersion},
			want:  http.StatusBadRequest,
		},
		{
			name:  "H11/426",
			lines: []string{hsUpgrade, hsConnection, hsKey, "Sec-WebSocket-Version: 8"},
			want:  http.StatusUpgradeRequired,
		},
		{
			name:  "H11/403",
			lines: append([]string{"Origin: https://evil.example"}, valid...),
			want:  http.StatusForbidden,
		},
		{
			name:     "H11/403 by CheckOrigin",
			upgrader: Upgrader{CheckOrigin: func(*http.Request) bool { return false }},
			lines:    valid,
			want:     http.StatusForbidden,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := hsParseRequest(t, hsRequestText(c.method, "", "example.com", c.lines))
			rec := httptest.NewRecorder()
			u := c.upgrader
			conn, err := u.Upgrade(rec, r, nil)
			if conn != nil || err == nil {
				t.Fatalf("Upgrade returned (%v, %v), want an error and no connection", conn, err)
			}
			hsCheckRefusal(t, c.want, rec.Code, rec.Header(), rec.Body.String())
			if strings.Contains(rec.Body.String(), "switch protocols") {
				t.Fatalf("body %q: the refusal went as far as the hijack", rec.Body.String())
			}
		})
	}

	t.Run("H11/connection stays HTTP", func(t *testing.T) {
		url := startServer(t, nil, func(*Conn) {})
		conn, br := dialWrite(t, url, nil)
		for i, req := range []string{
			hsRequestText(http.MethodPost, "", "example.com", valid),
			hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, hsKey, "Sec-WebSocket-Version: 8"}),
			hsRequestText("", "", "example.com", append([]string{"Origin: https://evil.example"}, valid...)),
		} {
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("response %d body: %v", i, err)
			}
			if resp.StatusCode < 400 || resp.StatusCode > 499 || len(body) == 0 {
				t.Fatalf("response %d: %s with body %q, want a 4xx with a body", i, resp.Status, body)
			}
		}
	})
}

// H12: frames that arrive in the same write as the request are not lost
// when the connection is hijacked.
func TestH12_FramesInRequestSegment(t *testing.T) {
	big := bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 2000)
	cases := []struct {
		name     string
		messages [][]byte // sent as text frames if valid UTF-8, else binary
		ops      []byte
	}{
		{
			name:     "H12/one frame",
			messages: [][]byte{[]byte("hello")},
			ops:      []byte{0x1},
		},
		{
			name:     "H12/two frames",
			messages: [][]byte{[]byte("first"), []byte("second")},
			ops:      []byte{0x1, 0x1},
		},
		{
			name:     "H12/frame longer than the server's read buffer",
			messages: [][]byte{big, []byte("tail")},
			ops:      []byte{0x2, 0x1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := startServer(t, nil, echoMessages)
			raw := []byte(hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, hsKey, hsVersion}))
			for i, m := range c.messages {
				raw = append(raw, clientFrame(0x80|c.ops[i], m)...)
			}
			rc := dialHandshake(t, url, raw)
			if rc.resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %s, want 101", rc.resp.Status)
			}
			for i, m := range c.messages {
				op, p := hsReadMessage(t, rc)
				if op != c.ops[i] || !bytes.Equal(p, m) {
					t.Fatalf("echo %d: opcode %#x, %d bytes; want opcode %#x and the %d bytes sent", i, op, len(p), c.ops[i], len(m))
				}
			}
		})
	}
}

// hsNoHijackWriter hides the hijacker of the ResponseWriter it wraps, as
// middleware or HTTP/2 do.
type hsNoHijackWriter struct{ w http.ResponseWriter }

func (w hsNoHijackWriter) Header() http.Header         { return w.w.Header() }
func (w hsNoHijackWriter) Write(b []byte) (int, error) { return w.w.Write(b) }
func (w hsNoHijackWriter) WriteHeader(code int)        { w.w.WriteHeader(code) }

// H13: a ResponseWriter that cannot hijack gives the caller an error and
// the client a 5xx with a body, without a panic.
func TestH13_CannotHijack(t *testing.T) {
	valid := hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, hsKey, hsVersion})

	t.Run("H13/recorder", func(t *testing.T) {
		rec := httptest.NewRecorder()
		conn, err := (&Upgrader{}).Upgrade(rec, hsParseRequest(t, valid), nil)
		if conn != nil || err == nil {
			t.Fatalf("Upgrade returned (%v, %v), want an error and no connection", conn, err)
		}
		if !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("error %q does not wrap http.ErrNotSupported", err)
		}
		if rec.Code < 500 || rec.Code > 599 {
			t.Errorf("status %d, want 5xx", rec.Code)
		}
		if body := rec.Body.String(); strings.TrimSpace(body) == "" || len(body) > hsMaxBody {
			t.Errorf("body %q, want a short non-empty text", body)
		}
	})

	t.Run("H13/wrapped writer over TCP", func(t *testing.T) {
		errc := make(chan error, 1)
		url := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := (&Upgrader{}).Upgrade(hsNoHijackWriter{w}, r, nil)
			if conn != nil {
				conn.Close()
			}
			errc <- err
		}))
		rc := dialHandshake(t, url, []byte(valid))
		body, err := io.ReadAll(io.LimitReader(rc.resp.Body, 4*hsMaxBody))
		if err != nil {
			t.Fatal(err)
		}
		if rc.resp.StatusCode < 500 || rc.resp.StatusCode > 599 || strings.TrimSpace(string(body)) == "" {
			t.Fatalf("%s with body %q, want a 5xx with a body", rc.resp.Status, body)
		}
		if err := <-errc; err == nil {
			t.Fatal("Upgrade returned no error")
		}
	})
}

// hsUpgradeWith serves a handler that upgrades with hdr as the response
// header and reports Upgrade's error on the returned channel.
func hsUpgradeWith(t *testing.T, hdr http.Header) (string, <-chan error) {
	t.Helper()
	errc := make(chan error, 1)
	url := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&Upgrader{}).Upgrade(w, r, hdr)
		errc <- err
		if err == nil {
			conn.Close()
		}
	}))
	return url, errc
}

// hsWaitErr receives Upgrade's error from the handler.
func hsWaitErr(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(testTimeout):
		t.Fatal("the handler did not return from Upgrade")
		return nil
	}
}

// The responseHeader argument of Upgrade may add headers to the 101, but
// not the handshake's own (H8: a subprotocol must come from the offers).
func TestHandshakeResponseHeader(t *testing.T) {
	cases := []struct {
		name    string
		header  http.Header
		refused bool
	}{
		{
			name:   "Set-Cookie",
			header: http.Header{"Set-Cookie": {"session=abc; Path=/; HttpOnly"}},
		},
		{
			name:   "several headers and values",
			header: http.Header{"Set-Cookie": {"a=1", "b=2"}, "X-Server": {"test"}},
		},
		{
			name:    "H8/Sec-WebSocket-Protocol",
			header:  http.Header{"Sec-Websocket-Protocol": {"chat"}},
			refused: true,
		},
		{
			name:    "H8/Sec-WebSocket-Protocol spelled as in the RFC",
			header:  http.Header{"Sec-WebSocket-Protocol": {"chat"}},
			refused: true,
		},
		{
			name:    "H8/sec-websocket-protocol in lower case",
			header:  http.Header{"sec-websocket-protocol": {"chat"}},
			refused: true,
		},
		{
			name:    "Sec-WebSocket-Accept",
			header:  http.Header{"Sec-Websocket-Accept": {"AAAAAAAAAAAAAAAAAAAAAAAAAAA="}},
			refused: true,
		},
		{
			name:    "Sec-WebSocket-Extensions",
			header:  http.Header{"Sec-Websocket-Extensions": {"permessage-deflate"}},
			refused: true,
		},
		{
			name:    "Connection",
			header:  http.Header{"Connection": {"close"}},
			refused: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url, errc := hsUpgradeWith(t, c.header)
			rc := dialRawNoCheck(t, url) // offers no subprotocol
			err := hsWaitErr(t, errc)
			resp := rc.resp
			if v := resp.Header.Values("Sec-WebSocket-Protocol"); len(v) != 0 {
				t.Errorf("response has Sec-WebSocket-Protocol %q, which the client did not offer", v)
			}
			if c.refused {
				if err == nil || resp.StatusCode == http.StatusSwitchingProtocols {
					t.Fatalf("Upgrade error %v, status %s; want an error and no 101", err, resp.Status)
				}
				if resp.StatusCode < 500 || resp.StatusCode > 599 {
					t.Errorf("status %s, want 5xx: the fault is the server's", resp.Status)
				}
				return
			}
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("Upgrade error %v, status %s; want 101", err, resp.Status)
			}
			for name, want := range c.header {
				if got := resp.Header.Values(name); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s %q, want %q", name, got, want)
				}
			}
			if got := resp.Header.Get("Sec-WebSocket-Accept"); got != hsRFCAccept {
				t.Errorf("Sec-WebSocket-Accept %q, want %q", got, hsRFCAccept)
			}
		})
	}
}

// A line break in a name or value of responseHeader must not add a line to
// the 101 response: either it is neutralised or the upgrade is refused.
func TestHandshakeResponseHeaderInjection(t *testing.T) {
	cases := []struct {
		name   string
		header http.Header
	}{
		{
			name:   "CRLF in a value",
			header: http.Header{"X-Note": {"ok\r\nInjected: yes"}},
		},
		{
			name:   "LF in a value",
			header: http.Header{"X-Note": {"ok\nInjected: yes"}},
		},
		{
			name:   "CR in a value",
			header: http.Header{"X-Note": {"ok\rInjected: yes"}},
		},
		{
			name:   "CRLF CRLF in a value",
			header: http.Header{"X-Note": {"ok\r\n\r\nInjected: yes"}},
		},
		{
			name:   "CRLF in a name",
			header: http.Header{"X-Note\r\nInjected": {"yes"}},
		},
		{
			name:   "colon in a name",
			header: http.Header{"Injected: yes\r\nX-Note": {"ok"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url, errc := hsUpgradeWith(t, c.header)
			raw := hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, hsKey, hsVersion})
			_, br := dialWrite(t, url, []byte(raw))
			head := hsReadHead(t, br)
			err := hsWaitErr(t, errc)
			if len(head) == 0 {
				t.Fatal("empty response")
			}
			for _, line := range head[1:] {
				if strings.HasPrefix(strings.ToLower(line), "injected") {
					t.Errorf("injected header line %q in %q", line, head)
				}
				if strings.ContainsRune(line, '\r') || !strings.Contains(line, ":") {
					t.Errorf("malformed header line %q in %q", line, head)
				}
			}
			switch {
			case strings.HasPrefix(head[0], "HTTP/1.1 101 "):
				if err != nil {
					t.Errorf("101 sent, yet Upgrade returned %v", err)
				}
			case strings.HasPrefix(head[0], "HTTP/1.1 5"):
				if err == nil {
					t.Errorf("%q sent, yet Upgrade returned no error", head[0])
				}
			default:
				t.Errorf("status line %q, want 101 or a refusal with 5xx", head[0])
			}
		})
	}
}

// FuzzHandshakeRequest runs arbitrary parsed requests through Upgrade
// with a recorder (S1, H11): no panic, a refusal is one of the handshake's
// statuses with a body, and an accepted key gives a well-formed accept.
func FuzzHandshakeRequest(f *testing.F) {
	valid := hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, hsKey, hsVersion})
	f.Add([]byte(valid))
	f.Add([]byte(hsRequestText(http.MethodPost, "", "example.com", []string{hsUpgrade, hsConnection, hsKey, hsVersion})))
	f.Add([]byte(hsRequestText("", "HTTP/1.0", "example.com", []string{hsUpgrade, hsConnection, hsKey, hsVersion})))
	f.Add([]byte(hsRequestText("", "", "example.com", []string{"Upgrade: h2c, WebSocket", "Connection: keep-alive", "Connection: upgrade", hsKey, hsVersion})))
	f.Add([]byte(hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, hsKeyOf(17), hsVersion})))
	f.Add([]byte(hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, "Sec-WebSocket-Key: not base64!!", hsVersion})))
	f.Add([]byte(hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, hsKey, "Sec-WebSocket-Version: 8"})))
	f.Add([]byte(hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, hsKey, hsVersion, "Origin: null"})))
	f.Add([]byte(hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, hsKey, hsVersion, "Origin: https://a.example.com", "Origin: https://example.com"})))
	f.Add([]byte(hsRequestText("", "", "example.com", []string{hsUpgrade, hsConnection, hsKey, hsVersion, "Origin: http://[::1", "Sec-WebSocket-Protocol: , chat,,superchat"})))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))

	allowed := map[int]bool{400: true, 403: true, 405: true, 426: true, 500: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			t.Skip()
		}
		u := &Upgrader{
			Subprotocols:   []string{"chat", "superchat"},
			AllowedOrigins: []string{"*.example.com", "localhost:*"},
		}
		rec := httptest.NewRecorder()
		conn, err := u.Upgrade(rec, r, nil)
		if conn != nil || err == nil {
			t.Fatalf("recorder: Upgrade returned (%v, %v), want an error and no connection", conn, err)
		}
		if !allowed[rec.Code] {
			t.Fatalf("status %d, want one of 400, 403, 405, 426, 500", rec.Code)
		}
		if rec.Body.Len() == 0 {
			t.Fatalf("status %d without a body", rec.Code)
		}

		key, herr := checkRequest(r)
		if herr != nil {
			if rec.Code != herr.status {
				t.Fatalf("status %d, but checkRequest refused with %d", rec.Code, herr.status)
			}
			return
		}
		if r.Method != http.MethodGet || !r.ProtoAtLeast(1, 1) {
			t.Fatalf("checkRequest accepted %s %s", r.Method, r.Proto)
		}
		if rec.Code != http.StatusForbidden && rec.Code != http.StatusInternalServerError {
			t.Fatalf("status %d for a request checkRequest accepted", rec.Code)
		}
		if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
			t.Fatalf("checkRequest accepted key %q (%d bytes, %v)", key, len(raw), err)
		}
		accept := acceptKey(key)
		if sum, err := base64.StdEncoding.DecodeString(accept); len(accept) != 28 || err != nil || len(sum) != sha1.Size {
			t.Fatalf("acceptKey(%q) = %q, want 28 characters of base64 of a SHA-1", key, accept)
		}
		if s := selectSubprotocol(r, u.Subprotocols); s != "" && !headerHasToken(r.Header, "Sec-WebSocket-Protocol", s) {
			t.Fatalf("selectSubprotocol chose %q, which was not offered", s)
		}
	})
}

// Dial to a server that answers with something other than 101 returns a
// *HandshakeError with the status, the header and the start of the body,
// so that a refusal can be told apart without reading the message.
func TestDialNonWebSocketServer(t *testing.T) {
	long := strings.Repeat("0123456789", 100)
	cases := []struct {
		name    string
		handler http.HandlerFunc
		status  int
		header  string // a header the response must carry, "Name: value"
		body    string // what the body must start with
	}{
		{
			name: "404",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "nothing here", http.StatusNotFound)
			},
			status: http.StatusNotFound,
			body:   "nothing here",
		},
		{
			name: "200",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello")
			},
			status: http.StatusOK,
			body:   "hello",
		},
		{
			name: "401 with a challenge",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="chat"`)
				http.Error(w, "log in first", http.StatusUnauthorized)
			},
			status: http.StatusUnauthorized,
			header: `WWW-Authenticate: Bearer realm="chat"`,
			body:   "log in first",
		},
		{
			name: "403 from the origin policy",
			handler: (&Upgrader{CheckOrigin: func(*http.Request) bool { return false }}).Handler(func(*Conn) {
				t.Error("the refused connection reached the handler")
			}).ServeHTTP,
			status: http.StatusForbidden,
			body:   "websocket: origin not allowed",
		},
		{
			name: "a redirect, not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
			},
			status: http.StatusFound,
			header: "Location: /elsewhere",
		},
		{
			name: "a long body, cut",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, long)
			},
			status: http.StatusServiceUnavailable,
			body:   long[:handshakeErrorBody],
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := serveHTTP(t, c.handler)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			conn, err := Dial(ctx, url, nil)
			if err == nil {
				conn.Close()
				t.Fatal("Dial succeeded")
			}
			var he *HandshakeError
			if !errors.As(err, &he) {
				t.Fatalf("Dial: %v, want a *HandshakeError", err)
			}
			if he.StatusCode != c.status || !strings.HasPrefix(he.Status, strconv.Itoa(c.status)+" ") {
				t.Fatalf("status %d %q, want %d", he.StatusCode, he.Status, c.status)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(c.status)) {
				t.Fatalf("error %q does not name the status %d", err, c.status)
			}
			if name, value, ok := strings.Cut(c.header, ": "); ok && he.Header.Get(name) != value {
				t.Fatalf("header %s: %q, want %q", name, he.Header.Get(name), value)
			}
			if !strings.HasPrefix(string(he.Body), c.body) || len(he.Body) > handshakeErrorBody {
				t.Fatalf("body %q (%d bytes), want it to start with %q, at most %d bytes", he.Body, len(he.Body), c.body, handshakeErrorBody)
			}
		})
	}
}

// hsSilentServer accepts connections and reads from them without ever
// answering, until the test ends. Each accepted connection is announced on
// the returned channel once its request has arrived.
func hsSilentServer(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	requested := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(testTimeout))
			if _, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
				select {
				case requested <- struct{}{}:
				default:
				}
			}
			io.Copy(io.Discard, conn) // until the client gives up
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return "ws://" + ln.Addr().String() + "/", requested
}

// hsDialAsync runs Dial in a goroutine.
func hsDialAsync(ctx context.Context, url string) <-chan error {
	errc := make(chan error, 1)
	go func() {
		conn, err := Dial(ctx, url, nil)
		if conn != nil {
			conn.Close()
		}
		errc <- err
	}()
	return errc
}

// Dial with a context that is already cancelled fails at once, even
// against a server that would never answer.
func TestDialCancelledContext(t *testing.T) {
	url, _ := hsSilentServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	select {
	case err := <-hsDialAsync(ctx, url):
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial error %v, want one that wraps context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Dial with a cancelled context did not return")
	}
}

// Cancelling the context while the server keeps the handshake waiting ends
// Dial.
func TestDialCancelledDuringHandshake(t *testing.T) {
	url, requested := hsSilentServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := hsDialAsync(ctx, url)
	select {
	case <-requested:
	case err := <-errc:
		t.Fatalf("Dial returned %v before the server answered", err)
	case <-time.After(testTimeout):
		t.Fatal("the handshake request did not arrive")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial error %v, want one that wraps context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Dial did not return after its context was cancelled")
	}
}

// Dial checks the server's 101 response (RFC 6455 §4.1) and refuses one
// that does not complete the handshake it started.
func TestDialChecksResponse(t *testing.T) {
	cases := []struct {
		name     string
		response func(accept string) string // the head without its final empty line
		wantErr  bool
	}{
		{
			name:     "valid",
			response: switchingProtocols,
		},
		{
			name:     "wrong accept",
			response: func(string) string { return switchingProtocols(hsRFCAccept) },
			wantErr:  true,
		},
		{
			name: "no Upgrade",
			response: func(accept string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n"
			},
			wantErr: true,
		},
		{
			name: "no Connection",
			response: func(accept string) string {
				return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + accept + "\r\n"
			},
			wantErr: true,
		},
		{
			name:     "H8/subprotocol not offered",
			response: func(accept string) string { return switchingProtocols(accept) + "Sec-WebSocket-Protocol: chat\r\n" },
			wantErr:  true,
		},
		{
			name: "H9/extension not offered",
			response: func(accept string) string {
				return switchingProtocols(accept) + "Sec-WebSocket-Extensions: permessage-deflate\r\n"
			},
			wantErr: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url, peers := serveRaw(t, c.response)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			conn, err := Dial(ctx, url, nil)
			if conn != nil {
				// The fake server hangs up, so that the close handshake ends at
				// once; its error does not matter.
				acceptRaw(t, peers).conn.Close()
				conn.CloseWithStatus(StatusNormalClosure, "")
			}
			if c.wantErr && err == nil {
				t.Fatal("Dial accepted the response")
			}
			if !c.wantErr && err != nil {
				t.Fatalf("Dial: %v", err)
			}
		})
	}
}

// Dial opens its connection through DialOptions.NetDialContext when set.
func TestDialNetDialContext(t *testing.T) {
	url := startServer(t, nil, echoMessages)
	var dialed []string
	opts := &DialOptions{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, network+" "+addr)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	c, err := Dial(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if want := "tcp " + tcpAddr(url); len(dialed) != 1 || dialed[0] != want {
		t.Fatalf("NetDialContext called with %q, want once with %q", dialed, want)
	}
	if err := c.WriteMessage(TextMessage, []byte("via the custom dialer")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "via the custom dialer" {
		t.Fatalf("echo %q, %v", p, err)
	}
}

// Dial's handshake is HTTP/1.1's, over TLS too: a TLS config that offers
// h2 by ALPN, as one shared with an http.Transport does, must not let an
// HTTP/2 server choose it.
func TestDialTLSConfigOfferingH2(t *testing.T) {
	srv := httptest.NewUnstartedServer((&Upgrader{}).Handler(func(c *Conn) { echoMessages(c) }))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https"), &DialOptions{TLSConfig: cfg})
	if err != nil {
		t.Fatalf("Dial with a config that offers h2: %v", err)
	}
	defer c.Close()
	if err := c.WriteMessage(TextMessage, []byte("over TLS")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "over TLS" {
		t.Fatalf("echo %q, %v", p, err)
	}
	if len(cfg.NextProtos) != 2 {
		t.Fatalf("Dial changed the caller's config: NextProtos %q", cfg.NextProtos)
	}
}
