package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// syncTimeout is how long the first messages of a broadcast run may take
// to reach every subscriber before one more is sent; a server may add a
// connection to its set of subscribers a moment after the handshake.
const syncTimeout = time.Second

// fanout counts deliveries to the subscribers and wakes the publisher
// when a message has reached the last one.
type fanout struct {
	got    atomic.Int64 // messages received, all subscribers together
	wire   atomic.Int64 // their payload bytes in the window, with -deflate
	target atomic.Int64 // value of got at which the message in flight is done
	doneAt atomic.Int64 // now() when got last reached target
	wake   chan struct{}
}

func (f *fanout) delivered() {
	if f.got.Add(1) == f.target.Load() {
		f.doneAt.Store(now())
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// runBroadcast runs the broadcast workload: o.conns subscribers and one
// publisher, which the server also sends every message to. The publisher
// keeps o.window messages in flight: it sends message k once the
// subscribers together have received as many messages as make message
// k-window delivered to each (with a window of 1: once every subscriber
// has the message before). The round trip of a message is from its
// sending to that point.
func runBroadcast(o options) (result, error) {
	op := byte(opBinary)
	if !o.binary {
		op = opText
	}
	frames := [][]byte{buildFrame(op, payload(o.size))}
	readBuf := min(max(o.size+14, 4096), 64<<10)
	subs, err := dialAll(o.addr, o.conns, readBuf)
	if err != nil {
		return result{}, err
	}
	pubs, err := dialAll(o.addr, 1, readBuf)
	if err != nil {
		return result{}, err
	}
	pub := pubs[0]
	size := int64(o.size)
	if o.deflate != "" {
		if _, frames, _, err = deflateFrames(o); err != nil {
			return result{}, err
		}
		size = -1 // compressed deliveries vary
	}

	var (
		phase atomic.Int32
		errs  firstError
		wg    sync.WaitGroup
		f     = fanout{wake: make(chan struct{}, 1)}
		quit  = make(chan struct{})
	)
	receive := func(c *wsConn, count bool) {
		defer wg.Done()
		for {
			n, err := readMessage(c.br)
			if err != nil {
				if phase.Load() != done {
					errs.add(err)
				}
				return
			}
			if size >= 0 && n != size {
				errs.add(fmt.Errorf("delivery of %d bytes, %d sent", n, size))
				return
			}
			if count {
				if size < 0 && phase.Load() == measuring {
					f.wire.Add(n)
				}
				f.delivered()
			}
		}
	}
	for _, c := range subs {
		wg.Add(1)
		go receive(c, true)
	}
	// The publisher is a subscriber too, to the server: read its copies
	// so that the server never blocks writing to it.
	wg.Add(1)
	go receive(pub, false)

	if err := syncSubscribers(pub, frames[0], &f, int64(o.conns)); err != nil {
		return result{}, err
	}

	var h hist
	published := make(chan struct{})
	go func() {
		defer close(published)
		n := int64(o.conns)
		base := f.got.Load()
		sentAt := make([]int64, o.window)
		next := 1 % len(frames) // frames[0] went out in the sync
		for k := int64(0); phase.Load() != done; k++ {
			sentAt[k%int64(o.window)] = now()
			frame := frames[next]
			if next++; next == len(frames) {
				next = 0
			}
			if _, err := pub.c.Write(frame); err != nil {
				errs.add(fmt.Errorf("publish: %w", err))
				return
			}
			first := k - int64(o.window) + 1 // the message to wait for
			if first < 0 {
				continue
			}
			target := base + (first+1)*n
			f.target.Store(target)
			var doneAt int64
			if f.got.Load() >= target {
				doneAt = now() // reached before the target was set
			} else {
				for f.got.Load() < target {
					select {
					case <-f.wake:
					case <-quit:
						return
					}
				}
				doneAt = f.doneAt.Load()
			}
			if phase.Load() == measuring {
				h.add(doneAt - sentAt[first%int64(o.window)])
			}
		}
	}()
	d, allocs := window(o, &phase)
	close(quit)
	<-published
	cut := time.Now()
	for _, c := range subs {
		c.c.SetDeadline(cut)
	}
	pub.c.SetDeadline(cut)
	wg.Wait()
	for _, c := range subs {
		c.c.Close()
	}
	pub.c.Close()

	r := result{
		Mode:       "broadcast",
		Conns:      o.conns,
		Messages:   h.n,
		Deliveries: h.n * int64(o.conns),
		Bytes:      h.n * int64(o.conns) * int64(o.size),
		Seconds:    d.Seconds(),
		P50us:      h.quantile(0.50),
		P99us:      h.quantile(0.99),
		Allocs:     allocs,
		WireBytes:  f.wire.Load(),
	}
	errs.fill(&r)
	return r, nil
}

// syncSubscribers publishes until one message reaches every subscriber,
// which proves the server has them all in its set. A message that some
// subscriber missed is followed by a pause long enough for its other
// deliveries to land, so that the counts start even.
func syncSubscribers(pub *wsConn, frame []byte, f *fanout, n int64) error {
	for try := 0; try < 10; try++ {
		base := f.got.Load()
		f.target.Store(base + n)
		select {
		case <-f.wake:
		default:
		}
		if _, err := pub.c.Write(frame); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		select {
		case <-f.wake:
			// Delivered to all; the next publish starts from here.
			f.target.Store(f.got.Load())
			return nil
		case <-time.After(syncTimeout):
		}
		for last := int64(-1); last != f.got.Load(); {
			last = f.got.Load()
			time.Sleep(100 * time.Millisecond)
		}
	}
	return errors.New("no message reached every subscriber: is the server in broadcast mode?")
}
