package websocket

// Conn: its state and construction, the control frames that both halves
// of the connection deal in (§5.5), and the closing handshake (§7). The
// reading half is in read.go, the writing half in write.go.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// MessageType is the type of a data message: text (UTF-8) or binary.
type MessageType int

// The data message types. Their values are the frame opcodes of RFC 6455
// §5.2.
const (
	TextMessage   MessageType = MessageType(opText)
	BinaryMessage MessageType = MessageType(opBinary)
)

// String returns "text" or "binary".
func (t MessageType) String() string {
	switch t {
	case TextMessage:
		return "text"
	case BinaryMessage:
		return "binary"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

var (
	// ErrReadLimit is wrapped by the error a read returns when a message is
	// larger than the read limit. The connection has then been closed with
	// StatusMessageTooBig.
	ErrReadLimit = errors.New("websocket: message exceeds the read limit")

	// ErrClosed is returned by operations on a connection after Close, by
	// writes after a close frame has been sent, and by writes after a read
	// ended the connection.
	ErrClosed = errors.New("websocket: use of closed connection")
)

const (
	// DefaultReadLimit is the largest message a connection accepts unless
	// told otherwise: 16 MiB.
	DefaultReadLimit = 16 << 20

	// DefaultCloseTimeout is how long Close waits for the peer's close
	// frame before it closes the connection anyway.
	DefaultCloseTimeout = 5 * time.Second

	defaultBufferSize = 4096

	// maxFrameSize caps the payload of the frames a long message is cut
	// into, so that a pong or close never waits behind more than this many
	// bytes of another goroutine's message. A message up to this size
	// leaves as one frame in one write.
	maxFrameSize = 1 << 20
)

// config is what a Conn takes from an Upgrader or from DialOptions.
type config struct {
	readLimit       int64
	readBufferSize  int
	writeBufferSize int
	closeTimeout    time.Duration
	pingInterval    time.Duration
	pongTimeout     time.Duration
	deflate         *deflateConn // what the handshake negotiated, or nil
}

func (c config) withDefaults() config {
	if c.readLimit <= 0 {
		c.readLimit = DefaultReadLimit
	}
	if c.readBufferSize <= 0 {
		c.readBufferSize = defaultBufferSize
	}
	if c.writeBufferSize <= 0 {
		c.writeBufferSize = defaultBufferSize
	}
	// Room for a whole small frame, header included, and at least one byte
	// of payload per frame, whatever size was asked for.
	c.writeBufferSize = max(c.writeBufferSize, maxHeaderSize+maxControlPayload)
	if c.closeTimeout <= 0 {
		c.closeTimeout = DefaultCloseTimeout
	}
	return c
}

// Conn is a WebSocket connection, on the server side when it comes from an
// Upgrader and on the client side when it comes from Dial.
//
// One goroutine at a time may read (ReadMessage, NextReader and the reader
// it returns). Any number of goroutines may write at once (WriteMessage,
// NextWriter, Ping, Close, CloseWithStatus); their frames never interleave
// on the wire, and a control frame can go out between the frames of a
// message that another goroutine is writing.
type Conn struct {
	t            transport
	client       bool
	subprotocol  string
	z            *deflateConn // nil unless permessage-deflate was negotiated
	closeTimeout time.Duration
	// closeMu guards closing the transport, which happens once (closed),
	// and done, a channel made only for a CloseWithStatus that waits for
	// the reader, and closed with the transport.
	closeMu sync.Mutex
	closed  bool
	done    chan struct{}
	ka      *keepalive // nil when off

	// The reading half, used by the goroutine that holds readMu.
	readMu    sync.Mutex
	in        *input
	readLimit atomic.Int64
	readErr   error // once set, every read returns it
	// framingLost is set when a header could not be decoded, so frame
	// boundaries are unknown and no further frame can be read.
	framingLost bool
	// closeReceived is set once the peer's close frame arrived, valid or
	// not: after it the peer sends nothing more.
	closeReceived bool
	inMessage     bool   // a data message has started and not ended (§5.4)
	compressed    bool   // the current message is compressed (RFC 7692 §6)
	maskPos       uint8  // where in the masking key the next payload byte is
	msgOp         opcode // the message's type: opText or opBinary
	// noWait makes the wait for a new message end with errWouldBlock
	// instead (see nextMessage).
	noWait    bool
	frame     header
	remaining int64 // unread payload bytes of the current frame
	msgSize   int64
	utf8      utf8State
	onPong    atomic.Pointer[func([]byte)]
	mr        messageReader
	// ev is set when EventHandler serves the connection.
	ev atomic.Pointer[eventLoop]
	// pings are PingPong's, waiting for their pongs; nil until the first.
	pings atomic.Pointer[pingWaiters]

	// The writing half. msgMu is held for a whole data message so that two
	// messages never mix their fragments; frameMu for a single frame, so
	// that control frames can slip between the fragments of a message.
	msgMu        sync.Mutex
	mw           messageWriter
	writeBufSize int

	frameMu sync.Mutex
	// ctrlWaiting counts control frames waiting for frameMu, which data
	// frames let go first (see lockForData).
	ctrlWaiting atomic.Int32
	closeSent   bool  // a close frame went out: no frame may follow (§5.5.1)
	writeErr    error // once set, every write returns it
	// hdrOut holds the header of a frame that goes out in a vectored write
	// with its payload; ctrlOut a control frame that cannot, made when the
	// first one is sent.
	hdrOut  [maxHeaderSize]byte
	ctrlOut *[maxHeaderSize + maxControlPayload]byte
	out     output
	keys    *maskKeys // in the client role only

	// writeDeadline is the application's write deadline, restored after
	// the library's own bounded writes.
	writeDeadline atomic.Pointer[time.Time]
}

// newConn wraps an established stream. leftover holds bytes that arrived
// with the handshake and belong to the first frames.
func newConn(t transport, leftover []byte, client bool, subprotocol string, cfg config) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		t:            t,
		client:       client,
		subprotocol:  subprotocol,
		closeTimeout: cfg.closeTimeout,
		z:            cfg.deflate,
		in:           newInput(t, cfg.readBufferSize, leftover),
		writeBufSize: cfg.writeBufferSize,
	}
	c.initOutput()
	if client {
		c.keys = new(maskKeys)
	}
	c.readLimit.Store(cfg.readLimit)
	c.mr.c = c
	c.mw.c = c
	c.startKeepAlive(cfg.pingInterval, cfg.pongTimeout)
	return c
}

