package websocket

// WebSockets over HTTP/2 (RFC 8441): the handshake is an extended CONNECT
// on a stream of an HTTP/2 connection, and the connection's bytes are the
// stream's DATA frames, read from the request body and written to the
// flushed ResponseWriter.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// http2StreamBuffer bounds what a connection over HTTP/2 holds of what the
// peer sent and the application has not read yet. See http2Stream.
const http2StreamBuffer = 1 << 20

// checkRequestHTTP2 checks an HTTP/2 request as an opening handshake of
// RFC 8441 §4 and §5: a CONNECT with the :protocol pseudo-header
// "websocket" and Sec-WebSocket-Version 13; there is no key.
func checkRequestHTTP2(r *http.Request) *handshakeError {
	if r.Method != http.MethodConnect {
		return &handshakeError{http.StatusMethodNotAllowed, "over HTTP/2 the opening handshake is an extended CONNECT (RFC 8441)"}
	}
	switch p := r.Header.Get(":protocol"); {
	case p == "":
		return &handshakeError{http.StatusBadRequest, "a CONNECT without the :protocol pseudo-header is not a WebSocket handshake"}
	case !strings.EqualFold(p, "websocket"):
		return &handshakeError{http.StatusBadRequest, "the :protocol of the CONNECT is not websocket"}
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return &handshakeError{http.StatusUpgradeRequired, "unsupported Sec-WebSocket-Version: this server speaks version 13"}
	}
	return nil
}

// acceptHTTP2 answers a valid extended CONNECT with 200 and returns the
// stream as a transport.
func acceptHTTP2(w http.ResponseWriter, r *http.Request, subprotocol, extensions string, responseHeader http.Header) (*http2Stream, error) {
	h := w.Header()
	for name, values := range responseHeader {
		h[name] = values
	}
	if subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", subprotocol)
	}
	if extensions != "" {
		h.Set("Sec-WebSocket-Extensions", extensions)
	}
	rc := http.NewResponseController(w)
	// The server's ReadTimeout and WriteTimeout would end a stream that
	// lives for hours: from here on only the application's deadlines
	// apply.
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Now().Add(handshakeWriteTimeout))
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, err
	}
	rc.SetWriteDeadline(time.Time{})
	s := &http2Stream{
		w:      w,
		rc:     rc,
		body:   r.Body,
		remote: stringAddr(r.RemoteAddr),
		done:   make(chan struct{}),
		more:   make(chan struct{}, 1),
	}
	s.local, _ = r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	// The request's context ends when the handler returns or the client
	// resets the stream, as a browser does when its page closes: either
	// way the stream is gone, as a TCP connection is when the peer
	// vanishes.
	s.ended = r.Context().Done()
	context.AfterFunc(r.Context(), s.gone)
	return s, nil
}

// errHTTP2StreamGone is why a read ends when the stream ended under the
// connection, without a close frame.
var errHTTP2StreamGone = errors.New("the HTTP/2 stream was reset, or its handler returned")

// gone records that the stream is no more: writes fail from now on, and
// reads, once they have taken what arrived before, report its end.
func (s *http2Stream) gone() {
	s.wmu.Lock()
	s.wclosed = true
	s.wmu.Unlock()
	s.mu.Lock()
	if s.err == nil {
		s.err = errHTTP2StreamGone
	}
	s.mu.Unlock()
	s.signal()
	s.body.Close()
}

// http2Stream is the transport of a connection over an HTTP/2 stream.
//
// HTTP/2 flow control gives the peer credit, for the stream and for the
// whole HTTP/2 connection, only as the handler reads the request body.
// All of an origin's WebSockets share that connection, so one whose
// application stopped reading would, by holding its share of the
// connection's credit, stall every other. A goroutine therefore reads each
// stream as its bytes arrive, into a buffer of at most http2StreamBuffer
// bytes; a connection whose application lets more than that wait is
// failed with StatusPolicyViolation, and its neighbours go on.
type http2Stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	body    io.ReadCloser
	local   net.Addr
	remote  net.Addr
	ended   <-chan struct{} // the request's context's: closed when the stream is gone
	conn    *Conn           // set once, before pump starts
	done    chan struct{}   // closed by Close: the handler may return
	onClose func()          // set once, before the Conn is handed out

	wmu     sync.Mutex // serialises writes with each other and with Close
	wclosed bool

	mu       sync.Mutex
	buf      []byte  // read from the body, not yet taken by Read
	pooled   *[]byte // the pool's buffer buf began in, returned once buf is drained
	err      error   // why the body ended, once buf is drained
	closed   bool
	deadline time.Time
	more     chan struct{} // signalled when buf, err, closed or deadline change
}

// start begins reading the stream for c.
func (s *http2Stream) start(c *Conn) {
	s.conn = c
	go s.pump()
}

// pump reads the body into buf as the peer sends it. A read that waits
// for the peer, which an idle connection's always does, waits with a
// small buffer; one that follows a read that filled its buffer borrows a
// large one from the pool for the time of the read.
func (s *http2Stream) pump() {
	var small [512]byte
	busy := false
	for {
		chunk := small[:]
		var big *[]byte
		if busy {
			big = getBuffer(32 << 10)
			chunk = *big
		}
		n, err := s.body.Read(chunk)
		busy = n == len(chunk)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			if big != nil {
				putBuffer(big)
			}
			return
		}
		if s.buf == nil && n > 0 {
			s.pooled = getBuffer(32 << 10)
			s.buf = (*s.pooled)[:0]
		}
		s.buf = append(s.buf, chunk[:n]...)
		if big != nil {
			putBuffer(big)
		}
		over := len(s.buf) > http2StreamBuffer
		if err != nil && s.err == nil {
			s.err = err
		}
		if over {
			s.err = errHTTP2Overflow
		}
		s.mu.Unlock()
		s.signal()
		if over {
			// The application reads too slowly for the stream to keep
			// its share of the HTTP/2 connection: fail it, and let the
			// others go on.
			s.conn.failStream(StatusPolicyViolation, "reading too slowly")
			return
		}
		if err != nil {
			return
		}
	}
}

