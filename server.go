package websocket

import (
	"fmt"
	"log"
	"net/http"
	"net/textproto"
	"runtime"
	"strings"
	"time"
)

// Upgrader turns HTTP requests into WebSocket connections. Its zero value
// is ready to use, with safe defaults: browsers may connect only from the
// page's own origin, and messages are limited to DefaultReadLimit. An
// Upgrader may be used by many goroutines at once.
type Upgrader struct {
	// Subprotocols lists the subprotocols the server speaks, most preferred
	// first. The first one the client also offers is chosen; none is
	// chosen if none matches, and the client decides whether to go on.
	Subprotocols []string

	// CheckOrigin, if set, decides whether a request's Origin is allowed,
	// replacing the default policy. Refused requests are answered with 403
	// Forbidden.
	//
	// The default policy allows requests without an Origin header, which
	// do not come from browsers, and requests whose Origin names the host
	// the request was sent to; it refuses the others, since a page from
	// another site could otherwise act with the user's cookies
	// (cross-site WebSocket hijacking, RFC 6455 §10.2).
	CheckOrigin func(r *http.Request) bool

	// AllowedOrigins widens the default policy with the hosts of other
	// origins that may connect, as patterns for path.Match compared
	// without regard to case, with the port if the origin has one:
	// "example.com", "*.example.com", "localhost:*". It is ignored when
	// CheckOrigin is set.
	AllowedOrigins []string

	// ReadLimit is the size of the largest message a connection accepts,
	// in bytes. Zero means DefaultReadLimit (16 MiB).
	ReadLimit int64

	// ReadBufferSize and WriteBufferSize are the sizes of the buffers a
	// connection borrows from a shared pool while it reads or writes a
	// frame; an idle connection holds none. Zero means 4096 bytes. A
	// message that fits the write buffer goes out in one write.
	ReadBufferSize, WriteBufferSize int

	// CloseTimeout bounds how long a connection waits for the peer's close
	// frame when closing. Zero means DefaultCloseTimeout (5 seconds). It
	// also bounds how long the automatic pong to a ping may take to write.
	CloseTimeout time.Duration

	// Compression, if set, compresses messages with permessage-deflate
	// (RFC 7692) on connections whose client offers it, as browsers do.
	// Off when nil. See Compression for what each choice costs.
	Compression *Compression

	// PingInterval, if positive, turns on the keepalive: a connection that
	// has not received a pong for PingInterval sends a ping, and closes if
	// no pong arrives within PongTimeout (zero means PingInterval). Reads
	// then fail with a *CloseError with StatusAbnormalClosure that wraps
	// ErrPongTimeout. This finds peers that vanished without closing, such
	// as a laptop that went to sleep, which TCP alone may not notice for
	// hours. It uses a timer, not a goroutine, and needs a goroutine
	// reading the connection, which is where pongs are seen.
	PingInterval, PongTimeout time.Duration
}

// handshakeWriteTimeout bounds the write of the 101 response: a client that
// does not read its own handshake must not hold the handler forever.
const handshakeWriteTimeout = 10 * time.Second

// reservedResponseHeaders are the headers the handshake itself writes.
var reservedResponseHeaders = []string{
	"Upgrade",
	"Connection",
	"Sec-Websocket-Accept",
	"Sec-Websocket-Protocol",
	"Sec-Websocket-Extensions",
}