// Subprotocol returns the subprotocol agreed in the handshake, or "".
func (c *Conn) Subprotocol() string { return c.subprotocol }

// Extensions returns the extensions agreed in the handshake, as the
// server's Sec-WebSocket-Extensions header gave them, such as
// "permessage-deflate; client_max_window_bits=12", or "" for none.
func (c *Conn) Extensions() string {
	if c.z == nil {
		return ""
	}
	return c.z.agreed
}

// LocalAddr returns the local network address, or nil if the stream under
// the connection has none.
func (c *Conn) LocalAddr() net.Addr {
	if a, ok := c.t.(interface{ LocalAddr() net.Addr }); ok {
		return a.LocalAddr()
	}
	return nil
}

// RemoteAddr returns the peer's network address, or nil if the stream
// under the connection has none.
func (c *Conn) RemoteAddr() net.Addr {
	if a, ok := c.t.(interface{ RemoteAddr() net.Addr }); ok {
		return a.RemoteAddr()
	}
	return nil
}

// SetReadLimit sets the size of the largest message the connection accepts,
// in bytes. A larger message fails the connection with StatusMessageTooBig
// before its payload is read. A limit of zero or less restores
// DefaultReadLimit.
func (c *Conn) SetReadLimit(limit int64) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	c.readLimit.Store(limit)
}

