package websocket

import (
	"errors"
	"io"
	"log"
	"net/http"
	"sync"
	"sync/atomic"
)

// Events are the callbacks through which Upgrader.EventHandler serves a
// connection. Any of them may be nil.
//
// The callbacks of one connection run one at a time, in order: Open, then
// Message for each message, then Close. Callbacks of different connections
// run at the same time. Writes to the connection are allowed from any
// goroutine at any time, as with every Conn; reads are not, since the
// messages come to Message: do not call ReadMessage or NextReader on a
// connection served by events.
type Events struct {
	// Open is called once the connection is established, before any
	// message is read.
	Open func(c *Conn)

	// Message is called for each data message, with a reader that streams
	// its payload as NextReader's does: text is checked as UTF-8 as it is
	// read, and what the callback leaves unread is skipped. The reader is
	// valid until Message returns. The next message is not read before
	// Message returns, so a slow callback slows its own connection only.
	Message func(c *Conn, t MessageType, r io.Reader)

	// Close is called once, last, when the connection has ended, with the
	// read error that ended it: a *CloseError carrying the peer's close
	// code, or one with StatusAbnormalClosure if the peer vanished; the
	// error for which this side failed the connection, if the peer broke
	// the protocol (one over the read limit wraps ErrReadLimit); or
	// ErrClosed if this side closed first and no answer came. The
	// connection is closed by then.
	Close func(c *Conn, err error)
}

// EventHandler returns an http.Handler that upgrades each request with u
// and hands the connection's messages to ev as they arrive. It serves what
// Handler serves with a function, but keeps no goroutine for a connection
// between its messages: on Linux, connections that wait for their peer sit
// in an epoll set that a single goroutine watches, and a goroutine is lent
// to a connection only while a message is read and handled. An idle
// connection then costs a few KiB of memory in all, which matters when
// there are tens of thousands of them.
//
// Elsewhere, and for connections without a file descriptor of their own
// (TLS ones among them), each connection keeps a goroutine that reads it,
// as Handler does; the callbacks behave the same either way.
//
// Between messages no read is under way, so a read deadline has nothing to
// end: to find peers that vanished, set Upgrader.PingInterval, whose timer
// closes the connection and so calls Close.
//
// A panic in a callback closes that connection with StatusInternalError
// and is logged, as with Handler; Close is still called.
func (u *Upgrader) EventHandler(ev Events) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		e := &eventLoop{events: &ev, logger: serverLog(r)}
		e.state.Store(evRunning)
		c.ev.Store(e)
		if ev.Open != nil && !e.call(c, func() { ev.Open(c) }) {
			// Open panicked and the connection is closed: serve only
			// reports that to Close.
			e.serve(c)
			return
		}
		if !c.watch(e) {
			// No poller for this connection: it keeps a reader. Over
			// HTTP/2 that is this handler's goroutine, since the stream
			// ends when the handler returns.
			if s := c.http2Conn(); s != nil {
				e.serve(c)
				<-s.done
				return
			}
			go e.serve(c)
			return
		}
		// Frames the client sent along with its handshake are already in
		// the read buffer, where the poller cannot see them: serve them
		// now, and let the poller take over from there.
		e.serve(c)
	})
}

// eventLoop is the state of a connection served by EventHandler.
type eventLoop struct {
	events *Events // the handler's, shared by its connections
	logger *log.Logger
	// state says whether a goroutine is serving the connection, so that a
	// wake-up while one is never starts a second one.
	state  atomic.Int32
	closed bool // Close was called; only the serving goroutine touches it
	// polled is set once the connection is in the poller's set; after that
	// it waits there between messages instead of in a read.
	polled bool
	fd     int32 // the connection's descriptor, the poller's key for it
	// hangup is set once the poller has reported more than bytes to read:
	// the peer's end of the stream, an error, or urgent data. Behind the
	// bytes of a read that came back short may then wait an end or an
	// error for which no event will come again, so every wait is
	// preceded by a read that finds the socket empty.
	hangup atomic.Bool
}

// The values of eventLoop.state.
const (
	evIdle    = iota // waiting in the poller; a wake-up starts a goroutine
	evRunning        // a goroutine is serving the connection
	evAgain          // as running, and woken meanwhile: look once more
)

// wake starts a goroutine to serve the connection, unless one is serving
// it already, in which case that one looks again before it stops.
func (e *eventLoop) wake(c *Conn) {
	for {
		switch s := e.state.Load(); s {
		case evIdle:
			if e.state.CompareAndSwap(evIdle, evRunning) {
				lend(c)
				return
			}
		default:
			if e.state.CompareAndSwap(s, evAgain) {
				return
			}
		}
	}
}

// serve delivers the messages waiting on the connection, then leaves the
// connection to the poller. Without a poller it reads until the
// connection ends.
func (e *eventLoop) serve(c *Conn) {
	// woken says that an event may have come since the last read, so the
	// socket must be read even if that read found it empty.
	woken := true
	for !e.closed {
		t, r, err := c.nextMessage(!e.polled, woken || e.hangup.Load())
		woken = false
		if err == errWouldBlock {
			// The socket is empty: wait in the poller. Bytes that arrive
			// from now on raise an event, and if it comes before the
			// state changes below it leaves the state at evAgain, so it
			// is not lost.
			if e.state.CompareAndSwap(evRunning, evIdle) {
				return
			}
			e.state.Store(evRunning)
			woken = true
			continue
		}
		if err != nil {
			e.closed = true
			c.Close()
			c.unwatch(e)
			if e.events.Close != nil {
				e.call(c, func() { e.events.Close(c, err) })
			}
			return
		}
		if e.events.Message != nil {
			e.call(c, func() { e.events.Message(c, t, r) })
		}
	}
}

