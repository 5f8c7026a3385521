package websocket

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// ---- Helpers of this file ----

// busTestBroker is an in-memory message bus shared by the busTestBus
// values of a test, one per simulated process. Each subscription gets
// its messages in order, from a goroutine of its own, as a real bus's
// client delivers them.
type busTestBroker struct {
	mu    sync.Mutex
	down  bool
	yield bool // Publish lets other goroutines run first, as a network write may
	// slowSubscribe makes Subscribe take as long as a round trip to a
	// distant bus server: a model of latency, which no test waits on.
	slowSubscribe bool
	subs          map[*busTestSub]bool
	subscribed    chan string // the topic of each subscription made
}

var errBusTestDown = errors.New("the test bus is down")

func newBusTestBroker() *busTestBroker {
	return &busTestBroker{subs: map[*busTestSub]bool{}, subscribed: make(chan string, 100)}
}

func (br *busTestBroker) setDown(down bool) {
	br.mu.Lock()
	br.down = down
	br.mu.Unlock()
}

// busTestBus is one process's client of the broker.
type busTestBus struct{ br *busTestBroker }

type busTestSub struct {
	topic string
	from  *busTestBus
	queue chan busTestMsg
	done  chan struct{}
}

type busTestMsg struct {
	t MessageType
	p []byte
}

func (b *busTestBus) Publish(topic string, t MessageType, p []byte) error {
	if b.br.yield {
		runtime.Gosched()
	}
	b.br.mu.Lock()
	defer b.br.mu.Unlock()
	if b.br.down {
		return errBusTestDown
	}
	for s := range b.br.subs {
		if s.topic == topic && s.from != b {
			s.queue <- busTestMsg{t, slices.Clone(p)}
		}
	}
	return nil
}

func (b *busTestBus) Subscribe(topic string, receive func(MessageType, []byte)) (func(), error) {
	if b.br.slowSubscribe {
		time.Sleep(50 * time.Millisecond)
	}
	b.br.mu.Lock()
	defer b.br.mu.Unlock()
	if b.br.down {
		return nil, errBusTestDown
	}
	s := &busTestSub{topic: topic, from: b, queue: make(chan busTestMsg, 10000), done: make(chan struct{})}
	b.br.subs[s] = true
	go func() {
		for {
			select {
			case m := <-s.queue:
				receive(m.t, m.p)
			case <-s.done:
				return
			}
		}
	}()
	b.br.subscribed <- topic
	return func() {
		b.br.mu.Lock()
		delete(b.br.subs, s)
		b.br.mu.Unlock()
		close(s.done)
	}, nil
}

// busTestNode is a process of a test: a hub on the broker, serving
// members that a client dialled.
type busTestNode struct {
	hub     *Hub
	members []*Conn // the client side
}

// busTestNodes starts n nodes of perNode members each, on topic, and
// waits until every hub is subscribed.
func busTestNodes(t *testing.T, br *busTestBroker, topic string, n, perNode int) []*busTestNode {
	t.Helper()
	var nodes []*busTestNode
	for range n {
		node := &busTestNode{hub: &Hub{Bus: &busTestBus{br}, Topic: topic}}
		t.Cleanup(func() { node.hub.Close() })
		url, joined := hubTestServe(t, node.hub)
		for range perNode {
			node.members = append(node.members, connTestDial(t, url, nil))
			connTestWait(t, joined, "a member to join")
		}
		nodes = append(nodes, node)
	}
	for range nodes {
		if got := connTestWait(t, br.subscribed, "a hub to subscribe"); got != topic {
			t.Fatalf("subscribed to %q, want %q", got, topic)
		}
	}
	return nodes
}

// busTestRead reads n messages from c.
func busTestRead(t *testing.T, c *Conn, n int) []busTestMsg {
	t.Helper()
	var got []busTestMsg
	c.SetReadDeadline(time.Now().Add(testTimeout))
	defer c.SetReadDeadline(time.Time{})
	for range n {
		typ, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(got), n, err)
		}
		got = append(got, busTestMsg{typ, p})
	}
	return got
}

// ---- Tests ----

