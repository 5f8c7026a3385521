package websocket

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---- Helpers of this file ----

// hubTestServe serves connections that join h and read until they end.
// Each server-side Conn is sent on the returned channel once it is in h.
func hubTestServe(t *testing.T, h *Hub) (string, <-chan *Conn) {
	t.Helper()
	joined := make(chan *Conn, 16)
	url := startServer(t, nil, func(c *Conn) {
		if err := h.Add(c); err != nil {
			t.Error(err)
			return
		}
		joined <- c
		defer h.Remove(c)
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	return url, joined
}

// hubTestMessage is message i of a test's broadcasts: its number, then
// more bytes for some numbers than for others, up to two frames' worth.
func hubTestMessage(i int) (MessageType, []byte) {
	size := []int{0, 10, 125, 126, 1000, 65535, 65536, 70000}[i%8]
	if i == 13 {
		size = maxFrameSize + 1000
	}
	p := fmt.Appendf(nil, "%06d:", i)
	if i%2 == 0 {
		return BinaryMessage, append(p, frameTestPayload(size)...)
	}
	return TextMessage, append(p, strings.Repeat("é", size/2)...)
}

// hubTestCheck checks that a message received is message i.
func hubTestCheck(t *testing.T, who string, i int, gotType MessageType, got []byte) {
	t.Helper()
	wantType, want := hubTestMessage(i)
	if gotType != wantType || !bytes.Equal(got, want) {
		t.Fatalf("%s: message %d is a %v of %d bytes starting %q, want a %v of %d bytes", who, i, gotType, len(got), got[:min(len(got), 7)], wantType, len(want))
	}
}

// hubTestBroadcast broadcasts message i.
func hubTestBroadcast(t *testing.T, h *Hub, i int) {
	t.Helper()
	if err := h.Broadcast(hubTestMessage(i)); err != nil {
		t.Fatal(err)
	}
}

// hubTestIdle waits until the hub's goroutine has written everything
// broadcast so far, to the sockets or to the backlogs.
func hubTestIdle(t *testing.T, h *Hub) {
	t.Helper()
	eventsUntil(t, "the hub's goroutine to finish", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return !h.writing
	})
}

// hubTestDelivered waits until everything broadcast so far has been
// written to the sockets: the hub's goroutine is done, and no member
// catches up. (Without raw I/O, as under the race detector, every
// delivery goes through a member's catch-up goroutine.)
func hubTestDelivered(t *testing.T, h *Hub) {
	t.Helper()
	hubTestIdle(t, h)
	eventsUntil(t, "the members to catch up", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, m := range h.list {
			m.mu.Lock()
			catching := m.catching
			m.mu.Unlock()
			if catching {
				return false
			}
		}
		return true
	})
}

// ---- Tests ----

// Every member receives every message, whole and in order, from messages
// that fit one small frame to one that takes two frames.
func TestHubBroadcastsInOrder(t *testing.T) {
	// The members are read one after the other: the others wait meanwhile.
	h := Hub{BacklogLimit: 64 << 20}
	url, joined := hubTestServe(t, &h)
	const members, messages = 3, 40
	clients := make([]*Conn, members)
	for i := range clients {
		clients[i] = connTestDial(t, url, nil)
		connTestWait(t, joined, "the member to join")
	}
	for i := 0; i < messages; i++ {
		hubTestBroadcast(t, &h, i)
	}
	for k, c := range clients {
		c.SetReadDeadline(time.Now().Add(testTimeout))
		for i := 0; i < messages; i++ {
			typ, p, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("member %d, message %d: %v", k, i, err)
			}
			hubTestCheck(t, fmt.Sprintf("member %d", k), i, typ, p)
		}
	}
}

