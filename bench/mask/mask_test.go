// Package mask holds the masking benchmark of gobwas/ws, the fastest
// exported masking among the other libraries, under the same name and
// sizes as the root module's BenchmarkMask, so that the two runs compare
// line by line:
//
//	go test -run '^$' -bench '^BenchmarkMask$' .            (in the root module)
//	go test -run '^$' -bench '^BenchmarkMask$' ./mask       (in bench/)
package mask

import (
	"fmt"
	"testing"

	"github.com/gobwas/ws"
)

var sink byte

func BenchmarkMask(b *testing.B) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for _, size := range []int{16, 1 << 10, 16 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			buf := make([]byte, size)
			for i := range buf {
				buf[i] = byte(i)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ws.Cipher(buf, key, 0)
			}
			sink = buf[0]
		})
	}
}
