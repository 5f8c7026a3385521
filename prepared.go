package websocket

import (
	"sync"

	"github.com/rfc6455/websocket/internal/deflate"
)

// PreparedMessage is a data message encoded once, to be written to many
// connections: a broadcast costs one encoding and, per connection, a write
// of ready-made bytes. It is immutable and safe for concurrent use.
//
// With permessage-deflate, the message is also compressed once, the first
// time a connection that compresses is given it, for every connection
// that compresses with the same window and level: compressed on its own,
// it can follow any connection's earlier messages, with or without
// context takeover (RFC 7692 §7.2.3). A connection that keeps context
// adds the message to its sending window, as the peer does to its
// receiving window.
type PreparedMessage struct {
	typ MessageType

	// wire is the message as a server sends it, the same bytes for every
	// connection: unmasked frames of at most maxFrameSize payload bytes,
	// cut as WriteMessage cuts a message. ends[i] is where frame i ends.
	wire []byte
	ends []int

	// deflated holds the compressed forms made so far, by window and
	// level; a form with no frames means the message does not shrink.
	mu       sync.Mutex
	deflated map[deflateForm]*preparedForm
}

// deflateForm is what a compressed form depends on.
type deflateForm struct{ bits, level int }

// preparedForm is a compressed form of a prepared message, as frames.
type preparedForm struct {
	wire []byte
	ends []int
}

// NewPreparedMessage encodes a message of type t with payload p, which it
// copies.
func NewPreparedMessage(t MessageType, p []byte) (*PreparedMessage, error) {
	op, err := t.opcode()
	if err != nil {
		return nil, err
	}
	frames := max(1, (len(p)+maxFrameSize-1)/maxFrameSize)
	m := &PreparedMessage{
		typ:  t,
		wire: make([]byte, 0, frames*maxHeaderSize+len(p)),
		ends: make([]int, 0, frames),
	}
	m.wire = appendMessage(m.wire, op, p, &m.ends)
	return m, nil
}

// appendMessage appends to dst a message of payload p as a server sends
// it: unmasked frames of at most maxFrameSize payload bytes, the first
// with opcode op. If ends is not nil, where each frame ends in dst is
// appended to it.
func appendMessage(dst []byte, op opcode, p []byte, ends *[]int) []byte {
	for {
		n := min(len(p), maxFrameSize)
		dst = appendHeader(dst, n == len(p), op, n, nil)
		dst = append(dst, p[:n]...)
		if ends != nil {
			*ends = append(*ends, len(dst))
		}
		if n == len(p) {
			return dst
		}
		p, op = p[n:], opContinuation
	}
}

// WritePreparedMessage writes m. On the server side the prepared frames go
// out as they are, each in one write. A client masks every frame with a
// key of its own, so there the payload is masked afresh, as WriteMessage
// would do it.
func (c *Conn) WritePreparedMessage(m *PreparedMessage) error {
	c.msgMu.Lock()
	defer c.msgMu.Unlock()
	if c.z != nil && !c.client && m.size() >= c.z.threshold {
		if f := m.form(c.z.sendBits, c.z.level); len(f.ends) > 0 {
			if err := c.writeFrames(f.wire, f.ends); err != nil {
				return err
			}
			if c.z.sendTakeover {
				m.payloads(c.z.send.Write)
			}
			return nil
		}
	}
	if c.client {
		c.mw.start(opcode(m.typ))
		start := 0
		for _, end := range m.ends {
			_, n, _ := parseHeader(m.wire[start:end])
			c.mw.Write(m.wire[start+n : end])
			start = end
		}
		return c.mw.finish()
	}
	return c.writeFrames(m.wire, m.ends)
}

// writeFrames writes the ready frames of wire, which end at ends, each in
// one write.
func (c *Conn) writeFrames(wire []byte, ends []int) error {
	start := 0
	for _, end := range ends {
		if err := c.writeRaw(wire[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// size returns the payload's length.
func (m *PreparedMessage) size() int {
	n, start := 0, 0
	for _, end := range m.ends {
		_, h, _ := parseHeader(m.wire[start:end])
		n += end - start - h
		start = end
	}
	return n
}

// payloads calls f with each frame's payload, in order.
func (m *PreparedMessage) payloads(f func([]byte)) {
	start := 0
	for _, end := range m.ends {
		_, h, _ := parseHeader(m.wire[start:end])
		f(m.wire[start+h : end])
		start = end
	}
}

// form returns the message compressed with a window of 2^bits at level,
// compressing it the first time it is asked for.
func (m *PreparedMessage) form(bits, level int) *preparedForm {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := deflateForm{bits, level}
	if f := m.deflated[key]; f != nil {
		return f
	}
	if m.deflated == nil {
		m.deflated = make(map[deflateForm]*preparedForm)
	}
	e := getEncoder()
	defer putEncoder(e)
	e.Reset(nil, bits, level, m.size())
	var out []byte
	m.payloads(func(p []byte) {
		for len(p) > 0 {
			n := min(len(p), deflate.MaxWrite)
			out = e.Write(out, p[:n])
			p = p[n:]
		}
	})
	out = e.Close(out)
	f := &preparedForm{}
	if len(out) < m.size() {
		op, _ := m.typ.opcode()
		f.wire = appendMessage(nil, op|opCompressed, out, &f.ends)
	}
	m.deflated[key] = f
	return f
}

// writeRaw writes one frame that is ready as it is.
func (c *Conn) writeRaw(frame []byte) error {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	return c.wrote(c.send(frame))
}
