// Command echo serves a page with a WebSocket echo: every message the page
// sends comes back with its type unchanged.
//
//	go run ./examples/echo
//
// then open http://localhost:8080. With -events the same echo is served by
// Upgrader.EventHandler, which keeps no goroutine for a connection between
// its messages; the page cannot tell the difference.
package main

import (
	"context"
	_ "embed"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rfc6455/websocket"
)

//go:embed index.html
var page []byte

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	events := flag.Bool("events", false, "serve with callbacks (EventHandler) instead of a goroutine per connection")
	flag.Parse()

	// The zero Upgrader is safe as it is: browsers may connect only from
	// pages served by this server, and messages are limited to 16 MiB.
	// Compression is the one thing turned on here: every browser offers
	// permessage-deflate, and text compresses well.
	upgrader := websocket.Upgrader{Compression: &websocket.Compression{}}
	var clients connSet

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	if *events {
		mux.Handle("/ws", upgrader.EventHandler(websocket.Events{
			Open: func(c *websocket.Conn) {
				logOpened(c)
				if !clients.add(c) { // upgraded while shutting down
					c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
				}
			},
			// Called for each message; between messages the connection
			// waits without a goroutine.
			Message: func(c *websocket.Conn, t websocket.MessageType, r io.Reader) {
				w, err := c.NextWriter(t)
				if err != nil {
					return // closed: Close below reports why
				}
				io.Copy(w, r)
				w.Close()
			},
			Close: func(c *websocket.Conn, err error) {
				clients.remove(c)
				logClosed(c, err)
			},
		}))
	} else {
		mux.Handle("/ws", upgrader.Handler(func(c *websocket.Conn) {
			logOpened(c)
			if !clients.add(c) { // upgraded while shutting down
				c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
				return
			}
			defer clients.remove(c)
			for {
				// ReadMessage answers pings and returns an error once the
				// page closes: a *websocket.CloseError with its code.
				t, msg, err := c.ReadMessage()
				if err != nil {
					logClosed(c, err)
					return
				}
				if err := c.WriteMessage(t, msg); err != nil {
					logClosed(c, err)
					return
				}
			}
		}))
	}

	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second, // slow clients must not hold handshakes open
	}
	// Listen first, so that "listening" is only said once it is true.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("echo: listening on http://%s", ln.Addr())
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()

	// On Ctrl-C, stop accepting, and tell every page we are going away.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Print("echo: shutting down")
	// Hijacked connections are not http.Server's business, so close them
	// ourselves, with 1001, and first: Shutdown waits up to 5 s for the
	// spare connections browsers open and never use.
	clients.closeAll()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
}

// logOpened says who connected, and whether the page and the server agreed
// to compress.
func logOpened(c *websocket.Conn) {
	ext := c.Extensions()
	if ext == "" {
		ext = "none"
	}
	log.Printf("echo: %v connected, extensions: %s", c.RemoteAddr(), ext)
}

// logClosed logs the close code that ended a connection, and why: the
// page's close frame (1000 for its Close button, 1001 when it was closed or
// reloaded), 1006 when the connection was lost without one, or the code
// the server sent when it failed the connection (1007 for text that is not
// UTF-8, 1009 for a message over the read limit).
func logClosed(c *websocket.Conn, err error) {
	log.Printf("echo: %v closed %d: %v", c.RemoteAddr(), uint16(websocket.CloseStatus(err)), err)
}

// connSet tracks open connections so that shutdown can close them.
type connSet struct {
	mu      sync.Mutex
	conns   map[*websocket.Conn]struct{}
	closing bool
}

// add tracks c, unless shutdown has begun.
func (s *connSet) add(c *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*websocket.Conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *connSet) remove(c *websocket.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// closeAll closes every connection with StatusGoingAway, at the same time,
// and waits until each close handshake is done or has timed out.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closing = true
	var wg sync.WaitGroup
	for c := range s.conns {
		wg.Add(1)
		go func(c *websocket.Conn) {
			defer wg.Done()
			c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
		}(c)
	}
	s.mu.Unlock()
	wg.Wait()
}
