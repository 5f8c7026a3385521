package websocket

import (
	"io"
	"math/bits"
	"sync"
	"syscall"
	"time"
)

// transport is the byte stream under a Conn: a hijacked TCP connection, a
// TLS connection, or anything else that reads, writes, keeps deadlines and
// closes. A net.Conn is one.
type transport interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// Buffers come from pools, one for each power of two between 512 bytes and
// 2 MiB (room for a frame of maxFrameSize and its header), so that a
// connection holds a buffer only while it reads or writes a frame, not
// while it waits. Ten thousand idle connections then cost ten thousand
// small structs, not ten thousand buffers.
const (
	minBufferShift = 9
	maxBufferShift = 21
)

var bufferPools [maxBufferShift - minBufferShift + 1]sync.Pool

// bufferClass returns the index of the pool whose buffers hold at least
// size bytes, with sizes outside the range clamped into it.
func bufferClass(size int) int {
	if size <= 1<<minBufferShift {
		return 0
	}
	shift := bits.Len(uint(size - 1))
	return min(shift, maxBufferShift) - minBufferShift
}

// getBuffer returns a buffer of at least size bytes (at most 2 MiB), with
// its length set to its capacity.
func getBuffer(size int) *[]byte {
	class := bufferClass(size)
	if b, ok := bufferPools[class].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 1<<(class+minBufferShift))
	return &b
}

// putBuffer returns a buffer from getBuffer to its pool.
func putBuffer(b *[]byte) {
	bufferPools[bufferClass(cap(*b))].Put(b)
}

// input is the reading half of the stream. It buffers what the transport
// delivers in a pooled buffer that it keeps only while unread bytes are in
// it; the buffer goes back to the pool whenever it is drained.
type input struct {
	t    transport
	size int // the buffer size to ask the pool for
	// want is the size to ask for at the next fill that needs a buffer:
	// size, or more while a long payload is streaming through.
	want int
	// hint is the length of the last data frame, header included: the
	// next frame is likely as long, and its header is read into a buffer
	// that can take its payload in the same read.
	hint int

	buf  *[]byte // nil while nothing is buffered
	r, w int     // unread bytes are (*buf)[r:w]
	err  error   // an error the transport returned along with data, for the next fill

	// Where the transport has a file descriptor, waiting for data happens
	// without a buffer: see fillRaw.
	raw    syscall.RawConn
	rawFn  func(fd uintptr) bool // in.rawRead, bound once so that reads do not allocate
	rawN   int
	rawErr error
	into   []byte // where rawRead reads, if not into the buffer
	// sure is how many bytes the peer is bound to send next, the rest of
	// the frame whose payload a fill reads; lowat is the low-water mark set
	// on the socket, 0 for none, or -1 where marks are not used (see
	// lowat_linux.go).
	sure, lowat int32
	// noWait makes a fill that would wait for data fail with errWouldBlock
	// instead; only a raw read honours it.
	noWait bool
	// drained says that the last read from the descriptor came back with
	// less than it had room for: the socket held nothing more at that
	// moment. Under an edge-triggered poller, bytes that arrive after such
	// a read raise an event of their own, so until the next event a
	// noWait fill can fail without the read that would find the socket
	// empty (see fillRaw). Whoever is woken by an event clears it, and so
	// does a loop whose peer has ended or failed, since an end or an error
	// can wait behind the bytes a short read returned (eventLoop.hangup).
	drained bool

	// small receives the first bytes after a silence when the transport has
	// no file descriptor, so that no pooled buffer waits with it.
	small [maxHeaderSize]byte
}

func newInput(t transport, size int, leftover []byte) *input {
	in := &input{t: t, size: size, want: size}
	in.initRaw()
	if len(leftover) > 0 {
		in.buf = getBuffer(max(size, len(leftover)))
		in.w = copy(*in.buf, leftover)
	}
	return in
}

// buffered returns the unread bytes.
func (in *input) buffered() []byte {
	if in.buf == nil {
		return nil
	}
	return (*in.buf)[in.r:in.w]
}

// discard consumes n buffered bytes.
func (in *input) discard(n int) {
	in.r += n
	if in.r == in.w {
		in.release()
	}
}

// release gives the buffer back once nothing in it is unread.
func (in *input) release() {
	if in.buf != nil {
		putBuffer(in.buf)
		in.buf = nil
	}
	in.r, in.w = 0, 0
}

// short reports whether fewer than n bytes are unread, and makes room in
// the buffer for the rest of them if it has to: the unread bytes move to
// a larger buffer, unless n is more than a frame's payload can be.
func (in *input) short(n int64) bool {
	if in.buf == nil || int64(in.w-in.r) >= n {
		return false
	}
	if int64(len(*in.buf)-in.r) >= n {
		return true
	}
	if n > maxFrameSize {
		return false
	}
	bigger := getBuffer(int(n))
	in.w = copy(*bigger, (*in.buf)[in.r:in.w])
	in.r = 0
	putBuffer(in.buf)
	in.buf = bigger
	return true
}