// SetReadDeadline sets the time by which a read must complete. A read that
// fails for its deadline closes the connection, without a close frame, and
// returns a *CloseError with StatusAbnormalClosure that wraps
// os.ErrDeadlineExceeded; every further read returns it too. A zero time
// means no deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.t.SetReadDeadline(t) }

// SetWriteDeadline sets the time by which a write must complete. After a
// write fails for its deadline, the connection is closed. A zero time means
// no deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Store(&t)
	return c.t.SetWriteDeadline(t)
}

// SetPongHandler sets a function that the reading goroutine calls with the
// payload of every pong it receives; the payload is valid only during the
// call. A nil function ignores pongs, which is the default.
func (c *Conn) SetPongHandler(h func(payload []byte)) {
	if h == nil {
		c.onPong.Store(nil)
		return
	}
	c.onPong.Store(&h)
}

// ---- Control frames ----

// handleControl acts on a control frame (§5.5).
func (c *Conn) handleControl(h header) error {
	p, err := c.controlPayload(h)
	if err != nil {
		return c.abnormal(err)
	}
	switch h.op {
	case opPing:
		// §5.5.2: answer as soon as practical.
		err := c.writeControl(opPong, p)
		c.in.discard(len(p))
		if err != nil && !errors.Is(err, ErrClosed) {
			return err
		}
	case opPong:
		c.keepAlivePong()
		c.pongArrived(p)
		if f := c.onPong.Load(); f != nil {
			(*f)(p)
		}
		c.in.discard(len(p))
	case opClose:
		c.closeReceived = true
		ce, err := parseClosePayload(p)
		c.in.discard(len(p))
		if err != nil {
			return err
		}
		// §5.5.1: answer with a close echoing the code, and the reason with
		// it, unless one was sent already; then close the TCP connection.
		code := ce.Code
		if code == StatusNoStatusReceived {
			code = 0 // an empty close answers an empty close
		}
		_ = c.sendClose(code, ce.Reason)
		c.awaitEOF()
		c.closeTransport()
		return ce
	}
	return nil
}

// controlPayload returns the payload of the control frame whose header was
// just read, unmasked, where it lies in the read buffer: answering a ping
// takes no copy and no buffer of its own. The caller discards it from the
// buffer once done with it.
func (c *Conn) controlPayload(h header) ([]byte, error) {
	n := int(h.length) // at most maxControlPayload: the header was checked
	for len(c.in.buffered()) < n {
		if err := c.in.fill(); err != nil {
			return nil, midFrame(err)
		}
	}
	p := c.in.buffered()[:n]
	if h.masked {
		mask(h.key, 0, p)
	}
	return p, nil
}

// writeControl sends a control frame. Only frameMu is taken, so it can go
// out between the frames of a message. A close is the last frame the
// connection sends (§5.5.1). A pong is written by the reader, so it must
// not wait forever on a peer that sends pings and reads nothing: it gets
// the close timeout as its deadline, or the application's if sooner.
func (c *Conn) writeControl(op opcode, payload []byte) error {
	c.ctrlWaiting.Add(1)
	c.frameMu.Lock()
	c.ctrlWaiting.Add(-1)
	defer c.frameMu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	switch {
	case op == opClose:
		c.closeSent = true
	case op == opPong && c.boundWrite():
		defer c.restoreWriteDeadline()
	}
	if !c.client && c.out.direct() {
		// Header and payload in one vectored write: no copy.
		h := appendHeader(c.hdrOut[:0], true, op, len(payload), nil)
		return c.wrote(c.sendVec(h, payload))
	}
	// Room for control frames is made only for a connection that sends
	// one, so that idle connections do not carry it.
	if c.ctrlOut == nil {
		c.ctrlOut = new([maxHeaderSize + maxControlPayload]byte)
	}
	return c.wrote(c.send(c.appendControl(c.ctrlOut[:0], op, payload)))
}

