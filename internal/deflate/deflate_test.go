package deflate

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// inflate decompresses one message as a permessage-deflate receiver does
// (RFC 7692 §7.2.2): the tail 00 00 ff ff appended, the window so far as
// the dictionary, and exactly size bytes read.
func inflate(t testing.TB, comp, dict []byte, size int) []byte {
	t.Helper()
	r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(comp), bytes.NewReader([]byte{0, 0, 0xff, 0xff})), dict)
	out := make([]byte, size)
	if _, err := io.ReadFull(r, out); err != nil {
		t.Fatalf("inflating %d bytes: %v", size, err)
	}
	// Nothing may follow the message in its stream.
	var one [1]byte
	if n, err := r.Read(one[:]); n > 0 || err == nil {
		t.Fatalf("inflating %d bytes: more data follows", size)
	}
	return out
}

// compress compresses msg with e, writing it in chunks of the sizes
// chunks cycles through (all at once if none).
func compress(e *Encoder, msg []byte, chunks []int) []byte {
	var out []byte
	for i := 0; len(msg) > 0; i++ {
		n := len(msg)
		if len(chunks) > 0 {
			n = min(n, chunks[i%len(chunks)])
		}
		out = e.Write(out, msg[:n])
		msg = msg[n:]
	}
	return e.Close(out)
}

// roundTrip compresses msgs in order, with context takeover if takeover
// is set, and checks that compress/flate gives each back. It returns the
// compressed size of all.
func roundTrip(t testing.TB, msgs [][]byte, bits, level int, takeover bool, chunks []int) int {
	t.Helper()
	var e Encoder
	var hist History
	hist.SetWindow(bits)
	var window []byte // the receiver's copy of the window
	total := 0
	for i, msg := range msgs {
		h := &hist
		if !takeover {
			h = nil
		}
		e.Reset(h, bits, level, len(msg))
		comp := compress(&e, msg, chunks)
		total += len(comp)
		if len(msg) == 0 && !bytes.Equal(comp, []byte{0}) {
			t.Fatalf("message %d: empty message compressed to %x, want 00", i, comp)
		}
		dict := window
		if !takeover {
			dict = nil
		}
		got := inflate(t, comp, dict, len(msg))
		if !bytes.Equal(got, msg) {
			t.Fatalf("message %d of %d bytes (window 2^%d, level %d, takeover %v): round trip differs", i, len(msg), bits, level, takeover)
		}
		if takeover {
			e.Commit(&hist)
			window = append(window, msg...)
			window = window[max(0, len(window)-1<<bits):]
			if w := hist.AppendTo(nil); !bytes.Equal(w, window) {
				t.Fatalf("message %d: the history holds %d bytes unlike the last %d sent", i, len(w), len(window))
			}
		}
	}
	return total
}

// testMessages returns a mix of messages: empty, short, repetitive,
// random, and longer than a block.
func testMessages(seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	msgs := [][]byte{
		{},
		[]byte("a"),
		[]byte("hello, hello, hello, hello"),
		bytes.Repeat([]byte{0}, 1000),
		random(300),
		[]byte(strings.Repeat("the quick brown fox jumps over the lazy dog. ", 40)),
	}
	msgs = append(msgs, jsonEvents(rng, 20)...)
	msgs = append(msgs, random(3*blockSize+17), bytes.Repeat([]byte("abcdefgh"), 40000), []byte{})
	msgs = append(msgs, jsonDocument(rng, 64<<10))
	return msgs
}

// D10, D11, D12: every window size and level, with and without context
// takeover, whole and in chunks, round trip through compress/flate.
func TestRoundTrip(t *testing.T) {
	msgs := testMessages(1)
	for bits := MinWindowBits; bits <= MaxWindowBits; bits++ {
		for _, level := range []int{Fastest, Better} {
			for _, takeover := range []bool{false, true} {
				for _, chunks := range [][]int{nil, {1, 7, 1000, 70000}} {
					name := fmt.Sprintf("window 2^%d/level %d/takeover %v/chunks %v", bits, level, takeover, chunks)
					t.Run(name, func(t *testing.T) {
						roundTrip(t, msgs, bits, level, takeover, chunks)
					})
				}
			}
		}
	}
}

// Compressing is deterministic and does not depend on what the encoder
// compressed before: the same message with the same history gives the
// same bytes from a used encoder as from a fresh one.
func TestEncoderStateDoesNotLeak(t *testing.T) {
	msgs := testMessages(2)
	var used Encoder
	for _, m := range msgs {
		used.Reset(nil, 15, Better, 0)
		compress(&used, m, nil)
	}
	var hist History
	hist.SetWindow(12)
	hist.Write(msgs[len(msgs)-1])
	for i, m := range msgs {
		var fresh Encoder
		fresh.Reset(&hist, 12, Better, len(m))
		want := compress(&fresh, m, nil)
		used.Reset(&hist, 12, Better, len(m))
		if got := compress(&used, m, nil); !bytes.Equal(got, want) {
			t.Fatalf("message %d: a used encoder compressed it differently", i)
		}
	}
}

