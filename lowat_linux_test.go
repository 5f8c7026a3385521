//go:build linux

package websocket

import (
	"bytes"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// ---- Helpers of this file ----

// lowatTestPair returns a server Conn over a loopback TCP connection, the
// socket under it, and the client's end, which the test writes frames to.
func lowatTestPair(t *testing.T) (*Conn, *net.TCPConn, net.Conn) {
	t.Helper()
	if !lowatWorks {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI's kernels are 5.7 or later, and this one is older")
		}
		t.Skip("this kernel is older than 5.7: low-water marks are not used")
	}
	c, peer := tcpTestPair(t)
	return c, c.t.(*net.TCPConn), peer
}

// lowatTestMarks reports each low-water mark the library sets on tc,
// until the test ends.
func lowatTestMarks(t *testing.T, tc *net.TCPConn) <-chan int32 {
	raw, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var sock uintptr
	raw.Control(func(fd uintptr) { sock = fd })
	marks := make(chan int32, 100)
	hook := func(fd uintptr, mark int32) {
		if fd == sock {
			select {
			case marks <- mark:
			default: // more than any test here sets
			}
		}
	}
	testHookLowat.Store(&hook)
	t.Cleanup(func() { testHookLowat.Store(nil) })
	return marks
}

// lowatTestMark returns the socket's low-water mark.
func lowatTestMark(t *testing.T, tc *net.TCPConn) int {
	t.Helper()
	raw, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var mark int
	raw.Control(func(fd uintptr) {
		mark, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT)
	})
	if err != nil {
		t.Fatal(err)
	}
	return mark
}

// lowatTestQueued waits until n bytes wait unread in the socket, which a
// write to the other end of a loopback connection puts there at once or
// nearly: it peeks at them, and fails the test after testTimeout.
func lowatTestQueued(t *testing.T, tc *net.TCPConn, n int) {
	t.Helper()
	raw, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, n)
	deadline := time.Now().Add(testTimeout)
	for got := 0; got < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes reached the socket, %d written", got, n)
		}
		raw.Control(func(fd uintptr) {
			if r, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT); err == nil {
				got = r
			}
		})
	}
}

// lowatTestFrame is a long binary frame that the peer sends a server Conn
// over TCP, in parts, while the test watches the marks set on the socket.
type lowatTestFrame struct {
	s       *Conn
	tc      *net.TCPConn // the server's socket
	peer    net.Conn
	marks   <-chan int32
	payload []byte
	frame   []byte // the payload framed, payload[i] at frame[head+i]
	head    int
}

// lowatTestStart sets up a 1 MiB frame and sends its header and the first
// sent bytes of its payload.
func lowatTestStart(t *testing.T, sent int) *lowatTestFrame {
	s, tc, peer := lowatTestPair(t)
	f := &lowatTestFrame{s: s, tc: tc, peer: peer, marks: lowatTestMarks(t, tc), payload: frameTestPayload(1 << 20)}
	f.frame = clientFrame(0x82, f.payload)
	f.head = len(f.frame) - len(f.payload)
	if _, err := peer.Write(f.frame[:f.head+sent]); err != nil {
		t.Fatal(err)
	}
	return f
}

// send sends the payload bytes from from to to.
func (f *lowatTestFrame) send(t *testing.T, from, to int) {
	t.Helper()
	if _, err := f.peer.Write(f.frame[f.head+from : f.head+to]); err != nil {
		t.Fatal(err)
	}
}

// ---- Tests ----

