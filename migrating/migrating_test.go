// Package migrating keeps programs written for gorilla/websocket and
// coder/websocket next to their ports to this library, and runs one client
// script against both.
//
// Each program lives in NAME/before (as written for its own library) and
// NAME/after (ported), each a module of its own that builds a command
// which takes -addr, prints "listening on http://HOST:PORT" to stdout once
// it listens, and exits cleanly on SIGINT and SIGTERM. TestPrograms builds every side that
// exists, starts it on 127.0.0.1, runs the program's script against it
// and stops it.
package migrating

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rfc6455/websocket"
)

// program is a directory of this module with the script that runs
// against all its sides.
type program struct {
	dir    string
	script func(t *testing.T, s *server)
}

var programs = []program{
	{dir: "gorilla-chat", script: chatScript},
	{dir: "gorilla-json", script: jsonScript},
	{dir: "coder-echo", script: coderScript},
}

var sides = []string{"before", "after"}

// skipMissing lists the sides that may be missing: their subtests skip
// rather than fail. Every port is written: a side that goes missing fails
// the test.
var skipMissing = map[string]bool{}

const (
	wait         = 5 * time.Second  // bounds every wait on the network
	buildTimeout = 60 * time.Second // for one go build, dependencies included
	startTimeout = 10 * time.Second // from exec to the listening line
	stopTimeout  = 5 * time.Second  // from SIGINT to exit
)

// TestEveryProgramHasAScript guards against a program directory added
// without a script, which TestPrograms would never run.
func TestEveryProgramHasAScript(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		known := slices.ContainsFunc(programs, func(p program) bool { return p.dir == e.Name() })
		if e.IsDir() && !known {
			t.Errorf("%s: a directory with no script in programs", e.Name())
		}
	}
}

func TestPrograms(t *testing.T) {
	for _, p := range programs {
		t.Run(p.dir, func(t *testing.T) {
			t.Parallel()
			for _, side := range sides {
				t.Run(side, func(t *testing.T) {
					dir := filepath.Join(p.dir, side)
					if _, err := os.Stat(dir); err != nil {
						if errors.Is(err, fs.ErrNotExist) && skipMissing[side] {
							t.Skipf("%s does not exist yet: not ported (see skipMissing)", dir)
						}
						t.Fatal(err)
					}
					s := start(t, build(t, dir))
					s.side = side
					p.script(t, s)
				})
			}
		})
	}
}

// build compiles the program in dir, as `go build` run there would, into
// a temporary directory, and returns the binary's path. It builds with the
// race detector: the ports write to a connection from several goroutines
// at once (a hub's, a shutdown's, a handler's), which gorilla forbids and
// this library allows, and a data race there fails the test.
func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(filepath.Dir(dir))+"-"+filepath.Base(dir))
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-race", "-buildvcs=false", "-o", bin, ".")
	cmd.Dir = dir
	// Each program is a module of its own: no workspace may mix them.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", dir, err, out)
	}
	return bin
}

// server is a running program.
type server struct {
	side   string // "before" or "after"
	addr   string // host:port, as it said it listens
	stderr *lockedBuffer
	stop   func() // sends SIGINT and waits for the exit, once
}

// shutdown stops the server while c, connected to it, waits in a read,
// and returns the close code c sees.
func (s *server) shutdown(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ended := make(chan error, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(wait))
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				ended <- err
				return
			}
		}
	}()
	s.stop()
	err := <-ended
	t.Logf("at shutdown: %v", err)
	code := websocket.CloseStatus(err)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection outlived the server by %v", wait)
	}
	return code
}

func (s *server) url(scheme, path string) string { return scheme + "://" + s.addr + path }

