package websocket

// TestSoak: many concurrent connections to an echo handler, every byte and
// the order of every message verified, then a check that nothing outlives
// the connections. Its size is set with test flags:
//
//	go test -run TestSoak -count=1 . -args -soak.conns=10000
//
// It ends with a summary line (soak: conns=... lost=0 ...), which go test
// shows with -v or when the test fails.
//
// With more than soakChildThreshold connections the clients run in a
// child process (this test binary again, running TestSoakClients), since
// both ends of 10,000 connections in one process would need 20,000 file
// descriptors, the machine's hard limit. Under -race, keep -soak.conns at
// 2000 or less: the race detector allows 8128 live goroutines and each
// connection costs three.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

var (
	soakConns = flag.Int("soak.conns", 50,
		"TestSoak: connections open at once; above 2000 the clients run in a child process")
	soakMessages = flag.Int("soak.messages", 8,
		"TestSoak: messages each connection sends and has echoed")
	soakTimeout = flag.Duration("soak.timeout", 2*time.Minute,
		"TestSoak: bound on the whole soak; the test fails when it is exceeded")
	soakSeed = flag.Uint64("soak.seed", 0,
		"TestSoak: seed of the random plan (types, sizes, chunks, pings, contents); 0 picks one from the clock")
)

const (
	// soakChildThreshold is the most connections whose clients run in
	// the test's own process: two descriptors per connection must stay
	// well under the limit of 20,000.
	soakChildThreshold = 2000

	// soakMaxSize is the largest message, header included.
	soakMaxSize = 256 << 10

	// soakWindow is how many messages a client's writer may have sent
	// ahead of the echoes its reader has checked. It bounds what a
	// connection has in flight: at most four messages, whatever the
	// number of messages.
	soakWindow = 4

	// soakDialers is how many dials are in flight at once, well under the
	// listen backlog of 4096.
	soakDialers = 256

	// soakDialAttempts is how often a dial that failed for a transient
	// reason (reset, refused, timeout) is tried in all.
	soakDialAttempts = 5

	// soakHeaderLen is the length of the header that starts every
	// message: "#CCCCCCCC.SSSSSSSS.LLLLLLLL\n", connection id, sequence
	// number and length of the message in hex. It is ASCII, so valid
	// UTF-8 in text messages, even cut short.
	soakHeaderLen = 28

	// soakCorpusSize is the size of the random binary and text corpora
	// the message bodies are cut from.
	soakCorpusSize = 2 * soakMaxSize

	// soakEnv carries the plan to the child process.
	soakEnv = "WEBSOCKET_SOAK_CLIENTS"

	// soakResultPrefix starts the child's line of results on its stdout.
	soakResultPrefix = "soak-clients-result: "

	// soakSettleTime bounds each wait after the clients are done: for the
	// handlers to return and for goroutines and descriptors to go.
	soakSettleTime = 10 * time.Second

	// soakGoroutineSlack is what the goroutine count may exceed its
	// baseline by after the soak. The runtime's finalizer and cleanup
	// goroutines count as user goroutines while they run finalizers (of
	// closed files, for instance), and may do so at either measurement.
	// A leak per connection shows as thousands; a leak of a single
	// goroutine per soak would hide in the slack.
	soakGoroutineSlack = 2
)

// soakPad fills the at most three bytes a text body comes short of its
// length when it is cut at rune boundaries.
var soakPad = []byte("...")