// boundWrite puts the close timeout on the next write, unless the
// application's write deadline comes sooner, and reports whether it did.
func (c *Conn) boundWrite() bool {
	bound := time.Now().Add(c.closeTimeout)
	if d := c.writeDeadline.Load(); d != nil && !d.IsZero() && !d.After(bound) {
		return false
	}
	c.t.SetWriteDeadline(bound)
	return true
}

// restoreWriteDeadline puts the application's write deadline back.
func (c *Conn) restoreWriteDeadline() {
	var user time.Time
	if d := c.writeDeadline.Load(); d != nil {
		user = *d
	}
	c.t.SetWriteDeadline(user)
}

func (c *Conn) appendControl(b []byte, op opcode, payload []byte) []byte {
	if !c.client {
		b = appendHeader(b, true, op, len(payload), nil)
		return append(b, payload...)
	}
	k := c.nextMaskKey()
	b = appendHeader(b, true, op, len(payload), &k)
	n := len(b)
	b = append(b, payload...)
	mask(k, 0, b[n:])
	return b
}

// sendClose sends a close frame within the close timeout: a writer stuck
// on a peer that does not read would otherwise hold frameMu forever, and
// the deadline frees it.
func (c *Conn) sendClose(code StatusCode, reason string) error {
	c.t.SetWriteDeadline(time.Now().Add(c.closeTimeout))
	return c.writeClose(code, reason)
}

// writeClose sends a close frame, with no payload when code is 0. It is
// the last frame the connection sends (§5.5.1).
func (c *Conn) writeClose(code StatusCode, reason string) error {
	var p [maxControlPayload]byte
	b := p[:0]
	if code != 0 {
		b = binary.BigEndian.AppendUint16(b, uint16(code))
		b = append(b, reason[:min(len(reason), maxCloseReason)]...)
	}
	return c.writeControl(opClose, b)
}

// Ping sends a ping with the given payload, at most 125 bytes. The peer's
// pong reaches the pong handler (see SetPongHandler) while a goroutine
// reads.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > maxControlPayload {
		return fmt.Errorf("websocket: ping payload is %d bytes, more than %d", len(payload), maxControlPayload)
	}
	return c.writeControl(opPing, payload)
}

// ---- Closing ----

// Close performs the closing handshake with StatusNormalClosure and closes
// the connection; see CloseWithStatus.
func (c *Conn) Close() error {
	return c.CloseWithStatus(StatusNormalClosure, "")
}

// CloseWithStatus sends a close frame with the given code and reason (at
// most 123 bytes of UTF-8), waits for the peer's close frame, and closes the
// connection. It returns within the close timeout even if the peer never
// answers or a write is stuck. If a goroutine is reading, that goroutine
// receives the peer's close frame; otherwise CloseWithStatus reads it
// itself, discarding data messages that arrive first. Either way, reads
// then return a *CloseError with the peer's answer, or ErrClosed if none
// came; writes return ErrClosed.
func (c *Conn) CloseWithStatus(code StatusCode, reason string) error {
	if err := checkCloseToSend(code, reason); err != nil {
		return err
	}
	if err := c.sendClose(code, reason); err != nil {
		c.closeTransport()
		if errors.Is(err, ErrClosed) {
			return ErrClosed
		}
		return err
	}

	if c.readMu.TryLock() {
		if c.readErr == nil {
			// Later reads report the peer's answer, as they would had a
			// goroutine been reading.
			c.readErr = ErrClosed
			if ce := c.awaitClose(); ce != nil {
				c.readErr = ce
			}
			c.in.release()
		}
		c.readMu.Unlock()
		c.closeTransport()
		return nil
	}
	// A goroutine is reading: it will see the peer's close and close the
	// transport. The deadline makes it give up in time; done, made first,
	// tells it that its deadline is ours (see abnormal).
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return nil
	}
	if c.done == nil {
		c.done = make(chan struct{})
	}
	done := c.done
	c.closeMu.Unlock()
	c.t.SetReadDeadline(time.Now().Add(c.closeTimeout))
	t := time.NewTimer(c.closeTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.closeTransport()
	}
	return nil
}