// A connection gets what is broadcast after it joins, not what was
// broadcast before and still waits to be written.
func TestHubMemberGetsMessagesFromItsJoin(t *testing.T) {
	var h Hub
	url, joined := hubTestServe(t, &h)
	first := connTestDial(t, url, nil)
	connTestWait(t, joined, "the first member to join")

	// Keep the hub's goroutine from starting, so that message 0 is still
	// pending when the second member joins.
	h.mu.Lock()
	h.writing = true
	h.mu.Unlock()
	hubTestBroadcast(t, &h, 0)
	second := connTestDial(t, url, nil)
	connTestWait(t, joined, "the second member to join")
	hubTestBroadcast(t, &h, 1)
	h.mu.Lock()
	go h.write()
	h.mu.Unlock()
	hubTestBroadcast(t, &h, 2)

	for _, m := range []struct {
		c    *Conn
		who  string
		from int
	}{
		{first, "first member", 0},
		{second, "second member", 1},
	} {
		m.c.SetReadDeadline(time.Now().Add(testTimeout))
		for i := m.from; i <= 2; i++ {
			typ, p, err := m.c.ReadMessage()
			if err != nil {
				t.Fatalf("%s, message %d: %v", m.who, i, err)
			}
			hubTestCheck(t, m.who, i, typ, p)
		}
	}
}

// A member that does not read holds up nobody: the others receive every
// message, and once more than BacklogLimit waits for it the hub closes it
// with 1008, after the messages it had whole.
func TestHubDropsMemberThatFallsBehind(t *testing.T) {
	type drop struct {
		c   *Conn
		err error
	}
	drops := make(chan drop, 2)
	h := Hub{
		BacklogLimit: 256 << 10,
		Dropped:      func(c *Conn, err error) { drops <- drop{c, err} },
	}
	url, joined := hubTestServe(t, &h)
	stuck := dialRaw(t, url)
	connTestShrinkReadBuffer(stuck)
	stuckConn := connTestWait(t, joined, "the stuck member to join")
	connTestShrinkBuffers(stuckConn)
	reader := connTestDial(t, url, nil)
	connTestWait(t, joined, "the reading member to join")

	// The reader reads all along, and broadcasting, which goes on until
	// the stuck member is out, stays at most ahead messages ahead of it.
	// Messages are 1000 bytes and numbered from 0.
	const ahead = 64
	msg := func(i int) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(i)), make([]byte, 996)...)
	}
	credit := make(chan struct{}, ahead)
	got := make(chan int, 1)
	go func() {
		n := 0
		reader.SetReadDeadline(time.Now().Add(testTimeout))
		for {
			_, p, err := reader.ReadMessage()
			if err != nil || !bytes.Equal(p, msg(n)) {
				got <- n
				return
			}
			n++
			<-credit
		}
	}()
	sent := 0
	deadline := time.After(testTimeout)
	for h.Len() == 2 {
		select {
		case credit <- struct{}{}:
		case <-deadline:
			t.Fatalf("after %d messages the member that does not read is still in the hub", sent)
		}
		if err := h.Broadcast(BinaryMessage, msg(sent)); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	if sent*1000 < h.BacklogLimit {
		t.Fatalf("dropped after %d bytes, fewer than the limit of %d", sent*1000, h.BacklogLimit)
	}
	// Dropped hears of it, once.
	if d := connTestWait(t, drops, "Dropped"); d.c != stuckConn || d.err != ErrBacklogLimit {
		t.Fatalf("Dropped(%p, %v), want the stuck member's Conn %p and ErrBacklogLimit", d.c, d.err, stuckConn)
	}
	// The reader has every message once the credit is full again.
	for range ahead {
		select {
		case credit <- struct{}{}:
		case n := <-got:
			t.Fatalf("the reading member got %d whole messages in order, then an error or another message; want %d", n, sent)
		case <-deadline:
			t.Fatal("the reading member did not get every message")
		}
	}
	reader.CloseWithStatus(StatusNormalClosure, "")
	if n := connTestWait(t, got, "the reader to finish"); n != sent {
		t.Fatalf("the reading member got %d whole messages in order, want %d", n, sent)
	}
	select {
	case d := <-drops:
		t.Fatalf("Dropped called again, for %p: %v", d.c, d.err)
	default:
	}

	// The stuck member now reads: a run of messages in order from 0, then
	// the close.
	for i := 0; ; i++ {
		f, err := stuck.readFrame()
		if err != nil {
			t.Fatalf("the dropped member, after %d messages: %v", i, err)
		}
		if f.op == 0x8 {
			if code := StatusCode(binary.BigEndian.Uint16(f.payload)); code != StatusPolicyViolation || string(f.payload[2:]) != "too slow" {
				t.Fatalf("closed with %d %q, want 1008 \"too slow\"", code, f.payload[2:])
			}
			if i == 0 || i >= sent {
				t.Fatalf("the dropped member got %d messages of %d; want some, not all", i, sent)
			}
			break
		}
		if f.op != 0x2 || !f.fin || !bytes.Equal(f.payload, msg(i)) {
			t.Fatalf("the dropped member's frame %d: op %#x fin %v, %d bytes, not message %d", i, f.op, f.fin, len(f.payload), i)
		}
	}
}

