// Cluster mode (-mode cluster): one node of a broadcast that spans server
// processes, for the driver's cluster comparison. It serves this library
// with Upgrader.EventHandler and one websocket.Hub, whose Bus (-bus) is
// NATS or Redis, or none for the single-process comparison:
//
//   - a connection to /pub is a publisher: each message it sends is
//     Broadcast by the hub, which delivers it to this node's members and
//     publishes it on the bus, whence the other nodes' hubs deliver it to
//     theirs. A publisher is not a member: it receives nothing.
//   - a connection to any other path is a subscriber, a member of the hub.
//     What it sends is skipped.
//
// The node connects to the bus before it prints its ready line, so that a
// bus it cannot reach is an error at once; the hub subscribes to the bus
// when its first member joins.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"github.com/rfc6455/websocket"
	natsbus "github.com/rfc6455/websocket/bus/nats"
	redisbus "github.com/rfc6455/websocket/bus/redis"
)

// clusterTopic is the NATS subject or Redis channel of the nodes' hubs.
const clusterTopic = "bench.cluster"

// busTimeout bounds connecting to the bus.
const busTimeout = 10 * time.Second

// newCluster connects to the bus (kind "none", "nats" or "redis", at
// host:port addr) and returns the function that serves a node's
// connections from a listener.
func newCluster(kind, addr string) (func(net.Listener) error, error) {
	room := &websocket.Hub{Topic: clusterTopic}
	switch kind {
	case "none":
	case "nats":
		// The options natsbus's doc gives; they matter only when the
		// bus is lost, which no run of the driver does on purpose.
		nc, err := nats.Connect("nats://"+addr, nats.Timeout(busTimeout), nats.Name("bench node"),
			nats.MaxReconnects(-1), nats.ReconnectBufSize(-1))
		if err != nil {
			return nil, fmt.Errorf("connecting to NATS at %s: %w", addr, err)
		}
		room.Bus = natsbus.New(nc)
	case "redis":
		// The options redisbus's doc gives, likewise.
		rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
		ctx, cancel := context.WithTimeout(context.Background(), busTimeout)
		defer cancel()
		if err := rdb.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("connecting to Redis at %s: %w", addr, err)
		}
		room.Bus = redisbus.New(rdb)
	default:
		return nil, fmt.Errorf("unknown -bus %q (want none, nats or redis)", kind)
	}

	// A Broadcast whose publish failed still reached this node's members;
	// the failure is logged, which the driver reports as a problem of the
	// run. The first few are enough to tell why.
	var failed atomic.Int64
	u := &websocket.Upgrader{
		ReadLimit:   readLimit,
		CheckOrigin: func(*http.Request) bool { return true },
	}
	pub := u.EventHandler(websocket.Events{
		Message: func(c *websocket.Conn, t websocket.MessageType, r io.Reader) {
			p, err := io.ReadAll(r)
			if err != nil {
				return
			}
			if err := room.Broadcast(t, p); err != nil {
				if n := failed.Add(1); n <= 3 {
					log.Printf("broadcast %d failed: %v", n, err)
				}
			}
		},
	})
	sub := u.EventHandler(websocket.Events{
		Open:  func(c *websocket.Conn) { room.Add(c) },
		Close: func(c *websocket.Conn, _ error) { room.Remove(c) },
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/pub" {
			pub.ServeHTTP(w, r)
		} else {
			sub.ServeHTTP(w, r)
		}
	})
	return func(ln net.Listener) error { return (&http.Server{Handler: h}).Serve(ln) }, nil
}
