package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The cluster workload: subscribers on one or more nodes (-addr holds
// their addresses, comma-separated), -conns on each, and one publisher
// connection per node, to its /pub path. The publisher sends -rate
// messages a second, each to the next node in turn, which broadcasts it to
// its own subscribers and, over its bus, to the other nodes'. Each message
// carries its number in its first stampSize bytes; the load generator
// keeps when it sent each one, and counts what every subscriber receives,
// so it knows when a message has reached the last subscriber of all the
// nodes (the latency figure), and which messages never did (lost) or came
// twice.

// stampSize is the bytes of a message's number at the start of its
// payload: 16 hex digits, so that the payload stays valid text.
const stampSize = 16

// ringSize is how many messages' records are kept: at the rates the
// driver uses, minutes of them, far longer than any message takes.
const ringSize = 1 << 16

// lossGrace is how long the messages still on their way when the window
// closes get to arrive before those missing are counted as lost.
const lossGrace = 3 * time.Second

// stampRecord is what the load generator knows of one message in flight.
type stampRecord struct {
	left   atomic.Int64 // deliveries still to come
	sentAt atomic.Int64 // now() when it was written to its node
}

// cluster is the shared state of a cluster run.
type cluster struct {
	subs       int64 // subscribers on all the nodes together
	ring       [ringSize]stampRecord
	published  atomic.Int64 // messages written so far; the next one's number
	deliveries atomic.Int64 // in the window
	phase      atomic.Int32

	mu sync.Mutex
	h  hist // publish to last delivery, of the messages completed in the window
}

// received records one delivery of message seq.
func (c *cluster) received(seq uint64) error {
	if seq >= uint64(c.published.Load()) {
		return fmt.Errorf("delivery of message %d, never published", seq)
	}
	r := &c.ring[seq%ringSize]
	measuring := c.phase.Load() == measuring
	switch left := r.left.Add(-1); {
	case left == 0:
		if measuring {
			d := now() - r.sentAt.Load()
			c.mu.Lock()
			c.h.add(d)
			c.mu.Unlock()
		}
	case left < 0:
		return fmt.Errorf("message %d delivered more often than there are subscribers", seq)
	}
	if measuring {
		c.deliveries.Add(1)
	}
	return nil
}

// publisher writes stamped copies of one frame to the nodes' publisher
// connections in turn.
type publisher struct {
	pubs  []*wsConn
	frame []byte
	at    int // where the stamp starts in frame
	// fanout sends each message to every node instead of one: nodes
	// without a bus then still reach every subscriber, as if over a bus
	// that costs nothing.
	fanout bool
}

// publish sends the next message and returns its number.
func (p *publisher) publish(c *cluster) (int64, error) {
	seq := c.published.Load()
	r := &c.ring[seq%ringSize]
	r.left.Store(c.subs)
	r.sentAt.Store(now())
	// Written before the message can arrive anywhere: received refuses
	// numbers at or above it.
	c.published.Store(seq + 1)
	const hex = "0123456789abcdef"
	for i := range stampSize {
		digit := hex[uint64(seq)>>(4*(stampSize-1-i))&15]
		p.frame[p.at+i] = digit ^ maskKey[i&3]
	}
	if p.fanout {
		for _, pc := range p.pubs {
			if _, err := pc.c.Write(p.frame); err != nil {
				return seq, err
			}
		}
		return seq, nil
	}
	_, err := p.pubs[seq%int64(len(p.pubs))].c.Write(p.frame)
	return seq, err
}

// runCluster runs the cluster workload; see the comment at the top.
func runCluster(o options) (result, error) {
	addrs := strings.Split(o.addr, ",")
	if o.size < stampSize {
		return result{}, fmt.Errorf("cluster: -size must be at least %d, for the stamp", stampSize)
	}
	if o.rate <= 0 {
		return result{}, errors.New("cluster: -rate must be set: the publisher is paced")
	}
	op := byte(opBinary)
	if !o.binary {
		op = opText
	}
	frame := buildFrame(op, payload(o.size))
	readBuf := min(max(o.size+14, 4096), 64<<10)
	var subs, pubs []*wsConn
	for _, addr := range addrs {
		s, err := dialAllPath(addr, "/", o.conns, readBuf)
		if err != nil {
			return result{}, fmt.Errorf("subscribers of %s: %w", addr, err)
		}
		subs = append(subs, s...)
		p, err := dialAllPath(addr, "/pub", 1, 4096)
		if err != nil {
			return result{}, fmt.Errorf("publisher of %s: %w", addr, err)
		}
		pubs = append(pubs, p...)
	}
	c := &cluster{subs: int64(len(subs))}
	p := &publisher{pubs: pubs, frame: frame, at: len(frame) - o.size, fanout: o.fanout}

	var (
		errs firstError
		wg   sync.WaitGroup
	)
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				seq, n, err := readStamped(s.br)
				if err == nil && n != int64(o.size) {
					err = fmt.Errorf("delivery of %d bytes, %d sent", n, o.size)
				}
				if err == nil {
					err = c.received(seq)
				}
				if err != nil {
					if c.phase.Load() != done {
						errs.add(err)
					}
					return
				}
			}
		}()
	}
	for _, pc := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := readMessage(pc.br)
			if c.phase.Load() != done {
				if err == nil {
					err = errors.New("a publisher connection received a message: it is not a subscriber")
				}
				errs.add(err)
			}
		}()
	}

	first, err := syncCluster(c, p)
	if err != nil {
		return result{}, err
	}

	// The publisher: a message every period, on a schedule that starts
	// again from now, rather than catch up in a burst, when it fell a
	// whole period behind (counted as late).
	var late, inWindow int64
	published := make(chan struct{})
	go func() {
		defer close(published)
		period := time.Duration(float64(time.Second) / o.rate)
		due := time.Now()
		for c.phase.Load() != done {
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			} else if d < -period {
				late++
				due = time.Now()
			}
			due = due.Add(period)
			measuring := c.phase.Load() == measuring
			if _, err := p.publish(c); err != nil {
				errs.add(fmt.Errorf("publish: %w", err))
				return
			}
			if measuring {
				inWindow++
			}
		}
	}()
	d, allocs := window(o, &c.phase)
	<-published

	// What is still on its way gets lossGrace to arrive; what has not by
	// then is lost.
	last := c.published.Load()
	deadline := time.Now().Add(lossGrace)
	lost := int64(0)
	for {
		lost = 0
		for seq := first; seq < last; seq++ {
			if c.ring[seq%ringSize].left.Load() > 0 {
				lost++
			}
		}
		if lost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cut := time.Now()
	for _, s := range append(subs, pubs...) {
		s.c.SetDeadline(cut)
	}
	wg.Wait()
	for _, s := range append(subs, pubs...) {
		s.c.Close()
	}

	r := result{
		Mode:            "cluster",
		Conns:           len(subs),
		Messages:        c.h.n,
		Deliveries:      c.deliveries.Load(),
		Bytes:           c.deliveries.Load() * int64(o.size),
		Seconds:         d.Seconds(),
		P50us:           c.h.quantile(0.50),
		P99us:           c.h.quantile(0.99),
		Allocs:          allocs,
		Published:       last - first,
		PublishedWindow: inWindow,
		Lost:            lost,
		Late:            late,
	}
	if lost > 0 {
		errs.add(fmt.Errorf("%d of %d messages did not reach every subscriber within %s", lost, last-first, lossGrace))
	}
	errs.fill(&r)
	return r, nil
}

