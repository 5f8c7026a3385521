package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"log"
	"net/http"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/rfc6455/websocket"
)

//go:embed index.html
var pageTemplate string

const (
	maxName = 32 // runes; longer names are cut
	// maxLine is the longest line, in bytes of UTF-8: the server's read
	// limit, and the page's, which refuses a longer line before sending
	// it instead of getting the member disconnected with 1009.
	maxLine = 8 << 10
	// backlogLimit is how far a member may fall behind, in bytes of
	// events not yet written to it, before the node drops it: the room
	// must neither wait for a slow member nor buffer for it without end.
	backlogLimit = 256 << 10
	// welcomeTimeout bounds the write of the welcome, the first message
	// on a connection, which nothing else is written to yet.
	welcomeTimeout = 10 * time.Second
)

// page is the page, with maxLine written into it. (text/template, not
// html/template: the page is ours, the value a constant, and html/template
// would strip the page's comments.)
var page = func() []byte {
	var b bytes.Buffer
	t := template.Must(template.New("page").Parse(pageTemplate))
	if err := t.Execute(&b, struct{ MaxLine int }{maxLine}); err != nil {
		panic(err)
	}
	return b.Bytes()
}()

// event is a message of the chat protocol, as the server sends it. Node
// is the node that the member named Name is connected to; names are only
// unique, if at all, within a node.
type event struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	Node string `json:"node"`
	Text string `json:"text,omitempty"`
}

// room is one node's part of the chat: a Hub sends every event to every
// member of this node that has joined, and, over its Bus, to the hubs of
// the other nodes, which send it to theirs. The room keeps the names of
// this node's members; it knows nothing of the others' but what their
// events say.
type room struct {
	node string
	hub  websocket.Hub

	mu       sync.Mutex
	names    map[*websocket.Conn]string // members that have joined
	conns    map[*websocket.Conn]bool   // every connection, joined or not
	closing  bool
	busDown  bool           // the last broadcast failed to reach the bus
	handlers sync.WaitGroup // serve calls still running
}

// newRoom returns the room of the node named node. With a nil bus it is
// a room of one node, as examples/chat is.
func newRoom(node string, bus websocket.Bus) *room {
	rm := &room{
		node:  node,
		names: make(map[*websocket.Conn]string),
		conns: make(map[*websocket.Conn]bool),
	}
	rm.hub.BacklogLimit = backlogLimit
	rm.hub.Bus = bus
	rm.hub.Topic = topic
	// The hub drops a member that falls too far behind, and closes it
	// with 1008; every node's members hear at once that it left.
	rm.hub.Dropped = func(c *websocket.Conn, err error) { rm.leave(c) }
	return rm
}

// routes serves the page at / and the chat at /ws.
func (rm *room) routes() http.Handler {
	upgrader := &websocket.Upgrader{
		Subprotocols: []string{"chat"},
		// A longer message is refused with 1009 from its header, before
		// it is read; the page never sends one.
		ReadLimit: maxLine,
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
	rm.mu.Lock()
	closing := rm.closing
	if !closing {
		rm.conns[c] = true
		rm.handlers.Add(1)
	}
	rm.mu.Unlock()
	if closing { // upgraded while the node was shutting down
		c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer rm.handlers.Done()

	// The welcome says which node the member is on: behind a load
	// balancer, not always the one that served the page. It goes before
	// the hub's events, since the connection joins the hub only once it
	// has sent its name.
	welcome, _ := json.Marshal(event{Type: "welcome", Node: rm.node})
	c.SetWriteDeadline(time.Now().Add(welcomeTimeout))
	c.WriteMessage(websocket.TextMessage, welcome) // a failure ends the reads below
	c.SetWriteDeadline(time.Time{})

	for {
		t, msg, err := c.ReadMessage()
		if err != nil {
			rm.leave(c)
			rm.mu.Lock()
			delete(rm.conns, c)
			rm.mu.Unlock()
			logClosed(c, err)
			return
		}
		if t != websocket.TextMessage {
			// Keep reading after this: the peer's answer to the close
			// ends the loop, and its code reaches the log.
			rm.leave(c)
			c.CloseWithStatus(websocket.StatusUnsupportedData, "text messages only")
			continue
		}
		rm.receive(c, string(msg))
	}
}

// receive takes a text message from c: its name first, then chat lines.
func (rm *room) receive(c *websocket.Conn, text string) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	name, joined := rm.names[c]
	switch {
	case rm.closing:
	case !joined:
		name = cut(strings.TrimSpace(text), maxName)
		if name == "" {
			name = "anonymous"
		}
		rm.names[c] = name
		rm.hub.Add(c)
		rm.broadcastLocked(event{Type: "join", Name: name, Node: rm.node})
	case strings.TrimSpace(text) != "":
		rm.broadcastLocked(event{Type: "message", Name: name, Node: rm.node, Text: text})
	}
}

// leave takes c out of the room, if it was in, and tells the others.
func (rm *room) leave(c *websocket.Conn) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	name, joined := rm.names[c]
	if !joined {
		return
	}
	delete(rm.names, c)
	rm.hub.Remove(c)
	if !rm.closing {
		rm.broadcastLocked(event{Type: "leave", Name: name, Node: rm.node})
	}
}

// broadcastLocked sends e to every member of every node. Broadcasting
// under the room's lock gives this node's members its events in one
// order, and publishes them to the bus in that order too, which is the
// order every other node's members receive them in.
func (rm *room) broadcastLocked(e event) {
	data, _ := json.Marshal(e) // strings always encode
	// The hub has given the event to this node's members whatever the
	// error: it only says that the other nodes may not get it.
	rm.busFailedLocked(rm.hub.Broadcast(websocket.TextMessage, data))
}

// busFailedLocked logs that the bus failed, once until it works again,
// not once a line: an outage can last thousands of lines.
func (rm *room) busFailedLocked(err error) {
	switch {
	case err != nil && !rm.busDown:
		rm.busDown = true
		log.Printf("bus: broadcasting to this node's members only: %v", err)
	case err == nil && rm.busDown:
		rm.busDown = false
		log.Print("bus: broadcasting to every node again")
	}
}

// shutdown tells the other nodes that this node's members are leaving,
// then closes every connection with 1001 (going away) and waits until
// each has ended: its close handshake done, or timed out. It ends the
// hub's subscription; the bus stays open, for the caller to close.
func (rm *room) shutdown() {
	rm.mu.Lock()
	rm.closing = true
	if rm.hub.Bus != nil {
		// Straight to the bus: this node's own members are about to be
		// told otherwise, with a close frame.
		for _, name := range rm.names {
			data, _ := json.Marshal(event{Type: "leave", Name: name, Node: rm.node})
			rm.busFailedLocked(rm.hub.Bus.Publish(topic, websocket.TextMessage, data))
		}
	}
	for c := range rm.conns {
		go c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
	}
	rm.mu.Unlock()
	rm.handlers.Wait()
	rm.hub.Close()
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
	log.Printf("%v closed %d: %v", c.RemoteAddr(), uint16(websocket.CloseStatus(err)), err)
}
