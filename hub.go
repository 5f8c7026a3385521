package websocket

import (
	"errors"
	"sync"

	"github.com/rfc6455/websocket/internal/deflate"
)

// DefaultBacklogLimit is the backlog a Hub allows when its BacklogLimit is
// zero.
const DefaultBacklogLimit = 1 << 20

// ErrBacklogLimit is the reason a Hub gives Dropped for a connection that
// fell more than BacklogLimit bytes behind.
var ErrBacklogLimit = errors.New("websocket: hub backlog exceeds its limit: the connection reads too slowly")

// A Hub broadcasts messages to a set of server connections: the members of
// a chat room, the viewers of a live count. Broadcast encodes a message
// once and returns without waiting; a goroutine of the hub writes the
// message to each connection, in one write that does not wait for room in
// the socket (on Linux; elsewhere each connection's writes have a
// goroutine of their own), so a peer that reads slowly holds up nobody
// else. Messages
// broadcast while that goroutine is busy with earlier ones go out
// together, one write per connection for all of them: under load a hub
// makes fewer system calls per message, not more.
//
// A connection receives the messages broadcast after it was added, in the
// order they were broadcast. One whose socket is full gets a goroutine of
// its own that waits for room and catches up. When what waits for one
// connection would grow past BacklogLimit bytes, the hub drops it: takes it
// out and closes it with StatusPolicyViolation and the reason "too slow".
// (A single message longer than the limit may wait, alone.) A
// connection whose write fails leaves the hub too. Either way its reader
// sees the end as usual, and Dropped, if set, hears of it at once.
//
// The frames of a hub's messages and those written to a connection
// directly (WriteMessage, NextWriter, Ping) never interleave, but the hub
// does not order its messages with respect to the others.
//
// Members that negotiated permessage-deflate (see Compression) receive
// each message compressed, if that makes it shorter, compressed once for
// all of them: on its own, so that the same bytes follow any member's
// earlier messages, in the smallest window any of them compresses with.
// A member that keeps context adds the message to its sending window as
// it goes out, as its peer does.
//
// The zero Hub is ready to use. A Hub must not be copied after first use.
type Hub struct {
	// BacklogLimit caps the bytes that may wait for one slow connection;
	// zero means DefaultBacklogLimit. Bytes that wait for several are held
	// once, not once each. Broadcast waits while as many wait for the
	// hub's goroutine to take them.
	BacklogLimit int

	// Dropped, if set, is called when the hub takes a connection out on
	// its own: with ErrBacklogLimit when it fell too far behind (the hub
	// then closes it with StatusPolicyViolation), or with the error of a
	// write that failed, such as ErrClosed once the connection has
	// closed. It runs in a goroutine of its own, and may broadcast: a
	// chat room announces the departure from it at once, without waiting
	// for the connection's reader to see the end. Remove does not call
	// it.
	Dropped func(c *Conn, err error)

	// Bus, if set, shares the hub's broadcasts with the hubs of other
	// processes that use the same bus and Topic: each message broadcast
	// here is published, and each one published there reaches this hub's
	// members as if broadcast here (see Bus). The hub subscribes when its
	// first member is added, and keeps trying until it succeeds; Close
	// ends the subscription. Set both before the hub is first used.
	Bus   Bus
	Topic string

	mu      sync.Mutex
	members map[*Conn]*hubMember
	list    []*hubMember // the members, in the order they are written to
	// pending holds the frames broadcast since the writing goroutine last
	// took them, back to back; gen counts the takes.
	pending []byte
	gen     uint64
	writing bool         // a goroutine runs write
	taken   sync.Cond    // broadcast when that goroutine takes pending
	spare   []byte       // a batch buffer for pending to reuse
	run     func()       // h.write, bound once
	to      []*hubMember // the members write is writing to
	z       hubDeflate
	bus     hubBus
}

// hubDeflate is what a hub keeps for its members that compress: the
// messages of Hub.pending again, for them, each compressed if that made it
// shorter, and the payloads of those that were compressed, which join
// each member's sending window when they go out.
type hubDeflate struct {
	members     int // members that compress
	bits, level int // the window and level the messages are compressed with
	threshold   int // the smallest of the members' thresholds
	pending     []byte
	sent        [][]byte // payloads, in Hub.pending, of the messages compressed
	spare       []byte
	spareSent   [][]byte
	out         []byte // where a message is compressed first
}

// hubPiece is part of a batch that waits for a member, with the payloads
// to add to its sending window when it goes out.
type hubPiece struct {
	b    []byte
	sent [][]byte
}

