//go:build linux && !noepoll

package websocket

import (
	"net"
	"runtime"
	"syscall"
	"unsafe"
)

// pollerWatching returns how many connections the poller holds.
func pollerWatching() int {
	p := thePoller
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// pollerStart starts the poller, whose epoll descriptor and goroutine then
// count in a test's baseline.
func pollerStart() { getPoller() }

// pollerUsed reports whether idle connections of EventHandler wait in
// epoll here, rather than in a goroutine's read.
const pollerUsed = true

// socketUnread returns how many bytes wait unread in the socket under c
// (ioctl FIONREAD), and false where the request's number is not known.
func socketUnread(c net.Conn) (int, bool) {
	const fionread = 0x541B // on the architectures below
	switch runtime.GOARCH {
	case "amd64", "arm64", "386", "arm", "riscv64", "s390x", "loong64":
	default:
		return 0, false
	}
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int32
	var errno syscall.Errno
	raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, fionread, uintptr(unsafe.Pointer(&n)))
	})
	return int(n), errno == 0
}