// lend gives the buffer away if its unread bytes are the n last ones in
// it, which the caller has taken, and says where they start: the caller
// owns it from then on, to put back in its pool, and the input goes on
// without one. Otherwise it returns nil and keeps the buffer.
func (in *input) lend(n int) (*[]byte, int) {
	if in.buf == nil || in.w-in.r != n {
		return nil, 0
	}
	buf, from := in.buf, in.r
	in.buf = nil
	in.r, in.w = 0, 0
	return buf, from
}

// shrink moves the unread bytes into a buffer of the usual size if the one
// they are in is larger: the part of a header that a connection waits on
// must not keep a buffer sized for the long frame before it.
func (in *input) shrink() {
	if in.buf == nil || len(*in.buf) <= in.size || in.w-in.r > in.size {
		return
	}
	small := getBuffer(in.size)
	n := copy(*small, (*in.buf)[in.r:in.w])
	putBuffer(in.buf)
	in.buf, in.r, in.w = small, 0, n
}

// idle prepares for a wait for data: it gives back the buffer if nothing
// in it is unread, and moves a partial header out of a large one.
func (in *input) idle() {
	if in.r == in.w {
		in.release()
	} else {
		in.shrink()
	}
}

// fill reads at least one more byte from the transport into the buffer.
func (in *input) fill() error {
	if in.err != nil {
		err := in.err
		in.err = nil
		return err
	}
	if in.buf != nil && in.w == len(*in.buf) {
		// Full: move the unread tail to the front. Callers only fill while
		// the unread part is shorter than a frame header, so room appears.
		in.w = copy(*in.buf, (*in.buf)[in.r:in.w])
		in.r = 0
	}
	if in.raw != nil {
		return in.fillRaw()
	}
	if in.buf == nil {
		in.buf = getBuffer(in.want)
	}
	n, err := in.readSome((*in.buf)[in.w:])
	in.w += n
	if n > 0 {
		in.err = err
		return nil
	}
	if in.r == in.w {
		in.release()
	}
	return err
}

// await reads as fillHeader does, if nothing is buffered and the
// transport has a descriptor (see fillRaw): it lets a reader wait for the
// next frame before descending to where the frame is read. An error it
// meets is kept for the next fill, which returns it as its own, so the
// reader handles it where it always does.
func (in *input) await() {
	if in.raw == nil || in.r < in.w || in.err != nil {
		return
	}
	if err := in.fillHeader(); err != nil {
		in.err = err
	}
}

// fillPayload is fill for a reader that wants up to n more payload bytes:
// a long payload goes through a larger buffer, up to maxFrameSize, so that
// it takes fewer reads, and leaves in larger pieces to whoever takes it.
// The buffer is a loan like any other, returned once drained.
func (in *input) fillPayload(n int64) error {
	in.sure = int32(min(n, maxFrameSize))
	err := in.fillWanting(int(min(max(n, int64(in.size)), maxFrameSize)))
	in.sure = 0
	return err
}

// fillWanting is fill asking for a buffer of want bytes if it needs one.
func (in *input) fillWanting(want int) error {
	in.want = want
	err := in.fill()
	in.want = in.size
	return err
}

// fillHeader is fill for a reader that waits for a frame header, which may
// be a long wait. Without a file descriptor to wait on (see fillRaw), the
// first bytes after a silence go into a small array, so that no pooled
// buffer waits with the connection.
func (in *input) fillHeader() error {
	if in.raw == nil {
		// The read below may wait long, with what it reads into.
		in.shrink()
	}
	if in.buf != nil || in.raw != nil || in.err != nil {
		return in.fillWanting(max(in.size, in.hint))
	}
	n, err := in.readSome(in.small[:])
	if n > 0 {
		in.buf = getBuffer(in.size)
		in.w = copy(*in.buf, in.small[:n])
		in.err = err
		return nil
	}
	return err
}

// read reads up to len(p) bytes, from the buffer if it has any, else from
// the transport, straight into p when p is at least as large as a buffer.
func (in *input) read(p []byte) (int, error) {
	if in.r == in.w && len(p) >= in.size && in.err == nil {
		var n int
		var err error
		if in.raw != nil {
			n, err = in.readRawInto(p)
		} else {
			n, err = in.readSome(p)
		}
		if n > 0 {
			return n, nil // a raw read has set drained
		}
		return 0, err
	}
	if in.r == in.w {
		if err := in.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, (*in.buf)[in.r:in.w])
	in.discard(n)
	return n, nil
}

// readSome reads from the transport. io.Reader permits a read that
// returns nothing and no error; a few in a row are tolerated, as bufio
// does, and more are taken for a broken reader, so that the connection
// ends instead of spinning.
func (in *input) readSome(p []byte) (int, error) {
	for range 100 {
		n, err := in.t.Read(p)
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, io.ErrNoProgress
}

// skip discards the next n bytes of the stream.
func (in *input) skip(n int64) error {
	for n > 0 {
		if in.r == in.w {
			if err := in.fill(); err != nil {
				return err
			}
		}
		k := int(min(n, int64(in.w-in.r)))
		in.discard(k)
		n -= int64(k)
	}
	return nil
}