// Upgrade validates the opening handshake in r, answers it, and returns the
// connection. responseHeader may add headers to the 101 response, such as
// Set-Cookie; the handshake's own headers are not allowed in it (choose
// subprotocols with Upgrader.Subprotocols).
//
// If the request is not a valid WebSocket handshake, or is refused,
// Upgrade answers it with an HTTP error status and a short text body and
// returns an error; the handler must not write to w after that. Extensions
// the client offers are declined, but for permessage-deflate when
// Upgrader.Compression is set.
//
// Over HTTP/2 (see the package doc) the request is an extended CONNECT,
// answered with 200, and the connection is a stream of the HTTP/2
// connection, which net/http ends when the handler returns: the handler
// must not return while it uses the Conn. Read in the handler until the
// connection ends, or wait there for whatever goroutine does. Writes
// after the handler has returned fail with ErrClosed, but one under way
// as it returns races with net/http, which may panic ("Write called
// after Handler finished").
func (u *Upgrader) Upgrade(w http.ResponseWriter, r *http.Request, responseHeader http.Header) (*Conn, error) {
	if r.ProtoMajor == 2 {
		return u.upgradeHTTP2(w, r, responseHeader)
	}
	key, herr := checkRequest(r)
	if herr == nil {
		herr = u.checkPolicy(r, responseHeader)
	}
	if herr != nil {
		refuse(w, herr, http.MethodGet)
		return nil, herr
	}

	subprotocol, extensions, dz := u.negotiate(r)
	netConn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 and test recorders cannot hand over their connection.
		msg := "websocket: the server cannot switch protocols on this connection"
		http.Error(w, msg, http.StatusInternalServerError)
		return nil, fmt.Errorf("%s: %w", msg, err)
	}

	// net/http may have left deadlines from ReadTimeout or WriteTimeout on
	// the connection; from here on only the application's own apply.
	netConn.SetDeadline(time.Time{})
	netConn.SetWriteDeadline(time.Now().Add(handshakeWriteTimeout))
	b := appendResponse(brw.Writer.AvailableBuffer(), key, subprotocol, extensions, responseHeader)
	_, err = brw.Writer.Write(b)
	if err == nil {
		err = brw.Writer.Flush()
	}
	if err != nil {
		netConn.Close()
		return nil, fmt.Errorf("websocket: write handshake response: %w", err)
	}
	netConn.SetWriteDeadline(time.Time{})

	// Frames the client sent right behind its request may already sit in
	// the server's read buffer; they belong to the connection.
	leftover, _ := brw.Reader.Peek(brw.Reader.Buffered())
	return newConn(netConn, leftover, false, subprotocol, u.config(dz)), nil
}

// upgradeHTTP2 is Upgrade for an HTTP/2 request (RFC 8441).
func (u *Upgrader) upgradeHTTP2(w http.ResponseWriter, r *http.Request, responseHeader http.Header) (*Conn, error) {
	herr := checkRequestHTTP2(r)
	if herr == nil {
		herr = u.checkPolicy(r, responseHeader)
	}
	if herr != nil {
		refuse(w, herr, http.MethodConnect)
		return nil, herr
	}
	subprotocol, extensions, dz := u.negotiate(r)
	s, err := acceptHTTP2(w, r, subprotocol, extensions, responseHeader)
	if err != nil {
		return nil, fmt.Errorf("websocket: write handshake response: %w", err)
	}
	c := newConn(s, nil, false, subprotocol, u.config(dz))
	closeOnShutdown(r, c, s)
	s.start(c)
	return c, nil
}

// refuse answers a handshake that is not valid, or not allowed, with an
// HTTP error status and a text body. allow is the method a handshake
// uses, for a 405.
func refuse(w http.ResponseWriter, herr *handshakeError, allow string) {
	switch herr.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", allow)
	case http.StatusUpgradeRequired:
		w.Header().Set("Sec-WebSocket-Version", "13")
		w.Header().Set("Upgrade", "websocket")
	}
	http.Error(w, herr.Error(), herr.status)
}

// negotiate chooses the subprotocol and the extensions of a valid
// handshake.
func (u *Upgrader) negotiate(r *http.Request) (subprotocol, extensions string, dz *deflateConn) {
	subprotocol = selectSubprotocol(r, u.Subprotocols)
	if u.Compression != nil {
		extensions, dz = u.Compression.accept(r.Header.Values("Sec-WebSocket-Extensions"))
	}
	return subprotocol, extensions, dz
}

// config is the configuration of the connections u makes.
func (u *Upgrader) config(dz *deflateConn) config {
	return config{
		readLimit:       u.ReadLimit,
		readBufferSize:  u.ReadBufferSize,
		writeBufferSize: u.WriteBufferSize,
		closeTimeout:    u.CloseTimeout,
		pingInterval:    u.PingInterval,
		pongTimeout:     u.PongTimeout,
		deflate:         dz,
	}
}

