// Package deflate is a DEFLATE compressor (RFC 1951) made for
// permessage-deflate (RFC 7692): it compresses one message at a time, with
// a window of 2^8 to 2^15 bytes, and with context takeover it takes the
// window from a History that the connection keeps between messages. What
// compressing needs beyond that, the hash table and the Huffman scratch
// space, lives in an Encoder that connections share through a pool: an
// idle connection holds its window and nothing else. The output is
// standard DEFLATE that any inflater reads, compress/flate's among them.
//
// Each message ends with a sync flush whose last four bytes, 00 00 ff ff,
// are left out (RFC 7692 §7.2.1), and leaves the bit stream on a byte
// boundary, so that the next message, or another connection's stream,
// can follow it.
package deflate

import (
	"encoding/binary"
	"math/bits"
)

// Levels trade speed for size.
const (
	// Fastest finds matches with one probe of a hash table and indexes
	// only the ends of each match.
	Fastest = 1
	// Better indexes every position, and looks one byte ahead for a
	// longer match before it takes one (lazy matching).
	Better = 2
)

const (
	// MinWindowBits and MaxWindowBits bound the window RFC 7692 allows.
	MinWindowBits = 8
	MaxWindowBits = 15

	hashBits  = 14
	blockSize = 64 << 10 // input bytes tokenized before a block goes out
	maxTokens = 16 << 10 // tokens in one block
	minMatch  = 4
	maxMatch  = 258

	matchFlag = 1 << 31
)

// MaxWrite is the most input a caller should give one Write, and
// MaxBurst the most output such a Write, or a Close, appends: a caller
// that keeps MaxBurst bytes of room behind its output before each call
// never has the output moved to a larger array. (A Write may send out all
// the input the encoder holds, up to a window and a block, in stored
// blocks at worst, each with its five bytes of header.)
const (
	MaxWrite = 32 << 10
	MaxBurst = 1<<MaxWindowBits + blockSize + MaxWrite + 64
)

// Bound returns the most output a message of n bytes compresses to:
// stored blocks at worst, at least one for every 16 KiB (a block holds at
// most 16Ki tokens) and one more wherever the encoder cuts a block, each
// with five bytes of header, and the byte of the end.
func Bound(n int) int { return n + 16*(n/(16<<10)+2) + 16 }

// Encoder compresses messages, one at a time. Its zero value is ready to
// use; Reset starts each message. It holds some 230 KiB of scratch space,
// meant to be shared through a pool.
type Encoder struct {
	// buf holds the history of the message, then its input: buf[:pos] has
	// been tokenized, buf[pos:] waits. base is the position of buf[0] in
	// a count that only grows, so that the hash table can be left as it
	// is from one message to the next: what it holds from before this
	// message lies before start and is never taken.
	buf    []byte
	pos    int
	base   uint32
	start  uint32 // where the message's history begins, in that count
	msg    uint32 // where the message begins, in that count
	window int
	level  int
	table  [1 << hashBits]uint32
	// chain links each position of buf, at Better, to the one before it
	// with the same hash, as the table had it: a short list of candidates
	// to try, newest first.
	chain      []uint32
	tokens     []uint32
	blockStart int // the first byte of buf in the block being tokenized

	bw    bitWriter
	h     huffman
	lit   code
	dist  code
	cl    code
	clSym [maxSymbols + 30]uint8 // the code lengths, run-length coded
	clArg [maxSymbols + 30]uint8 // and the extra bits of each
	nCL   int
}

// code is a Huffman code under construction: frequencies, lengths and
// codes, sized for the largest alphabet.
type code struct {
	freq [maxSymbols]uint32
	lens [maxSymbols]uint8
	bits [maxSymbols]uint16
}

