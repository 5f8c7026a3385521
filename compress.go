package websocket

// permessage-deflate (RFC 7692): the options, the negotiation in the
// opening handshake, and a connection's state for it. Compressing is
// internal/deflate's; decompressing is compress/flate's.

import (
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/rfc6455/websocket/internal/deflate"
)

// Compression turns on permessage-deflate (RFC 7692), the compression
// that every browser offers. Set it on Upgrader.Compression, or on
// DialOptions.Compression for the client role; the zero value has sensible
// defaults throughout. A connection compresses only when the peer offered
// compression (or, for Dial, accepted it); otherwise it behaves, and
// costs, as if compression were off.
//
// With context takeover, the default, each side keeps a window of the
// messages it has compressed and decompressed, so that a message can refer
// back to earlier ones: a stream of similar JSON events then shrinks
// several-fold, far more than each event would alone. That window is the
// cost of compression in memory: between messages a connection holds its
// sending window, up to 2^WindowBits bytes, and its receiving window, up to
// 2^PeerWindowBits bytes, each only as full as the traffic has made it; the
// defaults, 4 KiB and 2 KiB, cost at most 6 KiB per connection. Everything else
// that compressing and decompressing need is borrowed from pools for the
// time a message is written or read. With NoContextTakeover a connection
// keeps no window at all, and each message is compressed on its own.
type Compression struct {
	// Level trades CPU for size: CompressionBetter (the default for zero)
	// or CompressionFastest, which takes about half the CPU for some 8%
	// more bytes on a stream of JSON events.
	Level int

	// WindowBits sets the window this side compresses with to 2^WindowBits
	// bytes, from 8 to 15: the distance one message may reach back into
	// earlier ones, and the memory the sending window takes. Zero means
	// DefaultWindowBits. When the peer asks for a smaller window, that is
	// used. The sending window is what decides the bytes this side puts on
	// the wire.
	WindowBits int

	// PeerWindowBits is the window this side asks the peer to compress
	// with, from 8 to 15, which is the receiving window it must keep. Zero
	// means DefaultPeerWindowBits. A peer that cannot be asked (a client
	// whose offer does not allow it) is asked instead not to keep context,
	// unless PeerWindowBits is 15.
	PeerWindowBits int

	// NoContextTakeover compresses every message on its own, in both
	// directions: no window is kept between messages, so an idle
	// connection holds nothing for compression, at the price of a lower
	// ratio for small messages.
	NoContextTakeover bool

	// Threshold is the size below which a message is sent uncompressed:
	// a few dozen bytes rarely shrink, and compressing them costs more
	// than it saves. Zero means DefaultCompressionThreshold; a negative
	// value compresses every message. A message that compression would
	// make longer is sent uncompressed too, when it is written whole.
	Threshold int
}

// The compression levels.
const (
	CompressionFastest = deflate.Fastest
	CompressionBetter  = deflate.Better
)

const (
	// DefaultWindowBits is the sending window of Compression's zero value,
	// 4 KiB, and DefaultPeerWindowBits its receiving window, 2 KiB: a
	// stream of JSON events of a KiB or so came out 3% shorter from a
	// 4 KiB window than from a 2 KiB one, while a server that mostly sends
	// needs no more than 2 KiB for what its clients send.
	DefaultWindowBits     = 12
	DefaultPeerWindowBits = 11

	// DefaultCompressionThreshold is the Threshold of Compression's zero
	// value.
	DefaultCompressionThreshold = 128
)

// extensionName is the token of RFC 7692 §7.
const extensionName = "permessage-deflate"