// hubMember is a connection in a hub. The hub's goroutine writes to it
// until a write leaves something over; from then until the backlog is
// written, catchUp does, and the hub's goroutine only adds to the backlog.
type hubMember struct {
	c   *Conn
	pos int // in Hub.list; under Hub.mu
	// The member was added when pending held addedAt bytes of generation
	// addedGen, which are not for it; for a member that compresses,
	// Hub.z.pending held addedAt bytes and Hub.z.sent addedSent payloads.
	addedGen  uint64
	addedAt   int
	addedSent int
	deflate   bool // the member compresses: it gets Hub.z's messages

	mu       sync.Mutex
	gone     bool // out of the hub: nothing more is written
	catching bool // catchUp runs
	// backlog is what waits for catchUp: pieces of the hub's batches,
	// shared with the other members that wait for them, not copies, so
	// slow members together hold about one BacklogLimit of broadcasts
	// rather than one each. backlogLen is their length in all.
	backlog    []hubPiece
	backlogLen int
}

var errHubClient = errors.New("websocket: a hub sends to server connections only")

// Add puts c in the hub: it receives every message broadcast from now on.
// c must be a server connection, one that an Upgrader made. Adding a
// connection that is in the hub already does nothing. With a Bus, the
// first Add subscribes to it, and every Add waits for that first attempt;
// once it has succeeded, c also receives what other processes broadcast
// from then on.
func (h *Hub) Add(c *Conn) error {
	if c.client {
		return errHubClient
	}
	if err := h.join(c); err != nil {
		return err
	}
	h.subscribe()
	return nil
}

// join puts c in the hub's list of members.
func (h *Hub) join(c *Conn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.members == nil {
		h.members = make(map[*Conn]*hubMember)
	}
	if h.members[c] != nil {
		return nil
	}
	m := &hubMember{c: c, pos: len(h.list), addedGen: h.gen, addedAt: len(h.pending)}
	if c.z != nil {
		h.z.join(c.z)
		m.deflate = true
		m.addedAt, m.addedSent = len(h.z.pending), len(h.z.sent)
	}
	h.members[c] = m
	h.list = append(h.list, m)
	return nil
}

// Remove takes c out of the hub. Messages waiting for c are dropped,
// though a write already under way may finish.
func (h *Hub) Remove(c *Conn) {
	h.mu.Lock()
	m := h.members[c]
	h.mu.Unlock()
	if m != nil {
		h.forget(m)
	}
}

// Len returns the number of connections in the hub.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.list)
}

// Broadcast sends a message of type t with payload p to every connection
// in the hub. It copies p and returns without waiting for the writes,
// unless BacklogLimit bytes already wait for the hub's goroutine, in which
// case it waits until they are taken. With a Bus, it then publishes the
// message, and returns the error if that fails: the hub's own members get
// the message all the same. Broadcasts then go one at a time, so that
// every member of every hub gets those of one hub in the same order.
// Otherwise the only error is an invalid type.
func (h *Hub) Broadcast(t MessageType, p []byte) error {
	op, err := t.opcode()
	if err != nil {
		return err
	}
	if h.Bus == nil {
		h.deliverLocal(op, p)
		return nil
	}
	// One broadcast at a time, so that the order in which the hub's own
	// members get them is the order in which they are published.
	h.bus.pub.Lock()
	defer h.bus.pub.Unlock()
	h.deliverLocal(op, p)
	return h.publish(t, p)
}

// deliverLocal queues a message for the hub's members.
func (h *Hub) deliverLocal(op opcode, p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.taken.L == nil {
		h.taken.L = &h.mu
	}
	for h.writing && len(h.pending) >= h.limit() {
		h.taken.Wait()
	}
	if len(h.list) == 0 {
		return
	}
	h.pending = appendMessage(h.pending, op, p, nil)
	if h.z.members > 0 {
		h.z.add(op, p, h.pending[len(h.pending)-len(p):])
	}
	if !h.writing {
		h.writing = true
		if h.run == nil {
			h.run = h.write
		}
		go h.run()
	}
}

func (h *Hub) limit() int {
	if h.BacklogLimit > 0 {
		return h.BacklogLimit
	}
	return DefaultBacklogLimit
}

// keptBatch is the largest batch buffer write keeps for the next one.
const keptBatch = 64 << 10

