//go:build linux

// The tests run nodes as they run in production: the program, built once,
// each node a process of its own on a 127.0.0.1 port, joined to a bus that
// the test hosts, a NATS server in the test process or a redis-server
// process. They count a node's open files in /proc and give a stalled
// member a small socket buffer, hence Linux only.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rfc6455/websocket"
)

// testTimeout bounds every wait for one thing: a message, a log line, a
// process to start or exit.
const testTimeout = 10 * time.Second

// program is the node's binary, built once by TestMain.
var program string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cluster-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	program = filepath.Join(dir, "cluster")
	build := exec.Command("go", "build", "-o", program, ".")
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The bus messages that a node logs. The tests look for them, so a change
// here must be a change to them too.
const (
	busDownLog = "bus: broadcasting to this node's members only"
	busBackLog = "bus: broadcasting to every node again"
)

// lines is what a process has written to stderr, one entry a line, for
// tests to wait on.
type lines struct {
	mu      sync.Mutex
	all     []string
	changed chan struct{} // closed, and replaced, at each new line
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) add(s string) {
	l.mu.Lock()
	l.all = append(l.all, s)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// len returns the number of lines so far: an index for find and count to
// start from, to see only what comes after.
func (l *lines) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

// count returns how many lines, from index from on, contain want.
func (l *lines) count(want string, from int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.all[from:] {
		if strings.Contains(s, want) {
			n++
		}
	}
	return n
}

// find waits up to d for a line, from index from on, that contains want.
func (l *lines) find(want string, from int, d time.Duration) (string, bool) {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		l.mu.Lock()
		for _, s := range l.all[from:] {
			if strings.Contains(s, want) {
				l.mu.Unlock()
				return s, true
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-timeout.C:
			return "", false
		}
	}
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// node is a node's process.
type node struct {
	name string // node-PORT, the default the tests start nodes with
	addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	log  *lines // its stderr
	done chan struct{}
	err  error // cmd.Wait's, once done is closed
}

var listeningRE = regexp.MustCompile(`listening on http://(127\.0\.0\.1:(\d+))$`)

// startNode starts a node on a port of the system's choosing, with args
// after -addr, and waits until it says where it listens. When the test
// ends the node is stopped with SIGTERM, or SIGKILL if that is not enough.
func startNode(t *testing.T, args ...string) *node {
	t.Helper()
	n := &node{
		cmd:  exec.Command(program, append([]string{"-addr", "127.0.0.1:0"}, args...)...),
		log:  newLines(),
		done: make(chan struct{}),
	}
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			n.log.add(sc.Text())
		}
		n.err = n.cmd.Wait() // after the last read, as StderrPipe requires
		close(n.done)
	}()
	t.Cleanup(func() {
		n.stop(t, syscall.SIGTERM)
		if t.Failed() {
			t.Logf("%s (%s) logged:\n%s", n.name, n.addr, n.log)
		}
	})
	line, ok := n.log.find("listening on http://", 0, testTimeout)
	if !ok {
		t.Fatalf("the node never said where it listens; it logged:\n%s", n.log)
	}
	m := listeningRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("listening line %q: want listening on http://127.0.0.1:PORT", line)
	}
	n.addr, n.name = m[1], "node-"+m[2]
	return n
}

// stop sends sig, unless the node has exited, and waits until it has;
// SIGKILL follows if it is still there after testTimeout.
func (n *node) stop(t *testing.T, sig syscall.Signal) {
	select {
	case <-n.done:
		return
	default:
	}
	n.cmd.Process.Signal(sig)
	select {
	case <-n.done:
		return
	case <-time.After(testTimeout):
		t.Errorf("%s did not exit within %v of %v", n.name, testTimeout, sig)
	}
	n.cmd.Process.Kill()
	<-n.done // bounded: nothing outlives SIGKILL
}

// openFiles returns the number of files the node has open.
func (n *node) openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", n.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// startNodes starts k nodes with the same arguments.
func startNodes(t *testing.T, k int, args ...string) []*node {
	t.Helper()
	nodes := make([]*node, k)
	for i := range nodes {
		nodes[i] = startNode(t, args...)
	}
	return nodes
}

