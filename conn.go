package websocket

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
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

	// ErrClosed is returned by operations on a connection after Close, and
	// by writes after a close frame has been sent.
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
	inMessage     bool // a data message has started and not ended (§5.4)
	frame         header
	remaining     int64 // unread payload bytes of the current frame
	maskPos       int
	msgType       MessageType
	msgSize       int64
	utf8          utf8State
	onPong        atomic.Pointer[func([]byte)]
	mr            messageReader
	// noWait makes the wait for a new message end with errWouldBlock
	// instead (see nextMessage); ev is set when EventHandler serves the
	// connection.
	noWait bool
	ev     atomic.Pointer[eventLoop]

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

// SetReadDeadline sets the time by which a read must complete. After a
// read fails for its deadline, the connection is closed and every further
// read fails. A zero time means no deadline.
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

// ---- Reading ----

// ReadMessage reads the next data message whole. Pings are answered and
// pongs handed to the pong handler while it reads. A message larger than
// the read limit fails the connection with StatusMessageTooBig and returns
// an error wrapping ErrReadLimit. Text messages are checked to be valid
// UTF-8. After the connection closes, it returns a *CloseError.
func (c *Conn) ReadMessage() (MessageType, []byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.startMessage(); err != nil {
		return 0, nil, err
	}
	// Each frame's length is known, and within the limit, before its
	// payload is read. Still, memory follows the bytes that arrive, not the
	// length a header claims: past 64 KiB the buffer at most doubles.
	p := []byte{}
	for {
		if err := c.nextDataFrame(); err != nil {
			return 0, nil, err
		}
		if !c.inMessage {
			return c.msgType, p, nil
		}
		if len(p) == cap(p) {
			grow := min(c.remaining, max(int64(len(p)), 64<<10))
			p = slices.Grow(p, int(grow))
		}
		n, err := c.readPayload(p[len(p):cap(p)])
		p = p[:len(p)+n]
		if err == io.EOF {
			return c.msgType, p, nil
		}
		if err != nil {
			return 0, nil, err
		}
	}
}

// NextReader returns the type of the next data message and a reader for
// its payload, which streams it: nothing is buffered beyond one read. The
// reader is valid until the next call to NextReader or ReadMessage; a
// message left unread is skipped. Text is validated as UTF-8 as it
// arrives, and a read fails at the first invalid byte.
func (c *Conn) NextReader() (MessageType, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.startMessage(); err != nil {
		return 0, nil, err
	}
	return c.msgType, &c.mr, nil
}

// startMessage skips what is left of the current message and reads up to
// the first frame of the next one.
func (c *Conn) startMessage() error {
	if c.readErr != nil {
		return c.readErr
	}
	for c.inMessage {
		b, err := c.takeBuffered()
		c.in.discard(len(b))
		if err != nil && err != io.EOF {
			return err
		}
	}
	if !c.noWait {
		// A wait for the next message can be long: wait here rather than
		// at the end of nextFrame and readHeader, so that the goroutine
		// waits with fewer frames on its stack, and its stack, grown no
		// further, stays at the runtime's smallest.
		c.in.await()
	}
	if err := c.nextFrame(); err != nil {
		if err == errWouldBlock {
			return err
		}
		return c.readFailed(err)
	}
	return nil
}

// messageReader reads the payload of the current message.
type messageReader struct{ c *Conn }

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return 0, c.readErr
	}
	return c.readPayload(p)
}