// TestSoak opens -soak.conns connections at once to an echo handler on
// 127.0.0.1 and has each exchange -soak.messages messages, every byte and
// the order checked; afterwards the server process must be back to its
// goroutine and file descriptor counts from before (S5). Along the way it
// exercises, under load, pings between fragments (F9), empty messages
// (F11), pongs echoing the ping's payload (M1), text split anywhere across
// frames (M3), reading and closing from two goroutines, and the close
// handshake with the server answering 1000 (C1, C9).
//
// The plan, drawn from -soak.seed: each message is text (random valid
// UTF-8 with runes of one to four bytes) or binary (random bytes), one
// half each. Its size, from 0 B to 256 KiB, is log-uniform: size+1 is
// e^U for U uniform in [0, ln(256 Ki + 2)), so the median message is about
// 512 bytes, the mean about 21 KB, and one in eighteen is over 128 KiB.
// Half of the messages are written with WriteMessage, half with NextWriter
// in chunks of random (log-uniform) sizes. Clients send pings before
// messages and between chunks, and count the pongs. The server echoes with
// NextReader, NextWriter and io.Copy on every other connection and with
// ReadMessage and WriteMessage on the others; it knows nothing of the
// plan.
//
// Each message starts with a header naming its connection, sequence
// number and length, and its body is cut from a corpus at an offset drawn
// per message, so the client compares every echoed byte with what it
// sent and tells a lost echo (sent, never echoed), a reordered one
// (sequence number out of order) and a corrupted one apart.
func TestSoak(t *testing.T) {
	conns, messages, timeout := *soakConns, *soakMessages, *soakTimeout
	if conns < 1 || messages < 0 || timeout <= 0 {
		t.Fatalf("-soak.conns=%d -soak.messages=%d -soak.timeout=%v: want at least one connection, no negative count and a positive timeout",
			conns, messages, timeout)
	}
	seed := *soakSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	start := time.Now()
	deadline := start.Add(timeout)

	srv := &soakServer{}
	hs := httptest.NewServer(srv.handler())
	defer hs.Close()

	// Measured with the listener open and its goroutine started, and the
	// poller of EventHandler too, so that the soak is compared with the
	// same server, idle. The goroutines EventHandler keeps free for the
	// next messages are not counted: they belong to no connection.
	pollerStart()
	goroutines := func() int { return runtime.NumGoroutine() - idleWorkers() }
	baseG, baseFD := goroutines(), soakFDs()
	heap := soakStartHeapSampler()

	spec := soakSpec{
		URL:      "ws://" + hs.Listener.Addr().String() + "/",
		Conns:    conns,
		Messages: messages,
		Seed:     seed,
		Deadline: deadline.UnixNano(),
	}
	mode := "in-process"
	var counts soakCounts
	var childStderr string
	if conns > soakChildThreshold {
		mode = "child-process"
		var err error
		counts, childStderr, err = soakRunChild(spec, timeout)
		if err != nil {
			t.Errorf("client process: %v", err)
		}
	} else {
		counts = soakRunClients(spec)
	}

	handlersDone := srv.wait()
	peakHeap := heap.stop()
	afterG, gOK := soakSettle(baseG+soakGoroutineSlack, goroutines)
	afterFD, fdOK := soakSettle(baseFD, soakFDs)
	elapsed := time.Since(start)

	srvMessages, srvBytes := srv.messages.Load(), srv.bytes.Load()
	line := fmt.Sprintf("soak: conns=%d messages=%d bytes=%d pongs=%d lost=%d reordered=%d corrupted=%d "+
		"goroutines_after=%d (baseline %d, free workers apart: %d) fds_after=%d (baseline %d) elapsed=%v "+
		"pings=%d text=%d binary=%d streamed=%d dial_retries=%d dial_phase=%v max_round_trip=%v max_close=%v peak_heap_inuse=%dMiB peak_rss=%dMiB client_peak_rss=%dMiB clients=%s seed=%d",
		conns, counts.Messages, counts.Bytes, counts.Pongs, counts.Lost, counts.Reordered, counts.Corrupted,
		afterG, baseG, idleWorkers(), afterFD, baseFD, elapsed.Round(time.Millisecond),
		counts.Pings, counts.Text, counts.Binary, counts.Streamed, counts.DialRetries,
		counts.DialPhase.Round(time.Millisecond), counts.MaxRoundTrip.Round(time.Millisecond), counts.MaxClose.Round(time.Millisecond), peakHeap>>20, soakPeakRSS()>>20, counts.PeakRSS>>20, mode, seed)
	t.Log(line)
	t.Logf("soak: server echoed %d messages, %d bytes; at most %d connections open at once, %d served by EventHandler",
		srvMessages, srvBytes, srv.peak.Load(), srv.byEvents.Load())
	if want := int64(conns / 3); srv.byEvents.Load() < want {
		t.Errorf("EventHandler served %d connections, want at least %d (a third)", srv.byEvents.Load(), want)
	}
	fmt.Println(line)

	if time.Now().After(deadline) {
		t.Errorf("the soak took %v, over -soak.timeout=%v", elapsed, timeout)
	}
	if counts.Established != conns {
		t.Errorf("%d of %d connections established", counts.Established, conns)
	}
	if got := srv.peak.Load(); got != int64(conns) {
		t.Errorf("the server had at most %d connections open at once, want all %d", got, conns)
	}
	if counts.Failed > 0 {
		t.Errorf("%d client connections failed, the first: %s", counts.Failed, strings.Join(counts.Errors, "; "))
	}
	if n, first := srv.errs.get(); n > 0 {
		t.Errorf("%d server connections ended otherwise than with the client's close 1000, the first: %s", n, strings.Join(first, "; "))
	}
	if counts.Lost != 0 || counts.Reordered != 0 || counts.Corrupted != 0 {
		t.Errorf("lost=%d reordered=%d corrupted=%d, want none", counts.Lost, counts.Reordered, counts.Corrupted)
	}
	want := int64(conns) * int64(messages)
	if counts.Sent != want || counts.Messages != want {
		t.Errorf("%d messages sent and %d echoes verified, want %d", counts.Sent, counts.Messages, want)
	}
	if counts.Bytes != counts.SentBytes {
		t.Errorf("%d bytes echoed and verified, %d sent", counts.Bytes, counts.SentBytes)
	}
	if srvMessages != counts.Messages || srvBytes != counts.Bytes {
		t.Errorf("server echoed %d messages of %d bytes, clients verified %d of %d bytes", srvMessages, srvBytes, counts.Messages, counts.Bytes)
	}
	// The library answers every ping, and every ping goes out before the
	// end of its connection's last message, whose echo the client waits
	// for: each pong has arrived by then.
	if counts.Pongs != counts.Pings {
		t.Errorf("%d pongs for %d pings", counts.Pongs, counts.Pings)
	}
	if !handlersDone {
		t.Errorf("%d server handlers still running %v after the clients finished", srv.open.Load(), soakSettleTime)
	}
	if !gOK {
		t.Errorf("goroutines: %d after the soak, baseline %d (slack %d): leaked", afterG, baseG, soakGoroutineSlack)
	}
	if !fdOK {
		t.Errorf("file descriptors: %d after the soak, baseline %d: leaked", afterFD, baseFD)
	}
	if t.Failed() && childStderr != "" {
		t.Logf("client process stderr:\n%s", childStderr)
	}
}

