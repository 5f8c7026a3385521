package websocket

// PreparedMessage is a data message encoded once, to be written to many
// connections: a broadcast costs one encoding and, per connection, a write
// of ready-made bytes. It is immutable and safe for concurrent use.
type PreparedMessage struct {
	typ MessageType

	// wire is the message as a server sends it, the same bytes for every
	// connection: unmasked frames of at most maxFrameSize payload bytes,
	// cut as WriteMessage cuts a message. ends[i] is where frame i ends.
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
	start := 0
	for _, end := range m.ends {
		if err := c.writeRaw(m.wire[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
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
