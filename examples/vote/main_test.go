package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rfc6455/websocket"
)

// testTimeout bounds every wait, so that a broken server fails the test
// instead of hanging it.
const testTimeout = 5 * time.Second

var wantInitial = []string{
	`{"id":"1","name":"Go","count":0}`,
	`{"id":"2","name":"Rust","count":0}`,
	`{"id":"3","name":"Zig","count":0}`,
	`{"id":"4","name":"Elixir","count":0}`,
}

// startPoll serves a fresh poll with the candidates of main, changed by
// the given functions before it serves, and returns it with the URL of its
// page. The poll is closed when the test ends, after the test's own
// connections.
func startPoll(t *testing.T, setup ...func(*poll)) (*poll, string) {
	t.Helper()
	p := newPoll("Go", "Rust", "Zig", "Elixir")
	for _, f := range setup {
		f(p)
	}
	srv := httptest.NewUnstartedServer(p.routes())
	srv.Listener = smallSendBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		p.closeAll()
	})
	return p, srv.URL
}

// smallSendBuffers gives the server's connections the smallest send
// buffer the system allows, and smallReadBuffer does the same for a
// client's receive buffer: a client that stops reading then soon fills the
// buffers between it and the server, and the server's writes to it block.
// With the usual buffers the kernel goes on taking a few more bytes every
// few tens of milliseconds for minutes, and no one write waits for long.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(1)
	}
	return c, err
}

func smallReadBuffer(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := new(net.Dialer).DialContext(ctx, network, addr)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(1)
	}
	return c, err
}

// dial opens a WebSocket connection to the poll served at pageURL.
func dial(t *testing.T, pageURL string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(pageURL, "http")+"/ws", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// join connects to the poll and reads the states sent on connect, so
// that the client is counted in every vote cast after join returns.
func join(t *testing.T, pageURL string) *websocket.Conn {
	t.Helper()
	return joinWith(t, pageURL, nil)
}

func joinWith(t *testing.T, pageURL string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c := dial(t, pageURL, opts)
	for range wantInitial {
		readState(t, c)
	}
	return c
}

// readMessage reads one text message within testTimeout.
func readMessage(c *websocket.Conn) (string, error) {
	c.SetReadDeadline(time.Now().Add(testTimeout))
	typ, msg, err := c.ReadMessage()
	if err == nil && typ != websocket.TextMessage {
		err = fmt.Errorf("got a %v message, want text", typ)
	}
	return string(msg), err
}

// decodeState decodes a candidate's state, refusing any other shape.
func decodeState(msg string) (candidate, error) {
	var cand candidate
	d := json.NewDecoder(strings.NewReader(msg))
	d.DisallowUnknownFields()
	err := d.Decode(&cand)
	if err == nil && cand.ID == "" {
		err = fmt.Errorf("state without an id: %s", msg)
	}
	return cand, err
}

func readState(t *testing.T, c *websocket.Conn) candidate {
	t.Helper()
	msg, err := readMessage(c)
	if err != nil {
		t.Fatal(err)
	}
	cand, err := decodeState(msg)
	if err != nil {
		t.Fatal(err)
	}
	return cand
}

func vote(t *testing.T, c *websocket.Conn, id string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(id)); err != nil {
		t.Fatal(err)
	}
}

func clientCount(p *poll) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.clients)
}

