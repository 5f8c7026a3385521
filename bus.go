package websocket

import (
	"fmt"
	"sync"
	"time"
)

// A Bus carries a Hub's broadcasts to the hubs of other server processes,
// and theirs to it: a publish-subscribe message bus that the processes
// share, such as NATS or Redis. It is what lets a chat room or a live
// vote span several processes behind a load balancer. The modules
// github.com/rfc6455/websocket/bus/nats and .../bus/redis adapt those two;
// this package needs neither.
//
// A Bus delivers at most once, as NATS core and Redis pub/sub do: what is
// published while a process is cut off from the bus does not reach it
// later. Its adapter documents how it reconnects.
type Bus interface {
	// Publish sends a message of type t with payload p to the subscribers
	// of topic in other processes. It must not keep p after it returns.
	// An error means the message may not have reached the bus.
	Publish(topic string, t MessageType, p []byte) error

	// Subscribe calls receive with each message published to topic
	// through other Bus values, in the order each of them published, and
	// one call at a time, until stop is called. It does not deliver what
	// was published through this Bus: its hub has delivered that itself.
	// p is valid only during the call. An error means there is no
	// subscription; once there is one, keeping it across lost and
	// regained connections to the bus is the Bus's job.
	Subscribe(topic string, receive func(t MessageType, p []byte)) (stop func(), err error)
}

// Bounds of the wait between attempts to subscribe to a hub's bus.
const (
	minResubscribe = 100 * time.Millisecond
	maxResubscribe = 5 * time.Second
)

// hubBus is a hub's subscription to its Bus.
type hubBus struct {
	pub      sync.Mutex // held by Broadcast from local delivery to publishing
	mu       sync.Mutex
	firstTry chan struct{} // closed once the first attempt to subscribe is over
	closed   chan struct{} // closed by Close
	stop     func()        // ends the subscription, once made
	// settled is closed when keepSubscribing returns: subscribed, or
	// given up because the hub was closed.
	settled chan struct{}
}

// closing returns the channel Close closes. Call with mu held.
func (b *hubBus) closing() chan struct{} {
	if b.closed == nil {
		b.closed = make(chan struct{})
	}
	return b.closed
}

// isClosed reports whether Close was called. Call with mu held.
func (b *hubBus) isClosed() bool {
	select {
	case <-b.closing():
		return true
	default:
		return false
	}
}

// publish hands a message broadcast here to the hub's bus.
func (h *Hub) publish(t MessageType, p []byte) error {
	if err := h.Bus.Publish(h.Topic, t, p); err != nil {
		return fmt.Errorf("websocket: hub: publishing to the bus: %w", err)
	}
	return nil
}

// subscribe subscribes the hub to its bus the first time a member joins.
// The first attempt is made there and then, and every Add waits for it,
// so that a member who joins once a hub has subscribed gets what other
// processes broadcast from then on. If it fails, a goroutine tries again,
// with a growing wait, until it succeeds or the hub is closed.
func (h *Hub) subscribe() {
	if h.Bus == nil {
		return
	}
	b := &h.bus
	b.mu.Lock()
	if b.isClosed() {
		b.mu.Unlock()
		return
	}
	if first := b.firstTry; first != nil {
		b.mu.Unlock()
		<-first
		return
	}
	b.firstTry = make(chan struct{})
	b.settled = make(chan struct{})
	b.mu.Unlock()
	if h.trySubscribe() {
		close(b.settled)
	} else {
		go h.keepSubscribing()
	}
	close(b.firstTry)
}

// trySubscribe makes one attempt to subscribe, and reports whether the
// hub need not try again: it subscribed, or it was closed meanwhile.
func (h *Hub) trySubscribe() bool {
	b := &h.bus
	stop, err := h.Bus.Subscribe(h.Topic, h.receive)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == nil && b.isClosed():
		stop()
	case err == nil:
		b.stop = stop
	default:
		return b.isClosed()
	}
	return true
}

// keepSubscribing tries to subscribe again after a failure, until it
// succeeds or the hub is closed.
func (h *Hub) keepSubscribing() {
	b := &h.bus
	defer close(b.settled)
	b.mu.Lock()
	closed := b.closing()
	b.mu.Unlock()
	for wait := minResubscribe; ; wait = min(2*wait, maxResubscribe) {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-closed:
			t.Stop()
			return
		}
		if h.trySubscribe() {
			return
		}
	}
}

// receive delivers a message that another process broadcast to the hub's
// own members.
func (h *Hub) receive(t MessageType, p []byte) {
	if op, err := t.opcode(); err == nil {
		h.deliverLocal(op, p)
	}
}

// Close ends the hub's subscription to its Bus: messages that other
// processes broadcast no longer reach its members. Its members stay, and
// what it broadcasts is still published. A hub without a Bus has nothing
// to close.
func (h *Hub) Close() error {
	b := &h.bus
	b.mu.Lock()
	if !b.isClosed() {
		close(b.closing())
	}
	stop := b.stop
	b.stop = nil
	b.mu.Unlock()
	if stop != nil {
		stop()
	}
	return nil
}