// TestSoakClients is not a test of its own: it is the client half of
// TestSoak, which runs it in a child process (this test binary again) when
// the clients need more file descriptors than fit beside the server's. It
// reads its plan from the environment variable soakEnv and skips when that
// is absent, as it is under go test ./...: that skip is expected.
func TestSoakClients(t *testing.T) {
	raw := os.Getenv(soakEnv)
	if raw == "" {
		t.Skip("helper process for TestSoak, which starts it with " + soakEnv + " set")
	}
	var spec soakSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatalf("%s: %v", soakEnv, err)
	}
	counts := soakRunClients(spec)
	b, err := json.Marshal(counts)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s%s\n", soakResultPrefix, b)
}

// soakSpec is the plan the clients follow, the same in and out of process.
type soakSpec struct {
	URL      string
	Conns    int
	Messages int
	Seed     uint64
	Deadline int64 // Unix nanoseconds; every client read and write ends by then
}

// soakCounts is what the clients report: the child prints it as one JSON
// line.
type soakCounts struct {
	Conns       int
	Established int
	DialRetries int
	DialPhase   time.Duration // from the first dial to the barrier

	Sent, SentBytes int64 // messages written whole, and their bytes
	Messages, Bytes int64 // echoes verified byte for byte, and their bytes
	Text, Binary    int64 // messages sent of each type
	Streamed        int64 // messages sent with NextWriter in chunks

	Pings, Pongs int64

	Lost      int64 // sent whole, never echoed
	Reordered int64 // echoed intact, but after a later message
	Corrupted int64 // echoed with a wrong type, length or byte; or a wrong pong

	Failed int      // connections that ended with an error
	Errors []string // the first few of those errors

	PeakRSS int64 // of the process the clients ran in, in bytes

	MaxRoundTrip time.Duration // from writing a message to its echo verified
	MaxClose     time.Duration // of a client's Close, the closing handshake
}

// soakRunClients dials spec.Conns connections, with soakDialers in flight
// at once, waits until all are established, then has each exchange its
// messages, closes them all and returns the counts.
func soakRunClients(spec soakSpec) soakCounts {
	cor := soakNewCorpus(spec.Seed)
	deadline := time.Unix(0, spec.Deadline)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	var mu sync.Mutex
	counts := soakCounts{Conns: spec.Conns}
	fail := func(id int, err error) {
		mu.Lock()
		defer mu.Unlock()
		counts.Failed++
		if len(counts.Errors) < 10 {
			counts.Errors = append(counts.Errors, fmt.Sprintf("conn %d: %v", id, err))
		}
	}

	began := time.Now()
	dialers := make(chan struct{}, soakDialers)
	barrier := make(chan struct{})
	var dialed, done sync.WaitGroup
	dialed.Add(spec.Conns)
	done.Add(spec.Conns)
	for id := range spec.Conns {
		go func() {
			defer done.Done()
			cl := newSoakClient(id, spec, cor)
			dialers <- struct{}{}
			c, retries, err := soakDial(ctx, spec.URL, cl.dialOptions(deadline))
			<-dialers
			mu.Lock()
			counts.DialRetries += retries
			if err == nil {
				counts.Established++
			}
			mu.Unlock()
			dialed.Done()
			if err != nil {
				fail(id, fmt.Errorf("dial: %w", err))
				return
			}
			// All connections are open at once before any message moves.
			<-barrier
			err = cl.run(c, deadline)

			mu.Lock()
			counts.Sent += cl.sent
			counts.SentBytes += cl.sentBytes
			counts.Messages += cl.verified
			counts.Bytes += cl.bytes
			counts.Text += cl.text
			counts.Binary += cl.binary
			counts.Streamed += cl.streamed
			counts.Pings += cl.pings
			counts.Pongs += cl.pongs.Load()
			counts.Lost += cl.lost
			counts.Reordered += cl.reordered
			counts.Corrupted += cl.corrupted + cl.badPongs.Load()
			counts.MaxRoundTrip = max(counts.MaxRoundTrip, cl.maxRoundTrip)
			counts.MaxClose = max(counts.MaxClose, cl.closeTime)
			mu.Unlock()
			if err != nil {
				fail(id, err)
			}
		}()
	}
	dialed.Wait()
	counts.DialPhase = time.Since(began)
	close(barrier)
	done.Wait()
	counts.PeakRSS = soakPeakRSS()
	return counts
}