// hubTestGate is a transport whose first Write waits until open is
// closed; it records what is written and counts the calls.
type hubTestGate struct {
	open   chan struct{}
	closed chan struct{}
	once   sync.Once
	mu     sync.Mutex
	writes int
	out    bytes.Buffer
}

func (g *hubTestGate) Read(p []byte) (int, error) {
	<-g.closed
	return 0, io.EOF
}

func (g *hubTestGate) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes++
	return g.out.Write(p)
}

func (g *hubTestGate) Close() error {
	g.once.Do(func() { close(g.closed) })
	return nil
}
func (g *hubTestGate) SetReadDeadline(time.Time) error  { return nil }
func (g *hubTestGate) SetWriteDeadline(time.Time) error { return nil }

// Messages that wait for a busy connection go out together, in one write,
// and the busy connection holds up nobody else.
func TestHubCoalescesWhatWaits(t *testing.T) {
	var h Hub
	url, joined := hubTestServe(t, &h)
	reader := connTestDial(t, url, nil)
	connTestWait(t, joined, "the reading member to join")
	gate := &hubTestGate{open: make(chan struct{}), closed: make(chan struct{})}
	busy := newConn(gate, nil, false, "", config{})
	t.Cleanup(busy.closeTransport)
	if err := h.Add(busy); err != nil {
		t.Fatal(err)
	}

	// Each message is written by the hub before the next is broadcast, so
	// each waits for the busy member as a piece of its own.
	const messages = 50
	wire := []byte(nil)
	for i := 0; i < messages; i++ {
		p := []byte(fmt.Sprintf("message %d", i))
		wire = appendMessage(wire, opText, p, nil)
		if err := h.Broadcast(TextMessage, p); err != nil {
			t.Fatal(err)
		}
		hubTestIdle(t, &h)
	}
	reader.SetReadDeadline(time.Now().Add(testTimeout))
	for i := 0; i < messages; i++ {
		_, p, err := reader.ReadMessage()
		if err != nil || string(p) != fmt.Sprintf("message %d", i) {
			t.Fatalf("the reading member's message %d: %q, %v", i, p, err)
		}
	}
	// The first write to the busy connection is stuck in the gate; the
	// other 49 messages wait in its backlog.
	close(gate.open)
	eventsUntil(t, "the busy member catches up", func() bool {
		gate.mu.Lock()
		defer gate.mu.Unlock()
		return gate.out.Len() == len(wire)
	})
	gate.mu.Lock()
	defer gate.mu.Unlock()
	if !bytes.Equal(gate.out.Bytes(), wire) {
		t.Fatalf("the busy member got other bytes than the %d messages in order", messages)
	}
	if gate.writes > 2 {
		t.Fatalf("%d messages went out in %d writes: the ones that waited were not written together", messages, gate.writes)
	}
}

// A hub sends server frames as they are; a client's must be masked.
func TestHubRefusesClientConn(t *testing.T) {
	url := startServer(t, nil, echoMessages)
	c := connTestDial(t, url, nil)
	var h Hub
	if err := h.Add(c); err == nil {
		t.Fatal("Add took a client connection")
	}
	if h.Len() != 0 {
		t.Fatalf("Len is %d after a refused Add", h.Len())
	}
}

