package websocket

// The reading half of a Conn: frames in, messages out. A message is read
// whole (ReadMessage) or streamed (NextReader), its frames checked as they
// come (§5.2, §5.4), control frames between them handed to the connection,
// its size held to the read limit before a byte of payload is read (§10.4),
// and text checked as UTF-8 as it arrives (§8.1).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
)

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
	if c.compressed {
		return c.readCompressedMessage()
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
			return MessageType(c.msgOp), p, nil
		}
		if len(p) == cap(p) {
			grow := min(c.remaining, max(int64(len(p)), 64<<10))
			p = slices.Grow(p, int(grow))
		}
		n, err := c.readPayload(p[len(p):cap(p)])
		p = p[:len(p)+n]
		if err == io.EOF {
			return MessageType(c.msgOp), p, nil
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
	return MessageType(c.msgOp), &c.mr, nil
}

// startMessage skips what is left of the current message and reads up to
// the first frame of the next one.
func (c *Conn) startMessage() error {
	if c.readErr != nil {
		return c.readErr
	}
	if c.compressed && c.inMessage {
		if err := c.skipCompressed(); err != nil {
			return err
		}
	}
	for c.inMessage {
		b, err := c.takeBuffered(false)
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
	if c.compressed {
		return c.inflateRead(p)
	}
	return c.readPayload(p)
}

// WriteTo writes the rest of the message to w straight from the
// connection's read buffer, so that io.Copy needs no buffer of its own.
// When w is a server's message writer (from NextWriter), the message's
// last frame is read whole, if the buffer can take it, and the buffer is
// handed to w: the frame goes back out from the bytes as they were read,
// with no copy, and as one frame.
func (r *messageReader) WriteTo(w io.Writer) (int64, error) {
	c := r.c
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return 0, c.readErr
	}
	if c.compressed {
		return c.inflateTo(w)
	}
	mw, _ := w.(*messageWriter)
	var total int64
	for {
		whole := mw != nil && mw.canAdopt()
		b, err := c.takeBuffered(whole)
		if err == io.EOF && whole && len(b) > 0 {
			if buf, from := c.in.lend(len(b)); buf != nil {
				mw.adopt(buf, from, from+len(b))
				return total + int64(len(b)), nil
			}
		}
		if len(b) > 0 {
			n, werr := writeAll(w, b)
			total += int64(n)
			c.in.discard(len(b))
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

// writeAll writes b to w, and reports a short write as the error it is.
func writeAll(w io.Writer, b []byte) (int, error) {
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return n, err
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
	err = c.consumed(p[:n])
	if err != nil && err != io.EOF {
		err = c.readFailed(err)
	}
	return n, err
}

// takeBuffered returns the next payload bytes of the current message from
// the read buffer, unmasked and checked, reading from the transport if the
// buffer is empty; with whole set, it first reads the rest of the
// message's last frame into the buffer if the buffer has room for it. The
// caller discards them from the buffer once done. It returns io.EOF with
// the last bytes of the message.
func (c *Conn) takeBuffered(whole bool) ([]byte, error) {
	if err := c.nextDataFrame(); err != nil {
		return nil, err
	}
	if !c.inMessage {
		return nil, io.EOF
	}
	whole = whole && c.frame.fin
	for c.in.r == c.in.w || whole && c.in.short(c.remaining) {
		if err := c.in.fillPayload(c.remaining - int64(c.in.w-c.in.r)); err != nil {
			return nil, c.readFailed(c.abnormal(midFrame(err)))
		}
	}
	b := c.in.buffered()
	b = b[:min(int64(len(b)), c.remaining)]
	if err := c.consumed(b); err != nil {
		if err == io.EOF {
			return b, err
		}
		// What follows the failure is read from behind these bytes,
		// which the caller will not discard.
		c.in.discard(len(b))
		return nil, c.readFailed(err)
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
		if err := c.endMessage(); err != nil {
			return c.readFailed(err)
		}
	}
	return nil
}

// consumed unmasks payload bytes just read and checks them. It returns
// io.EOF after the last byte of the message, and a failure for the caller
// to pass to readFailed once the bytes are out of the read buffer.
func (c *Conn) consumed(b []byte) error {
	if c.frame.masked {
		c.maskPos = uint8(mask(c.frame.key, int(c.maskPos), b))
	}
	c.remaining -= int64(len(b))
	// A compressed message is checked once inflated (see inflateRead).
	if c.msgOp == opText && !c.compressed && !c.utf8.valid(b) {
		return failInvalidData("invalid UTF-8 in text message")
	}
	if c.remaining == 0 && c.frame.fin {
		if err := c.endMessage(); err != nil {
			return err
		}
		return io.EOF
	}
	return nil
}

// endMessage closes the current message after its last byte, and returns
// a failure if the message was invalid.
func (c *Conn) endMessage() error {
	if !c.inMessage {
		return nil
	}
	c.inMessage = false
	if c.msgOp == opText && !c.compressed && !c.utf8.complete() {
		return failInvalidData("text message ends inside a UTF-8 sequence")
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

		// The frame's payload, which is skipped if the frame fails the
		// connection, while the peer's close frame is awaited.
		c.remaining = h.length

		// §5.4: a continuation must continue something, and a new message
		// must not start while another is unfinished.
		switch {
		case h.op == opContinuation && !c.inMessage:
			return failProtocol("continuation frame without a message to continue")
		case h.op != opContinuation && c.inMessage:
			return failProtocol("new message started before the previous one ended")
		}
		c.frame = h
		c.maskPos = 0
		c.in.hint = int(min(h.length, maxFrameSize)) + maxHeaderSize
		if h.op != opContinuation {
			c.inMessage = true
			c.msgOp = h.op
			c.msgSize = 0
			c.utf8 = utf8State{}
			c.compressed = h.rsv&rsv1Bit != 0 // allowed by check
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
			if err := h.check(!c.client, c.z != nil); err != nil {
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

// midFrame reports the end of the stream inside a frame as the unexpected
// end it is.
func midFrame(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// abnormal turns a transport error during a read into the CloseError an
// application sees when the connection ended without a close frame: the
// peer vanished, or the read deadline passed (the error then wraps
// os.ErrDeadlineExceeded), which closes the connection too. Failures of
// the protocol pass through. A read that Close, in another goroutine,
// ended, or whose wait for the answer to Close timed out, returns
// ErrClosed.
func (c *Conn) abnormal(err error) error {
	var f *failure
	switch {
	case errors.As(err, &f):
		return err
	case c.keepAliveExpired():
		return &CloseError{Code: StatusAbnormalClosure, err: ErrPongTimeout}
	case errors.Is(err, net.ErrClosed),
		errors.Is(err, os.ErrDeadlineExceeded) && c.closing():
		return ErrClosed
	}
	return &CloseError{Code: StatusAbnormalClosure, err: err}
}

// closing reports whether CloseWithStatus waits for the peer's answer, in
// which case the read deadline is that wait's.
func (c *Conn) closing() bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.done != nil
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
