package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
	"github.com/rfc6455/websocket"
	natsbus "github.com/rfc6455/websocket/bus/nats"
	redisbus "github.com/rfc6455/websocket/bus/redis"
)

// topic is the room's NATS subject or Redis channel: every node of the
// room uses the same one.
const topic = "chat.room"

// connectTimeout bounds the wait for the bus when a node starts: a bus
// that cannot be reached then is a mistake to report, not to wait out.
const connectTimeout = 5 * time.Second

// reconnectWait is the wait between a NATS client's attempts to get back
// to its server. Short, so that a restarted server is joined again soon;
// nats.go adds some jitter, so that the nodes do not all come at once.
const reconnectWait = 500 * time.Millisecond

// bus is a node's link to the other nodes: the websocket.Bus its hub
// shares broadcasts over, and what to close when the node stops.
type bus struct {
	websocket.Bus
	about string // for the log: what the bus is, and how to join it
	close func()
}

// natsOptions are those of every NATS connection of a node.
func natsOptions(node string) []nats.Option {
	return []nats.Option{
		nats.Name(node),
		nats.Timeout(connectTimeout),
		// Never give up: a node without its bus still serves its own
		// members, and joins the room again once the bus is back.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		// No buffer for what is published while reconnecting: a line
		// sent during an outage must fail (so that the node says so)
		// and not reach the other nodes late, after lines sent since.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() { // by the node, as it stops
				return
			}
			if err == nil {
				err = errors.New("connection closed")
			}
			log.Printf("bus: lost NATS: %v", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Printf("bus: back on NATS at %s", nc.ConnectedUrlRedacted())
		}),
	}
}

// joinNATS connects to the NATS server at url, which another node embeds
// or which runs on its own.
func joinNATS(url, node string) (*bus, error) {
	nc, err := nats.Connect(url, natsOptions(node)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", url, err)
	}
	return &bus{
		Bus:   natsbus.New(nc),
		about: "NATS at " + nc.ConnectedUrlRedacted(),
		close: nc.Close,
	}, nil
}

// embedNATS runs a NATS server inside the node, listening on listen for
// the other nodes, and connects the node to it without a socket.
func embedNATS(listen, node string) (*bus, error) {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("-nats-listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("-nats-listen %q: bad port", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT // to the server, 0 means its default, 4222
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: node,
		Host:       host,
		Port:       port,
		NoSigs:     true, // the node handles signals, and stops the server itself
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	logs := &natsLog{fatal: make(chan string, 1)}
	ns.SetLoggerV2(logs, false, false, false)
	ns.Start() // returns once it listens, or has failed to
	select {
	case msg := <-logs.fatal: // such as the port being taken
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS server: %s", msg)
	default:
	}
	if !ns.ReadyForConnections(connectTimeout) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS server: not ready in time")
	}
	nc, err := nats.Connect("", append(natsOptions(node), nats.InProcessServer(ns))...)
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("connecting to the embedded NATS server: %w", err)
	}
	url := "nats://" + ns.Addr().String()
	return &bus{
		Bus:   natsbus.New(nc),
		about: "embedded NATS server; other nodes join with -nats " + url,
		close: func() {
			// The last words of a node that stops, its members' leave
			// events, must leave the server before it stops too.
			nc.FlushTimeout(time.Second)
			nc.Close()
			ns.Shutdown()
			ns.WaitForShutdown()
		},
	}, nil
}

// natsLog passes on what the embedded server has to warn about, and
// keeps its notices (a banner at every start) out of the node's log.
type natsLog struct {
	fatal chan string
}

func (l *natsLog) Noticef(format string, v ...any) {}
func (l *natsLog) Debugf(format string, v ...any)  {}
func (l *natsLog) Tracef(format string, v ...any)  {}

func (l *natsLog) Warnf(format string, v ...any) {
	log.Printf("nats-server: "+format, v...)
}

func (l *natsLog) Errorf(format string, v ...any) {
	log.Printf("nats-server: "+format, v...)
}

// Fatalf reports an error that stops the server from starting; embedNATS
// returns it rather than ending the process from inside the server.
func (l *natsLog) Fatalf(format string, v ...any) {
	select {
	case l.fatal <- fmt.Sprintf(format, v...):
	default:
	}
}

// joinRedis connects to the Redis server at addr (host:port).
func joinRedis(addr, node string) (*bus, error) {
	// go-redis logs each failed attempt to connect, a few a second
	// while Redis is down; the room says once that the bus is down.
	redis.SetLogger(quietRedis{})
	rdb := redis.NewClient(&redis.Options{
		Addr:       addr,
		ClientName: node,
		// While Redis is down, each broadcast waits for Publish to fail,
		// holding up the node's room: a refused connection fails at
		// once, but an address that does not answer takes DialTimeout.
		// And one attempt, not go-redis's five a tenth of a second
		// apart, which hold up the room longer, and publish a line of
		// the outage late if Redis comes back meanwhile.
		DialTimeout:   time.Second,
		DialerRetries: 1,
		// No retries: go-redis retries a command whose answer was lost
		// (EOF), and Redis may have published it already; a line sent
		// twice would break at most once.
		MaxRetries: -1,
	})
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connecting to Redis at %s: %w", addr, err)
	}
	return &bus{
		Bus:   redisbus.New(rdb),
		about: "Redis at " + addr,
		close: func() { rdb.Close() },
	}, nil
}

// quietRedis is a go-redis logger that logs nothing.
type quietRedis struct{}

func (quietRedis) Printf(ctx context.Context, format string, v ...any) {}