// closeTransport closes the stream under the connection, once. A call
// while another is closing it returns when that one has.
func (c *Conn) closeTransport() {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.stopKeepAlive()
	c.failPings()
	if c.done != nil {
		close(c.done)
	}
	c.t.Close()
	if e := c.ev.Load(); e != nil {
		// A connection waiting in the poller gets no event for this:
		// serve it once more, to report the end.
		e.wake(c)
	}
}

// readFailed records a read error as final and closes the connection. A
// failure of the protocol is reported to the peer first, with a close
// frame, and the connection then ends without waiting for the peer's
// answer (§7.1.7): a peer that broke the protocol cannot be trusted to
// give one, and each wait would hold a socket for the close timeout (see
// linger).
func (c *Conn) readFailed(err error) error {
	if c.readErr != nil {
		return c.readErr
	}
	c.readErr = err
	var f *failure
	if errors.As(err, &f) {
		c.sendClose(f.code, f.reason)
		c.linger()
	}
	c.in.release()
	c.closeTransport()
	return err
}

// failLinger bounds how long a connection that this side failed reads on
// after its close frame (see linger). It is an allowance for bytes in
// flight, a round trip or so, not for a peer that is slow to answer.
const failLinger = time.Second

// linger ends the sending half of a connection this side failed right
// after the close frame, so that the peer reads the close frame and then
// the end of the stream. It then discards what the peer still sends, until
// the peer's close frame, the end of its stream, or failLinger (or the
// close timeout, if shorter): a socket closed with input unread answers
// with a reset, and a reset can destroy the close frame before the peer
// has read it. A peer usually has bytes in flight when it is failed, sent
// before the close frame reached it.
func (c *Conn) linger() {
	cw, ok := c.t.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil || c.closeReceived {
		return // no half-close, or the peer sends nothing more
	}
	c.t.SetReadDeadline(time.Now().Add(min(failLinger, c.closeTimeout)))
	if !c.framingLost {
		c.skipToClose()
	}
	if !c.closeReceived {
		// Frame boundaries are lost, or the stream has ended or failed:
		// whatever still comes is discarded as bytes.
		c.in.skip(math.MaxInt64)
	}
}

// awaitClose reads until the peer's close frame, the end of the stream, or
// the close timeout, discarding data. It runs after a close frame went out,
// and returns the peer's close, or nil if none came or it was invalid.
func (c *Conn) awaitClose() *CloseError {
	if c.framingLost || c.closeReceived {
		return nil
	}
	c.t.SetReadDeadline(time.Now().Add(c.closeTimeout))
	ce := c.skipToClose()
	if c.closeReceived {
		c.awaitEOF()
	}
	return ce
}

// skipToClose reads frames, discarding them, up to the peer's close frame
// and returns it; nil if the stream ends or fails first, a frame header is
// invalid, or the close frame is. The read deadline bounds it.
func (c *Conn) skipToClose() *CloseError {
	for {
		if err := c.in.skip(c.remaining); err != nil {
			return nil
		}
		c.remaining = 0
		h, err := c.readHeader()
		if err != nil {
			return nil
		}
		if h.op != opClose {
			c.remaining = h.length
			continue
		}
		p, err := c.controlPayload(h)
		if err != nil {
			return nil
		}
		c.closeReceived = true
		ce, _ := parseClosePayload(p)
		c.in.discard(len(p))
		return ce
	}
}

// awaitEOF waits, in the client role, for the server to close the TCP
// connection, which §7.1.1 leaves to the server. The server does not wait.
func (c *Conn) awaitEOF() {
	if !c.client {
		return
	}
	c.t.SetReadDeadline(time.Now().Add(c.closeTimeout))
	for c.in.skip(1<<62) == nil {
	}
}
