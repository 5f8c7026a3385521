package websocket

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DialOptions configures Dial. A nil *DialOptions means the defaults.
type DialOptions struct {
	// Header holds extra request headers, such as Origin, Cookie or
	// Authorization.
	Header http.Header

	// Subprotocols lists the subprotocols to offer, most preferred first.
	Subprotocols []string

	// TLSConfig configures wss:// connections; nil means the defaults.
	TLSConfig *tls.Config

	// NetDialContext, if set, opens the TCP connection instead of a
	// net.Dialer: to set socket options, go through a tunnel, or hand
	// over a net.Pipe in tests.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// Compression, if set, offers permessage-deflate (RFC 7692), and
	// compresses messages if the server accepts. WindowBits is then the
	// window the client compresses with, and PeerWindowBits the one it
	// asks the server to use.
	Compression *Compression

	// ReadLimit, ReadBufferSize, WriteBufferSize, CloseTimeout,
	// PingInterval and PongTimeout mean what they mean on Upgrader, with
	// the same defaults.
	ReadLimit                       int64
	ReadBufferSize, WriteBufferSize int
	CloseTimeout                    time.Duration
	PingInterval, PongTimeout       time.Duration
}

// A HandshakeError is the error Dial returns, wrapped, when the server
// answers the opening handshake with a status other than 101 Switching
// Protocols: a refusal such as 401 Unauthorized or 403 Forbidden, a
// server that does not speak WebSocket at that URL, or a redirect, which
// Dial does not follow. Use errors.As to learn which:
//
//	var he *websocket.HandshakeError
//	if errors.As(err, &he) && he.StatusCode == http.StatusUnauthorized { … }
type HandshakeError struct {
	StatusCode int         // the response's status code, such as 403
	Status     string      // its status line, such as "403 Forbidden"
	Header     http.Header // its header, for WWW-Authenticate, Location or Retry-After
	Body       []byte      // the start of its body, at most 512 bytes
}

// handshakeErrorBody bounds the part of a refusal's body that a
// HandshakeError keeps: enough for an error message, not for a page.
const handshakeErrorBody = 512

// Error names the status and quotes the start of the body.
func (e *HandshakeError) Error() string {
	msg := "server answered " + e.Status
	if body := strings.TrimSpace(string(e.Body)); body != "" {
		msg += ": " + body
	}
	return msg
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL and returns it
// in the client role: every frame it sends is masked with a fresh key from
// crypto/rand (RFC 6455 §5.3, §10.3). ctx bounds the connection and the
// opening handshake, not the connection's life.
//
// Dial is small and exists so that programs and tests can talk to a server
// without another library; it does not follow redirects or use proxies.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("websocket: dial: %w", err)
	}
	var port string
	switch u.Scheme {
	case "ws":
		port = "80"
	case "wss":
		port = "443"
	default:
		return nil, fmt.Errorf("websocket: dial: unsupported scheme %q: want ws or wss", u.Scheme)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), port)
	}

	dial := opts.NetDialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	netConn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("websocket: dial: %w", err)
	}
	if u.Scheme == "wss" {
		cfg := opts.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		// The handshake that follows is HTTP/1.1's: a config shared with
		// an http.Transport, which adds "h2", must not let the server
		// choose HTTP/2 by ALPN.
		cfg.NextProtos = []string{"http/1.1"}
		netConn = tls.Client(netConn, cfg)
	}

	// The context bounds the handshake: its deadline, and its cancellation
	// through a deadline in the past.
	if deadline, ok := ctx.Deadline(); ok {
		netConn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { netConn.SetDeadline(time.Unix(1, 0)) })
	c, err := clientHandshake(netConn, u, opts)
	if !stop() {
		err = ctx.Err()
	}
	if err != nil {
		netConn.Close()
		return nil, fmt.Errorf("websocket: dial %s: %w", rawURL, err)
	}
	netConn.SetDeadline(time.Time{})
	return c, nil
}

// clientHandshake sends the opening handshake (§4.1) and checks the
// server's answer.
func clientHandshake(netConn net.Conn, u *url.URL, opts *DialOptions) (*Conn, error) {
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(k[:])

	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Host:       u.Host,
	}
	if req.URL.Path == "" {
		req.URL.Path = "/"
	}
	for name, values := range opts.Header {
		req.Header[name] = values
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if opts.Compression != nil {
		if err := opts.Compression.validate(); err != nil {
			return nil, err
		}
		req.Header.Set("Sec-WebSocket-Extensions", opts.Compression.offer())
	} else {
		req.Header.Del("Sec-WebSocket-Extensions")
	}
	if err := req.Write(netConn); err != nil {
		return nil, err
	}

	br := bufio.NewReader(netConn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, handshakeErrorBody))
		resp.Body.Close()
		return nil, &HandshakeError{StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header, Body: body}
	}
	switch {
	case !headerHasToken(resp.Header, "Upgrade", "websocket"):
		return nil, fmt.Errorf("101 response without Upgrade: websocket")
	case !headerHasToken(resp.Header, "Connection", "upgrade"):
		return nil, fmt.Errorf("101 response without Connection: Upgrade")
	case resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key):
		return nil, fmt.Errorf("101 response with a wrong Sec-WebSocket-Accept")
	}
	// Only what was offered may be accepted (§4.1).
	var dz *deflateConn
	extensions := resp.Header.Values("Sec-WebSocket-Extensions")
	if opts.Compression != nil {
		if dz, err = opts.Compression.checkResponse(extensions); err != nil {
			return nil, err
		}
	} else if len(headerTokens(resp.Header, "Sec-WebSocket-Extensions")) > 0 {
		return nil, fmt.Errorf("server accepted an extension that was not offered")
	}
	subprotocol := resp.Header.Get("Sec-WebSocket-Protocol")
	if subprotocol != "" && !slices.Contains(opts.Subprotocols, subprotocol) {
		return nil, fmt.Errorf("server chose subprotocol %q, which was not offered", subprotocol)
	}

	leftover, _ := br.Peek(br.Buffered())
	return newConn(netConn, leftover, true, subprotocol, config{
		readLimit:       opts.ReadLimit,
		readBufferSize:  opts.ReadBufferSize,
		writeBufferSize: opts.WriteBufferSize,
		closeTimeout:    opts.CloseTimeout,
		pingInterval:    opts.PingInterval,
		pongTimeout:     opts.PongTimeout,
		deflate:         dz,
	}), nil
}