// The history keeps the last bytes up to its window, grows only as far as
// it needs, and gives them back in order.
func TestHistory(t *testing.T) {
	var h History
	h.SetWindow(8)
	var all []byte
	for i, n := range []int{0, 10, 100, 146, 1, 255, 256, 300, 7} {
		p := bytes.Repeat([]byte{byte(i + 1)}, n)
		h.Write(p)
		all = append(all, p...)
		want := all[max(0, len(all)-256):]
		if got := h.AppendTo(nil); !bytes.Equal(got, want) {
			t.Fatalf("after %d bytes: history %x, want %x", len(all), got, want)
		}
		if h.Cap() > 256 {
			t.Fatalf("after %d bytes: the history holds %d bytes of memory for a window of 256", len(all), h.Cap())
		}
	}
	h.SetWindow(15)
	h.Write([]byte("abc"))
	if h.Cap() > 256 {
		t.Fatalf("3 bytes in a window of 32 KiB hold %d bytes of memory", h.Cap())
	}
}

// Huffman code lengths never exceed the limit and always make a complete
// prefix code, whatever the frequencies.
func TestCodeLengths(t *testing.T) {
	var h huffman
	rng := rand.New(rand.NewPCG(3, 3))
	fib := make([]uint32, 30)
	fib[0], fib[1] = 1, 1
	for i := 2; i < len(fib); i++ {
		fib[i] = fib[i-1] + fib[i-2]
	}
	cases := [][]uint32{fib, make([]uint32, 19), {5}, {0, 0, 9}, {1, 1}}
	for range 200 {
		f := make([]uint32, 1+rng.IntN(maxSymbols))
		for i := range f {
			if rng.IntN(3) > 0 {
				f[i] = uint32(rng.ExpFloat64() * 1000)
			}
		}
		cases = append(cases, f)
	}
	for i, freq := range cases {
		for _, maxBits := range []int{7, 15} {
			if len(freq) < 2 {
				freq = append(freq, 0)
			}
			used := 0
			for _, f := range freq {
				if f > 0 {
					used++
				}
			}
			if used > 1<<maxBits {
				continue // no code of maxBits holds them all
			}
			lens := make([]uint8, len(freq))
			h.lengths(freq, lens, maxBits)
			kraft := 0
			for s, l := range lens {
				if int(l) > maxBits {
					t.Fatalf("case %d: symbol %d has length %d, more than %d", i, s, l, maxBits)
				}
				if freq[s] > 0 && l == 0 {
					t.Fatalf("case %d: symbol %d occurs but has no code", i, s)
				}
				if l > 0 {
					kraft += 1 << (maxBits - int(l))
				}
			}
			if kraft != 1<<maxBits {
				t.Fatalf("case %d (max %d bits): the code is not complete (Kraft sum %d of %d)", i, maxBits, kraft, 1<<maxBits)
			}
		}
	}
}

// D13 on the encoding side: a window of 2^bits means no match reaches
// further back than 2^bits bytes, within a message or into the history.
// The receiver here keeps exactly that much history, and a compressor
// that reached further would make compress/flate fail or give back other
// bytes.
func TestWindowLimit(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for bits := MinWindowBits; bits <= 12; bits++ {
		// A block of random bytes repeated at a distance just beyond the
		// window, and again just within it.
		w := 1 << bits
		chunk := make([]byte, 64)
		for i := range chunk {
			chunk[i] = byte(rng.Uint32())
		}
		msg := append([]byte{}, chunk...)
		for len(msg) < w+1 {
			msg = append(msg, byte(rng.Uint32()))
		}
		msg = append(msg, chunk...)
		var e Encoder
		e.Reset(nil, bits, Better, len(msg))
		comp := compress(&e, msg, nil)
		if got := windowedInflate(t, comp, nil, len(msg), w); !bytes.Equal(got, msg) {
			t.Fatalf("window 2^%d: round trip differs", bits)
		}
	}
}

// windowedInflate inflates as a receiver that keeps only window bytes
// would: it checks every match distance against what such a receiver
// holds, by decoding through a reader that refuses what reaches further.
func windowedInflate(t testing.TB, comp, dict []byte, size, window int) []byte {
	t.Helper()
	d := newTestDecoder(append(append([]byte{}, comp...), 0, 0, 0xff, 0xff), dict, window)
	out, err := d.decode(size)
	if err != nil {
		t.Fatalf("decoding with a window of %d: %v", window, err)
	}
	return out
}

// FuzzRoundTrip compresses arbitrary messages, in arbitrary pieces, at
// every window size and level, with and without takeover, and checks that
// compress/flate and the strict test decoder give them back.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello, hello, hello"), []byte("second message, hello"), uint8(15), uint8(2), uint16(7))
	f.Add([]byte{}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(8), uint8(1), uint16(1))
	f.Add(bytes.Repeat([]byte("ab"), 300), []byte("abababab"), uint8(9), uint8(2), uint16(100))
	f.Fuzz(func(t *testing.T, a, b []byte, bits, level uint8, chunk uint16) {
		w := MinWindowBits + int(bits)%(MaxWindowBits-MinWindowBits+1)
		lv := Fastest + int(level)%2
		chunks := []int{1 + int(chunk)}
		for _, takeover := range []bool{false, true} {
			roundTrip(t, [][]byte{a, b, a}, w, lv, takeover, chunks)
		}
		var e Encoder
		e.Reset(nil, w, lv, 0)
		comp := compress(&e, append(append([]byte{}, a...), b...), chunks)
		want := append(append([]byte{}, a...), b...)
		if got := windowedInflate(t, comp, nil, len(want), 1<<w); !bytes.Equal(got, want) {
			t.Fatal("the strict decoder gave back other bytes")
		}
	})
}
