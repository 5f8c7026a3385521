// Command chat serves a chat room: what one member writes, every member
// reads, and a member that cannot keep up is dropped instead of slowing
// the room down.
//
//	go run ./examples/chat
//
// then open http://localhost:8080 in two windows.
//
// The page speaks the subprotocol "chat". Its first text message is the
// member's name, every later one a line of chat. The server sends every
// member the same JSON events, in the same order:
//
//	{"type":"join","name":"alice"}
//	{"type":"message","name":"alice","text":"hi"}
//	{"type":"leave","name":"alice"}
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rfc6455/websocket"
)

//go:embed index.html
var page []byte

const (
	maxName = 32   // runes; longer names are cut
	maxLine = 1000 // runes; longer lines are cut
	// A member with queueLen events still unsent is dropped: the room
	// must neither wait for it nor buffer for it without end.
	queueLen     = 64
	writeTimeout = 10 * time.Second // for one event to one member
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()

	// Listen before saying so, so that whoever waits for the line can
	// connect at once.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	rm := newRoom()
	srv := &http.Server{
		Handler:           rm.routes(),
		ReadHeaderTimeout: 10 * time.Second, // slow clients must not hold handshakes open
	}
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	log.Printf("chat: listening on http://%s", *addr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Print("chat: shutting down")
	// Hijacked connections are not Shutdown's business, so the room closes
	// them itself, with 1001, and first: Shutdown also waits up to five
	// seconds for the spare connections browsers open and may never use,
	// and the 1001 would wait with it.
	rm.shutdown()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx) // stop accepting; a second is plenty for a page
}

// event is a message of the chat protocol, as the server sends it.
type event struct {
	Type string `json:"type"`
	Name string `json:"name"`
	Text string `json:"text,omitempty"`
}

// member is one connection: serve reads it, writeLoop writes it. The room
// sends to and closes the queue, and uses the other fields, under its lock.
type member struct {
	conn        *websocket.Conn
	queue       chan *websocket.PreparedMessage // events to send
	name        string
	joined      bool                 // the name has arrived
	closeCode   websocket.StatusCode // for writeLoop, once the queue is closed
	closeReason string
}

// writeLoop sends what the room queues and, once the room closes the
// queue, the close frame. Each member has its own, so a member that does
// not read stalls nobody but itself. (websocket.Hub does such a fan-out
// for you, with a limit in bytes rather than events; the room keeps its
// own queues to announce a dropped member's leave the moment it drops it,
// and to send it every event queued before.)
func (m *member) writeLoop() {
	for msg := range m.queue {
		m.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := m.conn.WritePreparedMessage(msg); err != nil {
			return // the connection is closed; serve's read fails too
		}
	}
	m.conn.CloseWithStatus(m.closeCode, m.closeReason)
}

type room struct {
	mu       sync.Mutex
	members  map[*member]bool
	closing  bool
	handlers sync.WaitGroup // serve calls still running
}

func newRoom() *room { return &room{members: make(map[*member]bool)} }

// routes serves the page at / and the chat at /ws.
func (rm *room) routes() http.Handler {
	upgrader := &websocket.Upgrader{
		Subprotocols: []string{"chat"},
		// The longest line is maxLine runes of up to 4 bytes; a longer
		// message is refused with 1009 from its header, before it is read.
		ReadLimit: 4 * maxLine,
		// Pings find members that vanished without closing, such as a
		// laptop gone to sleep, which a quiet room would never notice.
		PingInterval: 30 * time.Second,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.Handle("/ws", upgrader.Handler(rm.serve))
	return mux
}

// serve reads one connection until it ends.
func (rm *room) serve(c *websocket.Conn) {
	m := &member{conn: c, queue: make(chan *websocket.PreparedMessage, queueLen)}
	rm.mu.Lock()
	closing := rm.closing
	if !closing {
		rm.members[m] = true
		rm.handlers.Add(1)
	}
	rm.mu.Unlock()
	if closing { // upgraded while the room was shutting down
		logClosed(c, c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down"))
		return
	}
	defer rm.handlers.Done()
	go m.writeLoop()

	for {
		t, msg, err := c.ReadMessage()
		if err != nil {
			rm.remove(m, websocket.StatusNormalClosure, "")
			logClosed(c, err)
			return
		}
		if t != websocket.TextMessage {
			// Keep reading after this: the peer's answer to the close
			// ends the loop, and its code reaches the log.
			rm.remove(m, websocket.StatusUnsupportedData, "text messages only")
			continue
		}
		rm.receive(m, string(msg))
	}
}

// receive takes a text message from m: its name first, then chat lines.
func (rm *room) receive(m *member, text string) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	switch {
	case !rm.members[m]:
		// Dropped and closing: it has no say any more.
	case !m.joined:
		m.name, m.joined = cut(strings.TrimSpace(text), maxName), true
		if m.name == "" {
			m.name = "anonymous"
		}
		rm.broadcastLocked(event{Type: "join", Name: m.name})
	case strings.TrimSpace(text) != "":
		rm.broadcastLocked(event{Type: "message", Name: m.name, Text: cut(text, maxLine)})
	}
}

// broadcastLocked queues e for every member that has joined. Queueing
// under the lock gives every member the same events in the same order.
func (rm *room) broadcastLocked(e event) {
	// Encode the event, and its frame, once for all members.
	data, _ := json.Marshal(e) // strings always encode
	msg, _ := websocket.NewPreparedMessage(websocket.TextMessage, data)
	var slow []*member
	for m := range rm.members {
		if !m.joined {
			continue
		}
		select {
		case m.queue <- msg:
		default:
			slow = append(slow, m)
		}
	}
	// Dropped after the loop, so that everyone sees e before their leave.
	for _, m := range slow {
		rm.removeLocked(m, websocket.StatusPolicyViolation, "too slow")
	}
}

func (rm *room) remove(m *member, code websocket.StatusCode, reason string) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.removeLocked(m, code, reason)
}

// removeLocked takes m out of the room; its writeLoop sends the events
// already queued, then closes the connection with code.
func (rm *room) removeLocked(m *member, code websocket.StatusCode, reason string) {
	if !rm.members[m] {
		return
	}
	delete(rm.members, m)
	m.closeCode, m.closeReason = code, reason
	close(m.queue)
	if m.joined && !rm.closing {
		rm.broadcastLocked(event{Type: "leave", Name: m.name})
	}
}

// shutdown closes every connection with 1001 (going away) and waits until
// each has ended: its close handshake done, or timed out.
func (rm *room) shutdown() {
	rm.mu.Lock()
	rm.closing = true
	for m := range rm.members {
		rm.removeLocked(m, websocket.StatusGoingAway, "server shutting down")
	}
	rm.mu.Unlock()
	rm.handlers.Wait()
}

// cut returns s cut to at most n runes.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// logClosed logs the close code that ended a connection, and why: the
// member's close frame (1001 when its page was closed or reloaded), 1006
// when the connection was lost without one, or the code the server sent
// when it failed the connection (1009 for a line over the read limit).
func logClosed(c *websocket.Conn, err error) {
	log.Printf("chat: %v closed %d: %v", c.RemoteAddr(), uint16(websocket.CloseStatus(err)), err)
}