// A reader that catches up with its peer in the middle of a long frame
// waits with a low-water mark of what is left of the frame, gets the
// message whole, and takes the mark down after it: the next message, a
// few bytes, arrives although it is far below the mark.
func TestLowatLongFrame(t *testing.T) {
	const first = 64 << 10
	f := lowatTestStart(t, first)
	s, tc, peer, payload := f.s, f.tc, f.peer, f.payload
	type message struct {
		p   []byte
		err error
	}
	got := make(chan message, 1)
	go func() {
		for {
			_, p, err := s.ReadMessage()
			got <- message{p, err}
			if err != nil {
				return
			}
		}
	}()
	mark := connTestWait(t, f.marks, "a low-water mark")
	if mark < minLowat || int(mark) > len(payload)-first {
		t.Errorf("mark of %d bytes, with %d bytes of the frame still to come", mark, len(payload)-first)
	}
	for from := first; from < len(payload); from += 60 << 10 {
		f.send(t, from, min(from+60<<10, len(payload)))
	}
	m := connTestWait(t, got, "the long message")
	if m.err != nil || !bytes.Equal(m.p, payload) {
		t.Fatalf("ReadMessage = %d bytes, %v; want the %d sent", len(m.p), m.err, len(payload))
	}
	if mark := lowatTestMark(t, tc); mark != 1 {
		t.Errorf("mark of %d bytes after the message; want 1", mark)
	}
	if _, err := peer.Write(clientFrame(0x81, []byte("after"))); err != nil {
		t.Fatal(err)
	}
	if m := connTestWait(t, got, "the short message"); m.err != nil || string(m.p) != "after" {
		t.Fatalf("ReadMessage = %q, %v; want after", m.p, m.err)
	}
}

// A read deadline that passes while a mark is set, with bytes below the
// mark waiting, ends the read with those bytes, not with a timeout: a
// mark only saves wake-ups, and never holds back data from a reader that
// is out of time.
func TestLowatDeadlineReturnsWhatArrived(t *testing.T) {
	const first, second = 64 << 10, 20 << 10
	f := lowatTestStart(t, first)
	s, tc, payload := f.s, f.tc, f.payload
	// All of the first part is in the socket before the reader starts, so
	// that its first wait comes after it has read that part.
	lowatTestQueued(t, tc, f.head+first)
	_, r, err := s.NextReader()
	if err != nil {
		t.Fatal(err)
	}
	type read struct {
		n   int
		err error
	}
	done := make(chan read, 1)
	buf := make([]byte, len(payload))
	go func() {
		n := 0
		for n < first {
			k, err := r.Read(buf[n:])
			if err != nil {
				done <- read{n, err}
				return
			}
			n += k
		}
		k, err := r.Read(buf[n:])
		done <- read{k, err}
	}()
	if mark := connTestWait(t, f.marks, "a low-water mark"); int(mark) != len(payload)-first {
		t.Errorf("mark of %d bytes, with %d of the frame still to come", mark, len(payload)-first)
	}
	f.send(t, first, first+second)
	lowatTestQueued(t, tc, second)
	s.SetReadDeadline(time.Now())
	res := connTestWait(t, done, "the read")
	if res.err != nil || res.n != second || !bytes.Equal(buf[first:first+second], payload[first:first+second]) {
		t.Fatalf("Read = %d, %v; want the %d bytes that arrived before the deadline", res.n, res.err, second)
	}
	if mark := lowatTestMark(t, tc); mark != 1 {
		t.Errorf("mark of %d bytes after the deadline; want 1", mark)
	}
}

// A peer that leaves in the middle of a frame, with less than the mark
// sent, ends the wait: the reader gets what was sent and then an abnormal
// closure, not a hang.
func TestLowatPeerLeavesMidFrame(t *testing.T) {
	f := lowatTestStart(t, 64<<10)
	type message struct {
		n   int
		err error
	}
	got := make(chan message, 1)
	go func() {
		_, p, err := f.s.ReadMessage()
		got <- message{len(p), err}
	}()
	connTestWait(t, f.marks, "a low-water mark")
	f.send(t, 64<<10, 80<<10)
	f.peer.Close()
	m := connTestWait(t, got, "the end of the read")
	var ce *CloseError
	if !errors.As(m.err, &ce) || ce.Code != StatusAbnormalClosure {
		t.Fatalf("ReadMessage = %d bytes, %v; want an abnormal closure", m.n, m.err)
	}
}

func TestLowatKernelRelease(t *testing.T) {
	for _, c := range []struct {
		release string
		want    bool
	}{
		{"6.18.44-fc-v595", true},
		{"5.7.0", true},
		{"5.10-amd64", true},
		{"5.6.19", false},
		{"4.19.0-rc1", false},
		{"10.0", true},
		{"5", false},
		{"", false},
	} {
		if got := releaseAtLeast(c.release, 5, 7); got != c.want {
			t.Errorf("releaseAtLeast(%q, 5, 7) = %v, want %v", c.release, got, c.want)
		}
	}
}
