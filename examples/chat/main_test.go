package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rfc6455/websocket"
)

// testTimeout bounds every wait on the network.
const testTimeout = 5 * time.Second

// startChat serves a new room on 127.0.0.1 and returns its WebSocket URL.
// At the end of the test the room shuts down; clients a test opened are
// closed before that (see dialChat), so nothing waits for a silent peer.
func startChat(t *testing.T) (*room, string) {
	t.Helper()
	rm := newRoom()
	srv := httptest.NewServer(rm.routes())
	t.Cleanup(func() {
		rm.shutdown()
		srv.Close()
	})
	return rm, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

func dialChat(t *testing.T, url string, subprotocols ...string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: subprotocols})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// join connects a member called name and reads its own join event, so
// that when it returns the member is in the room.
func join(t *testing.T, url, name string) *websocket.Conn {
	t.Helper()
	c := dialChat(t, url, "chat")
	send(t, c, name)
	expect(t, c, joinJSON(strings.TrimSpace(name)))
	return c
}

func send(t *testing.T, c *websocket.Conn, text string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(testTimeout))
	if err := c.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		t.Fatal(err)
	}
}

// read returns the next text message, within testTimeout.
func read(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	typ, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("got a %v message %q, want text", typ, msg)
	}
	return string(msg)
}

func expect(t *testing.T, c *websocket.Conn, want string) {
	t.Helper()
	if got := read(t, c); got != want {
		t.Fatalf("got  %.200s\nwant %.200s", got, want)
	}
}

// The protocol's events, written out by hand rather than with the
// server's own types.
func joinJSON(name string) string {
	return fmt.Sprintf(`{"type":"join","name":%s}`, jsonString(name))
}

func leaveJSON(name string) string {
	return fmt.Sprintf(`{"type":"leave","name":%s}`, jsonString(name))
}

