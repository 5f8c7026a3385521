package websocket

// The writing half of a Conn: messages in, frames out. A message leaves
// whole (WriteMessage) or streamed (NextWriter), cut into frames of at most
// maxFrameSize so that a control frame can go out between them, each frame
// in one write, with a fresh masking key in the client role (§5.3).

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
)

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

	if c.z != nil && len(p) >= c.z.threshold {
		// Compressed, through a message writer, which takes p without
		// copying it when it is long.
		c.mw.start(op)
		c.mw.Write(p)
		return c.mw.finish()
	}
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
	c   *Conn
	buf *[]byte
	n   int // payload bytes in (*buf)[maxHeaderSize:]
	// lent is a read buffer handed over by io.Copy from a message's reader
	// (see adopt), whose bytes from heldFrom to heldTo are the payload of
	// the next frame; nothing is in buf meanwhile.
	lent             *[]byte
	heldFrom, heldTo int32
	err              error
	op               opcode // the opcode of the next frame: the type, then continuation
	closed           bool
	// deflating says the connection compresses (see writeDeflate); buf
	// then holds the message as written until it is known whether it is
	// compressed.
	deflating bool
}

func (w *messageWriter) start(op opcode) {
	w.op = op
	w.buf = getBuffer(w.c.writeBufSize)
	w.n = 0
	w.err = nil
	w.closed = false
	w.deflating = w.c.z != nil
}

// flush sends the buffered payload as one frame.
func (w *messageWriter) flush(fin bool) error {
	b := (*w.buf)[:maxHeaderSize+w.n]
	w.err = w.c.writeFrame(fin, w.op, b)
	w.op = opContinuation
	w.n = 0
	return w.err
}

// ready returns the reason why the message can take no more payload, if
// there is one.
func (w *messageWriter) ready() error {
	if w.closed {
		return ErrClosed
	}
	return w.err
}

func (w *messageWriter) Write(p []byte) (int, error) {
	if err := w.ready(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.deflating {
		return w.writeDeflate(p)
	}
	// A payload held from adopt is not the message's last any more.
	if err := w.sendHeld(false); err != nil {
		return 0, err
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
	if err := w.ready(); err != nil {
		return 0, err
	}
	var total int64
	for {
		if w.n == w.room() {
			var err error
			if w.deflating {
				err = w.deflateBuffered()
			} else {
				err = w.flush(false)
			}
			if err != nil {
				return total, err
			}
		}
		n, err := r.Read((*w.buf)[maxHeaderSize+w.n : maxHeaderSize+w.room()])
		if n > 0 {
			// A payload held from adopt goes first, not as the last.
			if err := w.sendHeld(false); err != nil {
				return total, err
			}
		}
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
	switch {
	case err != nil:
	case w.deflating:
		err = w.finishDeflate()
	case w.lent != nil:
		err = w.sendHeld(true)
	default:
		err = w.flush(true)
	}
	w.closed = true
	w.releaseDeflate() // after a failure
	putBuffer(w.buf)
	w.buf = nil
	if w.lent != nil {
		putBuffer(w.lent)
		w.lent = nil
	}
	return err
}

// canAdopt reports whether adopt would take a buffer: the writer is open,
// holds nothing, and its frames go out unmasked, as a server's do.
func (w *messageWriter) canAdopt() bool {
	return !w.closed && w.err == nil && w.n == 0 && w.lent == nil && !w.c.client && !w.deflating
}

// adopt takes over buf, a pooled read buffer, and with it its bytes from
// to to, the payload it holds: the rest of a message that io.Copy copies
// into this one. They become the next frame, sent from where they lie
// once the writer knows whether that frame is the message's last: a
// message read whole leaves whole, as one frame, without being copied.
// buf goes back to its pool once they are sent. Call only when canAdopt
// reports true.
func (w *messageWriter) adopt(buf *[]byte, from, to int) {
	w.lent, w.heldFrom, w.heldTo = buf, int32(from), int32(to)
}

// sendHeld sends the held payload, if there is one, as a frame.
func (w *messageWriter) sendHeld(fin bool) error {
	if w.lent == nil {
		return nil
	}
	w.err = w.c.writeFrameVec(fin, w.op, (*w.lent)[w.heldFrom:w.heldTo])
	w.op = opContinuation
	putBuffer(w.lent)
	w.lent = nil
	return w.err
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
	if c.out.direct() || len(b) > headWriteMin {
		return c.sendVec(nil, b)
	}
	_, err := c.t.Write(b)
	return err
}

// A frame longer than headWriteMin leaves in two writes: its first
// headWrite bytes, then the rest. A reader at the other end that waits for
// the frame then wakes when the head arrives and reads on while the rest
// is still going into the socket, instead of waking for the head and then
// again, later, for the rest. Measured on loopback with the bench driver,
// a 1 MiB echo on one connection cost the server 369 µs of CPU per message
// with the head write and 553 without, in the same run; the write it adds
// is nothing beside a frame of 64 KiB or more.
const (
	headWrite    = 16 << 10
	headWriteMin = 64 << 10
)

// sendVec writes the frame h and then p to the transport, in one call if
// it takes them, and a long one in two (see headWrite). h is a header or
// nothing. Call with frameMu held.
func (c *Conn) sendVec(h, p []byte) error {
	if len(h)+len(p) > headWriteMin {
		k := headWrite - len(h)
		if err := c.writeVec(h, p[:k]); err != nil {
			return err
		}
		h, p = nil, p[k:]
	}
	return c.writeVec(h, p)
}

// gatherVec bounds the frames that writeVec copies whole into one buffer
// for a transport that cannot take a header and a payload in one call:
// small ones, for which a record or a frame of their own for the header
// costs more than the copy. Larger ones go from where they are.
const gatherVec = 4 << 10

// writeVec writes h and then p to the transport, in one call if it takes
// them.
func (c *Conn) writeVec(h, p []byte) error {
	o := &c.out
	if o.direct() {
		_, err := o.writeDirect(c.in, h, p)
		return err
	}
	if len(h) == 0 {
		_, err := c.t.Write(p)
		return err
	}
	if n := len(h) + len(p); n <= gatherVec {
		// A transport without writev, such as TLS or an HTTP/2 stream,
		// would send the header as a record or a frame of its own.
		b := getBuffer(n)
		copy((*b)[copy(*b, h):], p)
		_, err := c.t.Write((*b)[:n])
		putBuffer(b)
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
	switch {
	case err == nil:
		return nil
	case errors.Is(err, net.ErrClosed):
		// The connection was closed already, by a read that ended it.
		c.writeErr = ErrClosed
	default:
		c.writeErr = fmt.Errorf("websocket: write: %w", err)
	}
	c.closeTransport()
	return c.writeErr
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
