package websocket

import "encoding/binary"

// mask XORs b in place with the 4-byte masking key, starting at key byte pos,
// and returns the key position of the byte that follows b. Masking and
// unmasking are the same operation (RFC 6455 §5.3). Because the position
// carries over, a payload can be masked in pieces as it arrives.
func mask(key [4]byte, pos int, b []byte) int {
	// Rotate the key so that k[0] applies to b[0].
	var k [4]byte
	for i := range k {
		k[i] = key[(pos+i)&3]
	}
	end := (pos + len(b)) & 3

	// Eight bytes at a time: the key repeats every four bytes, so two copies
	// of it side by side line up with any 8-byte word of b.
	k32 := uint64(binary.LittleEndian.Uint32(k[:]))
	k64 := k32<<32 | k32
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
		b[i] ^= k[i&3]
	}
	return end
}
