package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// NetConn returns a net.Conn whose bytes travel over c in messages of type
// t, for tunnelling a protocol that expects a byte stream (net/http,
// net/rpc, SSH, a database's wire protocol) through a WebSocket
// connection. Each Write sends one message; Read reads the messages one
// after another as a single stream, without regard to where one ends and
// the next begins.
//
// Reading starts at once, in a goroutine of the net.Conn's own, so that
// pings are answered and a close frame is seen even while nothing calls
// Read; from then on use the net.Conn, not c, except for writes of control
// frames (Ping, PingPong) and CloseWithStatus.
//
// Deadlines follow net.Conn: a Read that passes its deadline returns an
// error that wraps os.ErrDeadlineExceeded and the connection stays usable,
// and a deadline may be moved while a Read waits, as net/http does. A
// Write whose deadline has passed sends nothing and returns the same
// error; a Write that is cut by its deadline in the middle of a message
// closes the connection, which cannot carry half a message.
//
// Read returns io.EOF once the peer has closed with StatusNormalClosure or
// StatusGoingAway, and the error that ended the connection otherwise. A
// message of the other type is refused: the connection is closed with
// StatusUnsupportedData. Close performs the closing handshake with
// StatusNormalClosure; after it, Read and Write return net.ErrClosed.
func (c *Conn) NetConn(t MessageType) net.Conn {
	nc := &netConn{
		c:       c,
		typ:     t,
		chunks:  make(chan []byte),
		taken:   make(chan struct{}, 1), // Read never waits to hand back
		failed:  make(chan struct{}),
		closed:  make(chan struct{}),
		reading: make(chan struct{}, 1),
	}
	nc.readDeadline.changed = make(chan struct{})
	go nc.pump()
	return nc
}

// netConnBuffer is the size of the buffer a net.Conn's reading goroutine
// reads messages into.
const netConnBuffer = 32 << 10

type netConn struct {
	c   *Conn
	typ MessageType

	// The reading goroutine hands each piece of a message it has read to
	// Read through chunks, and waits on taken until Read has copied all of
	// it. When reading fails, it sets err and closes failed. The read
	// limit applies to each message, as on c.
	chunks chan []byte
	taken  chan struct{}
	failed chan struct{}
	err    error

	// reading admits one Read at a time; pending is what the last Read
	// could not take of its chunk.
	reading chan struct{}
	pending []byte

	readDeadline netDeadline
	// awaiting, if set (by tests), is called each time await starts to
	// wait.
	awaiting func()

	mu            sync.Mutex
	writeDeadline time.Time
	closeOnce     sync.Once
	closed        chan struct{} // closed by Close
}

// netDeadline is a deadline that can move while a Read waits for it:
// every change closes changed, and makes a new one, so that a waiting
// Read takes the new time into account.
type netDeadline struct {
	mu      sync.Mutex
	t       time.Time
	changed chan struct{}
}

func (d *netDeadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t = t
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *netDeadline) get() (time.Time, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.t, d.changed
}

// pump reads messages and hands their bytes to Read, until the
// connection fails or closes.
func (nc *netConn) pump() {
	buf := make([]byte, netConnBuffer)
	for {
		t, r, err := nc.c.NextReader()
		if err == nil && t != nc.typ {
			err = fmt.Errorf("websocket: net.Conn for %v messages received a %v message", nc.typ, t)
			nc.c.CloseWithStatus(StatusUnsupportedData, fmt.Sprintf("%v messages only", nc.typ))
		}
		for err == nil {
			var n int
			n, err = r.Read(buf)
			if n > 0 && !nc.handOver(buf[:n]) {
				return // closed: nobody reads any more
			}
		}
		if err != io.EOF {
			if code := CloseStatus(err); code == StatusNormalClosure || code == StatusGoingAway {
				err = io.EOF
			}
			nc.err = err
			close(nc.failed)
			return
		}
	}
}

// handOver gives b to Read and waits until Read has taken all of it. It
// reports false if the net.Conn was closed first.
func (nc *netConn) handOver(b []byte) bool {
	select {
	case nc.chunks <- b:
	case <-nc.closed:
		return false
	}
	select {
	case <-nc.taken:
		return true
	case <-nc.closed:
		return false
	}
}

func (nc *netConn) Read(p []byte) (int, error) {
	select {
	case <-nc.closed:
		return 0, net.ErrClosed
	default:
	}
	if err := nc.admit(); err != nil {
		return 0, err
	}
	defer func() { <-nc.reading }()
	if len(nc.pending) == 0 {
		if err := nc.await(); err != nil {
			return 0, err
		}
	}
	n := copy(p, nc.pending)
	nc.pending = nc.pending[n:]
	if len(nc.pending) == 0 {
		nc.taken <- struct{}{}
	}
	return n, nil
}

// admit waits for the Read before this one to return, within the read
// deadline.
func (nc *netConn) admit() error {
	for {
		timeout, stop, changed := nc.readTimer()
		select {
		case nc.reading <- struct{}{}:
			stop()
			return nil
		case <-timeout:
			return os.ErrDeadlineExceeded
		case <-changed:
			stop()
		case <-nc.closed:
			stop()
			return net.ErrClosed
		}
	}
}

// await waits for the next chunk, and sets pending to it.
func (nc *netConn) await() error {
	for {
		timeout, stop, changed := nc.readTimer()
		if nc.awaiting != nil {
			nc.awaiting()
		}
		select {
		case b := <-nc.chunks:
			stop()
			nc.pending = b
			return nil
		case <-nc.failed:
			stop()
			select {
			case <-nc.closed:
				return net.ErrClosed
			default:
				return nc.err
			}
		case <-timeout:
			return os.ErrDeadlineExceeded
		case <-changed:
			stop()
		case <-nc.closed:
			stop()
			return net.ErrClosed
		}
	}
}

// readTimer returns a channel that delivers when the read deadline
// passes (at once if it has; never if there is none), a function that
// releases it, and a channel that is closed when the deadline moves.
func (nc *netConn) readTimer() (<-chan time.Time, func(), <-chan struct{}) {
	t, changed := nc.readDeadline.get()
	if t.IsZero() {
		return nil, func() {}, changed
	}
	timer := time.NewTimer(time.Until(t))
	return timer.C, func() { timer.Stop() }, changed
}

func (nc *netConn) Write(p []byte) (int, error) {
	select {
	case <-nc.closed:
		return 0, net.ErrClosed
	default:
	}
	nc.mu.Lock()
	deadline := nc.writeDeadline
	nc.mu.Unlock()
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := nc.c.WriteMessage(nc.typ, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the connection with StatusNormalClosure, and ends the
// waits of Read and Write.
func (nc *netConn) Close() error {
	err := net.ErrClosed
	nc.closeOnce.Do(func() {
		close(nc.closed)
		err = nc.c.Close()
		if errors.Is(err, ErrClosed) {
			err = nil // the connection had ended already
		}
	})
	return err
}

func (nc *netConn) LocalAddr() net.Addr  { return nc.c.LocalAddr() }
func (nc *netConn) RemoteAddr() net.Addr { return nc.c.RemoteAddr() }

func (nc *netConn) SetDeadline(t time.Time) error {
	nc.SetReadDeadline(t)
	return nc.SetWriteDeadline(t)
}

func (nc *netConn) SetReadDeadline(t time.Time) error {
	nc.readDeadline.set(t)
	return nil
}

func (nc *netConn) SetWriteDeadline(t time.Time) error {
	nc.mu.Lock()
	nc.writeDeadline = t
	nc.mu.Unlock()
	return nc.c.SetWriteDeadline(t)
}
