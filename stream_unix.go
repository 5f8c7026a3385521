//go:build unix

package websocket

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// initRaw looks for a file descriptor under the transport. With one, reads
// go through syscall.RawConn so that a connection waiting for its peer
// holds no buffer (see fillRaw).
func (in *input) initRaw() {
	sc, ok := in.t.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	in.raw = raw
	in.rawFn = in.rawRead
}

// fillRaw reads from the file descriptor with the same system calls as the
// net package's own Read: one read when data is waiting; otherwise one read
// that finds nothing, a wait in the runtime's poller, and one more read. The
// difference is that the buffer goes back to the pool during the wait, so
// an idle connection holds none. Deadlines and Close still interrupt the
// wait, as they do for Read.
func (in *input) fillRaw() error {
	if in.noWait && in.drained {
		// Nothing has arrived since the last read found the socket
		// empty, or an event would have cleared drained.
		in.idle()
		return errWouldBlock
	}
	if err := in.raw.Read(in.rawFn); err != nil {
		// Name the operation as the application knows it.
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "raw-read" {
			e := *oe
			e.Op = "read"
			return &e
		}
		return err
	}
	if in.rawErr == syscall.EAGAIN {
		return errWouldBlock // only with noWait set
	}
	if in.rawErr != nil {
		return os.NewSyscallError("read", in.rawErr)
	}
	if in.rawN == 0 {
		return io.EOF
	}
	in.w += in.rawN
	return nil
}

// rawRead is the callback of syscall.RawConn.Read: it returns false to wait
// for the descriptor to become readable, unless noWait is set.
func (in *input) rawRead(fd uintptr) bool {
	if in.buf == nil {
		in.buf = getBuffer(in.want)
	}
	for {
		in.rawN, in.rawErr = syscall.Read(int(fd), (*in.buf)[in.w:])
		if in.rawErr != syscall.EINTR {
			break
		}
	}
	if in.rawErr == syscall.EAGAIN {
		in.idle()
		return in.noWait
	}
	if in.rawN < 0 {
		in.rawN = 0
	}
	in.drained = in.rawN < len(*in.buf)-in.w
	return true
}