// deflateConn is a connection's state for permessage-deflate, present only
// when it was negotiated. The windows grow with the traffic and are kept
// only under context takeover.
type deflateConn struct {
	agreed           string // the extension element of the handshake
	level, threshold int
	sendBits         int  // the window this side compresses with
	sendTakeover     bool // the sending window carries over
	recvTakeover     bool // the receiving window carries over
	send, recv       deflate.History

	// The message being read, if compressed, once its reading has begun:
	// inf inflates it, and inflated counts what came out. Under readMu.
	inf      *inflater
	inflated int64

	// The message being written, once it is known to be compressed: enc
	// compresses it and out collects the compressed bytes, outN of them,
	// behind room for a frame header. Under msgMu.
	enc  *deflate.Encoder
	out  *[]byte
	outN int
}

func newDeflateConn(z *Compression, sendBits int, sendTakeover bool, recvBits int, recvTakeover bool) *deflateConn {
	d := &deflateConn{
		level:        z.level(),
		threshold:    z.threshold(),
		sendBits:     sendBits,
		sendTakeover: sendTakeover,
		recvTakeover: recvTakeover,
	}
	d.send.SetWindow(sendBits)
	// zlib cannot compress with a window of 2^8 and takes 2^9 instead, so
	// a peer built on it that agreed to 8 reaches 512 bytes back: the
	// receiving window keeps that much.
	d.recv.SetWindow(max(recvBits, 9))
	return d
}

func (z *Compression) level() int {
	if z.Level == CompressionFastest {
		return CompressionFastest
	}
	return CompressionBetter
}

func (z *Compression) threshold() int {
	switch {
	case z.Threshold < 0:
		return 0
	case z.Threshold == 0:
		return DefaultCompressionThreshold
	}
	return z.Threshold
}

// windowBits returns bits, or def for zero, within 8 to 15.
func windowBits(bits, def int) int {
	if bits == 0 {
		return def
	}
	return min(max(bits, deflate.MinWindowBits), deflate.MaxWindowBits)
}

// sendBits and recvBits are the windows the options ask for.
func (z *Compression) sendBits() int { return windowBits(z.WindowBits, DefaultWindowBits) }
func (z *Compression) recvBits() int { return windowBits(z.PeerWindowBits, DefaultPeerWindowBits) }

// validate reports options out of range, so that Upgrade and Dial can say
// so rather than guess.
func (z *Compression) validate() error {
	for _, b := range []int{z.WindowBits, z.PeerWindowBits} {
		if b != 0 && (b < deflate.MinWindowBits || b > deflate.MaxWindowBits) {
			return fmt.Errorf("websocket: compression window bits %d outside 8 to 15", b)
		}
	}
	if z.Level != 0 && z.Level != CompressionFastest && z.Level != CompressionBetter {
		return fmt.Errorf("websocket: unknown compression level %d", z.Level)
	}
	return nil
}

// ---- Negotiation (RFC 7692 §5, §7.1; RFC 6455 §9.1) ----

// extensionParam is one parameter of an extension element; value is ""
// when the parameter has none.
type extensionParam struct {
	name, value string
	hasValue    bool
}

// parseExtensions splits the Sec-WebSocket-Extensions header lines into
// elements, each a name and its parameters (RFC 6455 §9.1). Values may be
// tokens or quoted strings. An element that does not parse is returned
// with ok false, so that it can be declined on its own.
type extensionElement struct {
	name   string
	params []extensionParam
	ok     bool
}

func parseExtensions(lines []string) []extensionElement {
	var out []extensionElement
	for _, line := range lines {
		for _, raw := range splitOutsideQuotes(line, ',') {
			raw = strings.TrimSpace(raw)
			if raw == "" {
				continue
			}
			parts := splitOutsideQuotes(raw, ';')
			el := extensionElement{name: strings.TrimSpace(parts[0]), ok: isToken(strings.TrimSpace(parts[0]))}
			for _, p := range parts[1:] {
				name, value, hasValue := strings.Cut(strings.TrimSpace(p), "=")
				name, value = strings.TrimSpace(name), strings.TrimSpace(value)
				if hasValue && len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
					value = value[1 : len(value)-1]
				}
				if !isToken(name) || hasValue && !isToken(value) {
					el.ok = false
				}
				el.params = append(el.params, extensionParam{name: strings.ToLower(name), value: value, hasValue: hasValue})
			}
			out = append(out, el)
		}
	}
	return out
}