// Reset starts a message with a window of 2^windowBits bytes at the given
// level. With h set (context takeover), the message may refer back to
// what h holds; h is not changed until Commit. With h nil it starts from
// nothing. sizeHint, if known, is the size of the message, or of its
// first part: a short message indexes only the end of a long history,
// which is where its matches mostly are.
func (e *Encoder) Reset(h *History, windowBits, level, sizeHint int) {
	e.window = 1 << windowBits
	e.level = level
	if cap(e.buf) == 0 {
		e.buf = make([]byte, 0, 1<<MaxWindowBits+blockSize)
		e.tokens = make([]uint32, 0, maxTokens)
	}
	if level >= Better && e.chain == nil {
		e.chain = make([]uint32, cap(e.buf))
	}
	// Move the count past every position the table may hold.
	next := uint64(e.base) + uint64(len(e.buf)) + 1<<MaxWindowBits + 1
	if next > 1<<31 {
		clear(e.table[:])
		next = 1
	}
	e.base = uint32(next)
	e.buf = e.buf[:0]
	if h != nil {
		e.buf = h.AppendTo(e.buf)
	}
	e.start = e.base
	e.msg = e.base + uint32(len(e.buf))
	e.pos = len(e.buf)
	e.blockStart = e.pos
	e.tokens = e.tokens[:0]
	clear(e.lit.freq[:])
	clear(e.dist.freq[:])
	e.bw = bitWriter{}

	indexed := len(e.buf)
	if sizeHint > 0 {
		indexed = min(indexed, max(4<<10, 8*sizeHint))
	}
	from, to := len(e.buf)-indexed, len(e.buf)-minMatch
	if level >= Better {
		chain := e.chain[:len(e.buf)]
		for i := from; i <= to; i++ {
			hv := hash(load32(e.buf, i))
			chain[i] = e.table[hv]
			e.table[hv] = e.base + uint32(i)
		}
	} else {
		for i := from; i <= to; i++ {
			e.table[hash(load32(e.buf, i))] = e.base + uint32(i)
		}
	}
}

// chainDepth is how many candidates Better tries for a match, and
// lazyLen the length of match below which it also tries the next byte.
const (
	chainDepth = 8
	lazyLen    = 8
)

// longest returns the longest match for position i among the candidates
// the table and, at Better, the chain give, and its length (0 if none),
// trying only positions from lowest on, within the window.
func (e *Encoder) longest(buf []byte, i, end, lowest int, cand int) (int, int) {
	best, bestLen := 0, 0
	cur := load32(buf, i)
	for d := 0; d < chainDepth; d++ {
		if cand < lowest || cand >= i || i-cand > e.window {
			break
		}
		if load32(buf, cand) == cur {
			if l := minMatch + matchLen(buf[cand+minMatch:], buf[i+minMatch:end]); l > bestLen {
				best, bestLen = cand, l
				if l == maxMatch {
					break
				}
			}
		}
		if e.level < Better {
			break
		}
		next := int(e.chain[cand]) - int(e.base)
		if next >= cand {
			break
		}
		cand = next
	}
	return best, bestLen
}

// Write compresses p, appending to dst the output that is complete, and
// returns the extended slice. Output is held back until a block is full.
func (e *Encoder) Write(dst, p []byte) []byte {
	e.bw.out = dst
	for len(p) > 0 {
		if len(e.buf) == cap(e.buf) {
			e.flushBlock()
			e.slide()
		}
		n := copy(e.buf[len(e.buf):cap(e.buf)], p)
		e.buf = e.buf[:len(e.buf)+n]
		p = p[n:]
	}
	dst = e.bw.out
	e.bw.out = nil
	return dst
}

// Close ends the message: it compresses what is left and appends the end
// of the output to dst, leaving out the last four bytes of the sync flush
// (RFC 7692 §7.2.1). An empty message comes out as the single byte 0x00.
func (e *Encoder) Close(dst []byte) []byte {
	e.bw.out = dst
	e.flushBlock()
	// An empty stored block, BFINAL clear, padded to a byte; its LEN and
	// NLEN, 00 00 ff ff, are the tail that is left out.
	e.bw.write(0, 3)
	e.bw.align()
	dst = e.bw.out
	e.bw.out = nil
	return dst
}

