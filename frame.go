package websocket

import (
	"encoding/binary"
	"math"
)

// opcode is the 4-bit frame type of RFC 6455 §5.2.
type opcode byte

const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

// isControl reports whether op is a control opcode: those have the high bit
// of the opcode set (§5.5).
func (op opcode) isControl() bool { return op&0x8 != 0 }

// isReserved reports whether op is one of the opcodes §5.2 keeps for future
// use: 0x3–0x7 and 0xB–0xF.
func (op opcode) isReserved() bool {
	return (op >= 0x3 && op <= 0x7) || op >= 0xB
}

const (
	// maxHeaderSize is the largest frame header: 2 fixed bytes, an 8-byte
	// extended length and a 4-byte masking key.
	maxHeaderSize = 14

	// maxControlPayload is the largest payload of a control frame (§5.5).
	maxControlPayload = 125

	finBit  = 0x80
	rsvBits = 0x70
	rsv1Bit = 0x40
	maskBit = 0x80
)

// opCompressed, added to the opcode of a message's first frame, sets RSV1
// in its header: the message is compressed (RFC 7692 §6).
const opCompressed opcode = rsv1Bit

// header is one decoded frame header.
type header struct {
	fin    bool
	rsv    byte // the RSV1–RSV3 bits, in place (0x70 when all are set)
	op     opcode
	masked bool
	key    [4]byte
	length int64
}

// parseHeader decodes the frame header at the start of b. It returns the
// header and the number of bytes it took, or n == 0 when b holds only the
// beginning of a header: frames arrive as a byte stream and may be split at
// any byte (§5.2). The only error is a 64-bit length with its most
// significant bit set, which §5.2 forbids.
func parseHeader(b []byte) (h header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.fin = b[0]&finBit != 0
	h.rsv = b[0] & rsvBits
	h.op = opcode(b[0] & 0x0F)
	h.masked = b[1]&maskBit != 0

	n = 2
	switch l := b[1] &^ maskBit; l {
	case 126:
		if len(b) < n+2 {
			return h, 0, nil
		}
		h.length = int64(binary.BigEndian.Uint16(b[n:]))
		n += 2
	case 127:
		if len(b) < n+8 {
			return h, 0, nil
		}
		l := binary.BigEndian.Uint64(b[n:])
		if l > math.MaxInt64 {
			return h, 0, failProtocol("frame length has its most significant bit set")
		}
		h.length = int64(l)
		n += 8
	default:
		h.length = int64(l)
	}

	if h.masked {
		if len(b) < n+4 {
			return h, 0, nil
		}
		copy(h.key[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// check applies the rules of §5 that a single header must satisfy on its
// own. fromClient says which side sent the frame: a client masks every
// frame and a server masks none (§5.1). compression says permessage-deflate
// was negotiated, which gives RSV1 a meaning on the first frame of a data
// message, and on no other (RFC 7692 §6).
func (h *header) check(fromClient, compression bool) error {
	rsv := h.rsv
	if compression && (h.op == opText || h.op == opBinary) {
		rsv &^= rsv1Bit
	}
	switch {
	case rsv != 0:
		// No negotiated extension gives these bits a meaning (§5.2).
		return failProtocol("reserved bits set without a negotiated extension")
	case h.op.isReserved():
		return failProtocol("reserved opcode")
	case h.op.isControl() && !h.fin:
		return failProtocol("fragmented control frame")
	case h.op.isControl() && h.length > maxControlPayload:
		return failProtocol("control frame payload longer than 125 bytes")
	case fromClient && !h.masked:
		return failProtocol("unmasked frame from client")
	case !fromClient && h.masked:
		return failProtocol("masked frame from server")
	}
	return nil
}

// appendHeader appends the header of a frame to b, with the payload length
// in its shortest encoding (§5.2). A nil key means an unmasked frame.
func appendHeader(b []byte, fin bool, op opcode, length int, key *[4]byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= finBit
	}
	var b1 byte
	if key != nil {
		b1 = maskBit
	}
	switch {
	case length <= 125:
		b = append(b, b0, b1|byte(length))
	case length <= math.MaxUint16:
		b = append(b, b0, b1|126)
		b = binary.BigEndian.AppendUint16(b, uint16(length))
	default:
		b = append(b, b0, b1|127)
		b = binary.BigEndian.AppendUint64(b, uint64(length))
	}
	if key != nil {
		b = append(b, key[:]...)
	}
	return b
}
