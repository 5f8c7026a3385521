//go:build !purego

package websocket

// On amd64 the bulk of a long payload is XORed 16 or 32 bytes at a time
// with vector instructions (mask_amd64.s): SSE2, which every amd64 CPU
// has, or AVX2 where the CPU has it and the operating system saves its
// registers. The pure-Go loop in mask.go does the ends, and all of it on
// other architectures or with the purego build tag.

// maskVector XORs the first bytes of b, a multiple of 32 of them, with
// the key k as a little-endian word (k's first byte applies to b[0]), and
// returns how many it did.
func maskVector(b []byte, k uint32) int {
	n := len(b) &^ 31
	if hasAVX2 {
		maskAVX2(b[:n], k)
	} else {
		maskSSE2(b[:n], k)
	}
	return n
}

// maskVectorMin is the shortest payload worth handing to maskVector.
const maskVectorMin = 64

var hasAVX2 = detectAVX2()

// detectAVX2 follows Intel's recipe (SDM vol. 1, 14.3): the CPU reports
// OSXSAVE and AVX in CPUID leaf 1, the OS has enabled the XMM and YMM
// state in XCR0, and leaf 7 reports AVX2.
func detectAVX2() bool {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const osxsave, avx = 1 << 27, 1 << 28
	if ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false
	}
	const xmmAndYMM = 1<<1 | 1<<2
	if xcr0 := xgetbv0(); xcr0&xmmAndYMM != xmmAndYMM {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2 = 1 << 5
	return ebx7&avx2 != 0
}

//go:noescape
func maskSSE2(b []byte, k uint32)

//go:noescape
func maskAVX2(b []byte, k uint32)

func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

func xgetbv0() uint32