// soakDial dials, trying again after transient failures: under a burst of
// dials the kernel may reset or refuse a connection, or a handshake may
// time out. The wait between attempts backs off; it is a pause before a
// retry, not a wait for something to happen.
func soakDial(ctx context.Context, url string, opts *DialOptions) (*Conn, int, error) {
	for attempt := 0; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c, err := Dial(dctx, url, opts)
		cancel()
		if err == nil || attempt+1 == soakDialAttempts || ctx.Err() != nil || !soakTransient(err) {
			return c, attempt, err
		}
		backoff := time.NewTimer(time.Duration(20<<attempt) * time.Millisecond)
		select {
		case <-backoff.C:
		case <-ctx.Done():
			backoff.Stop()
			return nil, attempt, err
		}
	}
}

// soakTransient reports whether a dial error may go away on its own.
func soakTransient(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, syscall.EADDRNOTAVAIL) ||
		errors.Is(err, syscall.EAGAIN) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &ne) && ne.Timeout()
}

// soakRunChild runs the clients in a child process and returns their
// counts and the child's stderr.
func soakRunChild(spec soakSpec, timeout time.Duration) (soakCounts, string, error) {
	var counts soakCounts
	plan, err := json.Marshal(spec)
	if err != nil {
		return counts, "", err
	}
	// The child's own I/O ends at the deadline; the grace lets it close
	// and report before it is killed.
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, spec.Deadline).Add(2*soakSettleTime))
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0],
		"-test.run=^TestSoakClients$", "-test.count=1",
		"-test.timeout="+(timeout+time.Minute).String())
	cmd.Env = append(os.Environ(), soakEnv+"="+string(plan))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	found := false
	for _, line := range strings.Split(stdout.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, soakResultPrefix); ok {
			if err := json.Unmarshal([]byte(rest), &counts); err != nil {
				return counts, stderr.String(), fmt.Errorf("parsing its result: %v", err)
			}
			found = true
		}
	}
	switch {
	case runErr != nil:
		return counts, stderr.String(), fmt.Errorf("%v; stdout:\n%s", runErr, stdout.String())
	case !found:
		return counts, stderr.String(), fmt.Errorf("no result line; stdout:\n%s", stdout.String())
	}
	return counts, stderr.String(), nil
}

// ---- The server ----

// soakServer echoes every message back, and counts connections, messages,
// bytes and connections that ended otherwise than with the client's close.
type soakServer struct {
	wg         sync.WaitGroup
	open, peak atomic.Int64
	byEvents   atomic.Int64 // connections served by EventHandler
	accepted   atomic.Int64
	messages   atomic.Int64
	bytes      atomic.Int64
	errs       soakErrors
	conns      sync.Map // *Conn, for soakServer.abort
}

func (s *soakServer) handler() http.Handler {
	u := &Upgrader{}
	// A third of the connections are served by events, the rest by a
	// goroutine each, half of those as messages and half as streams.
	goroutine := u.Handler(func(c *Conn) {
		// Handler runs this on a goroutine of its own, after ServeHTTP
		// returned: this is where a connection is open. The client sees
		// its first echo only after the Add, so wait, which runs once
		// every client is done, cannot miss it.
		s.opened(c)
		var n, b int64
		var err error
		if s.accepted.Add(1)%2 == 0 {
			n, b, err = soakEchoStreams(c)
		} else {
			n, b, err = soakEchoMessages(c)
		}
		s.messages.Add(n)
		s.bytes.Add(b)
		s.ended(c, err, n)
	})
	var served sync.Map // *Conn → *atomic.Int64, messages echoed
	events := u.EventHandler(Events{
		Open: func(c *Conn) {
			s.opened(c) // before any message, as above
			s.byEvents.Add(1)
			served.Store(c, new(atomic.Int64))
		},
		Message: func(c *Conn, mt MessageType, r io.Reader) {
			// A failed echo ends the connection, and Close reports why.
			if k, err := soakEchoStream(c, mt, r); err == nil {
				s.messages.Add(1)
				s.bytes.Add(k)
				n, _ := served.Load(c)
				n.(*atomic.Int64).Add(1)
			}
		},
		Close: func(c *Conn, err error) {
			n, _ := served.LoadAndDelete(c)
			s.ended(c, err, n.(*atomic.Int64).Load())
		},
	})
	var routed atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if routed.Add(1)%3 == 0 {
			events.ServeHTTP(w, r)
		} else {
			goroutine.ServeHTTP(w, r)
		}
	})
}