var errHTTP2Overflow = errors.New("websocket: the application read too slowly: more than 1 MiB of the HTTP/2 stream waited")

// releaseBuf lets go of buf, returning its buffer to the pool if buf
// still lies in the one it began in (an append may have moved it). Call
// with mu held.
func (s *http2Stream) releaseBuf() {
	if s.pooled != nil && sameArray(s.buf, *s.pooled) {
		putBuffer(s.pooled)
	}
	s.buf, s.pooled = nil, nil
}

// sameArray reports whether a and b end in the same array.
func sameArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}

func (s *http2Stream) signal() {
	select {
	case s.more <- struct{}{}:
	default:
	}
}

func (s *http2Stream) Read(p []byte) (int, error) {
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			s.mu.Unlock()
			return 0, net.ErrClosed
		case len(s.buf) > 0:
			n := copy(p, s.buf)
			s.buf = s.buf[n:]
			if len(s.buf) == 0 {
				s.releaseBuf()
			}
			s.mu.Unlock()
			return n, nil
		case s.err != nil:
			err := s.err
			s.mu.Unlock()
			return 0, err
		}
		deadline := s.deadline
		s.mu.Unlock()
		if deadline.IsZero() {
			<-s.more
			continue
		}
		d := time.Until(deadline)
		if d <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		select {
		case <-s.more:
			t.Stop()
		case <-t.C:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

func (s *http2Stream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wclosed {
		return 0, net.ErrClosed
	}
	select {
	case <-s.ended:
		return 0, net.ErrClosed
	default:
	}
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil {
		select {
		case <-s.ended:
			// The handler has returned, or the client reset the stream.
			return n, net.ErrClosed
		default:
		}
	}
	return n, err
}

// Close ends the stream: the handler that serves it may return, and
// net/http then ends the stream.
func (s *http2Stream) Close() error {
	s.wmu.Lock()
	s.wclosed = true
	s.wmu.Unlock()
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	s.releaseBuf()
	s.mu.Unlock()
	if !first {
		return nil
	}
	s.signal()
	s.body.Close()
	if s.onClose != nil {
		s.onClose()
	}
	close(s.done)
	return nil
}

func (s *http2Stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
	s.signal()
	return nil
}

func (s *http2Stream) SetWriteDeadline(t time.Time) error {
	return s.rc.SetWriteDeadline(t)
}

func (s *http2Stream) LocalAddr() net.Addr  { return s.local }
func (s *http2Stream) RemoteAddr() net.Addr { return s.remote }

// stringAddr is a network address known only as the string net/http gives.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

// failStream fails a connection over HTTP/2 from its reading goroutine:
// the close frame, then the end of the stream, without waiting.
func (c *Conn) failStream(code StatusCode, reason string) {
	c.sendClose(code, reason)
	c.closeTransport()
}

// http2Conn returns the stream under c, if it runs over HTTP/2.
func (c *Conn) http2Conn() *http2Stream {
	s, _ := c.t.(*http2Stream)
	return s
}

// shutdowns records, per http.Server, the connections over HTTP/2 that
// its Shutdown must close: Shutdown waits for every open stream, and a
// WebSocket's stream stays open until it is closed.
var shutdowns sync.Map // *http.Server → *http2Conns

type http2Conns struct {
	mu    sync.Mutex
	conns map[*Conn]bool
}

// closeOnShutdown arranges for c to be closed with StatusGoingAway when
// the server that received r shuts down, until c closes.
func closeOnShutdown(r *http.Request, c *Conn, s *http2Stream) {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok {
		return
	}
	v, loaded := shutdowns.LoadOrStore(srv, &http2Conns{conns: map[*Conn]bool{}})
	set := v.(*http2Conns)
	if !loaded {
		srv.RegisterOnShutdown(func() {
			set.mu.Lock()
			defer set.mu.Unlock()
			for c := range set.conns {
				go c.CloseWithStatus(StatusGoingAway, "server shutting down")
			}
		})
	}
	set.mu.Lock()
	set.conns[c] = true
	set.mu.Unlock()
	s.onClose = func() {
		set.mu.Lock()
		delete(set.conns, c)
		set.mu.Unlock()
	}
}

// extendedConnect records whether net/http offers extended CONNECT: it
// reads the setting from the environment once, when the process starts,
// and so does this.
var extendedConnect = strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")

// HTTP2Enabled reports whether this process's net/http servers accept
// WebSockets over HTTP/2: whether they offer extended CONNECT (RFC 8441)
// to HTTP/2 clients, which Go 1.26 does only when the process was started
// with GODEBUG=http2xconnect=1 in its environment. A server can log it
// when it starts. Without it, browsers that reach the server over HTTP/2
// open their WebSockets over HTTP/1.1 connections of their own, which
// works as well.
func HTTP2Enabled() bool { return extendedConnect }
