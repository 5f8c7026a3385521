//go:build !race

package websocket

import (
	"net"
	"syscall"
	"unsafe"
)

// On Linux a connection with a file descriptor of its own reads and writes
// it with syscall.RawSyscall, not through package net, which makes the
// same calls by way of the runtime's entersyscall. The descriptor is
// non-blocking, so none of these calls waits in the kernel, and the
// runtime has nothing to do around them; but entersyscall wakes the
// runtime's monitor thread (sysmon) if it went to sleep when the process
// had nothing to run, and a server between two messages has nothing to
// run. On a connection that sends a message, waits for the answer and
// sends the next, every message then cost a switch to that thread and
// back on top of the read and the write: a fifth of the CPU time the
// server spent per message. The monitor still wakes for everything else
// that enters the kernel the usual way, and for timers.
//
// Builds with the race detector keep package syscall's calls (see
// rawio_unix.go and rawio_other.go), which tell the detector that what a
// read returns was written by whoever sent it.

// nonBlocking reports whether the descriptor under raw is in non-blocking
// mode, as descriptors of package net always are. One that is not is read
// through its own Read, since a raw read of it could block the thread
// where the runtime cannot see it.
func nonBlocking(raw syscall.RawConn) bool {
	ok := false
	raw.Control(func(fd uintptr) {
		flags, _, errno := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		ok = errno == 0 && flags&syscall.O_NONBLOCK != 0
	})
	return ok
}

// readFD reads from a non-blocking descriptor.
func readFD(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

// output is the writing end of a connection, used with frameMu held.
// Frames go to the descriptor through the RawConn that reads it, c.in.raw.
type output struct {
	fn func(fd uintptr) bool // o.write, bound once; nil without a RawConn
	// vec is what is left to write, in pair; errno is the failed call's.
	// noWait makes a full socket end the call instead of waiting for room
	// (see writeNow). errno is 32 bits so that noWait fits beside it.
	vec    net.Buffers
	pair   [2][]byte
	errno  uint32
	noWait bool
}

func (c *Conn) initOutput() {
	if c.in.raw != nil {
		c.out.fn = c.out.write
	}
}

// direct reports whether frames go to the descriptor.
func (o *output) direct() bool { return o.fn != nil }

// writeDirect writes h and then p to the descriptor that in reads. It
// returns how many bytes were left unwritten, which only noWait leaves
// (see writeNow).
func (o *output) writeDirect(in *input, h, p []byte) (left int, err error) {
	o.pair = [2][]byte{h, p}
	o.vec = o.pair[:]
	o.errno = 0
	err = in.raw.Write(o.fn)
	if o.noWait {
		for _, v := range o.vec {
			left += len(v)
		}
	}
	o.pair, o.vec = [2][]byte{}, nil // the buffers go back to their pools
	if err != nil {
		return left, renameOp(err, "raw-write", "write")
	}
	if o.errno != 0 {
		return left, in.opError("write", syscall.Errno(o.errno))
	}
	return left, nil
}

// writeNow writes as much of b as the socket takes at once, without
// waiting for room, and returns how much that was. Without a descriptor
// it writes nothing: a transport's Write cannot be told not to wait.
func (o *output) writeNow(in *input, b []byte) (int, error) {
	if !o.direct() {
		return 0, nil
	}
	o.noWait = true
	left, err := o.writeDirect(in, b, nil)
	o.noWait = false
	return len(b) - left, err
}

// write is the callback of syscall.RawConn.Write: it writes until all is
// written or the socket is full, in which case it returns false to wait
// until it has room, unless noWait is set.
func (o *output) write(fd uintptr) bool {
	for len(o.vec) > 0 {
		if len(o.vec[0]) == 0 {
			o.vec = o.vec[1:]
			continue
		}
		var n uintptr
		var errno syscall.Errno
		if len(o.vec) == 1 || len(o.vec[1]) == 0 {
			b := o.vec[0]
			n, _, errno = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		} else {
			var iov [2]syscall.Iovec
			iov[0].Base, iov[1].Base = &o.vec[0][0], &o.vec[1][0]
			iov[0].SetLen(len(o.vec[0]))
			iov[1].SetLen(len(o.vec[1]))
			n, _, errno = syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), 2)
		}
		switch errno {
		case 0:
			o.advance(int(n))
		case syscall.EINTR:
		case syscall.EAGAIN:
			return o.noWait
		default:
			o.errno = uint32(errno)
			return true
		}
	}
	return true
}

// advance drops the first n bytes of vec, which went out.
func (o *output) advance(n int) {
	for n > 0 {
		k := min(n, len(o.vec[0]))
		o.vec[0] = o.vec[0][k:]
		n -= k
		if len(o.vec[0]) == 0 {
			o.vec = o.vec[1:]
		}
	}
}
