package deflate

// Huffman codes for a block (RFC 1951 §3.2.2): code lengths from symbol
// frequencies, limited to a maximum length, and the canonical codes those
// lengths define.

// maxSymbols is the largest alphabet: 286 literal/length codes.
const maxSymbols = 286

// huffman builds code lengths and codes. Its arrays are scratch space,
// reused from block to block, so that building a code allocates nothing.
type huffman struct {
	// order holds the symbols in use, sorted by frequency.
	order [maxSymbols]uint16
	// The tree: leaves first, then internal nodes in the order they are
	// made, each with its weight and parent.
	weight [2 * maxSymbols]uint64
	parent [2 * maxSymbols]int16
	depth  [2 * maxSymbols]uint8
	count  [64]uint16 // symbols per code length
}

// lengths sets lens[s] to the code length of symbol s for the
// frequencies freq, no longer than maxBits, and 0 for symbols that do not
// occur. A code is never left with a single symbol: a second one gets a
// length too, so that every code is complete, which every inflater
// accepts.
func (h *huffman) lengths(freq []uint32, lens []uint8, maxBits int) {
	n := 0
	for s, f := range freq {
		lens[s] = 0
		if f > 0 {
			h.order[n] = uint16(s)
			n++
		}
	}
	switch n {
	case 0:
		lens[0], lens[1] = 1, 1
		return
	case 1:
		other := 0
		if h.order[0] == 0 {
			other = 1
		}
		lens[h.order[0]], lens[other] = 1, 1
		return
	}
	// Sort by frequency, then symbol: insertion sort, as the alphabets are
	// small and mostly in order already.
	order := h.order[:n]
	for i := 1; i < n; i++ {
		s := order[i]
		j := i
		for j > 0 && less(freq, s, order[j-1]) {
			order[j] = order[j-1]
			j--
		}
		order[j] = s
	}

	// Huffman's algorithm with two queues: the sorted leaves, and the
	// internal nodes, which are made in order of weight.
	for i, s := range order {
		h.weight[i] = uint64(freq[s])
	}
	leaf, node, next := 0, n, n
	take := func() int {
		if leaf < n && (node == next || h.weight[leaf] <= h.weight[node]) {
			leaf++
			return leaf - 1
		}
		node++
		return node - 1
	}
	for next < 2*n-1 {
		a, b := take(), take()
		h.weight[next] = h.weight[a] + h.weight[b]
		h.parent[a], h.parent[b] = int16(next), int16(next)
		next++
	}
	root := next - 1
	h.depth[root] = 0
	for i := root - 1; i >= 0; i-- {
		h.depth[i] = h.depth[h.parent[i]] + 1
	}

	// Count the leaves per depth, the deepest folded into maxBits, then
	// restore Kraft's equality: each round takes one code off the longest
	// length and turns a shorter code into two one bit longer.
	clear(h.count[:])
	for i := 0; i < n; i++ {
		h.count[min(int(h.depth[i]), maxBits)]++
	}
	total := 0
	for l := 1; l <= maxBits; l++ {
		total += int(h.count[l]) << (maxBits - l)
	}
	for total > 1<<maxBits {
		h.count[maxBits]--
		for l := maxBits - 1; l > 0; l-- {
			if h.count[l] > 0 {
				h.count[l]--
				h.count[l+1] += 2
				break
			}
		}
		total--
	}

	// The rarest symbols get the longest codes.
	i := 0
	for l := maxBits; l > 0; l-- {
		for k := 0; k < int(h.count[l]); k++ {
			lens[order[i]] = uint8(l)
			i++
		}
	}
}

func less(freq []uint32, a, b uint16) bool {
	return freq[a] < freq[b] || freq[a] == freq[b] && a < b
}

// codes sets codes[s] to the canonical code of each symbol with a length
// (§3.2.2), bit-reversed, since codes are packed from their first bit but
// the bit writer fills bytes from the least significant bit.
func codes(lens []uint8, codes []uint16) {
	var count [16]uint16
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var next [16]uint16
	code := uint16(0)
	for l := 1; l < 16; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for s, l := range lens {
		if l == 0 {
			continue
		}
		codes[s] = reverse(next[l], l)
		next[l]++
	}
}

// reverse returns the n low bits of c in reverse order.
func reverse(c uint16, n uint8) uint16 {
	var r uint16
	for i := uint8(0); i < n; i++ {
		r = r<<1 | c&1
		c >>= 1
	}
	return r
}