// Hubs on one bus share their broadcasts: each message reaches every
// member of every hub exactly once, with its type, in the order its hub
// published it.
func TestHubBusSpansProcesses(t *testing.T) {
	br := newBusTestBroker()
	nodes := busTestNodes(t, br, "room", 3, 2)
	const each = 30
	var wg sync.WaitGroup
	for n, node := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				typ := []MessageType{TextMessage, BinaryMessage}[i%2]
				if err := node.hub.Broadcast(typ, fmt.Appendf(nil, "node %d message %d", n, i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for n, node := range nodes {
		for m, c := range node.members {
			next := make([]int, len(nodes)) // the next message expected from each node
			for _, msg := range busTestRead(t, c, len(nodes)*each) {
				var from, i int
				if _, err := fmt.Sscanf(string(msg.p), "node %d message %d", &from, &i); err != nil {
					t.Fatalf("node %d member %d: %q: %v", n, m, msg.p, err)
				}
				if i != next[from] {
					t.Fatalf("node %d member %d: message %d of node %d came after %d", n, m, i, from, next[from]-1)
				}
				if want := []MessageType{TextMessage, BinaryMessage}[i%2]; msg.t != want {
					t.Fatalf("node %d member %d: message %d of node %d is %v, want %v", n, m, i, from, msg.t, want)
				}
				next[from]++
			}
		}
	}
}

// A hub whose bus is down still delivers to its own members, and says
// that the message went no further; when the bus is back, so is delivery.
func TestHubBusDown(t *testing.T) {
	br := newBusTestBroker()
	nodes := busTestNodes(t, br, "room", 2, 1)
	here, there := nodes[0], nodes[1]

	br.setDown(true)
	err := here.hub.Broadcast(TextMessage, []byte("while down"))
	if !errors.Is(err, errBusTestDown) {
		t.Fatalf("Broadcast while the bus is down: %v, want its error", err)
	}
	if got := busTestRead(t, here.members[0], 1); string(got[0].p) != "while down" {
		t.Fatalf("the local member got %q", got[0].p)
	}

	br.setDown(false)
	if err := here.hub.Broadcast(TextMessage, []byte("back")); err != nil {
		t.Fatal(err)
	}
	// What was broadcast while the bus was down is lost to the others:
	// the first message there is the one after.
	if got := busTestRead(t, there.members[0], 1); string(got[0].p) != "back" {
		t.Fatalf("the other node's member got %q, want the message sent after the bus came back", got[0].p)
	}
}

// A hub that cannot subscribe when its first member joins keeps trying,
// and receives from the others once it has.
func TestHubBusSubscribesWhenTheBusComesBack(t *testing.T) {
	br := newBusTestBroker()
	sender := &Hub{Bus: &busTestBus{br}, Topic: "room"}
	br.setDown(true)
	nodes := []*busTestNode{{hub: &Hub{Bus: &busTestBus{br}, Topic: "room"}}}
	t.Cleanup(func() { nodes[0].hub.Close() })
	url, joined := hubTestServe(t, nodes[0].hub)
	member := connTestDial(t, url, nil)
	connTestWait(t, joined, "the member to join")
	br.setDown(false)
	connTestWait(t, br.subscribed, "the hub to subscribe once the bus is back")
	if err := sender.Broadcast(TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got := busTestRead(t, member, 1); string(got[0].p) != "hello" {
		t.Fatalf("got %q", got[0].p)
	}
}

// A hub with no members of its own publishes all the same: a process
// that only announces, such as a worker, needs no connections.
func TestHubBusPublishesWithoutMembers(t *testing.T) {
	br := newBusTestBroker()
	nodes := busTestNodes(t, br, "room", 1, 1)
	worker := &Hub{Bus: &busTestBus{br}, Topic: "room"}
	if err := worker.Broadcast(BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if got := busTestRead(t, nodes[0].members[0], 1); got[0].t != BinaryMessage || string(got[0].p) != "\x01\x02\x03" {
		t.Fatalf("got a %v message %q", got[0].t, got[0].p)
	}
}

// Close ends the subscription: what other hubs broadcast after it no
// longer reaches the closed hub's members.
func TestHubBusClose(t *testing.T) {
	br := newBusTestBroker()
	nodes := busTestNodes(t, br, "room", 2, 1)
	here, there := nodes[0], nodes[1]
	here.hub.Close()
	br.mu.Lock()
	subs := len(br.subs)
	br.mu.Unlock()
	if subs != 1 {
		t.Fatalf("%d subscriptions after one of two hubs closed, want 1", subs)
	}
	// The closed hub still publishes.
	if err := here.hub.Broadcast(TextMessage, []byte("from the closed hub")); err != nil {
		t.Fatal(err)
	}
	if got := busTestRead(t, there.members[0], 1); string(got[0].p) != "from the closed hub" {
		t.Fatalf("got %q", got[0].p)
	}
}

// Close while the hub waits to try subscribing again ends the attempts.
func TestHubBusCloseWhileRetrying(t *testing.T) {
	br := newBusTestBroker()
	br.setDown(true)
	h := &Hub{Bus: &busTestBus{br}, Topic: "room"}
	url, joined := hubTestServe(t, h)
	connTestDial(t, url, nil)
	connTestWait(t, joined, "the member to join")
	h.Close()
	// The goroutine that retries ends, without a subscription.
	connTestWait(t, h.bus.settled, "the retrying to end")
	h.bus.mu.Lock()
	stop := h.bus.stop
	h.bus.mu.Unlock()
	if stop != nil {
		t.Fatal("the closed hub holds a subscription")
	}
}

// Broadcasts from several goroutines of one hub reach its own members and
// those of other hubs in one order: the order of publication is the order
// of local delivery.
func TestHubBusOneOrderEverywhere(t *testing.T) {
	br := newBusTestBroker()
	br.yield = true
	nodes := busTestNodes(t, br, "room", 2, 1)
	here, there := nodes[0], nodes[1]
	const senders, each = 4, 100
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := here.hub.Broadcast(TextMessage, fmt.Appendf(nil, "%d/%d", s, i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	local := busTestRead(t, here.members[0], senders*each)
	remote := busTestRead(t, there.members[0], senders*each)
	for i := range local {
		if string(local[i].p) != string(remote[i].p) {
			t.Fatalf("message %d: %q here, %q on the other hub", i, local[i].p, remote[i].p)
		}
	}
}

// Once Add has returned, the member gets what other hubs broadcast: the
// first Add subscribes before it returns.
func TestHubBusAddWaitsForTheSubscription(t *testing.T) {
	br := newBusTestBroker()
	br.slowSubscribe = true
	sender := &Hub{Bus: &busTestBus{br}, Topic: "room"}
	h := &Hub{Bus: &busTestBus{br}, Topic: "room"}
	t.Cleanup(func() { h.Close() })
	url, joined := hubTestServe(t, h)
	member := connTestDial(t, url, nil)
	connTestWait(t, joined, "the member to join")
	if err := sender.Broadcast(TextMessage, []byte("right after")); err != nil {
		t.Fatal(err)
	}
	if got := busTestRead(t, member, 1); string(got[0].p) != "right after" {
		t.Fatalf("got %q", got[0].p)
	}
}
