package main

import (
	"fmt"
	"sync"
	"time"
)

// warmMessages is how many messages each idle connection exchanges with
// -deflate before it goes idle, so that the windows of context takeover
// hold what a connection in use would.
const warmMessages = 8

// runIdle opens o.conns connections and leaves them idle: the driver
// reads the server's CPU time and resident memory around the handshakes
// (and, with -deflate, the first messages each connection exchanges).
// The connections stay open until the process ends, after "held".
func runIdle(o options) (result, error) {
	say("start")
	t := time.Now()
	conns, err := dialAll(o.addr, o.conns, 4096)
	if err != nil {
		return result{}, err
	}
	if o.deflate != "" {
		if err := warm(o, conns); err != nil {
			return result{}, err
		}
	}
	d := time.Since(t)
	say("stop")
	idle = conns
	return result{
		Mode:             "idle",
		Conns:            len(conns),
		HandshakeSeconds: d.Seconds(),
	}, nil
}

// warm sends each connection's first warmMessages messages of the
// compressed stream and reads the echoes, dialers connections at a time.
func warm(o options, conns []*wsConn) error {
	_, frames, _, err := deflateFrames(o)
	if err != nil {
		return err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan *wsConn)
	)
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				for i := range warmMessages {
					_, err := c.c.Write(frames[i])
					if err == nil {
						_, err = readMessage(c.br)
					}
					if err != nil {
						mu.Lock()
						if first == nil {
							first = fmt.Errorf("warming a connection: %w", err)
						}
						mu.Unlock()
						break
					}
				}
			}
		}()
	}
	for _, c := range conns {
		next <- c
	}
	close(next)
	wg.Wait()
	return first
}

// idle holds the idle connections until main has held them open as long
// as the driver wants: unreachable, they would be closed by the garbage
// collector.
var idle []*wsConn