func TestPage(t *testing.T) {
	_, pageURL := startPoll(t)
	resp, err := http.Get(pageURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, page) {
		t.Fatalf("GET / = %s with %d bytes, want 200 with the embedded page", resp.Status, len(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestConnectSendsEveryCandidate(t *testing.T) {
	_, pageURL := startPoll(t)
	c := dial(t, pageURL, nil)
	for _, want := range wantInitial {
		got, err := readMessage(c)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// Votes cast one at a time, each state read before the next vote, reach
// every client as they are counted: with nothing to coalesce, every count
// shows.
func TestVoteReachesEveryClient(t *testing.T) {
	tests := []struct {
		name  string
		votes []string
		want  []string // the state every client receives after each vote, "" for none
	}{
		{
			name:  "one vote",
			votes: []string{"3"},
			want:  []string{`{"id":"3","name":"Zig","count":1}`},
		},
		{
			name:  "counts add up",
			votes: []string{"1", "4", "1", "1"},
			want: []string{
				`{"id":"1","name":"Go","count":1}`,
				`{"id":"4","name":"Elixir","count":1}`,
				`{"id":"1","name":"Go","count":2}`,
				`{"id":"1","name":"Go","count":3}`,
			},
		},
		{
			name:  "unknown ids are ignored",
			votes: []string{"0", "5", "", " 2", "Go", "2"},
			want:  []string{"", "", "", "", "", `{"id":"2","name":"Rust","count":1}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, pageURL := startPoll(t)
			voter, other := join(t, pageURL), join(t, pageURL)
			for i, id := range tt.votes {
				vote(t, voter, id)
				if tt.want[i] == "" {
					continue
				}
				for _, c := range []*websocket.Conn{other, voter} {
					got, err := readMessage(c)
					if err != nil {
						t.Fatal(err)
					}
					if got != tt.want[i] {
						t.Errorf("after vote %q got %s, want %s", id, got, tt.want[i])
					}
				}
			}
		})
	}
}

// Eight clients vote as fast as they can, a hundred votes each, while they
// read. The states coalesce, so a client may skip counts, but every client
// stays connected, never sees a count go down, and ends with exactly the
// votes cast for each candidate.
func TestFlood(t *testing.T) {
	const clients, votes = 8, 100
	p, pageURL := startPoll(t)
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conns[i] = join(t, pageURL)
	}

	// Client i votes round the candidates from an offset of its own, so
	// each candidate gets a quarter of the votes.
	ballot := func(i, n int) string { return fmt.Sprint((i+n)%4 + 1) }
	want := map[string]int{}
	for i := range conns {
		for n := 0; n < votes; n++ {
			want[ballot(i, n)]++
		}
	}

	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for n := 0; n < votes; n++ {
				if err := c.WriteMessage(websocket.TextMessage, []byte(ballot(i, n))); err != nil {
					t.Errorf("client %d: vote %d: %v", i, n, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			got := map[string]int{"1": 0, "2": 0, "3": 0, "4": 0}
			for !maps.Equal(got, want) {
				msg, err := readMessage(c)
				if err != nil {
					t.Errorf("client %d: with %v: %v", i, got, err)
					return
				}
				cand, err := decodeState(msg)
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				if cand.Count < got[cand.ID] || cand.Count > want[cand.ID] {
					t.Errorf("client %d: candidate %s went from %d to %d of %d", i, cand.ID, got[cand.ID], cand.Count, want[cand.ID])
					return
				}
				got[cand.ID] = cand.Count
			}
		}()
	}
	wg.Wait()
	if n := clientCount(p); n != clients {
		t.Errorf("%d clients connected after the flood, want %d", n, clients)
	}
}

// A vote is a few bytes: a longer message is refused with 1009 before the
// server reads it.
func TestLongMessageRefused(t *testing.T) {
	logs := captureLog(t)
	_, pageURL := startPoll(t)
	c := join(t, pageURL)
	vote(t, c, strings.Repeat("1", 65))
	_, err := readMessage(c)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusMessageTooBig {
		t.Errorf("got %v, want close 1009", err)
	}
	// The server logs the code it sent, not 1006.
	expectLog(t, logs, c.LocalAddr().String()+" closed 1009")
}

// captureLog sends each line the server logs to the returned channel for
// the rest of the test.
func captureLog(t *testing.T) <-chan string {
	lines := make(chan string, 100)
	log.SetOutput(writerFunc(func(p []byte) (int, error) {
		select {
		case lines <- string(p):
		default: // nobody is looking for so many lines
		}
		return len(p), nil
	}))
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	return lines
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// expectLog waits until the server has logged a line that contains want.
func expectLog(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		select {
		case line := <-lines:
			if strings.Contains(line, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no log line with %q", want)
		}
	}
}

// A client that stops reading holds up no one: the others go on receiving
// the latest states while the server keeps no more for it than a flag per
// candidate, and once a write to it misses its deadline its connection is
// closed.
func TestStalledClient(t *testing.T) {
	p, pageURL := startPoll(t, func(p *poll) { p.writeTimeout = 200 * time.Millisecond })
	stalled := joinWith(t, pageURL, &websocket.DialOptions{NetDialContext: smallReadBuffer})
	var sc *client // the server's side of stalled
	p.mu.Lock()
	for c := range p.clients {
		sc = c
	}
	p.mu.Unlock()
	voter := join(t, pageURL)

	// The stalled client reads nothing until the server has given up on
	// it. Meanwhile the voter votes and reads, the network buffers to the
	// stalled client fill, and a write to it waits until its deadline.
	const batch = 20
	cast, seen, ahead := 0, 0, 0
	deadline := time.Now().Add(testTimeout)
	for clientCount(p) == 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled client is still connected after %d votes", cast)
		}
		for i := 0; i < batch; i++ {
			vote(t, voter, "1")
		}
		cast += batch
		for seen < cast {
			got := readState(t, voter)
			if got.ID != "1" || got.Count < seen || got.Count > cast {
				t.Fatalf("voter got %+v after count %d of %d", got, seen, cast)
			}
			seen = got.Count
		}
		p.mu.Lock()
		if len(sc.pending) > len(p.candidates) {
			t.Errorf("the server holds %d pending states for a poll of %d candidates", len(sc.pending), len(p.candidates))
		}
		if p.clients[sc] && sc.pending[0] {
			ahead++ // the voter has a count the stalled client is still to be sent
		}
		p.mu.Unlock()
	}
	t.Logf("the stalled client was dropped after %d votes; the voter was ahead of it %d times", cast, ahead)
	if ahead == 0 {
		t.Error("the voter never received a state before the stalled client was sent it")
	}

	vote(t, voter, "2")
	if got := readState(t, voter); got.ID != "2" || got.Count != 1 {
		t.Fatalf("after the drop the voter got %+v, want candidate 2 with 1", got)
	}

	// What was sent before the deadline still arrives, counts going up,
	// then the connection ends without a close frame: the server could not
	// write one.
	last := 0
	for {
		msg, err := readMessage(stalled)
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusAbnormalClosure {
				t.Fatalf("stalled client: got %v, want close 1006", err)
			}
			break
		}
		cand, err := decodeState(msg)
		if err != nil {
			t.Fatal(err)
		}
		if cand.ID != "1" || cand.Count < last {
			t.Fatalf("stalled client got %+v after count %d", cand, last)
		}
		last = cand.Count
	}
	if last >= cast {
		t.Errorf("stalled client received the last count, %d, want it cut off before", cast)
	}
}

// closeAll, which main calls on SIGINT and SIGTERM, sends 1001 to every
// client, waits for them, and turns away clients that arrive later.
func TestShutdownSendsGoingAway(t *testing.T) {
	p, pageURL := startPoll(t)
	conns := []*websocket.Conn{join(t, pageURL), join(t, pageURL)}

	closed := make(chan struct{})
	go func() {
		p.closeAll()
		close(closed)
	}()
	for i, c := range conns {
		_, err := readMessage(c)
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
			t.Errorf("client %d: got %v, want close 1001", i, err)
		}
	}
	select {
	case <-closed:
	case <-time.After(testTimeout):
		t.Fatal("closeAll did not return")
	}

	_, err := readMessage(dial(t, pageURL, nil))
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
		t.Errorf("client after shutdown: got %v, want close 1001", err)
	}
}