// Broadcasting an invalid type is an error, and sends nothing.
func TestHubBroadcastInvalidType(t *testing.T) {
	var h Hub
	if err := h.Broadcast(MessageType(9), []byte("x")); err == nil {
		t.Fatal("Broadcast took message type 9")
	}
}

// After Remove, a member receives nothing more.
func TestHubRemove(t *testing.T) {
	h := Hub{Dropped: func(c *Conn, err error) { t.Errorf("Remove called Dropped(%p, %v)", c, err) }}
	url, joined := hubTestServe(t, &h)
	rc := dialRaw(t, url)
	sc := connTestWait(t, joined, "the member to join")
	hubTestBroadcast(t, &h, 1)
	if f := connTestReadData(rc); !bytes.HasPrefix(f.payload, []byte("000001:")) {
		t.Fatalf("got %d bytes before Remove, not message 1", len(f.payload))
	}
	h.Remove(sc)
	if h.Len() != 0 {
		t.Fatalf("Len is %d after Remove", h.Len())
	}
	hubTestBroadcast(t, &h, 3)
	if err := sc.WriteMessage(TextMessage, []byte("direct")); err != nil {
		t.Fatal(err)
	}
	if f := connTestReadData(rc); string(f.payload) != "direct" {
		t.Fatalf("after Remove the member got %d bytes, not the direct message", len(f.payload))
	}
}

// A member whose write fails leaves the hub, and Dropped hears why; the
// others go on receiving.
func TestHubDroppedWhenWriteFails(t *testing.T) {
	type drop struct {
		c   *Conn
		err error
	}
	drops := make(chan drop, 1)
	h := Hub{Dropped: func(c *Conn, err error) { drops <- drop{c, err} }}
	// The handlers do not read, so that nothing but the hub's write finds
	// the closed connection, and they leave their members in the hub.
	joined := make(chan *Conn, 2)
	done := make(chan struct{})
	defer close(done)
	url := startServer(t, nil, func(c *Conn) {
		h.Add(c)
		joined <- c
		<-done
	})
	dialRaw(t, url)
	gone := connTestWait(t, joined, "the first member to join")
	rc := dialRaw(t, url)
	connTestWait(t, joined, "the second member to join")

	gone.closeTransport()
	hubTestBroadcast(t, &h, 1)
	if d := connTestWait(t, drops, "Dropped"); d.c != gone || d.err == nil {
		t.Fatalf("Dropped(%p, %v), want the closed member %p and its write's error", d.c, d.err, gone)
	}
	if h.Len() != 1 {
		t.Fatalf("Len is %d after a member's write failed, want 1", h.Len())
	}
	if f := connTestReadData(rc); !bytes.HasPrefix(f.payload, []byte("000001:")) {
		t.Fatalf("the other member got %d bytes, not message 1", len(f.payload))
	}
}

// hubTestLoaded returns a hub of n members over loopback TCP, and a
// function that broadcasts 64 bytes to them and returns once every
// member's peer has the message.
func hubTestLoaded(t testing.TB, n int) (*Hub, func()) {
	t.Helper()
	payload := make([]byte, 64)
	frameLen := len(appendMessage(nil, opBinary, payload, nil))
	var got sync.WaitGroup
	h := new(Hub)
	for range n {
		c, peer := tcpTestPair(t)
		if err := h.Add(c); err != nil {
			t.Fatal(err)
		}
		go func() {
			buf := make([]byte, 64<<10)
			total := 0
			for {
				k, err := peer.Read(buf)
				if err != nil {
					return
				}
				for total += k; total >= frameLen; total -= frameLen {
					got.Done()
				}
			}
		}()
	}
	return h, func() {
		got.Add(n)
		h.Broadcast(BinaryMessage, payload)
		got.Wait()
	}
}