// start runs bin on 127.0.0.1 and waits for its listening line. At the end
// of the test it stops the program with SIGINT, fails the test if the
// program does not exit cleanly or printed more to stdout, and logs what it
// wrote to stderr.
func start(t *testing.T, bin string) *server {
	t.Helper()
	stdout := &firstLine{line: make(chan string, 1)}
	stderr := newLockedBuffer()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
				if exitErr != nil {
					t.Errorf("after SIGINT: %v", exitErr)
				}
			case <-time.After(stopTimeout):
				cmd.Process.Kill()
				<-exited
				t.Errorf("still running %v after SIGINT: killed", stopTimeout)
			}
			if rest := stdout.rest(); rest != "" {
				t.Errorf("printed more than the listening line to stdout: %q", rest)
			}
			if strings.Contains(stderr.String(), "WARNING: DATA RACE") {
				t.Errorf("the race detector found a data race")
			}
			t.Logf("the program's stderr:\n%s", stderr.String())
		})
	}
	t.Cleanup(stop)

	var line string
	select {
	case line = <-stdout.line:
	case <-exited:
		t.Fatalf("exited before listening: %v", exitErr)
	case <-time.After(startTimeout):
		t.Fatalf("no listening line within %v", startTimeout)
	}
	addr, ok := strings.CutPrefix(line, "listening on http://")
	if !ok {
		t.Fatalf("first line %q, want %q", line, "listening on http://HOST:PORT")
	}
	if host, port, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("listening line %q: want the address it listens on, 127.0.0.1:PORT", line)
	}
	return &server{addr: addr, stderr: stderr, stop: stop}
}

// firstLine is a program's stdout: it sends the first line to line and
// keeps the rest.
type firstLine struct {
	line chan string
	mu   sync.Mutex
	buf  bytes.Buffer
	sent bool
}

func (w *firstLine) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		if first, rest, ok := bytes.Cut(w.buf.Bytes(), []byte{'\n'}); ok {
			w.line <- string(first)
			w.sent = true
			rest = bytes.Clone(rest)
			w.buf.Reset()
			w.buf.Write(rest)
		}
	}
	return len(p), nil
}

// rest returns what came after the first line (or all, if none ended).
func (w *firstLine) rest() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// lockedBuffer is a program's stderr, which tests may wait on.
type lockedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed and replaced on every write
}

func newLockedBuffer() *lockedBuffer {
	return &lockedBuffer{written: make(chan struct{})}
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.written)
	b.written = make(chan struct{})
	return b.buf.Write(p)
}

// line waits until a whole line containing s has been written, and
// returns it.
func (b *lockedBuffer) line(t *testing.T, s string) string {
	t.Helper()
	timeout := time.After(wait)
	for {
		b.mu.Lock()
		text, written := b.buf.String(), b.written
		b.mu.Unlock()
		for line := range strings.Lines(text) {
			if strings.Contains(line, s) && strings.HasSuffix(line, "\n") {
				return strings.TrimSuffix(line, "\n")
			}
		}
		select {
		case <-written:
		case <-timeout:
			t.Fatalf("no line naming %s on the program's stderr within %v:\n%s", s, wait, text)
		}
	}
}

// logsCode reports whether the program's log line about the connection
// whose client side is c names the close code the client saw.
func (s *server) logsCode(t *testing.T, c *websocket.Conn, code websocket.StatusCode) bool {
	t.Helper()
	line := s.stderr.line(t, c.LocalAddr().String())
	t.Logf("%s logged: %s", s.side, line)
	return strings.Contains(line, fmt.Sprint(uint16(code)))
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// checkSide compares what a side did, where the sides may differ, with
// what is expected of it. With no expectation written down for the side
// yet, it logs what it saw, for whoever writes one.
func checkSide[T comparable](t *testing.T, s *server, want map[string]*T, got T) {
	t.Helper()
	switch w := want[s.side]; {
	case w == nil:
		t.Logf("%s: observed %+v; no expectation for this side yet", s.side, got)
	case got != *w:
		t.Errorf("%s: observed %+v, want %+v", s.side, got, *w)
	default:
		t.Logf("%s: observed %+v, as expected", s.side, got)
	}
}

// shutdownSide is what a client connected when the program is stopped
// sees: the close code, StatusAbnormalClosure when TCP ends without a
// close frame.
type shutdownSide struct {
	code websocket.StatusCode
}

// outcome is what became of a message that a server may refuse: echoed;
// the connection closed, with the code the client saw
// (StatusAbnormalClosure when no close frame came); or, when neither,
// ignored.
type outcome struct {
	echoed bool
	close  websocket.StatusCode
	// logsCode says, for a close, whether the server's log of it names
	// the code.
	logsCode bool
}

// dial connects to url; the connection is closed at the end of the test,
// before the program is stopped.
func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	c, err := websocket.Dial(ctx, url, &websocket.DialOptions{CloseTimeout: wait})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *websocket.Conn, text string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(wait))
	if err := c.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		t.Fatalf("send %.40q: %v", text, err)
	}
}

