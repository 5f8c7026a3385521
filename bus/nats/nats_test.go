package natsbus_test

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rfc6455/websocket"
	natsbus "github.com/rfc6455/websocket/bus/nats"
	"github.com/rfc6455/websocket/bustest"
)

// natsServer is a NATS server in the test process, on a loopback port
// that it keeps across a restart.
type natsServer struct {
	s    *server.Server
	port int
}

func (ns *natsServer) start(t *testing.T) {
	t.Helper()
	port := ns.port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server did not start")
	}
	ns.s = s
	ns.port = s.Addr().(*net.TCPAddr).Port
}

func TestBus(t *testing.T) {
	ns := &natsServer{}
	ns.start(t)
	t.Cleanup(func() { ns.s.Shutdown() })
	conns := map[websocket.Bus]*nats.Conn{}
	bustest.Run(t, bustest.Harness{
		New: func(t *testing.T) websocket.Bus {
			nc, err := nats.Connect(ns.s.ClientURL(),
				nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			b := natsbus.New(nc)
			conns[b] = nc
			return b
		},
		Stop:  func(t *testing.T) { ns.s.Shutdown(); ns.s.WaitForShutdown() },
		Start: func(t *testing.T) { ns.start(t) },
		WaitConnected: func(t *testing.T, b websocket.Bus, connected bool) {
			nc := conns[b]
			deadline := time.Now().Add(10 * time.Second)
			for nc.IsConnected() != connected {
				if time.Now().After(deadline) {
					t.Fatalf("NATS connection %v, want connected %v", nc.Status(), connected)
				}
				time.Sleep(5 * time.Millisecond)
			}
		},
	})
}
