package main

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rfc6455/websocket"
)

// TestCluster checks -mode cluster: what a publisher (/pub) sends reaches
// the subscribers of its node, with no bus, and those of the other nodes
// too over NATS (a server in the test; the driver's test runs Redis).
func TestCluster(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		addr := startServer(t, "rfc6455", "cluster", "-bus", "none")
		checkCluster(t, []string{addr})
	})
	t.Run("nats", func(t *testing.T) {
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
		if err != nil {
			t.Fatal(err)
		}
		go ns.Start()
		t.Cleanup(ns.Shutdown)
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatal("the NATS server did not start")
		}
		busAddr := ns.Addr().(*net.TCPAddr).String()
		var addrs []string
		for range 3 {
			addrs = append(addrs, startServer(t, "rfc6455", "cluster", "-bus", "nats", "-bus-addr", busAddr))
		}
		checkCluster(t, addrs)
	})
}

// checkCluster puts two subscribers on each node and publishes through
// each node in turn: every subscriber must get every message, once, in
// order.
func checkCluster(t *testing.T, nodes []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var subs []<-chan received
	var pubs []*websocket.Conn
	for _, addr := range nodes {
		for range 2 {
			subs = append(subs, reader(dial(t, ctx, addr)))
		}
		c, err := websocket.Dial(ctx, "ws://"+addr+"/pub", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		pubs = append(pubs, c)
	}

	// A node adds a subscriber after its 101 has gone out, and its hub
	// subscribes to the bus a moment after the first one joins: probes go
	// out through each node until one reaches every subscriber.
	for i, pub := range pubs {
		for try := 0; ; try++ {
			if ctx.Err() != nil {
				t.Fatalf("no probe through node %d reached every subscriber", i+1)
			}
			probe := []byte(fmt.Sprintf("probe %d %d", i, try))
			if err := pub.WriteMessage(websocket.TextMessage, probe); err != nil {
				t.Fatal(err)
			}
			all := true
			for _, ch := range subs {
				all = waitFor(ch, probe, 200*time.Millisecond) && all
			}
			if all {
				break
			}
		}
	}

	for round := range 3 {
		for i, pub := range pubs {
			want := []byte(fmt.Sprintf("message %d through node %d", round, i+1))
			if err := pub.WriteMessage(websocket.BinaryMessage, want); err != nil {
				t.Fatal(err)
			}
			for j, ch := range subs {
				select {
				case r := <-ch:
					if r.err != nil {
						t.Fatalf("subscriber %d: %v", j, r.err)
					}
					if r.typ != websocket.BinaryMessage || string(r.p) != string(want) {
						t.Errorf("subscriber %d got %v %q, want binary %q", j, r.typ, r.p, want)
					}
				case <-ctx.Done():
					t.Fatalf("subscriber %d did not get %q", j, want)
				}
			}
		}
	}
}
