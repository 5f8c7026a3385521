// Command echo serves a page with a WebSocket echo: every message the page
// sends comes back with its type unchanged.
//
//	go run ./examples/echo
//
// then open http://localhost:8080. With -events the same echo is served by
// Upgrader.EventHandler, which keeps no goroutine for a connection between
// its messages; the page cannot tell the difference.
//
// With -tls it serves https://localhost:8080 instead, with a certificate
// of its own made at start-up (the browser warns about it once), and so
// HTTP/2 as well as HTTP/1.1. Browsers then open the WebSocket as a
// stream of the page's own HTTP/2 connection (RFC 8441) if the process
// was started with GODEBUG=http2xconnect=1, which Go's net/http needs:
//
//	GODEBUG=http2xconnect=1 go run ./examples/echo -tls
//
// The log says, for the page and for each WebSocket, the client's address
// and what the request came with: "HTTP/2.0 CONNECT" for a WebSocket
// over HTTP/2, from the same address as the page, since it is a stream of
// the page's connection; "HTTP/1.1 GET" for one over HTTP/1.1, on a
// connection of its own.
package main

import (
	"context"
	_ "embed"
	"errors"
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
	"github.com/rfc6455/websocket/internal/devtls"
)

//go:embed index.html
var page []byte

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	events := flag.Bool("events", false, "serve with callbacks (EventHandler) instead of a goroutine per connection")
	useTLS := flag.Bool("tls", false, "serve https, and so HTTP/2 too, with a self-signed certificate for localhost made at start-up")
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
		// With the request's address, for comparing with the
		// WebSocket's: over HTTP/2 they are the same connection.
		log.Printf("echo: %v page (%s %s)", r.RemoteAddr, r.Proto, r.Method)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	// The route has no method: over HTTP/2 the handshake is a CONNECT,
	// which "GET /ws" would refuse. The handler is made for each request,
	// so that the log can say what the request came with (a Conn does not
	// keep its request).
	if *events {
		mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
			how := r.Proto + " " + r.Method
			upgrader.EventHandler(websocket.Events{
				Open: func(c *websocket.Conn) {
					logOpened(c, how)
					if !clients.add(c) { // upgraded while shutting down
						c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
						return
					}
					go logPingPong(c)
				},
				// Called for each message; between messages the connection
				// waits without a goroutine (over HTTP/1.1).
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
			}).ServeHTTP(w, r)
		})
	} else {
		mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
			how := r.Proto + " " + r.Method
			upgrader.Handler(func(c *websocket.Conn) { serve(c, how, &clients) }).ServeHTTP(w, r)
		})
	}

	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second, // slow clients must not hold handshakes open
	}
	scheme := "http"
	if *useTLS {
		cfg, err := devtls.Config()
		if err != nil {
			log.Fatal(err)
		}
		srv.TLSConfig = cfg
		scheme = "https"
	}
	// Listen first, so that "listening" is only said once it is true.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("echo: listening on %s://%s", scheme, ln.Addr())
	log.Printf("echo: %s", devtls.HTTP2Status("echo", *useTLS))
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

	// On Ctrl-C, stop accepting, and tell every page we are going away.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Print("echo: shutting down")
	// Hijacked connections (HTTP/1.1) are not http.Server's business, so
	// close them ourselves, with 1001, and first: Shutdown waits up to 5 s
	// for the spare connections browsers open and never use. (Those over
	// HTTP/2 Shutdown would close with 1001 too; these go first all the
	// same.)
	clients.closeAll()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
}

// serve echoes one connection's messages until it ends.
func serve(c *websocket.Conn, how string, clients *connSet) {
	logOpened(c, how)
	if !clients.add(c) { // upgraded while shutting down
		c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer clients.remove(c)
	go logPingPong(c)
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
}

// logOpened says who connected, with what request ("HTTP/2.0 CONNECT"
// over HTTP/2, "HTTP/1.1 GET" over HTTP/1.1), and whether the page and the
// server agreed to compress.
func logOpened(c *websocket.Conn, how string) {
	ext := c.Extensions()
	if ext == "" {
		ext = "none"
	}
	log.Printf("echo: %v connected (%s), extensions: %s", c.RemoteAddr(), how, ext)
}

// logPingPong pings the page once and logs the round trip: browsers
// answer pings themselves. It runs beside the goroutine that reads the
// connection, which is where the pong arrives.
func logPingPong(c *websocket.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rtt, err := c.PingPong(ctx)
	switch {
	case errors.Is(err, websocket.ErrClosed):
		// Closed first: logClosed says how.
	case err != nil:
		log.Printf("echo: no pong from %v: %v", c.RemoteAddr(), err)
	default:
		log.Printf("echo: pong from %v in %v", c.RemoteAddr(), rtt.Round(time.Microsecond))
	}
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
