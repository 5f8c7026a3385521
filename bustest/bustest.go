// Package bustest checks an implementation of websocket.Bus against what
// a Hub needs of it: run its tests from the adapter's own tests, with a
// Harness that starts and stops the bus behind it. The adapters in this
// repository (bus/nats, bus/redis) are tested this way.
package bustest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rfc6455/websocket"
)

// Harness gives the tests control of the bus under test.
type Harness struct {
	// New returns a new client of the bus, as one server process would
	// have, closed when the test ends.
	New func(t *testing.T) websocket.Bus

	// Stop stops the bus itself (its server), and Start starts it again
	// at the same address. If Stop is nil, the tests that need it are
	// skipped.
	Stop, Start func(t *testing.T)

	// WaitConnected waits until a client made by New is connected (true)
	// or has noticed that the bus is gone (false).
	WaitConnected func(t *testing.T, b websocket.Bus, connected bool)
}

// wait bounds every wait of the tests.
const wait = 10 * time.Second

// Run runs the tests as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Run("SpansHubs", func(t *testing.T) { testSpansHubs(t, h) })
	t.Run("StalledMember", func(t *testing.T) { testStalledMember(t, h) })
	t.Run("DownAndBack", func(t *testing.T) { testDownAndBack(t, h) })
}

// node is one process of a test: a hub on its own client of the bus, and
// the client side of its members' connections.
type node struct {
	bus     websocket.Bus
	hub     *websocket.Hub
	url     string
	members []*websocket.Conn
	joined  chan struct{}
}

// newNode starts a node with members members, serving them over
// loopback, and waits until its hub has subscribed: until a message
// published by a second client of the bus reaches its first member.
func newNode(t *testing.T, h Harness, topic string, members int) *node {
	t.Helper()
	n := &node{bus: h.New(t), joined: make(chan struct{}, 100)}
	// A limit far above what a test sends: the members of a test that
	// reads them all must not be dropped for reading on a busy machine.
	n.hub = &websocket.Hub{Bus: n.bus, Topic: topic, BacklogLimit: 64 << 20}
	t.Cleanup(func() { n.hub.Close() })
	u := websocket.Upgrader{CloseTimeout: time.Second}
	srv := httptest.NewServer(u.Handler(func(c *websocket.Conn) {
		if err := n.hub.Add(c); err != nil {
			t.Error(err)
			return
		}
		defer n.hub.Remove(c)
		n.joined <- struct{}{}
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	n.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	for range members {
		n.members = append(n.members, dial(t, n.url))
		select {
		case <-n.joined:
		case <-time.After(wait):
			t.Fatal("a member did not join within", wait)
		}
	}
	if members > 0 {
		probe := h.New(t)
		untilReceived(t, probe, topic, n.members[0])
	}
	return n
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := websocket.Dial(ctx, url, &websocket.DialOptions{CloseTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// untilReceived publishes probes through b until c receives one, and
// then reads c until it has every probe published, so that nothing of
// them is left to read. It is how a test knows that a subscription works:
// a bus delivers at most once, and a subscription may be made or renewed
// a little after the call that asked for it.
func untilReceived(t *testing.T, b websocket.Bus, topic string, c *websocket.Conn) {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(wait))
		defer c.SetReadDeadline(time.Time{})
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				close(got)
				return
			}
			if !strings.HasPrefix(string(p), "probe ") {
				t.Errorf("got %.40q while waiting for a probe", p)
			}
			got <- string(p)
			if string(p) == "probe last" {
				close(got)
				return
			}
		}
	}()
	deadline := time.After(wait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if err := b.Publish(topic, websocket.TextMessage, fmt.Appendf(nil, "probe %d", i)); err != nil {
			t.Logf("publishing a probe: %v", err)
		}
		select {
		case _, ok := <-got:
			if !ok {
				t.Fatal("the member's connection ended while waiting for a probe")
			}
			if err := b.Publish(topic, websocket.TextMessage, []byte("probe last")); err != nil {
				t.Fatal(err)
			}
			for range got {
			}
			return
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no probe published through the bus reached the member within %v", wait)
		}
	}
}

// message is message i of node n, of type text or binary, of one of a
// few sizes from empty to 64 KiB.
func message(n, i int) (websocket.MessageType, []byte) {
	p := fmt.Appendf(nil, "node %d message %d ", n, i)
	p = append(p, strings.Repeat("x", []int{0, 100, 1000, 64 << 10}[i%4])...)
	if i%2 == 1 {
		return websocket.BinaryMessage, p
	}
	return websocket.TextMessage, p
}

// read reads the next message from c that is not a probe: probes of
// nodes started later may reach the members of earlier ones.
func read(c *websocket.Conn) (websocket.MessageType, []byte, error) {
	for {
		typ, p, err := c.ReadMessage()
		if err != nil || !strings.HasPrefix(string(p), "probe ") {
			return typ, p, err
		}
	}
}

// expectAll reads from c the messages of every node in from, each message
// once, each node's in order, and nothing else, checked by content.
func expectAll(t *testing.T, who string, c *websocket.Conn, from []int, each int) {
	t.Helper()
	next := map[int]int{}
	c.SetReadDeadline(time.Now().Add(wait))
	defer c.SetReadDeadline(time.Time{})
	for range len(from) * each {
		typ, p, err := read(c)
		if err != nil {
			t.Fatalf("%s: after %v: %v", who, next, err)
		}
		var n, i int
		if _, err := fmt.Sscanf(string(p), "node %d message %d ", &n, &i); err != nil {
			t.Fatalf("%s: unexpected message %.40q", who, p)
		}
		wantType, want := message(n, i)
		if i != next[n] || typ != wantType || string(p) != string(want) {
			t.Fatalf("%s: got a %v message %.30q (%d bytes), want message %d of node %d", who, typ, p, len(p), next[n], n)
		}
		next[n]++
	}
	for _, n := range from {
		if next[n] != each {
			t.Fatalf("%s: got %d messages of node %d, want %d", who, next[n], n, each)
		}
	}
}

// Three hubs, each with members, broadcast at once: every member of every
// hub receives every message exactly once, with its type, in the order
// its hub broadcast them.
func testSpansHubs(t *testing.T, h Harness) {
	const topic, each = "bustest.spans", 200
	var nodes []*node
	for range 3 {
		nodes = append(nodes, newNode(t, h, topic, 3))
	}
	var wg sync.WaitGroup
	for n, nd := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := nd.hub.Broadcast(message(n, i)); err != nil {
					t.Errorf("node %d: %v", n, err)
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for n, nd := range nodes {
		for m, c := range nd.members {
			readers.Add(1)
			go func() {
				defer readers.Done()
				expectAll(t, fmt.Sprintf("node %d member %d", n, m), c, []int{0, 1, 2}, each)
			}()
		}
	}
	wg.Wait()
	readers.Wait()
}

// A member that stops reading holds up no one, on its node or any other.
func testStalledMember(t *testing.T, h Harness) {
	const topic, each = "bustest.stalled", 300
	a := newNode(t, h, topic, 2)
	b := newNode(t, h, topic, 1)
	// a.members[1] is never read from here on.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range each {
			if err := a.hub.Broadcast(message(0, i)); err != nil {
				t.Errorf("broadcast: %v", err)
				return
			}
		}
	}()
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); expectAll(t, "node a's reading member", a.members[0], []int{0}, each) }()
	go func() { defer readers.Done(); expectAll(t, "node b's member", b.members[0], []int{0}, each) }()
	readers.Wait()
	<-done
}