// splitOutsideQuotes splits s at every sep that is not inside a quoted
// string.
func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quoted:
			i++
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// isToken reports whether s is an HTTP token (RFC 9110 §5.6.2).
func isToken(s string) bool { return validHeaderName(s) }

// deflateParams are the parameters of one permessage-deflate offer or
// response, checked (RFC 7692 §7.1).
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int  // 0 when absent
	clientMaxWindowBits     int  // 0 when absent; 15 when present without a value
	clientMaxWindowBitsSet  bool // present at all
	clientMaxWindowBitsBare bool // present without a value
}

// parseDeflateParams checks the parameters of an element: known names,
// none twice, values where they belong and in range (§7, D2).
func parseDeflateParams(params []extensionParam) (deflateParams, error) {
	var p deflateParams
	seen := map[string]bool{}
	for _, x := range params {
		if seen[x.name] {
			return p, fmt.Errorf("parameter %s given twice", x.name)
		}
		seen[x.name] = true
		switch x.name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if x.hasValue {
				return p, fmt.Errorf("parameter %s takes no value", x.name)
			}
			if x.name == "server_no_context_takeover" {
				p.serverNoContextTakeover = true
			} else {
				p.clientNoContextTakeover = true
			}
		case "server_max_window_bits":
			bits, err := parseWindowBits(x)
			if err != nil {
				return p, err
			}
			if !x.hasValue {
				return p, errors.New("parameter server_max_window_bits needs a value")
			}
			p.serverMaxWindowBits = bits
		case "client_max_window_bits":
			bits := deflate.MaxWindowBits
			if x.hasValue {
				var err error
				if bits, err = parseWindowBits(x); err != nil {
					return p, err
				}
			}
			p.clientMaxWindowBits = bits
			p.clientMaxWindowBitsSet = true
			p.clientMaxWindowBitsBare = !x.hasValue
		default:
			return p, fmt.Errorf("unknown parameter %s", x.name)
		}
	}
	return p, nil
}

func parseWindowBits(x extensionParam) (int, error) {
	if !x.hasValue {
		return 0, nil
	}
	// 1*DIGIT with no leading zero (§7.1.2.1).
	if x.value == "" || x.value[0] == '0' || strings.Trim(x.value, "0123456789") != "" {
		return 0, fmt.Errorf("parameter %s has the value %q, not a number", x.name, x.value)
	}
	bits, err := strconv.Atoi(x.value)
	if err != nil || bits < deflate.MinWindowBits || bits > deflate.MaxWindowBits {
		return 0, fmt.Errorf("parameter %s has the value %q, outside 8 to 15", x.name, x.value)
	}
	return bits, nil
}

// accept picks the first permessage-deflate offer in the request's
// Sec-WebSocket-Extensions that the server can honour (D1), and returns
// the element to answer with and the connection's state; "" and nil when
// there is none, in which case the connection does not compress. Offers
// it cannot honour, and other extensions, are passed over (D2, H9).
func (z *Compression) accept(lines []string) (string, *deflateConn) {
	for _, el := range parseExtensions(lines) {
		if !el.ok || !strings.EqualFold(el.name, extensionName) {
			continue
		}
		offer, err := parseDeflateParams(el.params)
		if err != nil {
			continue
		}
		var resp strings.Builder
		resp.WriteString(extensionName)

		// The server's direction: its window, at most what the client
		// allows (D5); its context, unless the client or the options say
		// not to keep it (D3).
		sendBits := z.sendBits()
		if offer.serverMaxWindowBits > 0 {
			sendBits = min(sendBits, offer.serverMaxWindowBits)
		}
		sendTakeover := !offer.serverNoContextTakeover && !z.NoContextTakeover
		if !sendTakeover {
			resp.WriteString("; server_no_context_takeover")
		}
		// The client's direction: the client may be asked for a smaller
		// window only if it offered client_max_window_bits (D6); one that
		// did not is asked not to keep context when the window it would
		// use is larger than the server wants to keep (D4).
		recvBits := deflate.MaxWindowBits
		if offer.clientMaxWindowBitsSet {
			recvBits = min(offer.clientMaxWindowBits, z.recvBits())
		}
		recvTakeover := !offer.clientNoContextTakeover && !z.NoContextTakeover &&
			recvBits <= z.recvBits()
		if !recvTakeover {
			resp.WriteString("; client_no_context_takeover")
		}
		if offer.serverMaxWindowBits > 0 {
			resp.WriteString("; server_max_window_bits=" + strconv.Itoa(sendBits))
		}
		if offer.clientMaxWindowBitsSet {
			resp.WriteString("; client_max_window_bits=" + strconv.Itoa(recvBits))
		}
		d := newDeflateConn(z, sendBits, sendTakeover, recvBits, recvTakeover)
		d.agreed = resp.String()
		return d.agreed, d
	}
	return "", nil
}

