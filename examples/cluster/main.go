// Command cluster serves the chat room of examples/chat from several
// processes, nodes, that share it over a publish-subscribe bus: what a
// member of one node writes, the members of every node read. Put nodes
// behind a load balancer and the room holds more members than one
// process could, and outlives any one of them.
//
//	go run .                                              # node-8080, with a NATS server inside
//	go run . -addr localhost:8081 -nats nats://127.0.0.1:4222
//	go run . -addr localhost:8082 -nats nats://127.0.0.1:4222
//
// then open http://localhost:8080, :8081 and :8082. With -redis ADDR the
// nodes share a Redis instead. README.md says what the room guarantees,
// and what it loses while the bus is down.
//
// The page speaks the subprotocol "chat", as examples/chat's does: its
// first text message is the member's name, every later one a line of
// chat. The node first sends the member which node it is on, then the
// events of the whole room, each with the node of the member it is about:
//
//	{"type":"welcome","node":"node-8080"}
//	{"type":"join","name":"alice","node":"node-8081"}
//	{"type":"message","name":"alice","node":"node-8081","text":"hi"}
//	{"type":"leave","name":"alice","node":"node-8081"}
//
// Every member receives the events of each member in the order that
// member's node sent them; those of two nodes may interleave differently
// for different members.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "HTTP address to listen on")
	node := flag.String("node", "", `the node's name, shown to members (default "node-PORT", PORT from -addr)`)
	natsURL := flag.String("nats", "", "join the NATS server at this URL, such as nats://127.0.0.1:4222, instead of embedding one")
	redisAddr := flag.String("redis", "", "join the Redis server at this address, such as 127.0.0.1:6379, instead of embedding NATS")
	natsListen := flag.String("nats-listen", "127.0.0.1:4222", "where the embedded NATS server listens for other nodes (without -nats and -redis)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmsgprefix)
	log.SetPrefix("cluster: ")
	if *natsURL != "" && *redisAddr != "" {
		log.Fatal("-nats and -redis: a node joins one bus")
	}

	// Listen before saying so, so that whoever waits for the line can
	// connect at once; and before naming the node, whose default name
	// is the port, which -addr may leave to the system (":0").
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *node == "" {
		*node = fmt.Sprintf("node-%d", ln.Addr().(*net.TCPAddr).Port)
	}
	log.SetPrefix(*node + ": ")

	var b *bus
	switch {
	case *natsURL != "":
		b, err = joinNATS(*natsURL, *node)
	case *redisAddr != "":
		b, err = joinRedis(*redisAddr, *node)
	default:
		b, err = embedNATS(*natsListen, *node)
	}
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("bus: %s", b.about)

	rm := newRoom(*node, b)
	srv := &http.Server{
		Handler:           rm.routes(),
		ReadHeaderTimeout: 10 * time.Second, // slow clients must not hold handshakes open
	}
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	log.Printf("listening on http://%s", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Print("shutting down")
	// Hijacked connections are not Shutdown's business, so the room closes
	// them itself, with 1001, and first: Shutdown also waits up to five
	// seconds for the spare connections browsers open and may never use,
	// and the 1001 would wait with it.
	rm.shutdown()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx) // stop accepting; a second is plenty for a page
	// Last, so that the room's goodbyes to the other nodes went out on it.
	b.close()
}