// closeCode returns the code of the *CloseError err, and false if it is
// none.
func closeCode(err error) (websocket.StatusCode, bool) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, true
	}
	return 0, false
}

// The chat room (gorilla-chat). Clients send lines as text messages at
// /ws; every member receives every line, in text messages of one or more
// lines separated by "\n".

// chatSide is what chat sides may do differently.
type chatSide struct {
	// overLimit is the close code a member sees after sending a message
	// longer than the room's limit of 512 bytes.
	overLimit websocket.StatusCode
	// logsCode says whether the server's log of that connection's end
	// names the code.
	logsCode bool
}

var chatSides = map[string]*chatSide{
	// gorilla sends 1009 from SetReadLimit, then drops TCP; the read
	// error, ErrReadLimit, does not carry the code.
	"before": {overLimit: websocket.StatusMessageTooBig},
	// CloseStatus gives the code this side sent.
	"after": {overLimit: websocket.StatusMessageTooBig, logsCode: true},
}

// chatter is a member of the chat, whose messages a goroutine of its own
// reads and splits into lines.
type chatter struct {
	name  string
	conn  *websocket.Conn
	lines chan string // closed when the connection ends, after err is set
	pongs chan string
	err   error // the read error that ended the connection
}

func joinChat(t *testing.T, s *server, name string) *chatter {
	t.Helper()
	c := &chatter{
		name:  name,
		conn:  dial(t, s.url("ws", "/ws")),
		lines: make(chan string, 1000),
		pongs: make(chan string, 1),
	}
	c.conn.SetPongHandler(func(p []byte) {
		select {
		case c.pongs <- string(p):
		default:
		}
	})
	go c.read()
	return c
}

func (c *chatter) read() {
	defer close(c.lines)
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			c.err = err
			return
		}
		for line := range strings.SplitSeq(string(msg), "\n") {
			c.lines <- line
		}
	}
}

// next returns the next n lines, however they were batched into messages.
func (c *chatter) next(t *testing.T, n int) []string {
	t.Helper()
	timeout := time.After(wait)
	var got []string
	for len(got) < n {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("connection ended after %q of %d lines: %v", got, n, c.err)
			}
			got = append(got, line)
		case <-timeout:
			t.Fatalf("got %q of %d lines within %v", got, n, wait)
		}
	}
	return got
}

func (c *chatter) expect(t *testing.T, want ...string) {
	t.Helper()
	if got := c.next(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("got lines %q, want %q", got, want)
	}
}

// end waits for the connection to end, receiving no line first, and
// returns the error that ended it.
func (c *chatter) end(t *testing.T) error {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if ok {
			t.Fatalf("got line %.40q, want the connection to end", line)
		}
		return c.err
	case <-time.After(wait):
		t.Fatalf("connection still open after %v", wait)
		return nil
	}
}

func everyone(t *testing.T, cs []*chatter, want ...string) {
	t.Helper()
	for _, c := range cs {
		c.expect(t, want...)
	}
}

