// Command loadgen is the client half of the comparison harness: it drives
// one bench/server over loopback and reports what it saw as one JSON line.
//
// It is cheap on purpose, so that the server's cost is what the driver
// measures. It does the opening handshake itself, builds the one frame it
// sends once up front (header and payload masked with a fixed key) and
// writes that same slice for every message, and reads replies by parsing
// frame headers out of a bufio.Reader and discarding the payload. Nothing
// on the per-message path allocates; the JSON line reports the mallocs
// counted during the window so the driver can check that.
//
// It talks to the driver on stdout, one line at a time:
//
//	start   the measurement window opens (the driver snapshots the server)
//	stop    the window closes (the driver snapshots it again)
//	{...}   the figures
//	held    idle mode only: the connections stay open until stdin is
//	        closed or SIGTERM arrives
//
// Errors go to stderr; the exit status is 1 if any connection failed
// before the window closed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Phases of a run. Loops read the phase after each round trip: only round
// trips that complete while it is measuring are counted.
const (
	warmingUp int32 = iota
	measuring
	done
)

// splitAbove is the frame size above which a connection writes and reads
// in two goroutines. A closed loop in one goroutine does not read while it
// writes; for a frame bigger than what the two sockets can buffer, a server
// that echoes as it reads (the tcp floor does) would then block on its
// write while we block on ours.
const splitAbove = 64 << 10

type options struct {
	addr     string
	mode     string
	conns    int
	size     int
	duration time.Duration
	warmup   time.Duration
	binary   bool
	window   int // broadcast: messages in flight
	// rate, if positive, paces echo: messages per second over all the
	// connections, each sending at an interval of its own.
	rate float64
	// deflate, if set, offers permessage-deflate ("takeover", as browsers
	// do, or "no-takeover") and sends a stream of JSON text events of
	// about size bytes, compressed, instead of one payload.
	deflate string
	// fanout, in cluster mode, publishes each message to every node.
	fanout bool
}

// result is the JSON line. Fields that a mode does not produce are omitted.
type result struct {
	Mode             string  `json:"mode"`
	Conns            int     `json:"conns"`
	Messages         int64   `json:"messages,omitempty"`
	Deliveries       int64   `json:"deliveries,omitempty"`
	Bytes            int64   `json:"bytes,omitempty"`
	Seconds          float64 `json:"seconds,omitempty"`
	P50us            float64 `json:"p50_us,omitempty"`
	P99us            float64 `json:"p99_us,omitempty"`
	HandshakeSeconds float64 `json:"handshake_seconds,omitempty"`
	// Allocs is the number of heap allocations the load generator made
	// during the window: it should stay near zero whatever the count of
	// messages.
	Allocs uint64 `json:"allocs"`
	// WireBytes is the payload bytes the server sent in the window, as
	// they crossed the wire: compressed, with -deflate.
	WireBytes int64 `json:"wire_bytes,omitempty"`
	// Cluster mode: the messages published after the subscribers were
	// found ready, warmup included, and those of them published in the
	// window; those that did not reach every subscriber; and the times
	// the publisher fell a whole period behind its schedule.
	Published       int64  `json:"published,omitempty"`
	PublishedWindow int64  `json:"published_window,omitempty"`
	Lost            int64  `json:"lost,omitempty"`
	Late            int64  `json:"late,omitempty"`
	Errors          int    `json:"errors"`
	FirstErr        string `json:"first_error,omitempty"`
}

var out = bufio.NewWriter(os.Stdout)