// write takes what was broadcast and writes it to every member, until
// nothing more was. One goroutine at a time runs it.
func (h *Hub) write() {
	var batch []byte
	for {
		h.mu.Lock()
		h.recycle(batch)
		if len(h.pending) == 0 {
			h.writing = false
			h.mu.Unlock()
			return
		}
		batch, h.pending, h.spare = h.pending, h.spare, nil
		zbatch, zsent := h.z.take()
		gen := h.gen
		h.gen++
		h.to = append(h.to[:0], h.list...)
		h.taken.Broadcast()
		h.mu.Unlock()

		kept := false
		for _, m := range h.to {
			b, sent := batch, [][]byte(nil)
			if m.deflate {
				b, sent = zbatch, zsent
			}
			if m.addedGen == gen {
				b = b[m.addedAt:]
				if m.deflate {
					sent = sent[m.addedSent:]
				}
			}
			if len(b) > 0 && h.deliver(m, b, sent) {
				kept = true
			}
		}
		clear(h.to)
		if kept {
			// A backlog holds on to them: not for reuse.
			batch, zbatch, zsent = nil, nil, nil
		}
		h.mu.Lock()
		h.z.recycle(zbatch, zsent)
		h.mu.Unlock()
	}
}

// recycle keeps b, a batch that has been written, for Broadcast to fill
// again, unless it grew large. Call with mu held.
func (h *Hub) recycle(b []byte) {
	switch {
	case cap(b) == 0 || cap(b) > keptBatch:
	case cap(h.pending) == 0:
		h.pending = b[:0]
	default:
		h.spare = b[:0]
	}
}

// deliver writes b to m as far as the socket takes it at once, and leaves
// the rest to catchUp. sent are the payloads of the compressed messages of
// b, for m's sending window. It reports whether m's backlog keeps part of
// b or of sent.
func (h *Hub) deliver(m *hubMember, b []byte, sent [][]byte) (kept bool) {
	m.mu.Lock()
	switch {
	case m.gone:
		m.mu.Unlock()
		return false
	case m.catching:
		over := m.backlogLen > 0 && m.backlogLen+len(b) > h.limit()
		if !over {
			m.backlog = append(m.backlog, hubPiece{b, sent})
			m.backlogLen += len(b)
		}
		m.mu.Unlock()
		if over {
			h.drop(m, ErrBacklogLimit)
			go m.c.CloseWithStatus(StatusPolicyViolation, "too slow")
		}
		return !over
	}
	m.mu.Unlock()

	// A connection busy with a message or a frame of its own is left to
	// catchUp, like one whose socket is full: waiting for it would hold up
	// the rest. The message lock too, since between the frames of a
	// message no other message may go (§5.4).
	c := m.c
	n, err := 0, error(nil)
	locked := c.ctrlWaiting.Load() == 0 && c.lockMessageNow()
	if locked {
		if err = c.writable(); err == nil {
			n, err = c.out.writeNow(c.in, b)
			err = c.wrote(err)
		}
		if n > 0 {
			// The messages are on their way, ahead of anything else.
			c.z.joinWindow(sent)
			sent = nil
		}
	}
	// Once part of a frame is out, no other frame may go before the rest:
	// the locks stay locked, and catchUp unlocks them.
	held := locked && err == nil && n > 0 && n < len(b)
	if locked && !held {
		c.unlockMessage()
	}
	switch {
	case err != nil:
		h.drop(m, err)
	case n < len(b):
		m.mu.Lock()
		m.catching = true
		m.backlog = append(m.backlog, hubPiece{b[n:], sent})
		m.backlogLen += len(b) - n
		m.mu.Unlock()
		go h.catchUp(m, held)
		return true
	}
	return false
}

