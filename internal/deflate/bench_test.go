package deflate

// Speed and ratio against compress/flate at BestSpeed and at the default
// level, on what WebSocket servers send: JSON events of 100 B to 2 KiB
// (each compressed as a message of its own, in a stream, with and without
// context takeover), a 64 KiB JSON document, and text.
//
//	go test -run '^$' -bench . ./internal/deflate
//
// Each benchmark reports "ratio", compressed over original bytes.

import (
	"bytes"
	"compress/flate"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

var words = strings.Fields(`the a to of and in is it you that for on was with he as
	have be at one by this had not are but from or his they we which an she were
	there been has their if will would her all so can no what up out about who get
	time message room user online typing hello thanks meeting tomorrow sounds good
	deploy build failed passed review merge branch ticket latency server client`)

// jsonEvents returns n chat events as a server would send them, each a
// JSON object of some 100 B to 2 KiB.
func jsonEvents(rng *rand.Rand, n int) [][]byte {
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	rooms := []string{"general", "random", "deploys", "support"}
	kinds := []string{"message", "message", "message", "typing", "presence", "reaction"}
	out := make([][]byte, n)
	for i := range out {
		var text strings.Builder
		for range 3 + rng.IntN(300) {
			text.WriteString(words[rng.IntN(len(words))])
			text.WriteByte(' ')
		}
		out[i] = fmt.Appendf(nil,
			`{"type":%q,"id":%d,"room":%q,"user":{"name":%q,"id":%d,"status":"online"},"ts":"2026-12-06T%02d:%02d:%02d.%03dZ","text":%q,"reactions":[],"edited":false}`,
			kinds[rng.IntN(len(kinds))], 100000+i, rooms[rng.IntN(len(rooms))], users[rng.IntN(len(users))],
			1000+rng.IntN(len(users)), rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000),
			strings.TrimSpace(text.String())[:min(text.Len()-1, 1800)])
	}
	return out
}

// jsonDocument returns a JSON array of events of about size bytes.
func jsonDocument(rng *rand.Rand, size int) []byte {
	b := []byte{'['}
	for len(b) < size {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, jsonEvents(rng, 1)[0]...)
	}
	return append(b, ']')
}

// prose returns about size bytes of text made of words.
func prose(rng *rand.Rand, size int) []byte {
	var b bytes.Buffer
	for b.Len() < size {
		b.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(12) == 0 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()
}

func benchInputs() map[string][][]byte {
	rng := rand.New(rand.NewPCG(7, 7))
	return map[string][][]byte{
		"JSON events": jsonEvents(rng, 1000),
		"JSON 64 KiB": {jsonDocument(rng, 64<<10)},
		"text 64 KiB": {prose(rng, 64<<10)},
	}
}

func totalSize(msgs [][]byte) int {
	n := 0
	for _, m := range msgs {
		n += len(m)
	}
	return n
}

// BenchmarkEncoder compresses each input as a stream of messages with
// this package, at both levels, with context takeover in a window of
// 2^15 and 2^12 bytes and without.
func BenchmarkEncoder(b *testing.B) {
	for name, msgs := range benchInputs() {
		for _, level := range []int{Fastest, Better} {
			for _, mode := range []struct {
				name     string
				bits     int
				takeover bool
			}{{"takeover 2^15", 15, true}, {"takeover 2^12", 12, true}, {"no takeover", 15, false}} {
				b.Run(fmt.Sprintf("%s/level %d/%s", name, level, mode.name), func(b *testing.B) {
					var e Encoder
					var hist History
					out := make([]byte, 0, 128<<10)
					b.SetBytes(int64(totalSize(msgs)))
					b.ReportAllocs()
					compressed := 0
					for range b.N {
						hist.SetWindow(mode.bits)
						compressed = 0
						for _, m := range msgs {
							h := &hist
							if !mode.takeover {
								h = nil
							}
							e.Reset(h, mode.bits, level, len(m))
							out = e.Close(e.Write(out[:0], m))
							compressed += len(out)
							if mode.takeover {
								e.Commit(&hist)
							}
						}
					}
					b.ReportMetric(float64(compressed)/float64(totalSize(msgs)), "ratio")
				})
			}
		}
	}
}

// BenchmarkFlate does the same with compress/flate: with takeover, one
// Writer for the stream, flushed after each message; without, the Writer
// reset before each.
func BenchmarkFlate(b *testing.B) {
	for name, msgs := range benchInputs() {
		for _, level := range []int{flate.BestSpeed, flate.DefaultCompression} {
			for _, takeover := range []bool{true, false} {
				mode := "no takeover"
				if takeover {
					mode = "takeover 2^15"
				}
				b.Run(fmt.Sprintf("%s/level %d/%s", name, level, mode), func(b *testing.B) {
					var out bytes.Buffer
					w, _ := flate.NewWriter(&out, level)
					b.SetBytes(int64(totalSize(msgs)))
					b.ReportAllocs()
					compressed := 0
					for range b.N {
						compressed = 0
						w.Reset(&out)
						for _, m := range msgs {
							out.Reset()
							if !takeover {
								w.Reset(&out)
							}
							w.Write(m)
							w.Flush()
							compressed += out.Len() - 4 // the tail RFC 7692 leaves out
						}
					}
					b.ReportMetric(float64(compressed)/float64(totalSize(msgs)), "ratio")
				})
			}
		}
	}
}