// opened counts a connection in, and keeps it for abort.
func (s *soakServer) opened(c *Conn) {
	s.wg.Add(1)
	open := s.open.Add(1)
	for {
		peak := s.peak.Load()
		if open <= peak || s.peak.CompareAndSwap(peak, open) {
			break
		}
	}
	s.conns.Store(c, nil)
}

// ended counts a connection out, with the error that ended it, which must
// be the client's close 1000.
func (s *soakServer) ended(c *Conn, err error, messages int64) {
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusNormalClosure {
		s.errs.add(fmt.Errorf("%v after %d messages", err, messages))
	}
	s.conns.Delete(c)
	s.open.Add(-1)
	s.wg.Done()
}

// wait waits for every handler to return. If they do not within
// soakSettleTime, it makes their reads and writes fail and waits as long
// again, so that the test ends either way.
func (s *soakServer) wait() bool {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	for i := range 2 {
		timer := time.NewTimer(soakSettleTime)
		select {
		case <-done:
			timer.Stop()
			return i == 0
		case <-timer.C:
			s.conns.Range(func(k, _ any) bool {
				c := k.(*Conn)
				c.SetReadDeadline(time.Unix(1, 0))
				c.SetWriteDeadline(time.Unix(1, 0))
				return true
			})
		}
	}
	return false
}

// soakEchoMessages echoes whole messages with ReadMessage and WriteMessage
// until the connection ends, and returns the reason it ended.
func soakEchoMessages(c *Conn) (n, size int64, err error) {
	for {
		mt, p, err := c.ReadMessage()
		if err != nil {
			return n, size, err
		}
		if err := c.WriteMessage(mt, p); err != nil {
			return n, size, err
		}
		n++
		size += int64(len(p))
	}
}

// soakEchoStreams echoes messages as streams, through NextReader,
// NextWriter and io.Copy, until the connection ends, and returns the
// reason it ended.
func soakEchoStreams(c *Conn) (n, size int64, err error) {
	for {
		mt, r, err := c.NextReader()
		if err != nil {
			return n, size, err
		}
		k, err := soakEchoStream(c, mt, r)
		if err != nil {
			return n, size, err
		}
		n++
		size += k
	}
}

// soakEchoStream sends one message back as it is read, and returns its
// size.
func soakEchoStream(c *Conn, mt MessageType, r io.Reader) (int64, error) {
	w, err := c.NextWriter(mt)
	if err != nil {
		return 0, err
	}
	k, err := io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return k, err
}

// soakErrors keeps a count of errors and the first few.
type soakErrors struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *soakErrors) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 10 {
		e.first = append(e.first, err.Error())
	}
}

func (e *soakErrors) get() (int, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n, e.first
}

// ---- A client connection ----

// soakMsg is one message of the plan: enough to rebuild every byte of it.
type soakMsg struct {
	seq  int
	typ  MessageType
	size int // the whole message, header included
	off  int // where its body starts in the corpus

	start time.Time // when its writing began
}

// soakClient is one connection of the soak: a writer (the goroutine that
// calls run) and a reader, kept at most soakWindow messages apart.
type soakClient struct {
	id       int
	messages int
	cor      *soakCorpus
	rng      *rand.Rand // the writer's: the plan of this connection
	whole    bool       // the reader uses ReadMessage rather than NextReader
	readBuf  int        // DialOptions.ReadBufferSize
	writeBuf int        // DialOptions.WriteBufferSize

	recs      chan soakMsg  // messages about to be sent, for the reader
	credits   chan struct{} // a message may be sent when one is taken
	echoedAll chan struct{} // closed when every message came back
	closing   atomic.Bool   // set before the writer closes the connection

	// The writer's counts.
	sent, sentBytes, text, binary, streamed, pings int64
	writeErr                                       error

	// The reader's counts; pongs and badPongs are counted by the pong
	// handler, which runs in the reader.
	pending              []soakMsg // sent, not yet echoed, in order
	processed, verified  int64
	bytes                int64
	reordered, corrupted int64
	nextSeq              int // one past the highest sequence number echoed
	maxRoundTrip         time.Duration
	pongs, badPongs      atomic.Int64
	readErr              error

	// Set by run once both are done.
	lost      int64
	closeTime time.Duration
	closeErr  error
}

// soakBufferSizes are the read and write buffer sizes a client picks
// from, so that its frames come in many sizes: 0 is the default of 4096.
var soakBufferSizes = []int{0, 256, 1024, 4096, 16 << 10, 64 << 10}

