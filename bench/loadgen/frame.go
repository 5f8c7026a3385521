package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Opcodes of RFC 6455 §5.2 that the load generator meets.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
)

// maskKey masks every frame sent. RFC 6455 §5.3 wants a fresh,
// unpredictable key per frame so that script in a browser cannot choose
// the bytes on the wire; that defends intermediaries, and there are none
// on loopback. A fixed key lets the frame be masked once.
var maskKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// errClosed reports a close frame from the server.
var errClosed = errors.New("server sent a close frame")

// payload returns n bytes of printable ASCII, so that the same bytes are
// valid in a text message.
func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

// buildFrame returns one complete, final, masked client frame carrying p:
// the frame every message of a run reuses.
func buildFrame(op byte, p []byte) []byte {
	n := len(p)
	b := make([]byte, 0, 14+n)
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, maskKey[:]...)
	for i, c := range p {
		b = append(b, c^maskKey[i&3])
	}
	return b
}

// header is what the load generator needs of a frame header.
type header struct {
	fin    bool
	rsv1   bool // compressed, with permessage-deflate
	op     byte
	masked bool
	key    [4]byte
	length int64
}

// readHeader parses one frame header (RFC 6455 §5.2) from br. It peeks
// into br's buffer and so does not allocate. A reply may be masked: the
// tcp floor echoes our own frames back.
func readHeader(br *bufio.Reader) (header, error) {
	var h header
	b, err := br.Peek(2)
	if err != nil {
		return h, err
	}
	b0, b1 := b[0], b[1]
	br.Discard(2)
	if rsv := b0 & 0x70; rsv != 0 && !(deflateOn && rsv == 0x40) {
		return h, fmt.Errorf("reserved bits %#x set: no extension gives them a meaning", rsv)
	}
	h.rsv1 = b0&0x40 != 0
	h.fin = b0&0x80 != 0
	h.op = b0 & 0x0f
	h.masked = b1&0x80 != 0
	h.length = int64(b1 & 0x7f)
	var ext int
	switch h.length {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	if h.masked {
		ext += 4
	}
	if ext == 0 {
		return h, nil
	}
	b, err = br.Peek(ext)
	if err != nil {
		return h, err
	}
	switch h.length {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(b))
		b = b[2:]
	case 127:
		l := binary.BigEndian.Uint64(b)
		if l>>63 != 0 {
			return h, errors.New("frame length with the most significant bit set")
		}
		h.length = int64(l)
		b = b[8:]
	}
	if h.masked {
		copy(h.key[:], b)
	}
	br.Discard(ext)
	return h, nil
}

// readMessage reads one data message from br and returns its payload
// length. It skips control frames, follows continuation frames to the
// final one, and discards payloads without copying them out of br.
func readMessage(br *bufio.Reader) (int64, error) {
	var n int64
	for {
		h, err := readHeader(br)
		if err != nil {
			return n, err
		}
		if h.op >= opClose {
			if h.op == opClose {
				return n, errClosed
			}
			if _, err := br.Discard(int(h.length)); err != nil {
				return n, err
			}
			continue
		}
		if _, err := br.Discard(int(h.length)); err != nil {
			return n, err
		}
		n += h.length
		if h.fin {
			return n, nil
		}
	}
}

// checkMessage reads one data message like readMessage but also compares
// its payload with want, inflated if it came compressed. It allocates and
// is used once per run, on the first reply, to catch a server that answers
// with the wrong bytes.
func checkMessage(br *bufio.Reader, op byte, want []byte) error {
	var got []byte
	first, compressed := true, false
	for {
		h, err := readHeader(br)
		if err != nil {
			return err
		}
		if h.op >= opClose {
			if h.op == opClose {
				return errClosed
			}
			if _, err := br.Discard(int(h.length)); err != nil {
				return err
			}
			continue
		}
		if first && h.op != op {
			return fmt.Errorf("reply has opcode %d, sent %d", h.op, op)
		}
		if first {
			compressed = h.rsv1
		}
		if !first && h.op != opContinuation {
			return fmt.Errorf("opcode %d inside a fragmented message", h.op)
		}
		first = false
		if int64(len(got))+h.length > int64(len(want))+1024 {
			return fmt.Errorf("reply longer than the %d bytes sent", len(want))
		}
		start := len(got)
		got = append(got, make([]byte, h.length)...)
		if _, err := io.ReadFull(br, got[start:]); err != nil {
			return err
		}
		if h.masked {
			for i := range got[start:] {
				got[start+i] ^= h.key[i&3]
			}
		}
		if h.fin {
			break
		}
	}
	if compressed {
		var err error
		if got, err = inflate(got); err != nil {
			return fmt.Errorf("inflating the reply: %w", err)
		}
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("reply of %d bytes differs from the %d bytes sent", len(got), len(want))
	}
	return nil
}
