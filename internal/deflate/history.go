package deflate

// History is what one side of a connection keeps between messages under
// context takeover (RFC 7692 §7.1.1): the last bytes of the messages it
// compressed, or decompressed, up to the window size, for the next
// message to refer back to. It grows with the bytes that pass, up to the
// window, so a connection that sent little holds little. Its zero value
// holds nothing and has a window of zero; SetWindow sets it.
type History struct {
	b    []byte // a ring once full: b[head:] is older than b[:head]
	head int
	size int
}

// SetWindow sets the window, 2^bits bytes, and empties the history.
func (h *History) SetWindow(bits int) {
	h.size = 1 << bits
	h.b, h.head = h.b[:0], 0
}

// Window returns the window size in bytes.
func (h *History) Window() int { return h.size }

// Len returns how many bytes the history holds.
func (h *History) Len() int { return len(h.b) }

// Cap returns the bytes of memory the history holds on to.
func (h *History) Cap() int { return cap(h.b) }

// Write adds p to the history, dropping what falls out of the window.
func (h *History) Write(p []byte) {
	if len(p) >= h.size {
		p = p[len(p)-h.size:]
	}
	if n := min(len(p), h.size-len(h.b)); n > 0 {
		if len(h.b)+n > cap(h.b) {
			grown := make([]byte, len(h.b), min(h.size, max(2*cap(h.b), len(h.b)+n, 256)))
			copy(grown, h.b)
			h.b = grown
		}
		h.b = append(h.b, p[:n]...)
		p = p[n:]
	}
	for len(p) > 0 {
		n := copy(h.b[h.head:], p)
		h.head = (h.head + n) % h.size
		p = p[n:]
	}
}

// AppendTo appends the history to dst, oldest byte first.
func (h *History) AppendTo(dst []byte) []byte {
	dst = append(dst, h.b[h.head:]...)
	return append(dst, h.b[:h.head]...)
}