// offer is the client's Sec-WebSocket-Extensions: a permessage-deflate
// offer that allows the server to limit the client's window and asks the
// server for the window and context the options want; and, if that asks
// for anything, a plain offer after it, for servers that cannot grant it
// and refuse the first (some answer an offer they cannot take with 400).
// The client can decompress whatever the server answers (D7).
func (z *Compression) offer() string {
	var b strings.Builder
	b.WriteString(extensionName)
	if z.NoContextTakeover {
		b.WriteString("; server_no_context_takeover; client_no_context_takeover")
	}
	if bits := z.recvBits(); bits < deflate.MaxWindowBits {
		b.WriteString("; server_max_window_bits=" + strconv.Itoa(bits))
	}
	b.WriteString("; client_max_window_bits")
	if first := b.String(); first != extensionName+"; client_max_window_bits" {
		b.WriteString(", " + extensionName + "; client_max_window_bits")
	}
	return b.String()
}

// checkResponse checks the server's Sec-WebSocket-Extensions against the
// offer (D7): at most one element, permessage-deflate, with no parameter
// that was not offered or that is out of range. It returns the
// connection's state, or nil if the server declined compression.
func (z *Compression) checkResponse(lines []string) (*deflateConn, error) {
	els := parseExtensions(lines)
	switch {
	case len(els) == 0:
		return nil, nil
	case len(els) > 1:
		return nil, errors.New("server accepted more than one extension")
	case !els[0].ok || !strings.EqualFold(els[0].name, extensionName):
		return nil, fmt.Errorf("server accepted an extension that was not offered: %q", els[0].name)
	}
	resp, err := parseDeflateParams(els[0].params)
	if err != nil {
		return nil, fmt.Errorf("server's permessage-deflate response: %w", err)
	}
	// A server may name its window whatever the offer said (RFC 7692
	// §7.1.2.1): a smaller one costs the client nothing. Which of the
	// offers it took does not matter: the client follows what it says.
	if resp.clientMaxWindowBitsBare {
		return nil, errors.New("server's permessage-deflate response has client_max_window_bits without a value")
	}
	// A server that did not grant a smaller window, or no context
	// takeover, keeps what it keeps: the client follows it.
	recvBits := deflate.MaxWindowBits
	if resp.serverMaxWindowBits > 0 {
		recvBits = resp.serverMaxWindowBits
	}
	sendBits := z.sendBits()
	if resp.clientMaxWindowBitsSet {
		sendBits = min(sendBits, resp.clientMaxWindowBits)
	}
	d := newDeflateConn(z, sendBits, !resp.clientNoContextTakeover && !z.NoContextTakeover,
		recvBits, !resp.serverNoContextTakeover)
	d.agreed = strings.Join(lines, ", ")
	return d, nil
}

// ---- Pools ----

// encoders holds the compressors' scratch space between messages.
var encoders sync.Pool

