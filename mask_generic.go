//go:build !amd64 || purego

package websocket

// maskVector does nothing where there is no vector code: mask's pure-Go
// loop does all of the work.
func maskVector(b []byte, k uint32) int { return 0 }

const maskVectorMin = int(^uint(0) >> 1)
