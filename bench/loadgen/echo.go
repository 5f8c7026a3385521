package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// stopGrace is how long the loops get, once the window has closed, to
// finish the round trip they are in before their reads are cut short.
const stopGrace = 10 * time.Second

// echoer is one connection's closed loop and what it counted.
type echoer struct {
	*wsConn
	size int64 // of every reply; -1 when compressed replies vary
	h    hist
	sent atomic.Int64 // when the message in flight was written; atomic for split loops
	// frames are what the connection sends, in turn, from next: one frame
	// over and over, or with -deflate a stream of compressed messages.
	frames [][]byte
	next   int
	wire   int64 // reply payload bytes in the window

	// With -rate, the connection sends a message every period, the next
	// one due at next; one whose reply came late goes at once, and the
	// schedule starts again from there rather than catch up in a burst.
	// The runtime's timers wake an idle process about once a millisecond,
	// so connections whose messages fall due within one go together.
	period time.Duration
	due    time.Time
}

// frame returns the frame to send next.
func (e *echoer) frame() []byte {
	f := e.frames[e.next]
	if e.next++; e.next == len(e.frames) {
		e.next = 0
	}
	return f
}

// pace waits until the next message is due, if the loop is paced.
func (e *echoer) pace() {
	if e.period == 0 {
		return
	}
	if d := time.Until(e.due); d > 0 {
		time.Sleep(d)
		e.due = e.due.Add(e.period)
	} else {
		e.due = time.Now().Add(e.period)
	}
}

// runEcho runs the echo workload: every connection writes the prepared
// frame, waits for the whole reply, and writes again, at once or, with
// -rate, when its next message is due.
func runEcho(o options) (result, error) {
	op := byte(opBinary)
	if !o.binary {
		op = opText
	}
	want := payload(o.size)
	frames := [][]byte{buildFrame(op, want)}
	size := int64(o.size)

	// A reader big enough for the whole reply takes it in one read; past
	// 64 KiB the reply is read in 64 KiB pieces, which keeps a thousand
	// connections' buffers small.
	conns, err := dialAll(o.addr, o.conns, min(max(o.size+14, 4096), 64<<10))
	if err != nil {
		return result{}, err
	}
	if o.deflate != "" {
		if op, frames, want, err = deflateFrames(o); err != nil {
			return result{}, err
		}
		size = -1
	}
	// One round trip on the first connection, outside any window,
	// checks that the server sends back the bytes it was sent.
	if _, err := conns[0].c.Write(frames[0]); err != nil {
		return result{}, fmt.Errorf("first message: %w", err)
	}
	if err := checkMessage(conns[0].br, op, want); err != nil {
		return result{}, fmt.Errorf("first reply: %w", err)
	}

	var (
		phase atomic.Int32
		errs  firstError
		wg    sync.WaitGroup
		es    = make([]*echoer, len(conns))
	)
	for i, c := range conns {
		e := &echoer{wsConn: c, size: size, frames: frames}
		if i == 0 {
			e.frame() // it has sent the first already
		}
		if o.rate > 0 {
			// The connections take turns: their schedules are
			// spread evenly over one period.
			e.period = time.Duration(float64(o.conns) / o.rate * float64(time.Second))
			e.due = time.Now().Add(e.period * time.Duration(i) / time.Duration(o.conns))
		}
		es[i] = e
		wg.Add(1)
		if len(frames[0]) > splitAbove {
			e.split(&phase, &errs, &wg)
		} else {
			go e.loop(&phase, &errs, &wg)
		}
	}
	d, allocs := window(o, &phase)
	cut := time.Now().Add(stopGrace)
	for _, e := range es {
		e.c.SetDeadline(cut)
	}
	wg.Wait()

	var all hist
	var wire int64
	for _, e := range es {
		all.merge(&e.h)
		wire += e.wire
		e.c.Close()
	}
	r := result{
		Mode:     "echo",
		Conns:    o.conns,
		Messages: all.n,
		Bytes:    all.n * int64(o.size),
		Seconds:  d.Seconds(),
		P50us:    all.quantile(0.50),
		P99us:    all.quantile(0.99),
		Allocs:   allocs,
	}
	if o.deflate != "" {
		r.WireBytes = wire
	}
	errs.fill(&r)
	return r, nil
}

// loop is the closed loop in one goroutine: write, read the reply, count.
func (e *echoer) loop(phase *atomic.Int32, errs *firstError, wg *sync.WaitGroup) {
	defer wg.Done()
	for phase.Load() != done {
		e.pace()
		e.sent.Store(now())
		if _, err := e.c.Write(e.frame()); err != nil {
			e.fail(phase, errs, err)
			return
		}
		if !e.reply(phase, errs) {
			return
		}
	}
}

// split is the closed loop in two goroutines, for frames too big to write
// without reading at the same time: write writes, read reads, and a token
// passes between them so that one message is in flight. Both goroutines
// start here, before any window, so that starting them allocates nothing
// inside it.
func (e *echoer) split(phase *atomic.Int32, errs *firstError, wg *sync.WaitGroup) {
	turn := make(chan struct{}, 1)
	turn <- struct{}{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(turn)
		for e.reply(phase, errs) && phase.Load() != done {
			turn <- struct{}{}
		}
	}()
	go func() {
		defer wg.Done()
		for range turn {
			if phase.Load() == done {
				break
			}
			e.pace()
			e.sent.Store(now())
			if _, err := e.c.Write(e.frame()); err != nil {
				e.fail(phase, errs, err)
				break
			}
		}
		// The reader may be waiting for a reply to a message never sent.
		e.c.SetReadDeadline(time.Now())
		<-readDone
	}()
}

// reply reads the reply to the message in flight and counts it if it
// completed inside the window. It reports whether to go on.
func (e *echoer) reply(phase *atomic.Int32, errs *firstError) bool {
	n, err := readMessage(e.br)
	if err != nil {
		e.fail(phase, errs, err)
		return false
	}
	if e.size >= 0 && n != e.size {
		e.fail(phase, errs, fmt.Errorf("reply of %d bytes to a message of %d", n, e.size))
		return false
	}
	if phase.Load() == measuring {
		e.h.add(now() - e.sent.Load())
		e.wire += n
	}
	return true
}

// fail records err unless the window has closed: after that, errors come
// from the deadlines that end the loops.
func (e *echoer) fail(phase *atomic.Int32, errs *firstError, err error) {
	if phase.Load() != done {
		errs.add(err)
	}
}