// call runs an application callback, and reports false if it panicked, in
// which case the connection has been closed with StatusInternalError.
func (e *eventLoop) call(c *Conn, f func()) (ok bool) {
	defer recoverPanic(c, e.logger)
	f()
	return true
}

// Connections woken by the poller wait in a queue, oldest first, for a
// goroutine to serve them. A goroutine that has served one takes the next
// from the queue, so that under load a few goroutines go from connection
// to connection without waking or parking, and stay warm in the CPU's
// caches; a goroutine that finds the queue empty parks, and is kept for
// later rather than left to exit (a fresh one starts with a small stack
// that grows, by copying, as deep as a message's handling goes).
//
// A callback may block for as long as it likes, and the connections
// behind it in the queue must not wait for it. So the queue is never left
// without a goroutine that will look at it before it parks: one that
// takes a connection, and so is about to run its callbacks, first wakes
// another if the queue is not empty and nobody else is looking. Every
// connection therefore reaches a goroutine that is free, however many
// callbacks are blocked, as it would with a goroutine of its own.
var workers struct {
	mu      sync.Mutex
	queue   connQueue // connections waiting to be served
	looking int       // goroutines that will look at the queue before they park
	// free holds the parked goroutines; the one that parked last is woken
	// first, its stack the likeliest to be in the caches.
	free []*worker
}

// A worker is a parked goroutine, waiting to be told to look at the queue.
type worker struct{ wake chan struct{} }

// maxIdleWorkers bounds the goroutines kept parked. A busy server needs
// one for each callback that is blocked at the same time, and two more.
// A parked goroutine costs its stack, which the garbage collector shrinks
// while it waits.
const maxIdleWorkers = 1024

// idleWorkers returns how many goroutines are kept parked.
func idleWorkers() int {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	return len(workers.free)
}

// lend queues c to be served, and wakes a goroutine for it unless one is
// looking at the queue already.
func lend(c *Conn) {
	workers.mu.Lock()
	workers.queue.push(c)
	if workers.looking > 0 {
		workers.mu.Unlock()
		return
	}
	startLooking() // unlocks
}

// startLooking sets one more goroutine looking at the queue: a parked one
// if there is one, else a new one. It is called with workers.mu held, and
// unlocks it.
func startLooking() {
	workers.looking++
	n := len(workers.free)
	if n == 0 {
		workers.mu.Unlock()
		go work()
		return
	}
	w := workers.free[n-1]
	workers.free[n-1] = nil
	workers.free = workers.free[:n-1]
	workers.mu.Unlock()
	w.wake <- struct{}{} // never blocks: the channel holds one, and w waits for it
}

// work serves the connections of the queue, parking when it is empty. It
// starts counted among those looking.
func work() {
	var w *worker
	workers.mu.Lock()
	for {
		c := workers.queue.pop()
		workers.looking-- // it has looked: it parks, or serves c
		if c == nil {
			if len(workers.free) >= maxIdleWorkers {
				workers.mu.Unlock()
				return
			}
			if w == nil {
				w = &worker{wake: make(chan struct{}, 1)}
			}
			workers.free = append(workers.free, w)
			workers.mu.Unlock()
			<-w.wake // whoever woke w counted it among those looking
			workers.mu.Lock()
			continue
		}
		if workers.queue.len() > 0 && workers.looking == 0 {
			startLooking() // unlocks
		} else {
			workers.mu.Unlock()
		}
		c.ev.Load().serve(c)
		workers.mu.Lock()
		workers.looking++
	}
}

// connQueue is a first-in, first-out queue of connections. Its slice is
// reused from the front once emptied, or compacted when it is full with
// room freed at the front, so it grows only to the most connections ever
// waiting at once.
type connQueue struct {
	conns []*Conn
	head  int // conns[head:] are waiting
}

func (q *connQueue) len() int { return len(q.conns) - q.head }

func (q *connQueue) push(c *Conn) {
	if len(q.conns) == cap(q.conns) && q.head > 0 {
		n := copy(q.conns, q.conns[q.head:])
		clear(q.conns[n:])
		q.conns, q.head = q.conns[:n], 0
	}
	q.conns = append(q.conns, c)
}

// pop returns the oldest connection waiting, or nil if none is.
func (q *connQueue) pop() *Conn {
	if q.head == len(q.conns) {
		return nil
	}
	c := q.conns[q.head]
	q.conns[q.head] = nil
	q.head++
	if q.head == len(q.conns) {
		q.conns, q.head = q.conns[:0], 0
	}
	return c
}

// errWouldBlock is what the event loop's reads return when no message has
// begun and the stream has nothing more for now.
var errWouldBlock = errors.New("websocket: no message waiting")

// nextMessage is NextReader for the event loop. With wait false, it
// returns errWouldBlock rather than wait for a message to begin; control
// frames that arrive meanwhile are handled as usual. woken says that the
// poller may have reported bytes since the last read, which then no longer
// tells whether the socket is empty.
func (c *Conn) nextMessage(wait, woken bool) (MessageType, io.Reader, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if woken {
		c.in.drained = false
	}
	c.noWait = !wait
	err := c.startMessage()
	c.noWait = false
	if err != nil {
		return 0, nil, err
	}
	return MessageType(c.msgOp), &c.mr, nil
}