func getEncoder() *deflate.Encoder {
	if e, ok := encoders.Get().(*deflate.Encoder); ok {
		return e
	}
	return new(deflate.Encoder)
}

func putEncoder(e *deflate.Encoder) { encoders.Put(e) }

// inflater decompresses one message: compress/flate's reader, borrowed
// from a pool, reading the message's payload through src, and room to lay
// out the receiving window as its dictionary.
type inflater struct {
	fr   io.ReadCloser
	src  deflateSource
	dict []byte
}

var inflaters sync.Pool

func getInflater(c *Conn) *inflater {
	f, _ := inflaters.Get().(*inflater)
	if f == nil {
		f = &inflater{dict: make([]byte, 0, 1<<deflate.MaxWindowBits)}
	}
	f.src = deflateSource{c: c}
	var dict []byte
	if c.z.recvTakeover {
		dict = c.z.recv.AppendTo(f.dict[:0])
	}
	if f.fr == nil {
		f.fr = flate.NewReaderDict(&f.src, dict)
	} else {
		f.fr.(flate.Resetter).Reset(&f.src, dict)
	}
	return f
}

func putInflater(f *inflater) {
	f.src = deflateSource{}
	inflaters.Put(f)
}

// deflateTail ends every compressed message for the inflater: the four
// bytes the sender left out (RFC 7692 §7.2.2), and then an empty final
// stored block, so that compress/flate reports the end of the message as
// the end of a stream and a message cut short as an error.
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// deflateSource is the compressed payload of the current message, frame
// after frame, as compress/flate reads it: byte by byte, straight from the
// connection's read buffer, unmasked there, and then deflateTail.
type deflateSource struct {
	c     *Conn
	ready []byte // unmasked payload in the read buffer, not yet read
	taken int    // bytes of the read buffer that ready came from
	tail  int    // bytes of deflateTail given out
	ended bool   // every byte of the message's payload has been given out
}

func (s *deflateSource) ReadByte() (byte, error) {
	if len(s.ready) == 0 {
		if err := s.more(); err != nil {
			return 0, err
		}
	}
	b := s.ready[0]
	s.ready = s.ready[1:]
	return b, nil
}

