// Command server is the server side of the comparison harness: an echo or
// broadcast WebSocket server built on one library (-lib), or a plain TCP
// echo after a hand-made handshake as the floor. It listens, prints
// "ready ADDR" on stdout, and serves until SIGTERM or SIGINT. With -mode
// cluster it is one node of a broadcast over several processes, this
// library's only, sharing its hub over a bus (-bus, -bus-addr; see
// cluster.go). With -tls this library's server runs over TLS and speaks
// HTTP/2 as well as HTTP/1.1, for the driver's HTTP/2 comparison (see
// tls.go).
//
// Every server accepts messages of up to readLimit bytes and skips the
// origin check: the load generator sends no Origin, and what is measured is
// the cost of moving messages. Compression is off, unless -deflate turns on
// permessage-deflate with context takeover ("takeover") or without
// ("no-takeover"), in the library's own way, for the libraries that offer
// that mode (see deflateModes).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// readLimit is the largest message every server accepts. The workloads send
// up to 1 MiB; the limit is twice that so that no library's framing
// overhead gets in the way.
const readLimit = 2 << 20

// deflate is the -deflate flag: "" (compression off), "takeover" or
// "no-takeover"; deflateWindow, for this library only, sets the windows'
// size, to measure what each costs.
var (
	deflate       string
	deflateWindow int
)

// deflateModes lists the compression modes each library serves in the
// comparison: its own, in its best configuration. gorilla compresses only
// without context takeover; gobwas leaves compression to its user.
var deflateModes = map[string]map[string]bool{
	"rfc6455":         {"takeover": true, "no-takeover": true},
	"rfc6455-handler": {"takeover": true, "no-takeover": true},
	"gorilla":         {"no-takeover": true},
	"coder":           {"takeover": true, "no-takeover": true},
	"gws":             {"takeover": true},
}

// A serveFunc serves connections accepted from ln until the process ends.
// In echo mode each data message is sent back to its sender with its type;
// in broadcast mode it goes to every connection, the sender included.
type serveFunc func(ln net.Listener, broadcast bool) error

var servers = map[string]serveFunc{
	"rfc6455":         serveRFC6455,
	"rfc6455-handler": serveRFC6455Handler,
	"gorilla":         serveGorilla,
	"coder":           serveCoder,
	"gobwas":          serveGobwas,
	"gws":             serveGws,
	"tcp":             serveTCP,
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("server: ")
	lib := flag.String("lib", "rfc6455", "library: "+strings.Join(libNames(), ", "))
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	mode := flag.String("mode", "echo", "echo, broadcast or cluster")
	busKind := flag.String("bus", "none", "cluster mode: the hub's bus, none, nats or redis")
	busAddr := flag.String("bus-addr", "", "cluster mode: the bus's `host:port`")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to `file` until the server stops")
	flag.StringVar(&deflate, "deflate", "", "permessage-deflate: takeover or no-takeover (default off)")
	flag.IntVar(&deflateWindow, "deflate-window", 0, "rfc6455 only: the window bits of both directions (default the library's)")
	flag.BoolVar(&useTLS, "tls", false, "rfc6455 only: serve over TLS, HTTP/2 and HTTP/1.1, with a self-signed certificate (see tls.go)")
	flag.Parse()
	if deflate != "" && !deflateModes[*lib][deflate] {
		log.Fatalf("-lib %s has no -deflate %q", *lib, deflate)
	}
	if useTLS && (*lib != "rfc6455" && *lib != "rfc6455-handler" || *mode == "cluster") {
		log.Fatalf("-tls serves -lib rfc6455 or rfc6455-handler in echo or broadcast mode only")
	}

	serve, ok := servers[*lib]
	if !ok {
		log.Fatalf("unknown -lib %q (want one of %s)", *lib, strings.Join(libNames(), ", "))
	}
	if *mode != "echo" && *mode != "broadcast" && *mode != "cluster" {
		log.Fatalf("unknown -mode %q (want echo, broadcast or cluster)", *mode)
	}
	broadcast := *mode == "broadcast"
	if *mode == "cluster" {
		if *lib != "rfc6455" || deflate != "" {
			log.Fatalf("-mode cluster serves -lib rfc6455 without -deflate only")
		}
		serveNode, err := newCluster(*busKind, *busAddr)
		if err != nil {
			log.Fatal(err)
		}
		serve = func(ln net.Listener, _ bool) error { return serveNode(ln) }
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The driver waits for this line before it starts the load generator.
	fmt.Printf("ready %s\n", ln.Addr())

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}

	errc := make(chan error, 1)
	go func() { errc <- serve(ln, broadcast) }()
	select {
	case <-ctx.Done():
		// Connections die with the process; nothing is worth waiting for.
	case err := <-errc:
		log.Fatalf("%s: %v", *lib, err)
	}
}

func libNames() []string {
	names := make([]string, 0, len(servers))
	for name := range servers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// hub is the set of connections a broadcast goes to. A broadcast holds the
// lock for its whole fan-out: broadcasts then go out one after another, a
// connection never has two broadcasts writing to it at once (which gorilla
// forbids), and the publisher's goroutine does all the writes without
// handing each one to another goroutine. On a server pinned to one core,
// that is the cheapest way to fan out; the load generator publishes one
// message at a time anyway.
type hub[C comparable] struct {
	mu    sync.Mutex
	conns []C
}

func (h *hub[C]) add(c C) {
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
}

func (h *hub[C]) remove(c C) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, x := range h.conns {
		if x == c {
			last := len(h.conns) - 1
			h.conns[i] = h.conns[last]
			var zero C
			h.conns[last] = zero
			h.conns = h.conns[:last]
			return
		}
	}
}

// each calls f for every connection, one broadcast at a time.
func (h *hub[C]) each(f func(C)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		f(c)
	}
}
