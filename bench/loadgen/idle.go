package main

import "time"

// runIdle opens o.conns connections and leaves them idle: the driver
// reads the server's CPU time and resident memory around the handshakes.
// The connections stay open until the process ends, after "held".
func runIdle(o options) (result, error) {
	say("start")
	t := time.Now()
	conns, err := dialAll(o.addr, o.conns, 4096)
	if err != nil {
		return result{}, err
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

// idle holds the idle connections until main has held them open as long
// as the driver wants: unreachable, they would be closed by the garbage
// collector.
var idle []*wsConn