func (s *deflateSource) Read(p []byte) (int, error) {
	if len(s.ready) == 0 {
		if err := s.more(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.ready)
	s.ready = s.ready[n:]
	return n, nil
}

// more makes the next bytes ready: payload from the read buffer, reading
// frames as needed, then the tail, then io.EOF.
func (s *deflateSource) more() error {
	c := s.c
	if s.taken > 0 {
		c.in.discard(s.taken)
		s.taken = 0
	}
	if !s.ended {
		b, err := c.takeBuffered(false)
		if len(b) > 0 {
			s.ready, s.taken = b, len(b)
			if err == io.EOF {
				s.ended = true
			}
			return nil
		}
		if err != io.EOF {
			return err
		}
		s.ended = true
	}
	if s.tail == len(deflateTail) {
		return io.EOF
	}
	s.ready = deflateTailBytes
	s.tail = len(deflateTail)
	return nil
}

var deflateTailBytes = []byte(deflateTail)

// finished reports whether the inflater read the whole payload: it may
// have stopped at a final block of the sender's own, short of the tail,
// but not short of the payload.
func (s *deflateSource) finished() bool {
	return s.ended && (len(s.ready) == 0 || s.tail > 0)
}

// ---- Reading a compressed message ----

// inflateRead reads the decompressed payload of the current message into
// p. The read limit counts decompressed bytes, and is enforced as they
// come out, before more is inflated (D15); text is checked as UTF-8 as it
// comes out (D14); under context takeover, what comes out joins the
// receiving window (D12).
func (c *Conn) inflateRead(p []byte) (int, error) {
	if c.z.inf == nil {
		if !c.inMessage {
			return 0, io.EOF
		}
		c.z.inf = getInflater(c)
		c.z.inflated = 0
	}
	limit := c.readLimit.Load()
	if room := limit - c.z.inflated + 1; int64(len(p)) > room {
		p = p[:room] // one byte past the limit tells that it is passed
	}
	n, err := c.z.inf.fr.Read(p)
	if c.readErr != nil {
		// The payload's source failed the connection, or the transport
		// failed it.
		c.dropInflater()
		return 0, c.readErr
	}
	c.z.inflated += int64(n)
	out := p[:n]
	switch {
	case c.z.inflated > limit:
		c.dropInflater()
		return 0, c.readFailed(&failure{
			code:   StatusMessageTooBig,
			reason: fmt.Sprintf("message inflates past the read limit of %d bytes", limit),
			err:    ErrReadLimit,
		})
	case c.msgOp == opText && !c.utf8.valid(out):
		c.dropInflater()
		return 0, c.readFailed(failInvalidData("invalid UTF-8 in text message"))
	}
	if c.z.recvTakeover {
		c.z.recv.Write(out)
	}
	switch {
	case err == io.EOF:
		finished := c.z.inf.src.finished()
		c.dropInflater()
		if !finished {
			return 0, c.readFailed(failInvalidData("data after the end of the compressed message"))
		}
		if c.msgOp == opText && !c.utf8.complete() {
			return 0, c.readFailed(failInvalidData("text message ends inside a UTF-8 sequence"))
		}
		return n, io.EOF
	case err != nil:
		c.dropInflater()
		return 0, c.readFailed(failInvalidData("invalid compressed data: " + err.Error()))
	}
	return n, nil
}

// dropInflater gives the inflater back, with the read buffer's bytes it
// has taken.
func (c *Conn) dropInflater() {
	if f := c.z.inf; f != nil {
		c.in.discard(f.src.taken)
		c.z.inf = nil
		putInflater(f)
	}
}

// readCompressedMessage is ReadMessage's loop for a compressed message,
// whose size is known only once it is inflated.
func (c *Conn) readCompressedMessage() (MessageType, []byte, error) {
	p := make([]byte, 0, min(4*c.frame.length+512, c.readLimit.Load()+1))
	for {
		if len(p) == cap(p) {
			p = slices.Grow(p, len(p))
		}
		n, err := c.inflateRead(p[len(p):cap(p)])
		p = p[:len(p)+n]
		if err == io.EOF {
			return MessageType(c.msgOp), p, nil
		}
		if err != nil {
			return 0, nil, err
		}
	}
}

// inflateTo is WriteTo for a compressed message, through a pooled buffer.
func (c *Conn) inflateTo(w io.Writer) (int64, error) {
	buf := getBuffer(defaultBufferSize)
	defer putBuffer(buf)
	var total int64
	for {
		n, err := c.inflateRead(*buf)
		if n > 0 {
			m, werr := writeAll(w, (*buf)[:n])
			total += int64(m)
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

// skipCompressed inflates what is left of the current message and drops
// it: what the peer compresses next may refer back to it, and it must be
// valid all the same.
func (c *Conn) skipCompressed() error {
	_, err := c.inflateTo(io.Discard)
	return err
}

// ---- Writing a compressed message ----

// writeDeflate takes p into a message of a connection that compresses. As
// long as the message fits the writer's buffer it is held there as it is,
// since it may turn out too short to compress, or to shrink; past that it
// is compressed as it comes, and goes out in frames as the compressed
// bytes pile up.
func (w *messageWriter) writeDeflate(p []byte) (int, error) {
	if w.c.z.enc == nil && w.n+len(p) <= w.room() {
		w.n += copy((*w.buf)[maxHeaderSize+w.n:], p)
		return len(p), nil
	}
	if err := w.deflateBuffered(); err != nil {
		return 0, err
	}
	if err := w.compress(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// deflateBuffered starts compressing the message, if it has not, and
// compresses what the buffer holds.
func (w *messageWriter) deflateBuffered() error {
	if w.c.z.enc == nil {
		w.startDeflate(w.n, false)
	}
	raw := (*w.buf)[maxHeaderSize : maxHeaderSize+w.n]
	w.n = 0
	return w.compress(raw)
}

// startDeflate borrows a compressor and the buffer for its output, and
// starts the message from the sending window under context takeover. A
// message of size bytes, whole, needs only a small buffer; a streamed
// one, room for the compressor's largest output and then some, so that
// frames are not too short.
func (w *messageWriter) startDeflate(size int, whole bool) {
	z := w.c.z
	var h *deflate.History
	if z.sendTakeover {
		h = &z.send
	}
	w.c.z.enc = getEncoder()
	w.c.z.enc.Reset(h, z.sendBits, z.level, size)
	room := deflate.MaxBurst + 64<<10
	if whole {
		room = deflate.Bound(size)
	}
	w.c.z.out = getBuffer(maxHeaderSize + room)
	w.c.z.outN = 0
}

// releaseDeflate gives back what startDeflate borrowed.
func (w *messageWriter) releaseDeflate() {
	if z := w.c.z; z != nil && z.enc != nil {
		putEncoder(z.enc)
		putBuffer(z.out)
		z.enc, z.out = nil, nil
	}
}

// compress feeds p to the compressor, a piece at a time, so that its
// output always fits behind what out holds.
func (w *messageWriter) compress(p []byte) error {
	for len(p) > 0 {
		if err := w.makeRoom(); err != nil {
			return err
		}
		n := min(len(p), deflate.MaxWrite)
		w.c.z.outN = len(w.c.z.enc.Write((*w.c.z.out)[:maxHeaderSize+w.c.z.outN], p[:n])) - maxHeaderSize
		p = p[n:]
	}
	return nil
}

// makeRoom sends what out holds as a frame, if the compressor's next
// output might not fit behind it.
func (w *messageWriter) makeRoom() error {
	if len(*w.c.z.out)-maxHeaderSize-w.c.z.outN >= deflate.MaxBurst {
		return nil
	}
	return w.sendOut(false)
}

// sendOut sends the compressed bytes that out holds as a frame; the
// message's first frame has RSV1 set (RFC 7692 §6), its others not (D8).
func (w *messageWriter) sendOut(fin bool) error {
	op := w.op
	if op != opContinuation {
		op |= opCompressed
	}
	w.err = w.c.writeFrame(fin, op, (*w.c.z.out)[:maxHeaderSize+w.c.z.outN])
	w.op = opContinuation
	w.c.z.outN = 0
	return w.err
}

// finishDeflate sends the end of a message of a connection that
// compresses. A message held whole goes out uncompressed if it is shorter
// than the threshold (D17), or if compressing does not make it shorter;
// either way it stays out of the sending window, as it does out of the
// peer's receiving window (D12). A compressed message joins the sending
// window once it has gone out.
func (w *messageWriter) finishDeflate() error {
	z := w.c.z
	defer w.releaseDeflate()
	if w.c.z.enc == nil {
		if w.n < z.threshold {
			return w.flush(true)
		}
		w.startDeflate(w.n, true)
		raw := (*w.buf)[maxHeaderSize : maxHeaderSize+w.n]
		w.c.z.outN = len(w.c.z.enc.Close(w.c.z.enc.Write((*w.c.z.out)[:maxHeaderSize], raw))) - maxHeaderSize
		if w.c.z.outN >= w.n {
			return w.flush(true)
		}
	} else {
		if err := w.deflateBuffered(); err != nil {
			return err
		}
		if err := w.makeRoom(); err != nil {
			return err
		}
		w.c.z.outN = len(w.c.z.enc.Close((*w.c.z.out)[:maxHeaderSize+w.c.z.outN])) - maxHeaderSize
	}
	if err := w.sendOut(true); err != nil {
		return err
	}
	if z.sendTakeover {
		w.c.z.enc.Commit(&z.send)
	}
	return nil
}