// The bus stops: Broadcast says so, and the hub's own members still get
// the message. It starts again: the hubs are subscribed again by
// themselves, and delivery resumes. Nothing is left running after.
func testDownAndBack(t *testing.T, h Harness) {
	if h.Stop == nil {
		t.Skip("the harness cannot stop the bus")
	}
	const topic = "bustest.down"
	// The cleanups of the test close everything; a goroutine that
	// outlives them is a leak. Registered first, this check runs last.
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(wait)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines after the test, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	{
		a := newNode(t, h, topic, 1)
		b := newNode(t, h, topic, 1)

		h.Stop(t)
		h.WaitConnected(t, a.bus, false)
		err := a.hub.Broadcast(websocket.TextMessage, []byte("while down"))
		if err == nil {
			t.Fatal("Broadcast while the bus is down returned no error")
		}
		t.Logf("Broadcast while the bus is down: %v", err)
		a.members[0].SetReadDeadline(time.Now().Add(wait))
		if _, p, err := read(a.members[0]); err != nil || string(p) != "while down" {
			t.Fatalf("the local member got %q, %v; want the message", p, err)
		}

		h.Start(t)
		h.WaitConnected(t, a.bus, true)
		h.WaitConnected(t, b.bus, true)
		// Each hub hears the other again, once its subscription is
		// renewed: what was broadcast in between is lost, at most once.
		untilReceived(t, a.bus, topic, b.members[0])
		untilReceived(t, b.bus, topic, a.members[0])
		for i := range 20 {
			if err := a.hub.Broadcast(message(0, i)); err != nil {
				t.Fatal(err)
			}
		}
		expectAll(t, "the other node's member", b.members[0], []int{0}, 20)
		expectAll(t, "the local member", a.members[0], []int{0}, 20)
	}
}