// syncCluster publishes through each node in turn until one message from
// each has reached every subscriber, which proves every node has all its
// subscribers in its hub and its hub subscribed to the bus. It returns the
// number of the next message: from there on, every message counts.
func syncCluster(c *cluster, p *publisher) (int64, error) {
	for range p.pubs {
		ok := false
		for try := 0; try < 10 && !ok; try++ {
			seq, err := p.publish(c)
			if err != nil {
				return 0, fmt.Errorf("publish: %w", err)
			}
			r := &c.ring[seq%ringSize]
			deadline := time.Now().Add(syncTimeout)
			for r.left.Load() > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if ok = r.left.Load() == 0; !ok {
				// Let the partial deliveries land before the next try
				// goes to the next node.
				for last := int64(-1); last != r.left.Load(); {
					last = r.left.Load()
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
		if !ok {
			return 0, errors.New("no message reached every subscriber: are the nodes in cluster mode, on one bus?")
		}
	}
	return c.published.Load(), nil
}

// readStamped reads one data message like readMessage and returns the
// number in the first stampSize bytes of its payload, and its length.
func readStamped(br *bufio.Reader) (seq uint64, n int64, err error) {
	first := true
	for {
		h, err := readHeader(br)
		if err != nil {
			return 0, n, err
		}
		if h.op >= opClose {
			if h.op == opClose {
				return 0, n, errClosed
			}
			if _, err := br.Discard(int(h.length)); err != nil {
				return 0, n, err
			}
			continue
		}
		if first {
			if h.masked || h.length < stampSize {
				return 0, n, fmt.Errorf("a delivery's first frame is masked or shorter than its stamp (%d bytes)", h.length)
			}
			b, err := br.Peek(stampSize)
			if err != nil {
				return 0, n, err
			}
			for _, digit := range b {
				switch {
				case digit >= '0' && digit <= '9':
					seq = seq<<4 | uint64(digit-'0')
				case digit >= 'a' && digit <= 'f':
					seq = seq<<4 | uint64(digit-'a'+10)
				default:
					return 0, n, fmt.Errorf("a delivery's stamp %q is not hex", b)
				}
			}
			first = false
		}
		if _, err := br.Discard(int(h.length)); err != nil {
			return 0, n, err
		}
		n += h.length
		if h.fin {
			return seq, n, nil
		}
	}
}
