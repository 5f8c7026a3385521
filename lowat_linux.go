//go:build linux

package websocket

import (
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// A long payload reaches the socket in many pieces, a packet or a few at a
// time, and a reader that has caught up with its peer halfway through
// would be woken for each of them: a wait in the poller, a wake-up and a
// read, for a few dozen KiB each. On Linux a TCP connection instead sets
// the socket's low-water mark (SO_RCVLOWAT) when a read finds the socket
// empty while much of a frame is still to come, so that the wait ends when
// that much has arrived, or the connection has ended: a megabyte on
// loopback then takes a wait or two instead of eight. The mark
// never exceeds what the peer must send before anything else, the rest of
// the frame whose payload is being read, nor what the reader has room
// for, and it is taken down with the read that follows the wait.
//
// The kernel grows the receive buffer to hold the mark, and reports the
// socket readable anyway when its window or its memory runs short, so a
// mark cannot stall a sender; kernels before 5.7 lack some of those
// guards, and there the mark is not used.

// Marks below minLowat save too little to pay for the two system calls
// that set one and take it down; maxLowat bounds the wait for a frame that
// a slow peer sends in a trickle.
const (
	minLowat = 16 << 10
	maxLowat = 1 << 20
)

var lowatWorks = kernelAtLeast(5, 7)

// initLowat turns marks off unless the connection is TCP, on a kernel that
// keeps them safe: other sockets ignore marks when they report readiness.
func (in *input) initLowat() {
	if _, tcp := in.t.(*net.TCPConn); !tcp || !lowatWorks {
		in.lowat = -1
	}
}

// raiseLowat sets the mark for a wait, on a read that found the socket
// empty while sure more bytes are bound to come and there is room for
// them.
func (in *input) raiseLowat(fd uintptr, sure int) {
	mark := int32(min(sure, maxLowat))
	if in.lowat < 0 || mark < minLowat || mark == in.lowat {
		return
	}
	if setLowat(fd, mark) {
		in.lowat = mark
		if hook := testHookLowat.Load(); hook != nil {
			(*hook)(fd, mark)
		}
	}
}

// testHookLowat, if set, is called with every mark set, just before the
// wait it is for.
var testHookLowat atomic.Pointer[func(fd uintptr, mark int32)]

// dropLowat takes the mark down, back to the kernel's default of a byte,
// so that the next wait for a header ends with its first byte. Setting a
// mark also reports the socket readable if it holds that much already, so
// bytes that arrived below a high mark are not left without an event.
func (in *input) dropLowat(fd uintptr) {
	if in.lowat > 0 {
		setLowat(fd, 1)
		in.lowat = 0
	}
}

func setLowat(fd uintptr, mark int32) bool {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, int(mark)) == nil
}

// kernelAtLeast reports whether the running kernel's version is at least
// major.minor.
func kernelAtLeast(major, minor int) bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return false
	}
	release := make([]byte, 0, len(u.Release))
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		release = append(release, byte(c))
	}
	return releaseAtLeast(string(release), major, minor)
}

// releaseAtLeast reports whether a kernel release such as "6.1.0-18-amd64"
// is at least major.minor.
func releaseAtLeast(release string, major, minor int) bool {
	var v [2]int
	fields := strings.SplitN(release, ".", 3)
	for i := 0; i < len(v) && i < len(fields); i++ {
		f := fields[i]
		n := 0
		for n < len(f) && '0' <= f[n] && f[n] <= '9' {
			n++
		}
		v[i], _ = strconv.Atoi(f[:n])
	}
	return v[0] > major || v[0] == major && v[1] >= minor
}
