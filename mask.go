package websocket

import (
	"encoding/binary"
	"math/bits"
)

// mask XORs b in place with the 4-byte masking key, starting at key byte pos,
// and returns the key position of the byte that follows b. Masking and
// unmasking are the same operation (RFC 6455 §5.3). Because the position
// carries over, a payload can be masked in pieces as it arrives.
func mask(key [4]byte, pos int, b []byte) int {
	end := (pos + len(b)) & 3
	// Rotate the key so that its first byte applies to b[0]: as a
	// little-endian word, byte i of k is key[(pos+i)%4].
	k32 := bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*(pos&3))
	if len(b) >= maskVectorMin {
		// The vector code works in multiples of 32 bytes, a multiple of
		// the key's length, so the key lines up after it as before.
		b = b[maskVector(b, k32):]
	}

	// Eight bytes at a time: the key repeats every four bytes, so two copies
	// of it side by side line up with any 8-byte word of b.
	k64 := uint64(k32)<<32 | uint64(k32)
	for len(b) >= 32 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		binary.LittleEndian.PutUint64(b[8:], binary.LittleEndian.Uint64(b[8:])^k64)
		binary.LittleEndian.PutUint64(b[16:], binary.LittleEndian.Uint64(b[16:])^k64)
		binary.LittleEndian.PutUint64(b[24:], binary.LittleEndian.Uint64(b[24:])^k64)
		b = b[32:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= byte(k32 >> (8 * (i & 3)))
	}
	return end
}