// Broadcasting allocates nothing once the hub has its buffers.
func TestHubBroadcastAllocs(t *testing.T) {
	if connTestRaceEnabled() {
		t.Skip("allocation counts are not exact under the race detector")
	}
	const members = 8
	_, send := hubTestLoaded(t, members)
	send()
	if n := testing.AllocsPerRun(100, send); n != 0 {
		t.Fatalf("%v allocations per broadcast to %d members, want 0", n, members)
	}
}

// BenchmarkHubBroadcast broadcasts 64 bytes to 64 members over loopback
// TCP, one message at a time: the cost per delivery.
func BenchmarkHubBroadcast(b *testing.B) {
	const members = 64
	_, send := hubTestLoaded(b, members)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		send()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*members), "ns/delivery")
}

// Broadcasts from several goroutines while members join and leave: a
// member there all along gets every message, each publisher's in the order
// it sent them; one that joins and leaves midway gets, of each publisher,
// a run without gaps.
func TestHubConcurrentUse(t *testing.T) {
	const publishers, perPublisher, members, churners = 4, 300, 4, 8
	h := Hub{BacklogLimit: 64 << 20}
	url, joined := hubTestServe(t, &h)

	// read checks what c receives: each publisher's numbers run on without
	// a gap. A member stops once it has every message; a churner reads
	// until the server closes it.
	read := func(c *Conn, who string, member bool, done chan<- error) {
		next := map[int]int{}
		complete := 0
		c.SetReadDeadline(time.Now().Add(testTimeout))
		for !member || complete < publishers {
			_, p, err := c.ReadMessage()
			if err != nil {
				if member {
					err = fmt.Errorf("%s, with %v of %d from each publisher: %w", who, next, perPublisher, err)
				} else if _, ok := err.(*CloseError); ok {
					err = nil
				}
				done <- err
				return
			}
			var pub, seq int
			if _, err := fmt.Sscanf(string(p), "%d %d", &pub, &seq); err != nil {
				done <- fmt.Errorf("%s got %q", who, p)
				return
			}
			if n, ok := next[pub]; (ok || member) && seq != n {
				done <- fmt.Errorf("%s got message %d of publisher %d after %d", who, seq, pub, n-1)
				return
			}
			next[pub] = seq + 1
			if seq+1 == perPublisher {
				complete++
			}
		}
		done <- nil
	}
	done := make(chan error, members+churners)
	for i := range members {
		c := connTestDial(t, url, nil)
		connTestWait(t, joined, "a member to join")
		go read(c, fmt.Sprintf("member %d", i), true, done)
	}

	var wg sync.WaitGroup
	for pub := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range perPublisher {
				h.Broadcast(TextMessage, fmt.Appendf(nil, "%d %d", pub, seq))
			}
		}()
	}
	for i := range churners {
		c := connTestDial(t, url, nil)
		sc := connTestWait(t, joined, "a churner to join")
		go read(c, fmt.Sprintf("churner %d", i), false, done)
		h.Remove(sc)
		sc.CloseWithStatus(StatusGoingAway, "")
	}
	wg.Wait()
	for range members + churners {
		if err := connTestWait(t, done, "a reader to finish"); err != nil {
			t.Error(err)
		}
	}
}

// Members that stop reading share what waits for them: the heap holds the
// broadcasts once, not once for each.
func TestHubSlowMembersShareBacklog(t *testing.T) {
	const members, messages, size = 20, 200, 4000
	var h Hub
	url, joined := hubTestServe(t, &h)
	for range members {
		rc := dialRaw(t, url)
		connTestShrinkReadBuffer(rc)
		connTestShrinkBuffers(connTestWait(t, joined, "a member to join"))
	}
	var before, after runtime.MemStats
	connTestSettledMemStats(&before)
	p := make([]byte, size)
	for range messages {
		if err := h.Broadcast(BinaryMessage, p); err != nil {
			t.Fatal(err)
		}
	}
	hubTestIdle(t, &h)
	connTestSettledMemStats(&after)
	if h.Len() != members {
		t.Fatalf("%d members left, want all %d: the test's broadcasts must stay under the backlog limit", h.Len(), members)
	}
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	once := int64(messages * size)
	if grew > 3*once {
		t.Fatalf("the heap grew by %d KiB for %d KiB broadcast to %d members that do not read: the backlogs are copies", grew>>10, once>>10, members)
	}
	t.Logf("heap grew by %d KiB for %d KiB broadcast to %d stuck members", grew>>10, once>>10, members)
}