// say writes one line for the driver and flushes it at once: the driver
// takes its snapshots when it reads the line.
func say(line string) {
	out.WriteString(line)
	out.WriteByte('\n')
	out.Flush()
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8080", "server `host:port` (cluster mode: the nodes', comma-separated)")
	flag.StringVar(&o.mode, "mode", "echo", "echo, idle, broadcast or cluster")
	flag.IntVar(&o.conns, "conns", 1, "connections (subscribers in broadcast mode; per node in cluster mode)")
	flag.IntVar(&o.size, "size", 16, "payload bytes per message")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measurement window")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "traffic before the window opens")
	flag.BoolVar(&o.binary, "binary", true, "send binary messages (false: text)")
	flag.IntVar(&o.window, "window", 1, "broadcast: messages in flight at once")
	flag.Float64Var(&o.rate, "rate", 0, "echo: messages per `second` over all connections (0: each sends as soon as its reply is in); cluster: messages published per second")
	flag.BoolVar(&o.fanout, "fanout", false, "cluster: publish each message to every node, for nodes without a bus")
	flag.StringVar(&o.deflate, "deflate", "", "offer permessage-deflate: takeover or no-takeover, and send compressed JSON text")
	flag.BoolVar(&useTLS, "tls", false, "echo and idle: connect over TLS, each connection upgraded over HTTP/1.1")
	flag.BoolVar(&useH2, "h2", false, "echo and idle: open every WebSocket as a stream of one HTTP/2 connection over TLS (RFC 8441)")
	flag.Parse()
	if (useTLS || useH2) && (o.mode != "echo" && o.mode != "idle" || o.deflate != "") {
		fatalf("-tls and -h2 go with -mode echo or idle, without -deflate")
	}
	if useTLS && useH2 {
		fatalf("-tls and -h2 are two ways over TLS: choose one")
	}
	switch o.deflate {
	case "", "takeover", "no-takeover":
	default:
		fatalf("unknown -deflate %q", o.deflate)
	}
	extOffer = offer(o.deflate)
	if o.conns < 1 || o.size < 0 || o.window < 1 || o.rate < 0 {
		fatalf("-conns and -window must be at least 1, -size and -rate not negative")
	}

	var (
		r   result
		err error
	)
	switch o.mode {
	case "echo":
		r, err = runEcho(o)
	case "broadcast":
		r, err = runBroadcast(o)
	case "idle":
		r, err = runIdle(o)
	case "cluster":
		r, err = runCluster(o)
	default:
		fatalf("unknown -mode %q", o.mode)
	}
	if err != nil {
		fatalf("%v", err)
	}
	b, _ := json.Marshal(r)
	say(string(b))
	if r.Errors > 0 {
		fmt.Fprintf(os.Stderr, "loadgen: %d connection(s) failed; first: %s\n", r.Errors, r.FirstErr)
	}
	if o.mode == "idle" {
		say("held")
		hold()
		runtime.KeepAlive(idle)
		runtime.KeepAlive(h2Client)
	}
	if r.Errors > 0 {
		os.Exit(1)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(2)
}

// hold returns when stdin is closed or SIGTERM or SIGINT arrives.
func hold() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-sig:
	case <-eof:
	}
}

// epoch is the zero of now.
var epoch = time.Now()

// now is a monotonic clock in nanoseconds; it does not allocate, and an
// int64 fits in an atomic.
func now() int64 { return int64(time.Since(epoch)) }

// window runs the measurement: warmup, "start", duration, "stop". It sets
// the phase as it goes and returns the length of the window and the
// mallocs made inside it.
func window(o options, phase *atomic.Int32) (time.Duration, uint64) {
	time.Sleep(o.warmup)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.Mallocs
	say("start")
	t := time.Now()
	phase.Store(measuring)
	time.Sleep(o.duration)
	phase.Store(done)
	d := time.Since(t)
	say("stop")
	runtime.ReadMemStats(&ms)
	return d, ms.Mallocs - before
}

// firstError keeps a count of failures and the first one.
type firstError struct {
	mu    sync.Mutex
	n     int
	first error
}

func (f *firstError) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.first == nil {
		f.first = err
	}
}

func (f *firstError) fill(r *result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.Errors = f.n
	if f.first != nil {
		r.FirstErr = f.first.Error()
	}
}
