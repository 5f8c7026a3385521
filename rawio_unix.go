//go:build unix && (!linux || race)

package websocket

import "syscall"

// Outside Linux, and with the race detector, the descriptor is read with
// package syscall's calls (see rawio_linux.go).

func nonBlocking(syscall.RawConn) bool { return true }

func readFD(fd int, p []byte) (int, error) { return syscall.Read(fd, p) }