// dial opens a connection to n's chat, closed at the end of the test.
func dial(t *testing.T, n *node, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.Subprotocols = []string{"chat"}
	opts.CloseTimeout = 2 * time.Second // keeps the cleanup short
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := websocket.Dial(ctx, "ws://"+n.addr+"/ws", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *websocket.Conn, text string) {
	t.Helper()
	if err := write(c, text); err != nil {
		t.Fatal(err)
	}
}

func write(c *websocket.Conn, text string) error {
	c.SetWriteDeadline(time.Now().Add(testTimeout))
	return c.WriteMessage(websocket.TextMessage, []byte(text))
}

// member is a client of the room: a goroutine reads its connection
// throughout, so that it never falls behind while the test looks
// elsewhere.
type member struct {
	name string
	node *node
	c    *websocket.Conn
	msgs chan string   // messages, in the order read
	quit chan struct{} // closed at the end of the test: stop queueing
	done chan struct{} // closed once reading has ended, with err
	err  error

	mu   sync.Mutex
	seen []string // every message read
}

// join connects a member called name to n, and reads the node's welcome
// and its own join event, so that when it returns the member is in the
// room.
func join(t *testing.T, n *node, name string) *member {
	t.Helper()
	m := &member{
		name: name,
		node: n,
		c:    dial(t, n, nil),
		msgs: make(chan string, 10000),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	t.Cleanup(func() { close(m.quit) }) // runs before dial's Close
	go m.readAll()
	m.expect(t, welcomeJSON(n.name))
	send(t, m.c, name)
	// The joins of other nodes' members may come first: the hub adds the
	// member, then the room broadcasts its join, and the bus's messages
	// can go between.
	m.skipTo(t, joinJSON(name, n.name), isJoin)
	return m
}

func (m *member) readAll() {
	defer close(m.done)
	for {
		_, p, err := m.c.ReadMessage()
		if err != nil {
			m.err = err
			return
		}
		m.mu.Lock()
		m.seen = append(m.seen, string(p))
		m.mu.Unlock()
		select {
		case m.msgs <- string(p):
		case <-m.quit: // nobody is looking: read on, so that Close completes
		}
	}
}

var errNoMessage = errors.New("no message")

// next returns the next message, waiting up to d; after the last one it
// returns the error that ended the connection.
func (m *member) next(d time.Duration) (string, error) {
	select {
	case s := <-m.msgs:
		return s, nil
	default:
	}
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	select {
	case s := <-m.msgs:
		return s, nil
	case <-m.done:
		select { // every message is queued before done is closed
		case s := <-m.msgs:
			return s, nil
		default:
			return "", m.err
		}
	case <-timeout.C:
		return "", errNoMessage
	}
}

// read returns the next message that skip does not want skipped (nil:
// the next message).
func (m *member) read(t *testing.T, skip func(string) bool) string {
	t.Helper()
	for {
		s, err := m.next(testTimeout)
		if err != nil {
			t.Fatalf("%s on %s: %v", m.name, m.node.name, err)
		}
		if skip == nil || !skip(s) {
			return s
		}
	}
}

func (m *member) expect(t *testing.T, want string) {
	t.Helper()
	if got := m.read(t, nil); got != want {
		t.Fatalf("%s on %s got  %.200s\nwant %.200s", m.name, m.node.name, got, want)
	}
}

// skipTo reads until want, failing on anything else that skip does not
// skip.
func (m *member) skipTo(t *testing.T, want string, skip func(string) bool) {
	t.Helper()
	got := m.read(t, func(s string) bool { return s != want && skip(s) })
	if got != want {
		t.Fatalf("%s on %s got  %.200s\nwant %.200s", m.name, m.node.name, got, want)
	}
}

// end waits for the connection to end, skipping what is left to read,
// and returns the error that ended it.
func (m *member) end(t *testing.T) error {
	t.Helper()
	select {
	case <-m.done:
		return m.err
	case <-time.After(testTimeout):
		t.Fatalf("%s on %s: the connection did not end within %v", m.name, m.node.name, testTimeout)
		return nil
	}
}

// saw reports whether the member has read s.
func (m *member) saw(s string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range m.seen {
		if x == s {
			return true
		}
	}
	return false
}

// The protocol's events, written out by hand rather than with the
// server's own types.
func welcomeJSON(node string) string {
	return fmt.Sprintf(`{"type":"welcome","node":%s}`, jsonString(node))
}

func joinJSON(name, node string) string {
	return fmt.Sprintf(`{"type":"join","name":%s,"node":%s}`, jsonString(name), jsonString(node))
}

func leaveJSON(name, node string) string {
	return fmt.Sprintf(`{"type":"leave","name":%s,"node":%s}`, jsonString(name), jsonString(node))
}

func messageJSON(name, node, text string) string {
	return fmt.Sprintf(`{"type":"message","name":%s,"node":%s,"text":%s}`,
		jsonString(name), jsonString(node), jsonString(text))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// decoded is an event taken apart, to sort what a member reads.
type decoded struct {
	Type, Name, Node, Text string
}

func decode(s string) decoded {
	var e decoded
	json.Unmarshal([]byte(s), &e)
	return e
}

const probePrefix = "probe "

func isJoin(s string) bool { return decode(s).Type == "join" }

// isNoise reports whether s is a join or a probe: what members read in
// varying numbers while the nodes subscribe, and tests skip.
func isNoise(s string) bool {
	e := decode(s)
	return e.Type == "join" || e.Type == "message" && strings.HasPrefix(e.Text, probePrefix)
}

// span waits until each member's node receives what the other nodes
// broadcast. A node's hub subscribes to the bus when its first member
// joins, a moment later, and again when the bus comes back; what is
// broadcast before then does not reach it (at most once). So each member
// sends probe lines, one a round, until each has read a probe from
// another node. The members must be on different nodes.
func span(t *testing.T, ms ...*member) {
	t.Helper()
	deadline := time.Now().Add(2 * testTimeout) // resubscribing backs off up to 5 s
	ready := make([]bool, len(ms))
	for round := 0; ; round++ {
		all := true
		for _, r := range ready {
			all = all && r
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not all receive each other's lines within %v: %v", 2*testTimeout, ready)
		}
		for _, m := range ms {
			send(t, m.c, fmt.Sprintf("%s%d", probePrefix, round))
		}
		for i, m := range ms {
			// A round's probes arrive within milliseconds once the
			// nodes are subscribed; until then none do.
			wait := time.NewTimer(300 * time.Millisecond)
		read:
			for !ready[i] {
				select {
				case s := <-m.msgs:
					e := decode(s)
					ready[i] = strings.HasPrefix(e.Text, probePrefix) && e.Node != m.node.name
				case <-m.done:
					t.Fatalf("%s on %s: %v", m.name, m.node.name, m.err)
				case <-wait.C:
					break read
				}
			}
			wait.Stop()
		}
	}
}

// testBus is a bus that the test hosts, and that nodes join with args.
type testBus interface {
	args() []string
	stop(t *testing.T)
	start(t *testing.T) // again, on the same port
}

// buses are the buses every node can join, for the tests that run on
// each.
var buses = []struct {
	name  string
	start func(t *testing.T) testBus
}{
	{
		name:  "NATS",
		start: func(t *testing.T) testBus { return startNATS(t) },
	},
	{
		name:  "Redis",
		start: func(t *testing.T) testBus { return startRedis(t) },
	},
}

// natsServer is a NATS server in the test process, on a loopback port
// that it keeps across a restart.
type natsServer struct {
	s    *server.Server
	port int
}

func startNATS(t *testing.T) *natsServer {
	t.Helper()
	ns := &natsServer{port: server.RANDOM_PORT}
	ns.start(t)
	t.Cleanup(func() { ns.s.Shutdown(); ns.s.WaitForShutdown() })
	return ns
}

func (ns *natsServer) start(t *testing.T) {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: ns.port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(testTimeout) {
		t.Fatal("the NATS server did not start")
	}
	ns.s, ns.port = s, s.Addr().(*net.TCPAddr).Port
}

func (ns *natsServer) stop(t *testing.T) { ns.s.Shutdown(); ns.s.WaitForShutdown() }

func (ns *natsServer) args() []string {
	return []string{"-nats", fmt.Sprintf("nats://127.0.0.1:%d", ns.port)}
}

// redisServer is a redis-server process on a loopback port that it keeps
// across a restart.
type redisServer struct {
	path string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts redis-server, or skips the test if there is none,
// except under CI=true, where .ci/run has installed it.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	rs := &redisServer{path: path, port: freePort(t)}
	rs.start(t)
	t.Cleanup(func() { rs.stop(t) })
	return rs
}

func (rs *redisServer) start(t *testing.T) {
	t.Helper()
	rs.cmd = exec.Command(rs.path, "--bind", "127.0.0.1", "--port", fmt.Sprint(rs.port),
		"--save", "", "--appendonly", "no")
	out, err := rs.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready, done := make(chan struct{}), make(chan struct{})
	rs.done = done
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				close(ready)
			}
		}
		rs.cmd.Wait()
		close(done)
	}()
	select {
	case <-ready:
	case <-done:
		t.Fatal("redis-server exited before it was ready")
	case <-time.After(testTimeout):
		t.Fatal("redis-server was not ready in time")
	}
}