// catchUp writes m's backlog, waiting for room as long as it takes, until
// the backlog is empty or m has left the hub. held says that msgMu and
// frameMu are locked already, by a write that sent part of a frame.
func (h *Hub) catchUp(m *hubMember, held bool) {
	c := m.c
	var backlog []hubPiece
	var pieces [][]byte
	for {
		m.mu.Lock()
		clear(backlog)
		backlog, m.backlog = m.backlog, backlog[:0]
		m.backlogLen = 0
		clear(pieces)
		pieces = pieces[:0]
		for _, p := range backlog {
			pieces = append(pieces, p.b)
		}
		if len(pieces) == 0 || m.gone && !held {
			m.catching = false
			m.backlog = nil
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
		if !held {
			c.msgMu.Lock()
			c.lockForData()
		}
		err := c.writable()
		if err == nil {
			for _, p := range backlog {
				c.z.joinWindow(p.sent)
			}
			err = c.wrote(c.sendPieces(pieces))
		}
		c.unlockMessage()
		held = false
		if err != nil {
			h.drop(m, err)
		}
	}
}

// gatherSize bounds the pieces of a backlog that sendPieces copies
// together into one write.
const gatherSize = 64 << 10

// sendPieces writes pieces in order. Runs of small ones are copied
// together through a pooled buffer, so a backlog of many small messages
// takes few writes, while each member holds only its references to the
// hub's batches. Call with frameMu held.
func (c *Conn) sendPieces(pieces [][]byte) error {
	var buf *[]byte
	defer func() {
		if buf != nil {
			putBuffer(buf)
		}
	}()
	for len(pieces) > 0 {
		if len(pieces) == 1 || len(pieces[0])+len(pieces[1]) > gatherSize {
			if err := c.send(pieces[0]); err != nil {
				return err
			}
			pieces = pieces[1:]
			continue
		}
		if buf == nil {
			buf = getBuffer(gatherSize)
		}
		b := (*buf)[:0]
		for len(pieces) > 0 && len(b)+len(pieces[0]) <= gatherSize {
			b = append(b, pieces[0]...)
			pieces = pieces[1:]
		}
		if err := c.send(b); err != nil {
			return err
		}
	}
	return nil
}

// lockMessageNow takes msgMu and frameMu for a message of the hub's, if
// neither is taken, and reports whether it did.
func (c *Conn) lockMessageNow() bool {
	if !c.msgMu.TryLock() {
		return false
	}
	if !c.frameMu.TryLock() {
		c.msgMu.Unlock()
		return false
	}
	return true
}

// unlockMessage lets go of what lockMessageNow, or a write of the hub's
// catchUp, took.
func (c *Conn) unlockMessage() {
	c.frameMu.Unlock()
	c.msgMu.Unlock()
}

// join counts a member that compresses with z in: the hub's messages are
// compressed from now on in a window it can take.
func (z *hubDeflate) join(d *deflateConn) {
	if z.members == 0 && z.bits == 0 {
		z.bits, z.level, z.threshold = d.sendBits, d.level, d.threshold
	}
	z.bits = min(z.bits, d.sendBits)
	z.threshold = min(z.threshold, d.threshold)
	z.members++
}

// add appends the message with payload p to z.pending: compressed, if
// that makes it shorter, and its copy in Hub.pending, kept, is then among
// z.sent. A message below the threshold goes as it is, and so does one
// that takes more than a frame, whose copy is not in one piece.
func (z *hubDeflate) add(op opcode, p, kept []byte) {
	if len(p) <= maxFrameSize && len(p) >= z.threshold {
		e := getEncoder()
		e.Reset(nil, z.bits, z.level, len(p))
		out := z.out[:0]
		for q := p; len(q) > 0; {
			n := min(len(q), deflate.MaxWrite)
			out = e.Write(out, q[:n])
			q = q[n:]
		}
		out = e.Close(out)
		putEncoder(e)
		z.out = out
		if len(out) < len(p) {
			z.pending = appendMessage(z.pending, op|opCompressed, out, nil)
			z.sent = append(z.sent, kept)
			return
		}
	}
	z.pending = appendMessage(z.pending, op, p, nil)
}

// take hands over what waits, for the hub's goroutine to write.
func (z *hubDeflate) take() ([]byte, [][]byte) {
	b, sent := z.pending, z.sent
	z.pending, z.sent = z.spare, z.spareSent
	z.spare, z.spareSent = nil, nil
	return b, sent
}

// recycle keeps what take handed over, once written, for reuse, unless it
// grew large or is kept elsewhere (nil).
func (z *hubDeflate) recycle(b []byte, sent [][]byte) {
	if b != nil && cap(b) <= keptBatch {
		z.spare = b[:0]
	}
	if sent != nil {
		clear(sent)
		z.spareSent = sent[:0]
	}
}

// joinWindow adds the payloads of messages sent compressed to the sending
// window, under context takeover. Call with msgMu held, as the messages
// go out, before anything else does.
func (d *deflateConn) joinWindow(sent [][]byte) {
	if d == nil || !d.sendTakeover {
		return
	}
	for _, p := range sent {
		d.send.Write(p)
	}
}

// drop takes m out of the hub for err, and tells Dropped.
func (h *Hub) drop(m *hubMember, err error) {
	if h.forget(m) && h.Dropped != nil {
		go h.Dropped(m.c, err)
	}
}

// forget takes m out of the hub, and reports whether it was in.
func (h *Hub) forget(m *hubMember) bool {
	h.mu.Lock()
	in := h.members[m.c] == m
	if in {
		if m.deflate {
			h.z.members--
		}
		delete(h.members, m.c)
		last := h.list[len(h.list)-1]
		h.list[m.pos], last.pos = last, m.pos
		h.list[len(h.list)-1] = nil
		h.list = h.list[:len(h.list)-1]
	}
	h.mu.Unlock()
	m.mu.Lock()
	m.gone = true
	m.mu.Unlock()
	return in
}