// Commit adds the message just closed to h, for the next message to
// refer back to. A message that was not sent compressed must not be
// committed: the peer does not add it to its window either.
func (e *Encoder) Commit(h *History) {
	from := int(e.msg) - int(e.base)
	h.Write(e.buf[max(from, 0):])
}

// slide drops what is older than the window from the front of buf.
func (e *Encoder) slide() {
	drop := len(e.buf) - e.window
	if drop <= 0 {
		return
	}
	copy(e.buf, e.buf[drop:])
	if e.chain != nil {
		copy(e.chain, e.chain[drop:drop+e.window])
	}
	e.buf = e.buf[:e.window]
	e.base += uint32(drop)
	e.pos -= drop
	e.blockStart -= drop
}

// flushBlock tokenizes what waits in buf and sends it, in as many blocks
// as the token buffer needs.
func (e *Encoder) flushBlock() {
	for end := len(e.buf); e.pos < end; {
		e.tokenize(end)
		e.writeBlock()
	}
}

// tokenize turns buf[pos:end] into literals and matches, up to end or
// until the token buffer is full.
func (e *Encoder) tokenize(end int) {
	buf := e.buf[:end]
	i, lit := e.pos, e.pos
	limit := end - minMatch // the last i where a 4-byte load fits
	lowest := max(int(e.start)-int(e.base), 0)
	for i <= limit {
		if maxTokens-len(e.tokens) < i-lit+2 {
			break // no room for the literals and a match
		}
		hv := hash(load32(buf, i))
		cand, l := e.longest(buf, i, end, lowest, int(e.table[hv])-int(e.base))
		if e.level >= Better {
			e.chain[i] = e.table[hv]
		}
		e.table[hv] = e.base + uint32(i)
		if l == 0 {
			// Through incompressible data, look at fewer positions the
			// longer it has been since the last match.
			i += 1 + (i-lit)>>7
			continue
		}
		if e.level >= Better && l < lazyLen && i+1 <= limit {
			// Lazy: a longer match one byte on wins over this one. Past
			// lazyLen it seldom does, and the look costs a chain's walk.
			hn := hash(load32(buf, i+1))
			c2, l2 := e.longest(buf, i+1, end, lowest, int(e.table[hn])-int(e.base))
			e.chain[i+1] = e.table[hn]
			e.table[hn] = e.base + uint32(i+1)
			if l2 > l {
				i, cand, l = i+1, c2, l2
			}
		}
		// Take in the bytes before the match that match too.
		for i > lit && cand > lowest && l < maxMatch && buf[i-1] == buf[cand-1] {
			i, cand, l = i-1, cand-1, l+1
		}
		for ; lit < i; lit++ {
			e.literal(buf[lit])
		}
		e.match(l, i-cand)
		stop := i + l
		if e.level >= Better {
			for j := i + 1; j < stop && j <= limit; j++ {
				if hv := hash(load32(buf, j)); int(e.table[hv])-int(e.base) != j {
					e.chain[j] = e.table[hv]
					e.table[hv] = e.base + uint32(j)
				}
			}
		} else if stop-2 > i && stop-2 <= limit {
			e.table[hash(load32(buf, stop-2))] = e.base + uint32(stop-2)
		}
		i, lit = stop, stop
	}
	stop := end
	if i <= limit {
		stop = i // the token buffer is full
	}
	for ; lit < stop && len(e.tokens) < maxTokens; lit++ {
		e.literal(buf[lit])
	}
	e.pos = lit
}

func (e *Encoder) literal(b byte) {
	e.tokens = append(e.tokens, uint32(b))
	e.lit.freq[b]++
}

func (e *Encoder) match(length, dist int) {
	e.tokens = append(e.tokens, matchFlag|uint32(length-3)<<15|uint32(dist-1))
	e.lit.freq[257+int(lengthSym[length-3])]++
	e.dist.freq[distCode(dist)]++
}

