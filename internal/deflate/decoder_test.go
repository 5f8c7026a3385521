package deflate

import (
	"errors"
	"fmt"
)

// testDecoder is a plain DEFLATE decoder written for the tests, slow and
// strict: unlike compress/flate, it refuses a match that reaches further
// back than a window the test gives it, the window a receiver agreed to
// keep. It decodes bit by bit, the canonical codes walked one length at a
// time, as RFC 1951 describes them.
type testDecoder struct {
	in     []byte
	pos    int // next byte of in
	acc    uint32
	n      uint // bits in acc
	out    []byte
	dict   int // bytes of history before the output, at the front of out
	window int
}

func newTestDecoder(in, dict []byte, window int) *testDecoder {
	return &testDecoder{in: in, out: append([]byte{}, dict...), dict: len(dict), window: window}
}

var errTestEOF = errors.New("input ends inside a block")

func (d *testDecoder) bits(n uint) (uint32, error) {
	for d.n < n {
		if d.pos == len(d.in) {
			return 0, errTestEOF
		}
		d.acc |= uint32(d.in[d.pos]) << d.n
		d.pos++
		d.n += 8
	}
	v := d.acc & (1<<n - 1)
	d.acc >>= n
	d.n -= n
	return v, nil
}

// testCode is a canonical Huffman code: how many codes of each length,
// and the symbols in code order.
type testCode struct {
	count  [16]int
	symbol []int
}

func newTestCode(lens []uint8) (*testCode, error) {
	c := &testCode{}
	for _, l := range lens {
		c.count[l]++
	}
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - c.count[l]
		if left < 0 {
			return nil, fmt.Errorf("over-subscribed code")
		}
	}
	for l := 1; l < 16; l++ {
		for s, sl := range lens {
			if int(sl) == l {
				c.symbol = append(c.symbol, s)
			}
		}
	}
	return c, nil
}

func (d *testDecoder) decodeSym(c *testCode) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := d.bits(1)
		if err != nil {
			return 0, err
		}
		code |= int(b)
		count := c.count[l]
		if code-first < count {
			return c.symbol[index+code-first], nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, fmt.Errorf("no such code")
}

// decode decodes blocks until the input ends, which must be right after
// a block, and checks that size bytes came out.
func (d *testDecoder) decode(size int) ([]byte, error) {
	for d.pos < len(d.in) {
		hdr, err := d.bits(3)
		if err != nil {
			return nil, err
		}
		switch hdr >> 1 {
		case 0:
			err = d.stored()
		case 1:
			err = d.huffmanBlock(fixedLitLens[:288], fixedDistLens[:30])
		case 2:
			err = d.dynamic()
		default:
			err = fmt.Errorf("block type 3")
		}
		if err != nil {
			return nil, err
		}
		if hdr&1 == 1 {
			return nil, fmt.Errorf("BFINAL set in a permessage-deflate stream")
		}
	}
	if got := len(d.out) - d.dict; got != size {
		return nil, fmt.Errorf("decoded %d bytes, want %d", got, size)
	}
	return d.out[d.dict:], nil
}

func (d *testDecoder) stored() error {
	d.acc, d.n = 0, 0 // to the byte boundary
	if d.pos+4 > len(d.in) {
		return errTestEOF
	}
	n := int(d.in[d.pos]) | int(d.in[d.pos+1])<<8
	nn := int(d.in[d.pos+2]) | int(d.in[d.pos+3])<<8
	if n != ^nn&0xffff {
		return fmt.Errorf("stored block with LEN %#x and NLEN %#x", n, nn)
	}
	d.pos += 4
	if d.pos+n > len(d.in) {
		return errTestEOF
	}
	d.out = append(d.out, d.in[d.pos:d.pos+n]...)
	d.pos += n
	return nil
}

func (d *testDecoder) dynamic() error {
	v, err := d.bits(14)
	if err != nil {
		return err
	}
	nLit, nDist, nCL := int(v&31)+257, int(v>>5&31)+1, int(v>>10)+4
	if nLit > 286 || nDist > 30 {
		return fmt.Errorf("%d literal/length and %d distance codes", nLit, nDist)
	}
	var clLens [19]uint8
	for i := 0; i < nCL; i++ {
		l, err := d.bits(3)
		if err != nil {
			return err
		}
		clLens[codeLengthOrder[i]] = uint8(l)
	}
	cl, err := newTestCode(clLens[:])
	if err != nil {
		return err
	}
	lens := make([]uint8, 0, nLit+nDist)
	for len(lens) < nLit+nDist {
		s, err := d.decodeSym(cl)
		if err != nil {
			return err
		}
		rep, val := 1, uint8(s)
		switch s {
		case 16:
			if len(lens) == 0 {
				return fmt.Errorf("repeat with nothing before")
			}
			r, err := d.bits(2)
			if err != nil {
				return err
			}
			rep, val = 3+int(r), lens[len(lens)-1]
		case 17:
			r, err := d.bits(3)
			if err != nil {
				return err
			}
			rep, val = 3+int(r), 0
		case 18:
			r, err := d.bits(7)
			if err != nil {
				return err
			}
			rep, val = 11+int(r), 0
		}
		if len(lens)+rep > nLit+nDist {
			return fmt.Errorf("code lengths run past their end")
		}
		for range rep {
			lens = append(lens, val)
		}
	}
	if lens[256] == 0 {
		return fmt.Errorf("no end-of-block code")
	}
	return d.huffmanBlock(lens[:nLit], lens[nLit:])
}

func (d *testDecoder) huffmanBlock(litLens, distLens []uint8) error {
	lit, err := newTestCode(litLens)
	if err != nil {
		return err
	}
	dist, err := newTestCode(distLens)
	if err != nil {
		return err
	}
	for {
		s, err := d.decodeSym(lit)
		if err != nil {
			return err
		}
		switch {
		case s < 256:
			d.out = append(d.out, byte(s))
			continue
		case s == 256:
			return nil
		case s > 285:
			return fmt.Errorf("length symbol %d", s)
		}
		s -= 257
		e, err := d.bits(uint(lengthExtra[s]))
		if err != nil {
			return err
		}
		length := int(lengthBase[s]) + int(e)
		ds, err := d.decodeSym(dist)
		if err != nil {
			return err
		}
		if ds >= 30 {
			return fmt.Errorf("distance symbol %d", ds)
		}
		e, err = d.bits(uint(distExtra[ds]))
		if err != nil {
			return err
		}
		distance := int(distBase[ds]) + int(e)
		if distance > d.window {
			return fmt.Errorf("a match %d bytes back, beyond the window of %d", distance, d.window)
		}
		if distance > len(d.out) {
			return fmt.Errorf("a match %d bytes back, beyond the %d bytes of history", distance, len(d.out))
		}
		for range length {
			d.out = append(d.out, d.out[len(d.out)-distance])
		}
	}
}