func chatScript(t *testing.T, s *server) {
	checkPage(t, s.url("http", "/"))

	// Each member sees its own first line: from then on it is in the
	// room, and sees every line sent after.
	alice := joinChat(t, s, "alice")
	send(t, alice.conn, "alice: hi")
	alice.expect(t, "alice: hi")
	bob := joinChat(t, s, "bob")
	send(t, bob.conn, "bob: hi")
	everyone(t, []*chatter{alice, bob}, "bob: hi")
	carol := joinChat(t, s, "carol")
	send(t, carol.conn, "carol: hi")
	all := []*chatter{alice, bob, carol}
	everyone(t, all, "carol: hi")

	// A burst, which the server may batch into fewer messages.
	var burst []string
	for i := range 20 {
		burst = append(burst, fmt.Sprintf("alice: line %d", i))
	}
	for _, line := range burst {
		send(t, alice.conn, line)
	}
	everyone(t, all, burst...)

	// Two talking at once: every member sees the lines in one order, and
	// each speaker's lines in the order spoken.
	speakers := []*chatter{alice, bob}
	const each = 10
	var wg sync.WaitGroup
	for _, c := range speakers {
		wg.Go(func() {
			for i := range each {
				c.conn.SetWriteDeadline(time.Now().Add(wait))
				line := fmt.Sprintf("%s: together %d", c.name, i)
				if err := c.conn.WriteMessage(websocket.TextMessage, []byte(line)); err != nil {
					t.Errorf("%s: send: %v", c.name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	order := alice.next(t, len(speakers)*each)
	for _, c := range all[1:] {
		if got := c.next(t, len(order)); !slices.Equal(got, order) {
			t.Fatalf("alice and %s saw different orders:\n%q\n%q", c.name, order, got)
		}
	}
	for _, c := range speakers {
		var heard []string
		for _, line := range order {
			if strings.HasPrefix(line, c.name+": ") {
				heard = append(heard, line)
			}
		}
		for i, line := range heard {
			if want := fmt.Sprintf("%s: together %d", c.name, i); line != want || len(heard) != each {
				t.Fatalf("%s's lines arrived as %q", c.name, heard)
			}
		}
	}

	// The server answers pings.
	if err := alice.conn.Ping([]byte("are you there")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-alice.pongs:
		if p != "are you there" {
			t.Fatalf("pong %q, want the ping's payload", p)
		}
	case <-time.After(wait):
		t.Fatalf("no pong within %v", wait)
	}

	// Carol leaves, with a close handshake; the others go on.
	if err := carol.conn.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if code, _ := closeCode(carol.end(t)); code != websocket.StatusNormalClosure {
		t.Fatalf("closing with 1000: the server answered %v, want 1000", code)
	}
	send(t, alice.conn, "alice: carol left")
	all = []*chatter{alice, bob}
	everyone(t, all, "alice: carol left")

	// A message over the limit ends its sender's connection, and only
	// that one. 2 KiB is over the limit, and short enough to arrive whole
	// in gorilla's first read (its buffer is 4 KiB): gorilla drops TCP
	// right behind its close frame, and bytes of the message still unread
	// then would turn that into a reset, which can fail the client's write
	// before it reads the close (seen now and then with 64 KiB).
	send(t, bob.conn, strings.Repeat("x", 2048))
	err := bob.end(t)
	code, _ := closeCode(err)
	t.Logf("over the limit: %v", err)
	checkSide(t, s, chatSides, chatSide{overLimit: code, logsCode: s.logsCode(t, bob.conn, code)})
	send(t, alice.conn, "alice: still here")
	alice.expect(t, "alice: still here")

	// The program stops: the room says goodbye.
	s.stop()
	code, _ = closeCode(alice.end(t))
	checkSide(t, s, chatShutdown, shutdownSide{code})
}

var chatShutdown = map[string]*shutdownSide{
	// The room's goroutine closes every queue, and each write pump sends
	// 1001.
	"before": {websocket.StatusGoingAway},
	"after":  {websocket.StatusGoingAway},
}

// checkPage asserts that url serves an HTML page.
func checkPage(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: wait}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET %s: %s, %s; want 200 and an HTML page", url, resp.Status, ct)
	}
}

// The JSON echoes (gorilla-json at /echo, coder-echo at /echo): each
// message {"seq":N,"text":"..."} comes back with "server_time" added.

// echoSide is what JSON echo sides may do differently.
type echoSide struct {
	notJSON  outcome // a text message that is not JSON
	trailing outcome // a JSON value followed by more text
	newline  bool    // replies end in "\n", as json.Encoder writes them
}

var jsonSides = map[string]*echoSide{
	// ReadJSON decodes the first value and ignores the rest; on an error
	// the handler returns and its deferred Close drops TCP without a
	// close frame, and logs the decoding error. WriteJSON encodes with
	// json.Encoder, which ends every value with a newline.
	"before": {
		notJSON:  outcome{close: websocket.StatusAbnormalClosure},
		trailing: outcome{echoed: true},
		newline:  true,
	},
	// ReadJSON refuses trailing text, as json.Unmarshal does; the port
	// closes with 1007 and a reason (MIGRATING.md's idiom), and logs it.
	"after": {
		notJSON:  outcome{close: websocket.StatusInvalidFramePayloadData, logsCode: true},
		trailing: outcome{close: websocket.StatusInvalidFramePayloadData, logsCode: true},
		newline:  true,
	},
}

type echoRequest struct {
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

type echoReply struct {
	Seq        int       `json:"seq"`
	Text       string    `json:"text"`
	ServerTime time.Time `json:"server_time"`
}

func jsonScript(t *testing.T, s *server) {
	url := s.url("ws", "/echo")
	jsonEcho(t, s, url, jsonSides)

	// A client in the middle of a conversation when the program stops.
	c := dial(t, url)
	send(t, c, `{"seq":1,"text":"still here"}`)
	readReply(t, c, "still here")
	checkSide(t, s, jsonShutdown, shutdownSide{s.shutdown(t, c)})
}

var jsonShutdown = map[string]*shutdownSide{
	// Shutdown leaves upgraded connections alone, and they end with the
	// process, without a close frame.
	"before": {websocket.StatusAbnormalClosure},
	// The request's context ends with the signal (BaseContext), and the
	// handler closes with 1001 (MIGRATING.md, Shutting down).
	"after": {websocket.StatusGoingAway},
}

// jsonEcho runs the echo script against url.
func jsonEcho(t *testing.T, s *server, url string, sides map[string]*echoSide) {
	t.Helper()
	var got echoSide
	c := dial(t, url)
	texts := []string{
		"hello",
		"",
		"ünïcødé ✓ 漢字",
		`"quotes" and \backslashes\`,
		"line one\nline two",
		strings.Repeat("long ", 1000),
	}
	startTime := time.Now()
	for i, text := range texts {
		req, _ := json.Marshal(echoRequest{Seq: i + 1, Text: text})
		send(t, c, string(req))
		reply := readReply(t, c, string(req))
		if reply.Seq != i+1 || reply.Text != text {
			t.Fatalf("sent %.60s, got back seq %d text %.40q", req, reply.Seq, reply.Text)
		}
		if reply.ServerTime.Before(startTime.Add(-time.Minute)) || reply.ServerTime.After(time.Now().Add(time.Minute)) {
			t.Fatalf("server_time %v, want about now", reply.ServerTime)
		}
		if i == 0 {
			got.newline = reply.newline
		} else if reply.newline != got.newline {
			t.Fatalf("some replies end in a newline and some do not")
		}
	}

	// Done: a client that closes is answered at once, where one that
	// goes quiet would hold a port's shutdown for its close timeout.
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	got.notJSON = outcomeOf(t, s, url, `this is not JSON`)
	got.trailing = outcomeOf(t, s, url, `{"seq":1,"text":"a"} and then some`)
	checkSide(t, s, sides, got)
}

type reply struct {
	echoReply
	newline bool
}

// readReply reads a JSON message from c and decodes it.
func readReply(t *testing.T, c *websocket.Conn, sent string) reply {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	typ, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("sent %.60s, no reply: %v", sent, err)
	}
	var r reply
	if typ != websocket.TextMessage {
		t.Fatalf("sent %.60s, got a %v message back, want text", sent, typ)
	}
	if err := json.Unmarshal(msg, &r.echoReply); err != nil {
		t.Fatalf("sent %.60s, got back %.60q: %v", sent, msg, err)
	}
	r.newline = bytes.HasSuffix(msg, []byte{'\n'})
	return r
}

// outcomeOf sends payload on a connection of its own, and returns what
// the server made of it.
func outcomeOf(t *testing.T, s *server, url, payload string) outcome {
	t.Helper()
	c := dial(t, url)
	send(t, c, payload)
	c.SetReadDeadline(time.Now().Add(wait))
	_, msg, err := c.ReadMessage()
	if err == nil {
		t.Logf("%q: echoed as %q", payload, msg)
		return outcome{echoed: true}
	}
	code, ok := closeCode(err)
	if !ok {
		t.Fatalf("%q: neither echoed nor closed: %v", payload, err)
	}
	t.Logf("%q: %v", payload, err)
	return outcome{close: code, logsCode: s.logsCode(t, c, code)}
}

// The coder echo (coder-echo): the JSON echo at /echo, and ticks
// {"seq":N,"time":"..."} pushed at /ticks, which reads nothing but the
// close.

var coderEchoSides = map[string]*echoSide{
	// wsjson.Read closes with 1007 when json.Unmarshal fails, which it
	// does on trailing text too; CloseStatus of its error is -1, so the
	// log has no code. wsjson.Write, like gorilla's WriteJSON, ends every
	// value with a newline.
	"before": {
		notJSON:  outcome{close: websocket.StatusInvalidFramePayloadData},
		trailing: outcome{close: websocket.StatusInvalidFramePayloadData},
		newline:  true,
	},
	// The same on the wire; the log names the code.
	"after": {
		notJSON:  outcome{close: websocket.StatusInvalidFramePayloadData, logsCode: true},
		trailing: outcome{close: websocket.StatusInvalidFramePayloadData, logsCode: true},
		newline:  true,
	},
}

// ticksSide is what coder-echo sides may do differently at /ticks.
type ticksSide struct {
	data outcome // a data message from the client
}

var ticksSides = map[string]*ticksSide{
	// CloseRead closes with 1008 on any data message, and so does the
	// port's reading goroutine (MIGRATING.md's idiom).
	"before": {data: outcome{close: websocket.StatusPolicyViolation}},
	"after":  {data: outcome{close: websocket.StatusPolicyViolation}},
}

type tick struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
}

func coderScript(t *testing.T, s *server) {
	jsonEcho(t, s, s.url("ws", "/echo"), coderEchoSides)

	// Ticks arrive, numbered from 1 and in time order; a close with 1000
	// is answered with 1000.
	c := dial(t, s.url("ws", "/ticks"))
	var last tick
	for seq := 1; seq <= 3; seq++ {
		c.SetReadDeadline(time.Now().Add(wait))
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("tick %d: %v", seq, err)
		}
		var tk tick
		if err := json.Unmarshal(msg, &tk); err != nil {
			t.Fatalf("tick %d: %q: %v", seq, msg, err)
		}
		if tk.Seq != seq || tk.Time.IsZero() || tk.Time.Before(last.Time) {
			t.Fatalf("tick %+v after %+v, want seq %d and a time no earlier", tk, last, seq)
		}
		last = tk
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	_, _, err := c.ReadMessage()
	if code, _ := closeCode(err); code != websocket.StatusNormalClosure {
		t.Fatalf("after closing with 1000: %v, want the server's close with 1000", err)
	}

	// A client that sends data to /ticks, which expects none.
	c = dial(t, s.url("ws", "/ticks"))
	send(t, c, "hello?")
	checkSide(t, s, ticksSides, ticksSide{data: untilClosed(t, c)})

	// A client of each endpoint when the program stops.
	echo := dial(t, s.url("ws", "/echo"))
	send(t, echo, `{"seq":1,"text":"still here"}`)
	readReply(t, echo, "still here")
	ticks := dial(t, s.url("ws", "/ticks"))
	ticks.SetReadDeadline(time.Now().Add(wait))
	if _, _, err := ticks.ReadMessage(); err != nil {
		t.Fatalf("waiting for a tick: %v", err)
	}
	codes := make(chan websocket.StatusCode, 1)
	go func() { codes <- untilEnd(ticks) }()
	echoCode := s.shutdown(t, echo)
	checkSide(t, s, coderShutdown, [2]shutdownSide{{echoCode}, {<-codes}})
}

// untilEnd reads c until it ends, at most wait from now, and returns the
// close code.
func untilEnd(c *websocket.Conn) websocket.StatusCode {
	c.SetReadDeadline(time.Now().Add(wait))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// coderShutdown is what a client of /echo and one of /ticks see when the
// program stops.
var coderShutdown = map[string]*[2]shutdownSide{
	// Shutdown leaves upgraded connections alone, and they end with the
	// process, without a close frame.
	"before": {{websocket.StatusAbnormalClosure}, {websocket.StatusAbnormalClosure}},
	// Both endpoints close with 1001 when the signal comes.
	"after": {{websocket.StatusGoingAway}, {websocket.StatusGoingAway}},
}

// untilClosed reads c, skipping data messages, until it closes, or until a
// second has passed with it open.
func untilClosed(t *testing.T, c *websocket.Conn) outcome {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		_, _, err := c.ReadMessage()
		switch code, closed := closeCode(err); {
		case err == nil:
			continue
		case closed:
			t.Logf("data to /ticks: %v", err)
			return outcome{close: code}
		case errors.Is(err, os.ErrDeadlineExceeded):
			return outcome{} // still open: the data was ignored
		default:
			t.Fatalf("data to /ticks: %v", err)
		}
	}
}