// writeBlock sends the tokens as one block, as whichever of a dynamic
// Huffman block, a fixed one or a stored one comes out shortest.
func (e *Encoder) writeBlock() {
	e.lit.freq[256] = 1 // end of block
	e.h.lengths(e.lit.freq[:], e.lit.lens[:], 15)
	e.h.lengths(e.dist.freq[:30], e.dist.lens[:30], 15)
	nLit, nDist := 257, 1
	for s := maxSymbols - 1; s >= 257; s-- {
		if e.lit.lens[s] > 0 {
			nLit = s + 1
			break
		}
	}
	for s := 29; s >= 1; s-- {
		if e.dist.lens[s] > 0 {
			nDist = s + 1
			break
		}
	}
	e.runLengths(nLit, nDist)
	e.h.lengths(e.cl.freq[:19], e.cl.lens[:19], 7)
	nCL := 19
	for nCL > 4 && e.cl.lens[codeLengthOrder[nCL-1]] == 0 {
		nCL--
	}

	extra := 0 // the extra bits of lengths and distances, whatever the code
	for s := 0; s < 29; s++ {
		extra += int(e.lit.freq[257+s]) * int(lengthExtra[s])
	}
	for s := 0; s < 30; s++ {
		extra += int(e.dist.freq[s]) * int(distExtra[s])
	}
	dynamic := 3 + 5 + 5 + 4 + 3*nCL + extra
	for i := 0; i < e.nCL; i++ {
		s := e.clSym[i]
		dynamic += int(e.cl.lens[s]) + clExtraBits(s)
	}
	fixed := 3 + extra
	for s := 0; s < maxSymbols; s++ {
		dynamic += int(e.lit.freq[s]) * int(e.lit.lens[s])
		fixed += int(e.lit.freq[s]) * int(fixedLitLens[s])
	}
	for s := 0; s < 30; s++ {
		dynamic += int(e.dist.freq[s]) * int(e.dist.lens[s])
		fixed += int(e.dist.freq[s]) * 5
	}
	raw := e.buf[e.blockStart:e.pos]
	stored := 8 * (len(raw) + 5*((len(raw)+0xfffe)/0xffff+1))

	switch {
	case stored < dynamic && stored < fixed:
		e.writeStored(raw)
	case fixed <= dynamic:
		e.bw.write(1<<1, 3)
		e.writeTokens(fixedLitLens[:], fixedLitCodes[:], fixedDistLens[:], fixedDistCodes[:])
	default:
		e.bw.write(2<<1, 3)
		e.writeDynamicHeader(nLit, nDist, nCL)
		codes(e.lit.lens[:], e.lit.bits[:])
		codes(e.dist.lens[:30], e.dist.bits[:30])
		e.writeTokens(e.lit.lens[:], e.lit.bits[:], e.dist.lens[:], e.dist.bits[:])
	}
	e.tokens = e.tokens[:0]
	clear(e.lit.freq[:])
	clear(e.dist.freq[:])
	e.blockStart = e.pos
}

// writeStored sends raw in stored blocks of at most 65535 bytes.
func (e *Encoder) writeStored(raw []byte) {
	for first := true; first || len(raw) > 0; first = false {
		n := min(len(raw), 0xffff)
		e.bw.write(0, 3)
		e.bw.align()
		e.bw.out = binary.LittleEndian.AppendUint16(e.bw.out, uint16(n))
		e.bw.out = binary.LittleEndian.AppendUint16(e.bw.out, ^uint16(n))
		e.bw.out = append(e.bw.out, raw[:n]...)
		raw = raw[n:]
	}
}

