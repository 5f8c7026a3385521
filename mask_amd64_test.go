//go:build !purego

package websocket

import (
	"os"
	"testing"
)

// TestMask runs with AVX2 where the CPU has it; these run the reference
// check on each vector path whatever the CPU.

func TestMaskSSE2(t *testing.T) {
	defer func(saved bool) { hasAVX2 = saved }(hasAVX2)
	hasAVX2 = false
	frameTestMaskReference(t)
}

func TestMaskAVX2(t *testing.T) {
	if !detectAVX2() {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI's machines have AVX2, and this one reports none")
		}
		t.Skip("this CPU has no AVX2")
	}
	defer func(saved bool) { hasAVX2 = saved }(hasAVX2)
	hasAVX2 = true
	frameTestMaskReference(t)
}