func (rs *redisServer) stop(t *testing.T) {
	select {
	case <-rs.done:
		return
	default:
	}
	rs.cmd.Process.Kill()
	<-rs.done
}

func (rs *redisServer) args() []string {
	return []string{"-redis", fmt.Sprintf("127.0.0.1:%d", rs.port)}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Three nodes, two members on each, every member sending lines at once:
// each member reads every line of every member, its own included, once,
// and each member's lines in the order sent.
func TestRoomSpansNodes(t *testing.T) {
	for _, bus := range buses {
		t.Run(bus.name, func(t *testing.T) {
			b := bus.start(t)
			var members []*member
			for _, n := range startNodes(t, 3, b.args()...) {
				// The same names on each node: the node tells them apart.
				for _, name := range []string{"alice", "bob"} {
					members = append(members, join(t, n, name))
				}
			}
			span(t, members[0], members[2], members[4])

			const perMember = 40
			line := func(m *member, i int) string {
				return fmt.Sprintf("line %d of %s on %s", i, m.name, m.node.name)
			}
			errs := make(chan error, len(members))
			for _, m := range members {
				go func() {
					for i := range perMember {
						if err := write(m.c, line(m, i)); err != nil {
							errs <- err
							return
						}
					}
					errs <- nil
				}()
			}
			for range members {
				if err := <-errs; err != nil { // bounded by write's deadline
					t.Fatal(err)
				}
			}

			for _, m := range members {
				next := make(map[*member]int) // each sender's next line
				for finished := 0; finished < len(members); {
					got := m.read(t, isNoise)
					e := decode(got)
					var from *member
					for _, s := range members {
						if s.name == e.Name && s.node.name == e.Node {
							from = s
						}
					}
					if from == nil || next[from] == perMember {
						t.Fatalf("%s on %s got %s, from nobody still sending", m.name, m.node.name, got)
					}
					if want := messageJSON(from.name, from.node.name, line(from, next[from])); got != want {
						t.Fatalf("%s on %s got  %s\nwant %s", m.name, m.node.name, got, want)
					}
					if next[from]++; next[from] == perMember {
						finished++
					}
				}
			}

			// Then a last line from each node: the next each member reads,
			// whatever their order, and with no line above again before.
			var over []*member
			for i := 0; i < len(members); i += 2 {
				over = append(over, members[i])
				send(t, members[i].c, "over")
			}
			for _, m := range members {
				want := make(map[string]bool)
				for _, from := range over {
					want[messageJSON(from.name, from.node.name, "over")] = true
				}
				for len(want) > 0 {
					got := m.read(t, isNoise)
					if !want[got] {
						t.Fatalf("%s on %s got %s, want one of %v", m.name, m.node.name, got, want)
					}
					delete(want, got)
				}
			}
		})
	}
}

// While the bus is down a node's lines reach its own members only, and
// it says so, once; once the bus is back the room spans the nodes again,
// and no connection to the bus or to a member is left behind.
func TestBusDownAndBack(t *testing.T) {
	for _, bus := range buses {
		t.Run(bus.name, func(t *testing.T) {
			b := bus.start(t)
			nodes := startNodes(t, 2, b.args()...)
			a, other := nodes[0], nodes[1]
			alice, amy := join(t, a, "alice"), join(t, a, "amy")
			bob := join(t, other, "bob")
			span(t, alice, bob)
			files := []int{a.openFiles(t), other.openFiles(t)}

			logFrom := a.log.len()
			b.stop(t)
			// The node notices the outage within a moment; until then
			// its lines are published into a connection that is gone.
			// Either way they reach alice and amy, and nobody else.
			var down []string
			for i := 0; ; i++ {
				if i == 100 {
					t.Fatalf("%s never logged %q", a.name, busDownLog)
				}
				text := fmt.Sprintf("while the bus is down, %d", i)
				down = append(down, messageJSON("alice", a.name, text))
				send(t, alice.c, text)
				alice.skipTo(t, down[i], isNoise)
				amy.skipTo(t, down[i], isNoise)
				if _, ok := a.log.find(busDownLog, logFrom, 100*time.Millisecond); ok {
					break
				}
			}
			// A member who comes and goes during the outage: its
			// connection must not outlive it.
			carl := join(t, a, "carl")
			for _, m := range []*member{alice, amy} {
				m.skipTo(t, joinJSON("carl", a.name), isProbe)
			}
			send(t, carl.c, "here for the outage only")
			for _, m := range []*member{alice, amy, carl} {
				m.skipTo(t, messageJSON("carl", a.name, "here for the outage only"), isProbe)
			}

			// Each broadcast publishes after delivering to the node's own
			// members, under the room's lock; so once this last line has
			// reached them every earlier line has been published, or
			// failed to be. This one's own publishing may meet the bus
			// coming back, so the test does not mind where it goes.
			send(t, alice.c, "last while the bus is down")
			for _, m := range []*member{alice, amy, carl} {
				m.skipTo(t, messageJSON("alice", a.name, "last while the bus is down"), isProbe)
			}

			b.start(t)
			span(t, alice, bob)
			if _, ok := a.log.find(busBackLog, logFrom, testTimeout); !ok {
				t.Errorf("%s did not log %q", a.name, busBackLog)
			}
			if n := a.log.count(busDownLog, logFrom); n != 1 {
				t.Errorf("%s logged %q %d times for one outage, want once", a.name, busDownLog, n)
			}
			// A line after the outage reaches bob, and none from during it
			// came before: a node does not queue lines for a bus that is
			// down, to send them late.
			send(t, alice.c, "after the outage")
			for _, m := range []*member{alice, amy, bob} {
				m.skipTo(t, messageJSON("alice", a.name, "after the outage"), func(s string) bool {
					return isNoise(s) || s == messageJSON("alice", a.name, "last while the bus is down")
				})
			}
			for _, s := range append(down, joinJSON("carl", a.name), messageJSON("carl", a.name, "here for the outage only")) {
				if bob.saw(s) {
					t.Errorf("bob, on another node, got %s", s)
				}
			}

			carl.c.Close()
			for _, m := range []*member{alice, amy, bob} {
				m.skipTo(t, leaveJSON("carl", a.name), isNoise)
			}
			for i, n := range nodes {
				waitFiles(t, n, files[i])
				t.Logf("%s: %d files open before the outage, %d after", n.name, files[i], n.openFiles(t))
			}
		})
	}
}

func isProbe(s string) bool {
	e := decode(s)
	return e.Type == "message" && strings.HasPrefix(e.Text, probePrefix)
}

// waitFiles waits until n has at most want files open.
func waitFiles(t *testing.T, n *node, want int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(testTimeout)
	for {
		got := n.openFiles(t)
		if got <= want {
			return
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%s has %d files open, %d before the outage", n.name, got, want)
		}
	}
}

// A member that never reads, on one node, holds up no one on any node:
// the others go on getting every line, a few hundred while it falls
// behind, until its node drops it with 1008 and every node's members hear
// that it left.
func TestStalledMember(t *testing.T) {
	b := startNATS(t)
	nodes := startNodes(t, 3, b.args()...)
	alice := join(t, nodes[0], "alice")
	carol := stalled(t, nodes[0], "carol")
	bob := join(t, nodes[1], "bob")
	cy := join(t, nodes[2], "cy")
	span(t, alice, bob, cy)

	// Lines come from two nodes, so that carol's node has to take some
	// from the bus. Each is sent once the three readers have received the
	// one before: only a member that does not read can fall behind.
	const text = 2000 // bytes
	line := func(i int) string { return fmt.Sprintf("%05d ", i) + strings.Repeat("x", text-6) }
	senders := []*member{alice, bob}
	readers := []*member{alice, bob, cy}
	// On loopback the kernel buffers megabytes for the node's side of
	// carol's socket before the hub's backlog even begins: thousands of
	// lines, not the hundred and thirty that backlogLimit holds.
	const minLines, maxLines = 300, 10000
	leftAt := []int{-1, -1, -1} // the line after which each reader heard carol leave
	var slowest time.Duration
	sent := 0
	for ; sent < minLines || leftAt[0] < 0 || leftAt[1] < 0 || leftAt[2] < 0 || sent < max(leftAt[0], leftAt[1], leftAt[2])+3; sent++ {
		if sent == maxLines {
			t.Fatalf("carol was not dropped after %d lines", maxLines)
		}
		from := senders[sent%2]
		start := time.Now()
		send(t, from.c, line(sent))
		for i, m := range readers {
			got := m.read(t, isNoise)
			if got == leaveJSON("carol", nodes[0].name) {
				if leftAt[i] >= 0 {
					t.Fatalf("%s heard carol leave twice", m.name)
				}
				leftAt[i] = sent - 1
				got = m.read(t, isNoise)
			}
			if want := messageJSON(from.name, from.node.name, line(sent)); got != want {
				t.Fatalf("%s, line %d: got %.80s…, want %.80s…", m.name, sent, got, want)
			}
		}
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("%d lines of %d bytes; carol left after line %d (on alice's node), %d and %d (others); slowest line to reach all three: %v",
		sent, text, leftAt[0], leftAt[1], leftAt[2], slowest)
	if lineBytes := len(messageJSON("alice", nodes[0].name, line(0))); (leftAt[0]+1)*lineBytes < backlogLimit {
		t.Fatalf("carol left after line %d, before a backlog of %d bytes could build up", leftAt[0], backlogLimit)
	}

	// Carol reads a run of lines in order and without a gap, those that
	// reached her socket before she was dropped, then the close frame.
	received := 0
	for {
		carol.SetReadDeadline(time.Now().Add(testTimeout))
		_, msg, err := carol.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "too slow" {
				t.Fatalf("after %d lines: got %v, want close 1008 too slow", received, err)
			}
			break
		}
		if isNoise(string(msg)) {
			continue
		}
		from := senders[received%2]
		if want := messageJSON(from.name, from.node.name, line(received)); string(msg) != want {
			t.Fatalf("carol's line %d: got %.80q…, want %.80q…", received, msg, want)
		}
		received++
	}
	if received > leftAt[0]+1 {
		t.Errorf("carol received %d lines, more than were sent before she left", received)
	}
	t.Logf("carol received %d lines, then close 1008", received)
	if _, ok := nodes[0].log.find(" closed 1008", 0, testTimeout); !ok {
		t.Errorf("%s did not log carol's close 1008", nodes[0].name)
	}
}

// stalled joins a member called name to n, reads what a member reads on
// joining, and then nothing: the caller reads it again, if ever. Its
// socket's receive buffer is small, so that it fills soon.
func stalled(t *testing.T, n *node, name string) *websocket.Conn {
	t.Helper()
	d := net.Dialer{Control: func(network, address string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	c := dial(t, n, &websocket.DialOptions{NetDialContext: d.DialContext})
	read := func() string {
		c.SetReadDeadline(time.Now().Add(testTimeout))
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(msg)
	}
	if got, want := read(), welcomeJSON(n.name); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	send(t, c, name)
	for {
		got := read()
		if got == joinJSON(name, n.name) {
			return c
		}
		if !isJoin(got) {
			t.Fatalf("got %s, want %s's join", got, name)
		}
	}
}

// A node that is killed leaves its members with 1006, one that is stopped
// closes them with 1001 and tells the other nodes that they left, and
// the nodes that remain carry on.
func TestNodesStop(t *testing.T) {
	b := startNATS(t)
	nodes := startNodes(t, 4, b.args()...)
	killed, stopped, live := nodes[0], nodes[1], nodes[2:]
	ann := join(t, killed, "ann")
	ben := join(t, stopped, "ben")
	cat, dan := join(t, live[0], "cat"), join(t, live[1], "dan")
	span(t, ann, ben, cat, dan)

	killed.stop(t, syscall.SIGKILL)
	if code := websocket.CloseStatus(ann.end(t)); code != websocket.StatusAbnormalClosure {
		t.Errorf("ann, on the killed node: %v (close %d), want close 1006", ann.err, code)
	}

	benAddr := ben.c.LocalAddr().String()
	stopped.stop(t, syscall.SIGTERM)
	if code := websocket.CloseStatus(ben.end(t)); code != websocket.StatusGoingAway {
		t.Errorf("ben, on the stopped node: %v (close %d), want close 1001", ben.err, code)
	}
	if stopped.err != nil {
		t.Errorf("%s exited with %v after SIGTERM", stopped.name, stopped.err)
	}
	if _, ok := stopped.log.find(benAddr+" closed 1001", 0, 0); !ok {
		t.Errorf("%s did not log ben's close 1001", stopped.name)
	}
	for _, m := range []*member{cat, dan} {
		m.skipTo(t, leaveJSON("ben", stopped.name), isNoise)
	}

	send(t, cat.c, "still here")
	for _, m := range []*member{cat, dan} {
		m.skipTo(t, messageJSON("cat", live[0].name, "still here"), isNoise)
	}
}

// The commands of README.md: a first node with NATS inside, and others
// that join it.
func TestEmbeddedNATS(t *testing.T) {
	port := freePort(t)
	first := startNode(t, "-nats-listen", fmt.Sprintf("127.0.0.1:%d", port))
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	if _, ok := first.log.find("other nodes join with -nats "+url, 0, 0); !ok {
		t.Errorf("%s does not say how to join it with -nats %s", first.name, url)
	}
	second := startNode(t, "-nats", url)
	alice, bob := join(t, first, "alice"), join(t, second, "bob")
	span(t, alice, bob)
	send(t, alice.c, "hi bob")
	for _, m := range []*member{alice, bob} {
		m.skipTo(t, messageJSON("alice", first.name, "hi bob"), isNoise)
	}
	send(t, bob.c, "hello, alice")
	for _, m := range []*member{alice, bob} {
		m.skipTo(t, messageJSON("bob", second.name, "hello, alice"), isNoise)
	}
}

// A node that cannot do what it was asked says why and exits, at once.
func TestStartFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	closed := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "two buses",
			args: []string{"-nats", "nats://" + closed, "-redis", closed},
			want: "a node joins one bus",
		},
		{
			name: "embedded NATS on a port that is taken",
			args: []string{"-nats-listen", taken.Addr().String()},
			want: "address already in use",
		},
		{
			name: "no NATS there",
			args: []string{"-nats", "nats://" + closed},
			want: "connecting to NATS at nats://" + closed,
		},
		{
			name: "no Redis there",
			args: []string{"-redis", closed},
			want: "connecting to Redis at " + closed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(program, append([]string{"-addr", "127.0.0.1:0"}, tt.args...)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			cmd.WaitDelay = time.Second
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 {
					t.Errorf("exit: %v, want status 1", err)
				}
			case <-time.After(testTimeout):
				cmd.Process.Kill()
				<-exited
				t.Fatalf("still running after %v; it logged:\n%s", testTimeout, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("it logged:\n%s\nwant a line with %q", stderr.String(), tt.want)
			}
		})
	}
}

// The page knows the server's limit, in bytes, so that it refuses a line
// the server would close the connection for.
func TestPageCarriesTheLimit(t *testing.T) {
	n := startNode(t, "-nats-listen", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.addr+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("const maxLine = %d;", maxLine); !strings.Contains(string(body), want) {
		t.Fatalf("the page does not say %q", want)
	}
}