func (e *Encoder) writeTokens(litLens []uint8, litCodes []uint16, distLens []uint8, distCodes []uint16) {
	w := &e.bw
	for _, t := range e.tokens {
		if t < matchFlag {
			w.write(uint64(litCodes[t]), uint(litLens[t]))
			continue
		}
		l := int(t>>15) & 0xff
		d := int(t&0x7fff) + 1
		ls := lengthSym[l]
		sym := 257 + int(ls)
		w.write(uint64(litCodes[sym])|uint64(l+3-int(lengthBase[ls]))<<litLens[sym], uint(litLens[sym])+uint(lengthExtra[ls]))
		ds := distCode(d)
		w.write(uint64(distCodes[ds])|uint64(d-int(distBase[ds]))<<distLens[ds], uint(distLens[ds])+uint(distExtra[ds]))
	}
	w.write(uint64(litCodes[256]), uint(litLens[256]))
}

// runLengths codes the lengths of the literal/length code and then of the
// distance code with the code-length alphabet of §3.2.7, and counts its
// symbols.
func (e *Encoder) runLengths(nLit, nDist int) {
	clear(e.cl.freq[:19])
	e.nCL = 0
	at := func(i int) uint8 {
		if i < nLit {
			return e.lit.lens[i]
		}
		return e.dist.lens[i-nLit]
	}
	emit := func(sym, arg uint8) {
		e.clSym[e.nCL], e.clArg[e.nCL] = sym, arg
		e.nCL++
		e.cl.freq[sym]++
	}
	n := nLit + nDist
	for i := 0; i < n; {
		l := at(i)
		run := 1
		for i+run < n && at(i+run) == l {
			run++
		}
		i += run
		if l == 0 {
			for run >= 11 {
				k := min(run, 138)
				emit(18, uint8(k-11))
				run -= k
			}
			if run >= 3 {
				emit(17, uint8(run-3))
				run = 0
			}
		} else {
			emit(l, 0)
			run--
			for run >= 3 {
				k := min(run, 6)
				emit(16, uint8(k-3))
				run -= k
			}
		}
		for ; run > 0; run-- {
			emit(l, 0)
		}
	}
}

func clExtraBits(sym uint8) int {
	switch sym {
	case 16:
		return 2
	case 17:
		return 3
	case 18:
		return 7
	}
	return 0
}

func (e *Encoder) writeDynamicHeader(nLit, nDist, nCL int) {
	w := &e.bw
	w.write(uint64(nLit-257)|uint64(nDist-1)<<5|uint64(nCL-4)<<10, 14)
	for i := 0; i < nCL; i++ {
		w.write(uint64(e.cl.lens[codeLengthOrder[i]]), 3)
	}
	codes(e.cl.lens[:19], e.cl.bits[:19])
	for i := 0; i < e.nCL; i++ {
		s := e.clSym[i]
		w.write(uint64(e.cl.bits[s])|uint64(e.clArg[i])<<e.cl.lens[s], uint(e.cl.lens[s])+uint(clExtraBits(s)))
	}
}

// bitWriter packs bits into bytes from the least significant bit, as
// DEFLATE does (§3.1.1), appending whole bytes to out.
type bitWriter struct {
	acc uint64
	n   uint
	out []byte
}

// write adds the nb low bits of v, nb at most 32.
func (w *bitWriter) write(v uint64, nb uint) {
	w.acc |= v << w.n
	w.n += nb
	if w.n >= 32 {
		w.out = binary.LittleEndian.AppendUint32(w.out, uint32(w.acc))
		w.acc >>= 32
		w.n -= 32
	}
}

// align pads the bits to a byte boundary with zeros and writes them out.
func (w *bitWriter) align() {
	w.n = (w.n + 7) &^ 7
	for w.n > 0 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

func load32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }

func hash(v uint32) uint32 { return v * 0x9E3779B1 >> (32 - hashBits) }

// matchLen returns how many bytes a and b have in common at their start,
// at most maxMatch-minMatch.
func matchLen(a, b []byte) int {
	n := min(len(a), len(b), maxMatch-minMatch)
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)>>3
		}
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}