// F10 (§5.4): a broadcast that comes while a member is in the middle of a
// message of its own, between the frames a NextWriter has sent, waits for
// that message to end: the frames of two messages never interleave.
func TestHubWaitsForMessageInProgress(t *testing.T) {
	var h Hub
	wrote := make(chan struct{})
	finish := make(chan struct{})
	url := startServer(t, nil, func(c *Conn) {
		h.Add(c)
		defer h.Remove(c)
		w, err := c.NextWriter(BinaryMessage)
		if err != nil {
			return
		}
		w.Write(make([]byte, maxFrameSize+1)) // a frame goes out, a byte waits
		close(wrote)
		<-finish
		w.Close()
		c.ReadMessage()
	})
	rc := dialRaw(t, url)
	if f, err := rc.readFrame(); err != nil || f.op != 0x2 || f.fin || len(f.payload) != maxFrameSize {
		t.Fatalf("first frame: %v, want the message's first %d bytes", err, maxFrameSize)
	}
	connTestWait(t, wrote, "the handler's first frame")
	if err := h.Broadcast(TextMessage, []byte("broadcast")); err != nil {
		t.Fatal(err)
	}
	hubTestIdle(t, &h)
	close(finish)
	want := []struct {
		op  byte
		fin bool
		n   int
	}{{0x0, true, 1}, {0x1, true, len("broadcast")}}
	for i, w := range want {
		f, err := rc.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.op != w.op || f.fin != w.fin || len(f.payload) != w.n {
			t.Fatalf("frame %d: opcode %#x, FIN %v, %d bytes; want opcode %#x, FIN %v, %d bytes", i+2, f.op, f.fin, len(f.payload), w.op, w.fin, w.n)
		}
	}
}

// D18, D12: a hub compresses each message once for all its members that
// compress, in the smallest window among them, and each member that keeps
// context adds it to its sending window: a message the connection sends
// afterwards, which may refer back to the broadcasts, inflates at the
// peer. Members that do not compress get the messages as they are.
func TestHubCompressesOnce(t *testing.T) {
	var h Hub
	conns := make(chan *Conn, 8)
	u := &Upgrader{Compression: &Compression{WindowBits: 12}, CloseTimeout: time.Second}
	url := startServer(t, u, func(c *Conn) {
		h.Add(c)
		defer h.Remove(c)
		conns <- c
		c.ReadMessage()
	})
	type member struct {
		offer  string
		peer   *zTestPeer
		window int
		rc     *rawClient
		c      *Conn
	}
	const base = "permessage-deflate; client_max_window_bits"
	members := []*member{
		{offer: base, window: 1 << 12},
		{offer: base + "; server_no_context_takeover", window: 1 << 12},
		{offer: base + "; server_max_window_bits=9", window: 1 << 9},
		{offer: ""},
	}
	for _, m := range members {
		var extra []string
		if m.offer != "" {
			extra = append(extra, "Sec-WebSocket-Extensions: "+m.offer)
		}
		m.rc = dialRaw(t, url, extra...)
		m.c = connTestWait(t, conns, "the member")
		m.peer = newZTestPeer(false, !strings.Contains(m.offer, "server_no"), max(m.window, 1))
	}
	// A message of each connection's own first, that the one after the
	// broadcasts refers back to, across them.
	own := zTestEvents(7)[6]
	for i, m := range members {
		if err := m.c.WriteMessage(BinaryMessage, own); err != nil {
			t.Fatal(err)
		}
		if _, _, _, got := m.peer.readMessage(t, m.rc); !bytes.Equal(got, own) {
			t.Fatalf("member %d: the first message differs", i)
		}
	}
	rng := rand.New(rand.NewPCG(18, 18))
	noise := make([]byte, 500)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	msgs := append(zTestEvents(6), []byte("short"), noise)
	for _, p := range msgs {
		if err := h.Broadcast(BinaryMessage, p); err != nil {
			t.Fatal(err)
		}
	}
	hubTestDelivered(t, &h)
	wires := make([][][]byte, len(members))
	for i, m := range members {
		if err := m.c.WriteMessage(BinaryMessage, own); err != nil {
			t.Fatal(err)
		}
		for j, p := range append(msgs, own) {
			_, compressed, wire, got := m.peer.readMessage(t, m.rc)
			if !bytes.Equal(got, p) {
				t.Fatalf("member %d, message %d: differs", i, j)
			}
			wantCompressed := m.offer != "" && len(p) >= DefaultCompressionThreshold && !bytes.Equal(p, noise)
			if j < len(msgs) && compressed != wantCompressed {
				t.Fatalf("member %d, message %d (%d bytes): compressed %v, want %v", i, j, len(p), compressed, wantCompressed)
			}
			wires[i] = append(wires[i], wire)
		}
	}
	for j := range msgs {
		if !bytes.Equal(wires[0][j], wires[1][j]) || !bytes.Equal(wires[0][j], wires[2][j]) {
			t.Fatalf("message %d: the members that compress got different bytes", j)
		}
	}
}

