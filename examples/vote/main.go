// Command vote serves a live poll: a vote cast on one page shows up on
// every open page at once.
//
//	go run ./examples/vote
//
// then open http://localhost:8080 in a few windows. With -tls it serves
// https://localhost:8080, with a certificate of its own made at start-up
// (the browser warns about it once), and so HTTP/2 as well as HTTP/1.1;
// started with GODEBUG=http2xconnect=1, which Go's net/http needs for it,
// the pages' WebSockets then go over their HTTP/2 connections (RFC 8441):
//
//	GODEBUG=http2xconnect=1 go run ./examples/vote -tls
//
// On connect the server sends the state of every candidate, one JSON text
// message each: {"id":"1","name":"Go","count":0}. A page votes by sending
// a candidate's id as a text message ("1"), and after each vote the server
// sends that candidate's new state to every connected client. Other
// messages are ignored.
//
// The messages are states, not events: a page needs only the latest count
// of each candidate. So under a burst of votes the states coalesce: a page
// that is slower than the votes skips counts in between, but it always
// ends with the latest ones and never sees a count go down.
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
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rfc6455/websocket"
	"github.com/rfc6455/websocket/internal/devtls"
)

//go:embed index.html
var page []byte

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	useTLS := flag.Bool("tls", false, "serve https, and so HTTP/2 too, with a self-signed certificate for localhost made at start-up")
	flag.Parse()

	p := newPoll("Go", "Rust", "Zig", "Elixir")
	srv := &http.Server{
		Addr:              *addr,
		Handler:           p.routes(),
		ReadHeaderTimeout: 10 * time.Second, // slow clients must not hold handshakes open
	}
	// Listen before saying so: the line means the server is ready.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	scheme := "http"
	if *useTLS {
		if srv.TLSConfig, err = devtls.Config(); err != nil {
			log.Fatal(err)
		}
		scheme = "https"
	}
	log.Printf("vote: listening on %s://%s", scheme, ln.Addr())
	log.Printf("vote: %s", devtls.HTTP2Status("vote", *useTLS))
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

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Print("vote: shutting down")
	// Hijacked connections (HTTP/1.1) are not Shutdown's business, so tell
	// the pages ourselves, and first: Shutdown also waits up to five
	// seconds for the spare connections browsers open and may never use,
	// and the 1001 would wait with it. (Shutdown closes those over HTTP/2
	// with 1001 itself; ours comes first.)
	p.closeAll()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx) // stop accepting; a second is plenty for a page
}

// candidate is also the state sent to the pages, as JSON.
type candidate struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// poll holds the counts and the clients, under one mutex.
type poll struct {
	mu           sync.Mutex
	candidates   []candidate
	clients      map[*client]bool
	closing      bool           // set by closeAll: no one joins any more
	running      sync.WaitGroup // one for each client, until its serve returns
	writeTimeout time.Duration  // for one write to one client
}

// client is a connection and the candidates whose latest state it is
// still to be sent: one flag each, however many votes arrive, rather than
// a queue that a burst of votes could fill.
type client struct {
	conn    *websocket.Conn
	pending []bool        // by candidate index, guarded by poll.mu
	wake    chan struct{} // one slot: pending has news; closed when the client leaves
}

func newPoll(names ...string) *poll {
	p := &poll{clients: make(map[*client]bool), writeTimeout: 10 * time.Second}
	for i, name := range names {
		p.candidates = append(p.candidates, candidate{ID: strconv.Itoa(i + 1), Name: name})
	}
	return p
}

func (p *poll) routes() http.Handler {
	// A vote is a few bytes: a longer message is refused with 1009 rather
	// than buffered up to the default limit of 16 MiB.
	upgrader := &websocket.Upgrader{ReadLimit: 64}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	// The route has no method: over HTTP/2 the handshake is a CONNECT,
	// which "GET /ws" would answer with 405, and a browser does not try
	// again over HTTP/1.1. The handler is made for each request, so that
	// the log can say what the request came with: "HTTP/2.0 CONNECT" over
	// HTTP/2, "HTTP/1.1 GET" over HTTP/1.1.
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		how := r.Proto + " " + r.Method
		upgrader.Handler(func(c *websocket.Conn) {
			log.Printf("vote: %v connected (%s)", c.RemoteAddr(), how)
			p.serve(c)
		}).ServeHTTP(w, r)
	})
	return mux
}

// serve reads a client's votes while a goroutine of its own writes to the
// client: however slow the writes, pings are answered and the close frame
// is seen.
func (p *poll) serve(conn *websocket.Conn) {
	c := &client{conn: conn, pending: make([]bool, len(p.candidates)), wake: make(chan struct{}, 1)}
	if !p.join(c) {
		conn.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer p.running.Done()
	go p.write(c)
	for {
		t, msg, err := conn.ReadMessage()
		if err != nil {
			logClosed(conn, err)
			p.mu.Lock()
			delete(p.clients, c)
			close(c.wake) // under the lock, so that no markLocked meets it closed
			p.mu.Unlock()
			return
		}
		if t == websocket.TextMessage {
			p.vote(string(msg))
		}
	}
}

// write sends c the latest state of each pending candidate whenever it is
// woken. It takes the states under the lock that guards the counts, so no
// count it sends is older than one sent before, and writes them without
// it, so a client slow to read holds up no one else. A client that stops
// reading makes a write miss its deadline, which closes the connection.
func (p *poll) write(c *client) {
	for range c.wake {
		var states []candidate
		p.mu.Lock()
		for i, pending := range c.pending {
			if pending {
				states = append(states, p.candidates[i])
				c.pending[i] = false
			}
		}
		p.mu.Unlock()
		for _, s := range states {
			msg, _ := json.Marshal(s)
			c.conn.SetWriteDeadline(time.Now().Add(p.writeTimeout))
			if c.conn.WriteMessage(websocket.TextMessage, msg) != nil {
				return // the failed write has closed the connection
			}
		}
	}
}

// markLocked marks candidate i pending for c and wakes c's writer unless a
// wake-up is already due; call with p.mu held.
func (c *client) markLocked(i int) {
	c.pending[i] = true
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// join adds c to the poll, with every candidate pending.
func (p *poll) join(c *client) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.running.Add(1)
	p.clients[c] = true
	for i := range p.candidates {
		c.markLocked(i)
	}
	return true
}

// vote counts a vote for the candidate with the given id, if there is one,
// and marks it pending for every client.
func (p *poll) vote(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.candidates {
		if p.candidates[i].ID == id {
			p.candidates[i].Count++
			for c := range p.clients {
				c.markLocked(i)
			}
			return
		}
	}
}

// closeAll closes every connection with StatusGoingAway, all at once, and
// waits until each serve has logged its close and returned.
func (p *poll) closeAll() {
	p.mu.Lock()
	p.closing = true
	for c := range p.clients {
		go c.conn.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
	}
	p.mu.Unlock()
	p.running.Wait()
}

// logClosed logs the close code that ended a connection, and why: the
// client's close frame (1001 when its page was closed or reloaded), 1006
// when the connection was lost without one, or the code the server sent
// when it failed the connection (1009 for a message over the read limit).
func logClosed(c *websocket.Conn, err error) {
	log.Printf("vote: %v closed %d: %v", c.RemoteAddr(), uint16(websocket.CloseStatus(err)), err)
}