func newSoakClient(id int, spec soakSpec, cor *soakCorpus) *soakClient {
	rng := rand.New(rand.NewPCG(spec.Seed, uint64(id)))
	cl := &soakClient{
		id:        id,
		messages:  spec.Messages,
		cor:       cor,
		rng:       rng,
		whole:     rng.IntN(2) == 0,
		readBuf:   soakBufferSizes[rng.IntN(len(soakBufferSizes))],
		writeBuf:  soakBufferSizes[rng.IntN(len(soakBufferSizes))],
		recs:      make(chan soakMsg, soakWindow),
		credits:   make(chan struct{}, soakWindow),
		echoedAll: make(chan struct{}),
	}
	for range soakWindow {
		cl.credits <- struct{}{}
	}
	if spec.Messages == 0 {
		close(cl.echoedAll)
	}
	return cl
}

// dialOptions returns the connection's options. The closing handshake
// may take until the soak's deadline: with every connection busy, a round
// trip waits behind what is in flight on all the others, and at 10,000
// connections on two cores that can take longer than the default five
// seconds, for a close as for any small message (see MaxRoundTrip).
func (cl *soakClient) dialOptions(deadline time.Time) *DialOptions {
	return &DialOptions{
		ReadBufferSize:  cl.readBuf,
		WriteBufferSize: cl.writeBuf,
		CloseTimeout:    time.Until(deadline),
	}
}

// run exchanges the messages of the plan over c, closes it, and returns
// the first error the connection met.
func (cl *soakClient) run(c *Conn, deadline time.Time) error {
	c.SetReadDeadline(deadline)
	c.SetWriteDeadline(deadline)
	c.SetPongHandler(cl.onPong)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		cl.read(c)
	}()

	cl.write(c, readerDone)
	if cl.writeErr == nil {
		// Close only once every echo is in: Close ends the exchange.
		select {
		case <-cl.echoedAll:
		case <-readerDone:
		}
	}
	cl.closing.Store(true)
	began := time.Now()
	cl.closeErr = c.Close()
	<-readerDone
	cl.closeTime = time.Since(began)

	// Whatever the reader never received, and the writer had sent whole,
	// is lost.
	cl.takeRecs()
	for _, m := range cl.pending {
		if int64(m.seq) < cl.sent {
			cl.lost++
		}
	}
	for _, err := range []error{cl.writeErr, cl.readErr, cl.closeErr} {
		if err != nil {
			return err
		}
	}
	return nil
}

// write sends the messages of the plan, each after taking a credit that
// the reader gives back once the echo is in.
func (cl *soakClient) write(c *Conn, readerDone <-chan struct{}) {
	for seq := range cl.messages {
		select {
		case <-cl.credits:
		case <-readerDone:
			return
		}
		m := cl.plan(seq)
		m.start = time.Now()
		cl.recs <- m // never blocks: the credits bound what is in flight
		if cl.rng.IntN(4) == 0 {
			if err := cl.ping(c); err != nil {
				cl.writeErr = err
				return
			}
		}
		p := m.build(cl.id, cl.cor)
		var err error
		if cl.rng.IntN(2) == 0 {
			err = c.WriteMessage(m.typ, p)
		} else {
			cl.streamed++
			err = cl.writeChunks(c, m.typ, p)
		}
		if err != nil {
			cl.writeErr = fmt.Errorf("write message %d of %d bytes: %w", seq, m.size, err)
			return
		}
		cl.sent++
		cl.sentBytes += int64(len(p))
		if m.typ == TextMessage {
			cl.text++
		} else {
			cl.binary++
		}
	}
}

// plan draws the next message.
func (cl *soakClient) plan(seq int) soakMsg {
	typ := BinaryMessage
	if cl.rng.IntN(2) == 0 {
		typ = TextMessage
	}
	return soakMsg{
		seq:  seq,
		typ:  typ,
		size: soakLogUniform(cl.rng, soakMaxSize),
		off:  cl.rng.IntN(soakCorpusSize - soakMaxSize - utf8.UTFMax),
	}
}

// writeChunks writes p through NextWriter in chunks of random sizes, with
// pings between some of them, so that pings go out between the frames of
// the message.
func (cl *soakClient) writeChunks(c *Conn, typ MessageType, p []byte) error {
	w, err := c.NextWriter(typ)
	if err != nil {
		return err
	}
	pings := 0
	for len(p) > 0 {
		if pings < 3 && cl.rng.IntN(8) == 0 {
			pings++
			if err := cl.ping(c); err != nil {
				w.Close()
				return err
			}
		}
		n := 1 + soakLogUniform(cl.rng, len(p)-1)
		if _, err := w.Write(p[:n]); err != nil {
			w.Close()
			return err
		}
		p = p[n:]
	}
	return w.Close()
}

// ping sends the connection's next ping.
func (cl *soakClient) ping(c *Conn) error {
	if err := c.Ping(soakPingPayload(cl.id, cl.pings)); err != nil {
		return fmt.Errorf("ping %d: %w", cl.pings, err)
	}
	cl.pings++
	return nil
}

// onPong checks that pongs answer the pings in order.
func (cl *soakClient) onPong(p []byte) {
	if !bytes.Equal(p, soakPingPayload(cl.id, cl.pongs.Load())) {
		cl.badPongs.Add(1)
	}
	cl.pongs.Add(1)
}

