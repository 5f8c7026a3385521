package deflate

// The fixed tables of RFC 1951 §3.2.5: how match lengths and distances
// map to symbols and extra bits.

// lengthBase and lengthExtra describe length symbols 257 to 285.
var (
	lengthBase = [29]uint16{
		3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
	}
	lengthExtra = [29]uint8{
		0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
		3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
	}
)

// distBase and distExtra describe distance symbols 0 to 29.
var (
	distBase = [30]uint16{
		1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
		257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
	}
	distExtra = [30]uint8{
		0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
		7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
	}
)

// lengthSym maps a match length less 3 to its symbol less 257.
var lengthSym [256]uint8

// distSym maps a distance less 1 to its symbol: below 256 directly, and
// above through distSym[256+(d-1)>>7], since every symbol from 16 on
// covers a multiple of 128 distances.
var distSym [512]uint8

func init() {
	for s := range lengthBase {
		top := 259 // 258 has symbol 285 to itself; 284 stops short of it
		if s+1 < len(lengthBase) {
			top = int(lengthBase[s+1])
		}
		for l := int(lengthBase[s]); l < top; l++ {
			lengthSym[l-3] = uint8(s)
		}
	}
	for s := range distBase {
		top := 32769
		if s+1 < len(distBase) {
			top = int(distBase[s+1])
		}
		for d := int(distBase[s]); d < top; d++ {
			if d <= 256 {
				distSym[d-1] = uint8(s)
			} else {
				distSym[256+(d-1)>>7] = uint8(s)
			}
		}
	}
}

// distCode returns the symbol of distance d.
func distCode(d int) int {
	if d <= 256 {
		return int(distSym[d-1])
	}
	return int(distSym[256+(d-1)>>7])
}

// The fixed Huffman code of §3.2.6, as lengths.
var fixedLitLens, fixedDistLens [maxSymbols + 2]uint8

// fixedLitCodes and fixedDistCodes are the fixed codes, bit-reversed.
var fixedLitCodes, fixedDistCodes [maxSymbols + 2]uint16

func init() {
	for s := range 288 {
		switch {
		case s < 144:
			fixedLitLens[s] = 8
		case s < 256:
			fixedLitLens[s] = 9
		case s < 280:
			fixedLitLens[s] = 7
		default:
			fixedLitLens[s] = 8
		}
	}
	for s := range 30 {
		fixedDistLens[s] = 5
	}
	codes(fixedLitLens[:], fixedLitCodes[:])
	codes(fixedDistLens[:30], fixedDistCodes[:30])
}

// codeLengthOrder is the order in which the lengths of the code-length
// code are sent (§3.2.7).
var codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