// checkPolicy applies the server's own rules to a valid handshake.
func (u *Upgrader) checkPolicy(r *http.Request, responseHeader http.Header) *handshakeError {
	allowed := false
	if u.CheckOrigin != nil {
		allowed = u.CheckOrigin(r)
	} else {
		allowed = checkOrigin(r, u.AllowedOrigins)
	}
	if !allowed {
		return &handshakeError{http.StatusForbidden, "origin not allowed"}
	}
	if u.Compression != nil {
		if err := u.Compression.validate(); err != nil {
			return &handshakeError{http.StatusInternalServerError, err.Error()}
		}
	}
	for name := range responseHeader {
		if !validHeaderName(name) {
			return &handshakeError{http.StatusInternalServerError, fmt.Sprintf("invalid response header name %q", name)}
		}
		for _, reserved := range reservedResponseHeaders {
			if strings.EqualFold(name, reserved) {
				return &handshakeError{http.StatusInternalServerError, "the response header may not set " + name}
			}
		}
	}
	return nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110 §5.6.2),
// so that it cannot end a header line early or pose as a second one.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// appendResponse appends the 101 response to b (§4.2.2).
func appendResponse(b []byte, key, subprotocol, extensions string, extra http.Header) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, acceptKey(key)...)
	if subprotocol != "" {
		b = append(b, "\r\nSec-WebSocket-Protocol: "...)
		b = append(b, subprotocol...)
	}
	if extensions != "" {
		b = append(b, "\r\nSec-WebSocket-Extensions: "...)
		b = append(b, extensions...)
	}
	b = append(b, "\r\n"...)
	for name, values := range extra {
		name = textproto.CanonicalMIMEHeaderKey(name)
		for _, v := range values {
			b = append(b, name...)
			b = append(b, ": "...)
			// A line break in a value would end the header early and let the
			// rest pose as more headers.
			b = append(b, headerValueReplacer.Replace(v)...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

var headerValueReplacer = strings.NewReplacer("\r", " ", "\n", " ")

// Handler returns an http.Handler that upgrades each request with u and
// calls f with the connection. When f returns, the connection is closed
// with StatusNormalClosure. Requests that are not valid handshakes get an
// HTTP error and never reach f.
//
// f runs on a goroutine of its own, and the HTTP handler returns as soon as
// the connection is upgraded, so that net/http's per-request state does not
// live as long as the connection. A panic in f therefore does not reach
// net/http's recovery: Handler recovers it, closes the connection with
// StatusInternalError, and logs the panic with its stack to the server's
// ErrorLog, as net/http does for its handlers.
func (u *Upgrader) Handler(f func(*Conn)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		logger := serverLog(r)
		run := func() {
			defer c.Close()
			defer recoverPanic(c, logger)
			f(c)
		}
		if c.http2Conn() != nil {
			// Over HTTP/2 the stream ends when this handler returns.
			run()
			return
		}
		go run()
	})
}

// serverLog returns the ErrorLog of the server that received r, or nil for
// the log package's standard logger.
func serverLog(r *http.Request) *log.Logger {
	if s, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
		return s.ErrorLog
	}
	return nil
}

// recoverPanic, deferred around application code that serves c, stops a
// panic there from ending the program: c is closed with
// StatusInternalError and the panic is logged with its stack, except for
// http.ErrAbortHandler, which asks for the connection to end quietly.
func recoverPanic(c *Conn, logger *log.Logger) {
	p := recover()
	if p == nil {
		return
	}
	if p != http.ErrAbortHandler {
		stack := make([]byte, 64<<10)
		stack = stack[:runtime.Stack(stack, false)]
		if logger == nil {
			logger = log.Default()
		}
		logger.Printf("websocket: panic serving %v: %v\n%s", c.RemoteAddr(), p, stack)
	}
	c.CloseWithStatus(StatusInternalError, "")
}