func messageJSON(name, text string) string {
	return fmt.Sprintf(`{"type":"message","name":%s,"text":%s}`, jsonString(name), jsonString(text))
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
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

// expectLog waits until the server has logged, for each of want, a line
// that contains it.
func expectLog(t *testing.T, lines <-chan string, want ...string) {
	t.Helper()
	missing := make(map[string]bool)
	for _, w := range want {
		missing[w] = true
	}
	timeout := time.After(testTimeout)
	for len(missing) > 0 {
		select {
		case line := <-lines:
			for w := range missing {
				if strings.Contains(line, w) {
					delete(missing, w)
				}
			}
		case <-timeout:
			t.Fatalf("no log line with %v", missing)
		}
	}
}

func TestSubprotocol(t *testing.T) {
	_, url := startChat(t)
	tests := []struct {
		name    string
		offered []string
		want    string
	}{
		{
			name:    "chat offered",
			offered: []string{"chat"},
			want:    "chat",
		},
		{
			name:    "chat offered second",
			offered: []string{"chat.v2", "chat"},
			want:    "chat",
		},
		{
			name:    "none offered",
			offered: nil,
			want:    "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialChat(t, url, tt.offered...)
			if got := c.Subprotocol(); got != tt.want {
				t.Errorf("subprotocol %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMembersSeeJoinMessagesAndLeave(t *testing.T) {
	_, url := startChat(t)
	logs := captureLog(t)

	alice := join(t, url, "alice")
	bob := join(t, url, "bob")
	expect(t, alice, `{"type":"join","name":"bob"}`)

	send(t, alice, "hi")
	for _, c := range []*websocket.Conn{alice, bob} {
		expect(t, c, `{"type":"message","name":"alice","text":"hi"}`)
	}
	send(t, bob, "hello, alice")
	for _, c := range []*websocket.Conn{alice, bob} {
		expect(t, c, `{"type":"message","name":"bob","text":"hello, alice"}`)
	}

	bobAddr := bob.LocalAddr().String()
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	expect(t, alice, `{"type":"leave","name":"bob"}`)
	expectLog(t, logs, bobAddr+" closed 1000")
}

func TestNamesAreTrimmedAndCut(t *testing.T) {
	tests := []struct {
		name     string
		sentName string
		wantName string
		sentLine string
		wantLine string
	}{
		{
			name:     "spaces around the name",
			sentName: "  carol\t",
			wantName: "carol",
			sentLine: "  spaces stay in lines  ",
			wantLine: "  spaces stay in lines  ",
		},
		{
			name:     "blank name",
			sentName: "   ",
			wantName: "anonymous",
			sentLine: "who am I?",
			wantLine: "who am I?",
		},
		{
			name:     "long name, cut in runes; the longest line, whole",
			sentName: strings.Repeat("é", maxName+5),
			wantName: strings.Repeat("é", maxName),
			sentLine: strings.Repeat("ж", maxLine/2), // 2 bytes each
			wantLine: strings.Repeat("ж", maxLine/2),
		},
		{
			name:     "a long paste of CJK text",
			sentName: "dan",
			wantName: "dan",
			sentLine: strings.Repeat("漢", 1400), // 4,200 bytes
			wantLine: strings.Repeat("漢", 1400),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A room of its own: the previous case's client leaves when
			// that case ends, and its leave would reach this one.
			_, url := startChat(t)
			c := dialChat(t, url, "chat")
			send(t, c, tt.sentName)
			expect(t, c, joinJSON(tt.wantName))
			send(t, c, " \t ") // blank lines are not sent to anyone
			send(t, c, tt.sentLine)
			expect(t, c, messageJSON(tt.wantName, tt.wantLine))
		})
	}
}

func TestRefusedMessagesClose(t *testing.T) {
	_, url := startChat(t)
	tests := []struct {
		name   string
		typ    websocket.MessageType
		msg    []byte
		code   websocket.StatusCode
		reason string
	}{
		{
			name:   "binary",
			typ:    websocket.BinaryMessage,
			msg:    []byte{1, 2, 3},
			code:   websocket.StatusUnsupportedData,
			reason: "text messages only",
		},
		{
			name:   "longer than the read limit",
			typ:    websocket.TextMessage,
			msg:    []byte(strings.Repeat("😀", maxLine/4+1)), // 4 bytes each
			code:   websocket.StatusMessageTooBig,
			reason: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := captureLog(t)
			c := join(t, url, "mallory")
			c.SetWriteDeadline(time.Now().Add(testTimeout))
			if err := c.WriteMessage(tt.typ, tt.msg); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(testTimeout))
			_, _, err := c.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != tt.code {
				t.Fatalf("got %v, want close %d", err, tt.code)
			}
			if tt.reason != "" && ce.Reason != tt.reason {
				t.Errorf("close reason %q, want %q", ce.Reason, tt.reason)
			}
			// The server logs the code it sent, not 1006.
			expectLog(t, logs, fmt.Sprintf("%s closed %d", c.LocalAddr(), tt.code))
		})
	}
}

// A member that stops reading falls behind until the hub drops it with
// 1008, while the others go on receiving every event, each within
// testTimeout, and hear that it left.
func TestSlowMemberIsDropped(t *testing.T) {
	_, url := startChat(t)
	alice := join(t, url, "alice")
	bob := join(t, url, "bob")
	expect(t, alice, joinJSON("bob"))
	carol := join(t, url, "carol")
	expect(t, alice, joinJSON("carol"))
	expect(t, bob, joinJSON("carol"))

	// From here on nobody reads carol's connection: her TCP buffers fill,
	// then her backlog. The longest lines allowed fill them soonest.
	line := func(i int) string {
		return fmt.Sprintf("%05d", i) + strings.Repeat("😀", (maxLine-5)/4)
	}
	// Alice sends a line only once alice and bob have both received the
	// one before, so only a member that does not read can fall behind.
	const maxLines = 50000
	leftAt := [2]int{-1, -1} // for alice and bob: the line after which carol left
	sent := 0
	for ; leftAt[0] < 0 || sent < leftAt[0]+3; sent++ {
		if sent == maxLines {
			t.Fatalf("carol was not dropped after %d lines", maxLines)
		}
		send(t, alice, line(sent))
		for i, c := range []*websocket.Conn{alice, bob} {
			got := read(t, c)
			if got == leaveJSON("carol") && leftAt[i] < 0 {
				leftAt[i] = sent - 1
				got = read(t, c)
			}
			if want := messageJSON("alice", line(sent)); got != want {
				t.Fatalf("line %d: got %.60q…, want %.60q…", sent, got, want)
			}
		}
	}
	if leftAt[0] != leftAt[1] {
		t.Fatalf("carol left after line %d for alice, after line %d for bob", leftAt[0], leftAt[1])
	}
	if lineBytes := len(messageJSON("alice", line(0))); (leftAt[0]+1)*lineBytes < backlogLimit {
		t.Fatalf("carol left after line %d, before a backlog of %d bytes could build up", leftAt[0], backlogLimit)
	}

	// Carol gets a run of lines in order and without a gap, those that
	// reached her socket before she was dropped, then the close frame.
	received := 0
	for ; ; received++ {
		carol.SetReadDeadline(time.Now().Add(testTimeout))
		_, msg, err := carol.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "too slow" {
				t.Fatalf("after %d lines: got %v, want close 1008 too slow", received, err)
			}
			break
		}
		if want := messageJSON("alice", line(received)); string(msg) != want {
			t.Fatalf("carol's line %d: got %.60q…, want %.60q…", received, msg, want)
		}
	}
	if received > leftAt[0]+1 {
		t.Errorf("carol received %d lines, more than were sent before she left", received)
	}
	t.Logf("carol was dropped after line %d and had received %d", leftAt[0], received)
}

// Shutting down sends 1001 to every connection, members and those that
// have not sent their name yet, and waits for them to end.
func TestShutdownSendsGoingAway(t *testing.T) {
	rm, url := startChat(t)
	logs := captureLog(t)
	alice := join(t, url, "alice")
	bob := join(t, url, "bob")
	expect(t, alice, joinJSON("bob"))
	nameless := dialChat(t, url, "chat")

	conns := []*websocket.Conn{alice, bob, nameless}
	errs := make(chan error, len(conns))
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(testTimeout))
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		rm.shutdown()
		close(done)
	}()

	for range conns {
		err := <-errs // bounded by the read deadlines
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
			t.Errorf("got %v, want close 1001", err)
		}
	}
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("shutdown did not return")
	}
	expectLog(t, logs,
		alice.LocalAddr().String()+" closed 1001",
		bob.LocalAddr().String()+" closed 1001")
}

// The page knows the server's limit, in bytes, so that it refuses a line
// the server would close the connection for.
func TestPageCarriesTheLimit(t *testing.T) {
	rm := newRoom()
	srv := httptest.NewServer(rm.routes())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
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