// soakPingPayload is the payload of a connection's k-th ping: it names
// both, and its length, 0 to 125 bytes, varies.
func soakPingPayload(id int, k int64) []byte {
	p := fmt.Appendf(nil, "ping %d.%d ", id, k)
	n := int((uint64(id)*131 + uint64(k)*31) % (maxControlPayload + 1))
	for len(p) < n {
		p = append(p, byte('a'+len(p)%26))
	}
	return p[:n]
}

// read checks the echoes as they come until the connection ends, which
// must be with the server's answer to the client's close.
func (cl *soakClient) read(c *Conn) {
	var head [soakHeaderLen]byte
	buf := make([]byte, 4096)
	for {
		var mt MessageType
		var r io.Reader
		var err error
		if cl.whole {
			var p []byte
			mt, p, err = c.ReadMessage()
			r = bytes.NewReader(p)
		} else {
			mt, r, err = c.NextReader()
		}
		if err != nil {
			// After the writer's Close, the server's answer ends the
			// read with a CloseError; or, when Close came while this
			// loop was between two reads, Close read the answer itself
			// and the next read returns ErrClosed.
			var ce *CloseError
			normal := errors.As(err, &ce) && ce.Code == StatusNormalClosure || errors.Is(err, ErrClosed)
			if !cl.closing.Load() || !normal {
				cl.readErr = fmt.Errorf("read after %d echoes: %w", cl.processed, err)
			}
			return
		}
		if err := cl.check(mt, r, head[:], buf); err != nil {
			cl.readErr = err
			return
		}
		cl.credits <- struct{}{}
		cl.processed++
		if cl.processed == int64(cl.messages) {
			close(cl.echoedAll)
		}
	}
}

// takeRecs moves the records the writer has announced into pending.
func (cl *soakClient) takeRecs() {
	for {
		select {
		case m := <-cl.recs:
			cl.pending = append(cl.pending, m)
		default:
			return
		}
	}
}

// check reads one echo and compares it byte for byte with the message its
// header names. An echo that names no message in flight ends the
// connection with an error; any other difference counts as corrupted.
func (cl *soakClient) check(mt MessageType, r io.Reader, head, buf []byte) error {
	n, err := io.ReadFull(r, head)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil // a message shorter than a header
	}
	if err != nil {
		return fmt.Errorf("read echo %d: %w", cl.processed, err)
	}
	// The writer announces a message before sending its first byte, so
	// its record is in by the time its echo starts.
	cl.takeRecs()
	i := cl.identify(mt, head[:n])
	if i < 0 {
		cl.corrupted++
		return fmt.Errorf("echo %d (%s, starting %q) is no message in flight", cl.processed, mt, head[:n])
	}
	m := cl.pending[i]
	want := m.pieces(cl.id, cl.cor)
	ok := mt == m.typ && soakConsume(&want, head[:n])
	got := int64(n)
	for n == len(head) {
		k, err := r.Read(buf)
		got += int64(k)
		if ok && k > 0 {
			ok = soakConsume(&want, buf[:k])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read echo %d: %w", cl.processed, err)
		}
	}
	cl.pending = append(cl.pending[:i], cl.pending[i+1:]...)
	if !ok || len(want[0])+len(want[1])+len(want[2]) > 0 {
		cl.corrupted++
		return nil
	}
	cl.verified++
	cl.bytes += got
	cl.maxRoundTrip = max(cl.maxRoundTrip, time.Since(m.start))
	if m.seq < cl.nextSeq {
		cl.reordered++
	}
	cl.nextSeq = max(cl.nextSeq, m.seq+1)
	return nil
}

// identify returns the index in pending of the message an echo starting
// with head is, or -1. A whole header names it; a message shorter than a
// header is taken for the first in flight with its type, length and
// bytes. Two such messages are identical, so which of them came back
// cannot be told, and a lost one may count as reordered instead.
func (cl *soakClient) identify(mt MessageType, head []byte) int {
	if len(head) == soakHeaderLen {
		id, seq, ok := soakParseHeader(head)
		if !ok || id != cl.id {
			return -1
		}
		for i, m := range cl.pending {
			if m.seq == seq {
				return i
			}
		}
		return -1
	}
	for i, m := range cl.pending {
		if m.typ == mt && m.size == len(head) && bytes.Equal(head, soakHeader(cl.id, m.seq, m.size)[:m.size]) {
			return i
		}
	}
	return -1
}

// ---- Message contents ----

// soakCorpus holds the random bytes and the random text that message
// bodies are cut from.
type soakCorpus struct {
	bin, text []byte
}