// WriteTo writes the rest of the message to w straight from the
// connection's read buffer, so that io.Copy needs no buffer of its own.
func (r *messageReader) WriteTo(w io.Writer) (int64, error) {
	c := r.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return 0, c.readErr
	}
	var total int64
	for {
		b, err := c.takeBuffered()
		if len(b) > 0 {
			n, werr := w.Write(b)
			total += int64(n)
			c.in.discard(len(b))
			if werr == nil && n < len(b) {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// readPayload reads payload bytes of the current message into p, crossing
// frame boundaries and answering control frames as needed. It returns
// io.EOF with the last bytes of the message.
func (c *Conn) readPayload(p []byte) (int, error) {
	if err := c.nextDataFrame(); err != nil {
		return 0, err
	}
	if !c.inMessage {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.in.read(p)
	if err != nil {
		return 0, c.readFailed(c.abnormal(midFrame(err)))
	}
	return n, c.consumed(p[:n])
}

// takeBuffered returns the next payload bytes of the current message from
// the read buffer, unmasked and checked, reading from the transport if the
// buffer is empty. The caller discards them from the buffer once done. It
// returns io.EOF with the last bytes of the message.
func (c *Conn) takeBuffered() ([]byte, error) {
	if err := c.nextDataFrame(); err != nil {
		return nil, err
	}
	if !c.inMessage {
		return nil, io.EOF
	}
	if c.in.r == c.in.w {
		if err := c.in.fillPayload(c.remaining); err != nil {
			return nil, c.readFailed(c.abnormal(midFrame(err)))
		}
	}
	b := c.in.buffered()
	b = b[:min(int64(len(b)), c.remaining)]
	if err := c.consumed(b); err != nil {
		if err == io.EOF {
			return b, err
		}
		return nil, err
	}
	return b, nil
}

// nextDataFrame moves on to the next frame of the message when the current
// one is used up and more follow.
func (c *Conn) nextDataFrame() error {
	for c.remaining == 0 && c.inMessage && !c.frame.fin {
		if err := c.nextFrame(); err != nil {
			return c.readFailed(err)
		}
	}
	if c.remaining == 0 && c.inMessage {
		// An empty final frame.
		return c.endMessage()
	}
	return nil
}

// consumed unmasks payload bytes just read and checks them.
func (c *Conn) consumed(b []byte) error {
	if c.frame.masked {
		c.maskPos = mask(c.frame.key, c.maskPos, b)
	}
	c.remaining -= int64(len(b))
	if c.msgType == TextMessage && !c.utf8.valid(b) {
		return c.readFailed(failInvalidData("invalid UTF-8 in text message"))
	}
	if c.remaining == 0 && c.frame.fin {
		if err := c.endMessage(); err != nil {
			return err
		}
		return io.EOF
	}
	return nil
}

// endMessage closes the current message after its last byte.
func (c *Conn) endMessage() error {
	if !c.inMessage {
		return nil
	}
	c.inMessage = false
	if c.msgType == TextMessage && !c.utf8.complete() {
		return c.readFailed(failInvalidData("text message ends inside a UTF-8 sequence"))
	}
	return nil
}

// nextFrame reads frame headers until one of the data stream comes,
// handling the control frames before it (§5.4: they may come between the
// fragments of a message).
func (c *Conn) nextFrame() error {
	for {
		// Only the wait for a new message may end early: inside one, and
		// inside a control frame, the rest follows promptly.
		c.in.noWait = c.noWait && !c.inMessage
		h, err := c.readHeader()
		c.in.noWait = false
		if err != nil {
			return err
		}
		if h.op.isControl() {
			if err := c.handleControl(h); err != nil {
				return err
			}
			continue
		}

		// §5.4: a continuation must continue something, and a new message
		// must not start while another is unfinished.
		switch {
		case h.op == opContinuation && !c.inMessage:
			return failProtocol("continuation frame without a message to continue")
		case h.op != opContinuation && c.inMessage:
			return failProtocol("new message started before the previous one ended")
		}
		c.frame = h
		c.remaining = h.length
		c.maskPos = 0
		c.in.hint = int(min(h.length, maxFrameSize)) + maxHeaderSize
		if h.op != opContinuation {
			c.inMessage = true
			c.msgType = MessageType(h.op)
			c.msgSize = 0
			c.utf8 = utf8State{}
		}
		// Check the size before reading a byte of payload (§10.4).
		limit := c.readLimit.Load()
		if h.length > limit-c.msgSize {
			return &failure{
				code:   StatusMessageTooBig,
				reason: fmt.Sprintf("message longer than the read limit of %d bytes", limit),
				err:    ErrReadLimit,
			}
		}
		c.msgSize += h.length
		return nil
	}
}

// readHeader reads and checks one frame header.
func (c *Conn) readHeader() (header, error) {
	for {
		h, n, err := parseHeader(c.in.buffered())
		if err != nil {
			c.framingLost = true
			return h, err
		}
		if n > 0 {
			c.in.discard(n)
			if err := h.check(!c.client); err != nil {
				// Skip its payload if we wait for the peer's close.
				c.remaining = h.length
				return h, err
			}
			return h, nil
		}
		// Between frames the stream may end; inside a header it may not.
		partial := c.in.r < c.in.w
		if err := c.in.fillHeader(); err != nil {
			if err == errWouldBlock {
				return h, err // nothing consumed: the next call starts over
			}
			if partial {
				err = midFrame(err)
			}
			return h, c.abnormal(err)
		}
	}
}

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

// readFailed records a read error as final. A failure of the protocol is
// reported to the peer first, with a close frame (§7.1.7).
func (c *Conn) readFailed(err error) error {
	if c.readErr != nil {
		return c.readErr
	}
	var f *failure
	if errors.As(err, &f) {
		c.sendClose(f.code, f.reason)
		c.awaitClose()
	}
	c.readErr = err
	c.in.release()
	c.closeTransport()
	return err
}

// awaitClose reads until the peer's close frame, the end of the stream, or
// the close timeout, discarding data. It runs after a close frame went out,
// and returns the peer's close, or nil if none came or it was invalid.
func (c *Conn) awaitClose() *CloseError {
	if c.framingLost || c.closeReceived {
		return nil
	}
	c.t.SetReadDeadline(time.Now().Add(c.closeTimeout))
	for {
		if err := c.in.skip(c.remaining); err != nil {
			return nil
		}
		c.remaining = 0
		h, err := c.readHeader()
		if err != nil {
			return nil
		}
		if h.op == opClose {
			p, err := c.controlPayload(h)
			if err != nil {
				return nil
			}
			ce, _ := parseClosePayload(p)
			c.in.discard(len(p))
			c.awaitEOF()
			return ce
		}
		c.remaining = h.length
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

// midFrame reports the end of the stream inside a frame as the unexpected
// end it is.
func midFrame(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// abnormal turns a transport error during a read into the CloseError an
// application sees when the peer vanished without a close frame. Failures
// of the protocol pass through.
func (c *Conn) abnormal(err error) error {
	var f *failure
	switch {
	case errors.As(err, &f), errors.Is(err, os.ErrDeadlineExceeded):
		return err
	case c.keepAliveExpired():
		return &CloseError{Code: StatusAbnormalClosure, err: ErrPongTimeout}
	case errors.Is(err, net.ErrClosed):
		// Close, in another goroutine, ended the wait.
		return ErrClosed
	}
	return &CloseError{Code: StatusAbnormalClosure, err: err}
}

// ---- Writing ----

// WriteMessage writes a whole message. A message that fits the write
// buffer goes out as one frame in one write; a longer one is cut into
// frames of at most 1 MiB so that control frames are not held up. p is
// neither modified nor kept, so one slice may be written to many
// connections at once.
func (c *Conn) WriteMessage(t MessageType, p []byte) error {
	op, err := t.opcode()
	if err != nil {
		return err
	}
	c.msgMu.Lock()
	defer c.msgMu.Unlock()

	if maxHeaderSize+len(p) <= c.writeBufSize {
		buf := getBuffer(c.writeBufSize)
		b := append((*buf)[:maxHeaderSize], p...)
		err := c.writeFrame(true, op, b)
		putBuffer(buf)
		return err
	}
	if c.client {
		// The payload must be masked, hence copied: through the buffer of
		// a message writer.
		c.mw.start(op)
		c.mw.Write(p)
		return c.mw.finish()
	}
	for {
		n := min(len(p), maxFrameSize)
		if err := c.writeFrameVec(n == len(p), op, p[:n]); err != nil {
			return err
		}
		if n == len(p) {
			return nil
		}
		p, op = p[n:], opContinuation
	}
}

func (t MessageType) opcode() (opcode, error) {
	if t != TextMessage && t != BinaryMessage {
		return 0, fmt.Errorf("websocket: invalid message type %d", int(t))
	}
	return opcode(t), nil
}

// NextWriter returns a writer for a new message of type t. Writes are
// buffered and go out as frames whenever the buffer fills; Close sends the
// last frame. Other data messages wait until then, so close the writer
// promptly; control frames do not wait. The writer is valid until Close.
func (c *Conn) NextWriter(t MessageType) (io.WriteCloser, error) {
	op, err := t.opcode()
	if err != nil {
		return nil, err
	}
	c.msgMu.Lock()
	c.mw.start(op)
	return &c.mw, nil
}

// messageWriter writes one message as a series of frames. Its buffer keeps
// room for a frame header in front of the payload, so that each frame
// leaves in a single write.
type messageWriter struct {
	c      *Conn
	op     opcode // the opcode of the next frame: the type, then continuation
	buf    *[]byte
	n      int // payload bytes in (*buf)[maxHeaderSize:]
	err    error
	closed bool
}

func (w *messageWriter) start(op opcode) {
	w.op = op
	w.buf = getBuffer(w.c.writeBufSize)
	w.n = 0
	w.err = nil
	w.closed = false
}

// flush sends the buffered payload as one frame.
func (w *messageWriter) flush(fin bool) error {
	b := (*w.buf)[:maxHeaderSize+w.n]
	w.err = w.c.writeFrame(fin, w.op, b)
	w.op = opContinuation
	w.n = 0
	return w.err
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	total := 0
	room := w.room()
	if w.n+len(p) > room && room < maxFrameSize {
		// A large write: grow the buffer to hold a whole frame, keeping
		// what it holds, so that the message's last frame carries FIN and
		// leaves in one write, with no empty frame after it.
		bigger := getBuffer(maxHeaderSize + min(w.n+len(p), maxFrameSize))
		copy((*bigger)[maxHeaderSize:], (*w.buf)[maxHeaderSize:maxHeaderSize+w.n])
		putBuffer(w.buf)
		w.buf = bigger
		room = w.room()
	}
	if w.n == 0 && !w.c.client {
		// Whole frames before the last leave straight from p, header and
		// payload in one vectored write.
		for len(p) > room {
			if w.err = w.c.writeFrameVec(false, w.op, p[:room]); w.err != nil {
				return total, w.err
			}
			w.op = opContinuation
			total += room
			p = p[room:]
		}
	}
	for len(p) > 0 {
		if w.n == room {
			if err := w.flush(false); err != nil {
				return total, err
			}
		}
		n := copy((*w.buf)[maxHeaderSize+w.n:maxHeaderSize+room], p)
		w.n += n
		total += n
		p = p[n:]
	}
	return total, nil
}

// room is how much payload the buffer takes before it goes out as a frame.
func (w *messageWriter) room() int {
	return min(len(*w.buf)-maxHeaderSize, maxFrameSize)
}

// ReadFrom reads r to its end into the message, straight into the frame
// buffer, so that io.Copy needs no buffer of its own.
func (w *messageWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	var total int64
	for {
		if w.n == w.room() {
			if err := w.flush(false); err != nil {
				return total, err
			}
		}
		n, err := r.Read((*w.buf)[maxHeaderSize+w.n : maxHeaderSize+w.room()])
		w.n += n
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close sends the last frame of the message and lets the next one start.
func (w *messageWriter) Close() error {
	if w.closed {
		return ErrClosed
	}
	err := w.finish()
	w.c.msgMu.Unlock()
	return err
}

// finish sends the last frame and gives the buffer back.
func (w *messageWriter) finish() error {
	err := w.err
	if err == nil {
		err = w.flush(true)
	}
	w.closed = true
	putBuffer(w.buf)
	w.buf = nil
	return err
}

// writeFrame sends one frame whose payload is b[maxHeaderSize:]. The header
// goes into the room before the payload, so the frame leaves in one write.
// In the client role the payload is masked in place.
func (c *Conn) writeFrame(fin bool, op opcode, b []byte) error {
	c.lockForData()
	defer c.frameMu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	payload := b[maxHeaderSize:]
	var key *[4]byte
	var k [4]byte
	if c.client {
		k = c.nextMaskKey()
		key = &k
		mask(k, 0, payload)
	}
	var hdr [maxHeaderSize]byte
	h := appendHeader(hdr[:0], fin, op, len(payload), key)
	start := maxHeaderSize - len(h)
	copy(b[start:], h)
	return c.wrote(c.send(b[start:]))
}

// writeFrameVec sends one unmasked frame with header and payload in one
// vectored write, without copying the payload. Server role only.
func (c *Conn) writeFrameVec(fin bool, op opcode, payload []byte) error {
	c.lockForData()
	defer c.frameMu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	h := appendHeader(c.hdrOut[:0], fin, op, len(payload), nil)
	return c.wrote(c.sendVec(h, payload))
}

// send writes b to the transport. Call with frameMu held.
func (c *Conn) send(b []byte) error {
	if !c.out.direct() {
		_, err := c.t.Write(b)
		return err
	}
	return c.sendVec(b, nil)
}

// sendVec writes h and then p to the transport, in one call if it takes
// them. Call with frameMu held.
func (c *Conn) sendVec(h, p []byte) error {
	o := &c.out
	if o.direct() {
		_, err := o.writeDirect(c.in, h, p)
		return err
	}
	o.pair = [2][]byte{h, p}
	o.vec = o.pair[:]
	_, err := o.vec.WriteTo(c.t)
	o.pair, o.vec = [2][]byte{}, nil // the buffers go back to their pools
	return err
}

// lockForData takes frameMu for a data frame, after any control frame
// that is waiting for it: sync.Mutex does not queue, so a goroutine
// writing a long message frame after frame would otherwise take the lock
// again and again ahead of a pong woken to take it.
func (c *Conn) lockForData() {
	if c.ctrlWaiting.Load() > 0 {
		runtime.Gosched() // once: a stuck control write must not make this spin
	}
	c.frameMu.Lock()
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

// writable reports why no frame can be sent, if one cannot. Call with
// frameMu held.
func (c *Conn) writable() error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closeSent {
		return ErrClosed
	}
	return nil
}

// wrote records the outcome of a write. Call with frameMu held. A failed
// write may have left part of a frame on the wire, after which nothing more
// can be sent, so the connection is closed.
func (c *Conn) wrote(err error) error {
	if err != nil {
		c.writeErr = fmt.Errorf("websocket: write: %w", err)
		c.closeTransport()
		return c.writeErr
	}
	return nil
}

// nextMaskKey returns a fresh masking key from crypto/rand (§5.3, §10.3):
// a client must not let anyone predict the key of its next frame. Keys are
// drawn sixteen at a time and each is used once. Call with frameMu held.
func (c *Conn) nextMaskKey() [4]byte {
	m := c.keys
	if m.left == 0 {
		if _, err := rand.Read(m.k[:]); err != nil {
			panic("websocket: crypto/rand failed: " + err.Error())
		}
		m.left = len(m.k)
	}
	k := [4]byte(m.k[len(m.k)-m.left:])
	m.left -= 4
	return k
}

// maskKeys are a client's masking keys to come. A server has none, so they
// live apart from Conn.
type maskKeys struct {
	k    [64]byte
	left int // bytes of k not yet handed out
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
	// transport. The deadline makes it give up in time.
	c.t.SetReadDeadline(time.Now().Add(c.closeTimeout))
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

// ---- UTF-8 ----

// utf8State validates UTF-8 incrementally (RFC 3629), so that a text
// message split anywhere, even inside a code point, is checked as it
// arrives and fails at its first invalid byte (§8.1).
type utf8State struct {
	need   uint8 // continuation bytes still expected
	lo, hi byte  // the range the next continuation byte must fall in
}

// valid consumes b and reports whether it is still a valid prefix of UTF-8.
func (s *utf8State) valid(b []byte) bool {
	i := 0
	for i < len(b) {
		if s.need == 0 {
			// ASCII, eight bytes at a time.
			for i+8 <= len(b) && binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 == 0 {
				i += 8
			}
			if i == len(b) {
				break
			}
			c := b[i]
			i++
			switch {
			case c < 0x80:
			case c < 0xC2:
				return false // a continuation byte, or an overlong 2-byte lead
			case c < 0xE0:
				*s = utf8State{1, 0x80, 0xBF}
			case c == 0xE0:
				*s = utf8State{2, 0xA0, 0xBF} // no overlong 3-byte forms
			case c == 0xED:
				*s = utf8State{2, 0x80, 0x9F} // no surrogates
			case c < 0xF0:
				*s = utf8State{2, 0x80, 0xBF}
			case c == 0xF0:
				*s = utf8State{3, 0x90, 0xBF} // no overlong 4-byte forms
			case c < 0xF4:
				*s = utf8State{3, 0x80, 0xBF}
			case c == 0xF4:
				*s = utf8State{3, 0x80, 0x8F} // nothing above U+10FFFF
			default:
				return false
			}
			continue
		}
		c := b[i]
		i++
		if c < s.lo || c > s.hi {
			return false
		}
		*s = utf8State{s.need - 1, 0x80, 0xBF}
	}
	return true
}

// complete reports whether the bytes so far end on a code point boundary.
func (s *utf8State) complete() bool { return s.need == 0 }
