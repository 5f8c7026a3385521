// Command chat serves a chat room: what one member writes, every member
// reads, and a member that cannot keep up is dropped instead of slowing
// the room down.
//
//	go run ./examples/chat
//
// then open http://localhost:8080 in two windows. With -tls it serves
// https://localhost:8080, with a certificate of its own made at start-up
// (the browser warns about it once), and so HTTP/2 as well as HTTP/1.1;
// started with GODEBUG=http2xconnect=1, which Go's net/http needs for it,
// the pages' WebSockets then go over their HTTP/2 connections (RFC 8441):
//
//	GODEBUG=http2xconnect=1 go run ./examples/chat -tls
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
	"bytes"
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
	"text/template"
	"time"

	"github.com/rfc6455/websocket"
	"github.com/rfc6455/websocket/internal/devtls"
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
	// events not yet written to it, before the room drops it: the room
	// must neither wait for a slow member nor buffer for it without end.
	backlogLimit = 256 << 10
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

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	useTLS := flag.Bool("tls", false, "serve https, and so HTTP/2 too, with a self-signed certificate for localhost made at start-up")
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
	scheme := "http"
	if *useTLS {
		if srv.TLSConfig, err = devtls.Config(); err != nil {
			log.Fatal(err)
		}
		scheme = "https"
	}
	go func() {
		var err error
		if *useTLS {
			err = srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
		} else {
			err = srv.Serve(ln)
		}
		if err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()
	log.Printf("chat: listening on %s://%s", scheme, ln.Addr())
	log.Printf("chat: %s", devtls.HTTP2Status("chat", *useTLS))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Print("chat: shutting down")
	// Hijacked connections (HTTP/1.1) are not Shutdown's business, so the
	// room closes them itself, with 1001, and first: Shutdown also waits
	// up to five seconds for the spare connections browsers open and may
	// never use, and the 1001 would wait with it. (Shutdown closes those
	// over HTTP/2 with 1001 itself; the room's close comes first.)
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

// room is the chat: a Hub sends every event to every member that has
// joined, and the room keeps their names.
type room struct {
	hub websocket.Hub

	mu       sync.Mutex
	names    map[*websocket.Conn]string // members that have joined
	conns    map[*websocket.Conn]bool   // every connection, joined or not
	closing  bool
	handlers sync.WaitGroup // serve calls still running
}

func newRoom() *room {
	rm := &room{
		names: make(map[*websocket.Conn]string),
		conns: make(map[*websocket.Conn]bool),
	}
	rm.hub.BacklogLimit = backlogLimit
	// The hub drops a member that falls too far behind, and closes it
	// with 1008; the others hear at once that it left.
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
	// The route has no method: over HTTP/2 the handshake is a CONNECT,
	// which "GET /ws" would refuse. The handler is made for each request,
	// so that the log can say what the request came with: "HTTP/2.0
	// CONNECT" over HTTP/2, "HTTP/1.1 GET" over HTTP/1.1.
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		how := r.Proto + " " + r.Method
		upgrader.Handler(func(c *websocket.Conn) {
			log.Printf("chat: %v connected (%s)", c.RemoteAddr(), how)
			rm.serve(c)
		}).ServeHTTP(w, r)
	})
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
	if closing { // upgraded while the room was shutting down
		c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer rm.handlers.Done()

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
		rm.broadcastLocked(event{Type: "join", Name: name})
	case strings.TrimSpace(text) != "":
		rm.broadcastLocked(event{Type: "message", Name: name, Text: text})
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
		rm.broadcastLocked(event{Type: "leave", Name: name})
	}
}

// broadcastLocked sends e to every member. Broadcasting under the room's
// lock gives every member the same events in the same order.
func (rm *room) broadcastLocked(e event) {
	data, _ := json.Marshal(e) // strings always encode
	rm.hub.Broadcast(websocket.TextMessage, data)
}

// shutdown closes every connection with 1001 (going away) and waits until
// each has ended: its close handshake done, or timed out.
func (rm *room) shutdown() {
	rm.mu.Lock()
	rm.closing = true
	for c := range rm.conns {
		go c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
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