// soakNewCorpus builds the corpora from the seed, so that the parent and a
// child process build the same.
func soakNewCorpus(seed uint64) *soakCorpus {
	rng := rand.New(rand.NewPCG(seed, math.MaxUint64))
	cor := &soakCorpus{bin: make([]byte, soakCorpusSize)}
	for i := 0; i < len(cor.bin); i += 8 {
		binary.LittleEndian.PutUint64(cor.bin[i:], rng.Uint64())
	}
	cor.text = make([]byte, 0, soakCorpusSize+utf8.UTFMax)
	for len(cor.text) < soakCorpusSize {
		var r rune
		switch rng.IntN(4) {
		case 0:
			r = rune(rng.IntN(0x80)) // one byte
		case 1:
			r = rune(0x80 + rng.IntN(0x800-0x80)) // two bytes
		case 2:
			r = rune(0x800 + rng.IntN(0x10000-0x800)) // three bytes
			if 0xD800 <= r && r <= 0xDFFF {
				r -= 0x800 // surrogates are not runes
			}
		default:
			r = rune(0x10000 + rng.IntN(utf8.MaxRune+1-0x10000)) // four bytes
		}
		cor.text = utf8.AppendRune(cor.text, r)
	}
	return cor
}

// soakHeader returns the header of a message.
func soakHeader(id, seq, size int) []byte {
	return fmt.Appendf(make([]byte, 0, soakHeaderLen), "#%08x.%08x.%08x\n", id, seq, size)
}

// soakParseHeader reads the connection id and sequence number from a
// whole header.
func soakParseHeader(h []byte) (id, seq int, ok bool) {
	if len(h) != soakHeaderLen || h[0] != '#' || h[9] != '.' || h[18] != '.' || h[27] != '\n' {
		return 0, 0, false
	}
	a, err1 := strconv.ParseUint(string(h[1:9]), 16, 32)
	b, err2 := strconv.ParseUint(string(h[10:18]), 16, 32)
	_, err3 := strconv.ParseUint(string(h[19:27]), 16, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	return int(a), int(b), true
}

// pieces returns the message as its header (cut to the message's size),
// its body from the corpus, and padding. A text body starts and ends on
// rune boundaries, and is padded to its length with at most three ASCII
// bytes.
func (m soakMsg) pieces(id int, cor *soakCorpus) [3][]byte {
	hdr := soakHeader(id, m.seq, m.size)
	hdr = hdr[:min(m.size, len(hdr))]
	n := m.size - len(hdr)
	if m.typ == BinaryMessage {
		return [3][]byte{hdr, cor.bin[m.off : m.off+n], nil}
	}
	start := m.off
	for !utf8.RuneStart(cor.text[start]) {
		start++
	}
	end := start + n
	for !utf8.RuneStart(cor.text[end]) {
		end--
	}
	return [3][]byte{hdr, cor.text[start:end], soakPad[:n-(end-start)]}
}

// build returns the message in one slice.
func (m soakMsg) build(id int, cor *soakCorpus) []byte {
	pc := m.pieces(id, cor)
	p := make([]byte, 0, m.size)
	for _, b := range pc {
		p = append(p, b...)
	}
	return p
}

// soakConsume checks that p is what comes next in want and consumes it
// from want.
func soakConsume(want *[3][]byte, p []byte) bool {
	for i := range want {
		n := min(len(p), len(want[i]))
		if !bytes.Equal(p[:n], want[i][:n]) {
			return false
		}
		want[i] = want[i][n:]
		p = p[n:]
	}
	return len(p) == 0
}

// soakLogUniform returns a number from 0 to max with log-uniform
// distribution: n+1 is e^U for U uniform in [0, ln(max+2)).
func soakLogUniform(rng *rand.Rand, max int) int {
	n := int(math.Exp(rng.Float64()*math.Log(float64(max)+2))) - 1
	return min(n, max)
}

// ---- Measurements ----

// soakSettle polls count until it is at most limit, for up to
// soakSettleTime, and returns the last count and whether it got there.
// A limit below zero (no /proc) is met at once.
func soakSettle(limit int, count func() int) (int, bool) {
	deadline := time.Now().Add(soakSettleTime)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n := count()
		if n <= limit || limit < 0 {
			return n, true
		}
		if time.Now().After(deadline) {
			return n, false
		}
		<-tick.C
	}
}

// soakFDs returns the number of open file descriptors of the process, or
// -1 without /proc.
func soakFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// soakPeakRSS returns the peak resident set size of the process in bytes
// (VmHWM), or 0 without /proc.
func soakPeakRSS() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// soakHeapSampler samples HeapInuse while the soak runs.
type soakHeapSampler struct {
	stopc chan struct{}
	peak  chan uint64
}

func soakStartHeapSampler() *soakHeapSampler {
	s := &soakHeapSampler{stopc: make(chan struct{}), peak: make(chan uint64)}
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-tick.C:
			case <-s.stopc:
				s.peak <- peak
				return
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the peak HeapInuse in bytes.
func (s *soakHeapSampler) stop() uint64 {
	close(s.stopc)
	return <-s.peak
}