// D18, D12: a member that falls behind gets the compressed broadcasts from
// its backlog, and its sending window takes them as they go out.
func TestHubCompressedBacklog(t *testing.T) {
	h := Hub{BacklogLimit: 16 << 20}
	conns := make(chan *Conn, 1)
	u := &Upgrader{Compression: &Compression{}, CloseTimeout: time.Second}
	url := startServer(t, u, func(c *Conn) {
		connTestShrinkBuffers(c)
		h.Add(c)
		defer h.Remove(c)
		conns <- c
		c.ReadMessage()
	})
	rc := dialRaw(t, url, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
	connTestShrinkReadBuffer(rc)
	c := connTestWait(t, conns, "the member")
	// Random letters: they shrink by a quarter or so, so the socket fills.
	rng := rand.New(rand.NewPCG(19, 19))
	var msgs [][]byte
	for range 100 {
		p := make([]byte, 8<<10)
		for i := range p {
			p[i] = 'a' + byte(rng.IntN(26))
		}
		msgs = append(msgs, p)
		h.Broadcast(TextMessage, p)
	}
	hubTestIdle(t, &h)
	h.mu.Lock()
	m := h.members[c]
	h.mu.Unlock()
	m.mu.Lock()
	catching := m.catching
	m.mu.Unlock()
	if !catching {
		t.Fatal("the member did not fall behind: the test does not test the backlog")
	}
	own := append(msgs[99][:4000:4000], msgs[98][:4000]...)
	written := make(chan error, 1)
	go func() { written <- c.WriteMessage(TextMessage, own) }()
	// The member's own message may go between two writes of its backlog
	// (the hub does not order its messages with respect to the others),
	// so it may come anywhere after the first; it decodes right wherever
	// it comes only if the sending window held what had gone before it.
	p := newZTestPeer(false, true, 1<<12)
	ownSeen := false
	for i := 0; i < len(msgs); {
		_, _, _, got := p.readMessage(t, rc)
		if !ownSeen && bytes.Equal(got, own) {
			ownSeen = true
			continue
		}
		if !bytes.Equal(got, msgs[i]) {
			t.Fatalf("message %d differs (own message seen: %v)", i, ownSeen)
		}
		i++
	}
	if !ownSeen {
		if _, _, _, got := p.readMessage(t, rc); !bytes.Equal(got, own) {
			t.Fatal("the member's own message differs")
		}
	}
	if err := connTestWait(t, written, "the member's own message"); err != nil {
		t.Fatal(err)
	}
}
