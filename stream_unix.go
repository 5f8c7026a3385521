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
// holds no buffer (see fillRaw), and on Linux writes go through it too
// (see rawio_linux.go).
func (in *input) initRaw() {
	sc, ok := in.t.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil || !nonBlocking(raw) {
		return
	}
	in.raw = raw
	in.rawFn = in.rawRead
	in.initLowat()
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
	if err := in.readRaw(); err != nil {
		return err
	}
	in.w += in.rawN
	return nil
}

// readRawInto reads straight into p, which the buffer would not hold.
func (in *input) readRawInto(p []byte) (int, error) {
	in.into = p
	err := in.readRaw()
	in.into = nil
	if err != nil {
		return 0, err
	}
	return in.rawN, nil
}

// readRaw makes one read through the RawConn, waiting for data unless
// noWait is set; rawN says how much it read.
func (in *input) readRaw() error {
	if err := in.raw.Read(in.rawFn); err != nil {
		if in.lowat > 0 && in.salvage() {
			return nil
		}
		// Name the operation as the application knows it.
		return renameOp(err, "raw-read", "read")
	}
	if in.rawErr == syscall.EAGAIN {
		return errWouldBlock // only with noWait set
	}
	if in.rawErr != nil {
		return in.opError("read", in.rawErr)
	}
	if in.rawN == 0 {
		return io.EOF
	}
	return nil
}

// salvage ends a wait that a deadline or Close cut short while a
// low-water mark was set (see lowat_linux.go): it takes the mark down and
// reads what arrived below it, so that a read never times out with bytes
// waiting. It reports whether it read any.
func (in *input) salvage() bool {
	noWait := in.noWait
	in.noWait = true
	in.rawErr = syscall.EAGAIN
	err := in.raw.Control(func(fd uintptr) {
		in.dropLowat(fd)
		in.rawRead(fd)
	})
	in.noWait = noWait
	in.lowat = 0 // if Control failed, the descriptor is closed
	return err == nil && in.rawErr == nil && in.rawN > 0
}

// rawRead is the callback of syscall.RawConn.Read: it returns false to wait
// for the descriptor to become readable, unless noWait is set. It reads
// into in.into if set, else into the buffer.
func (in *input) rawRead(fd uintptr) bool {
	p := in.into
	if p == nil {
		if in.buf == nil {
			in.buf = getBuffer(in.want)
		}
		p = (*in.buf)[in.w:]
	}
	for {
		in.rawN, in.rawErr = readFD(int(fd), p)
		if in.rawErr != syscall.EINTR {
			break
		}
	}
	if in.rawErr == syscall.EAGAIN {
		sure := len(p)
		if in.into == nil {
			sure = min(sure, int(in.sure))
			in.idle()
		}
		if !in.noWait {
			in.raiseLowat(fd, sure)
		}
		return in.noWait
	}
	in.dropLowat(fd)
	if in.rawN < 0 {
		in.rawN = 0
	}
	in.drained = in.rawN < len(p)
	return true
}

// opError wraps the error of a raw call on the descriptor as package net
// would: in a *net.OpError that names the operation and the addresses.
func (in *input) opError(op string, errno error) error {
	err := os.NewSyscallError(op, errno)
	nc, ok := in.t.(net.Conn)
	if !ok {
		return err
	}
	laddr := nc.LocalAddr()
	return &net.OpError{Op: op, Net: laddr.Network(), Source: laddr, Addr: nc.RemoteAddr(), Err: err}
}

// renameOp gives an error of a RawConn call, named after it (from), the
// name of the operation as the application knows it (to).
func renameOp(err error, from, to string) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == from {
		e := *oe
		e.Op = to
		return &e
	}
	return err
}
