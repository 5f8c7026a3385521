// Command echo serves two WebSocket endpoints:
//
//   - /echo answers each JSON message, {"seq":1,"text":"hello"}, with the
//     same message and the time the server read it:
//     {"seq":1,"text":"hello","server_time":"2026-12-06T10:00:00.123Z"}.
//     A message that is not one JSON value ends the connection with 1007.
//   - /ticks sends {"seq":N,"time":"..."} four times a second and reads
//     nothing but the client's close; data from the client ends the
//     connection with 1008.
//
// Run it with
//
//	go run .
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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

// message is what /echo clients send and, with ServerTime set, get back.
type message struct {
	Seq        int       `json:"seq"`
	Text       string    `json:"text"`
	ServerTime time.Time `json:"server_time,omitzero"`
}

// tick is what /ticks sends.
type tick struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
}

const (
	idleTimeout  = time.Minute // for a client's next message
	writeTimeout = 10 * time.Second
	tickInterval = 250 * time.Millisecond
	// streamLimit ends a ticks stream, normally; clients reconnect.
	streamLimit = time.Hour
	// readLimit is coder's default; ours would be 16 MiB.
	readLimit = 32 << 10
)

var upgrader = websocket.Upgrader{
	// Pages from a development server on another port of this machine
	// may connect too; the request's own host always may.
	AllowedOrigins: []string{"localhost:*"},
}

// upgrade upgrades r, and closes the connection with 1001 when r's
// context ends, which it does when the server shuts down (see main).
// Call the returned stop when done with the connection.
func upgrade(endpoint string, w http.ResponseWriter, r *http.Request) (c *websocket.Conn, stop func() bool) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		log.Printf("%s: %v", endpoint, err) // Upgrade has answered with an HTTP error
		return nil, nil
	}
	c.SetReadLimit(readLimit)
	stop = context.AfterFunc(r.Context(), func() {
		c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
	})
	return c, stop
}

func echo(w http.ResponseWriter, r *http.Request) {
	c, stop := upgrade("echo", w, r)
	if c == nil {
		return
	}
	defer c.Close()
	defer stop()

	for {
		if err := echoOne(c); err != nil {
			logEnd("echo", r, err)
			return
		}
	}
}

// echoOne reads one message and answers it. A message that is not JSON
// closes the connection with 1007, as wsjson does.
func echoOne(c *websocket.Conn) error {
	c.SetReadDeadline(time.Now().Add(idleTimeout))
	var m message
	if err := c.ReadJSON(&m); err != nil {
		if notJSON(err) {
			// The connection is fine; the message was not.
			c.CloseWithStatus(websocket.StatusInvalidFramePayloadData, "not the JSON expected")
			return fmt.Errorf("closed %d: %w", websocket.StatusInvalidFramePayloadData, err)
		}
		return err
	}
	m.ServerTime = time.Now().UTC()

	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return c.WriteJSON(m)
}

func ticks(w http.ResponseWriter, r *http.Request) {
	c, stop := upgrade("ticks", w, r)
	if c == nil {
		return
	}
	defer c.Close()
	defer stop()
	// The client sends nothing but its close frame, which still needs
	// reading (and answering, which the reader does). ctx ends when the
	// connection does. It does not derive from r's context, which ends on
	// shutdown: the loop would then close with 1000 before the 1001.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		if _, _, err := c.ReadMessage(); err != nil {
			logEnd("ticks", r, err)
			return
		}
		code := websocket.StatusPolicyViolation
		c.CloseWithStatus(code, "this endpoint reads nothing")
		log.Printf("ticks %v: closed %d: the client sent data", r.RemoteAddr, code)
	}()

	t := time.NewTicker(tickInterval)
	defer t.Stop()
	end := time.NewTimer(streamLimit)
	defer end.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			c.Close()
			return
		case now := <-t.C:
			c.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.WriteJSON(tick{Seq: seq, Time: now.UTC()}); err != nil {
				logEnd("ticks", r, err)
				return
			}
		}
	}
}

// notJSON reports whether a ReadJSON error is about the message alone,
// with the connection still open: no close code, and not closed by us.
func notJSON(err error) bool {
	return websocket.CloseStatus(err) == 0 && !errors.Is(err, websocket.ErrClosed)
}

// logEnd logs why a connection ended, unless the client simply closed it
// or we closed it first.
func logEnd(endpoint string, r *http.Request, err error) {
	switch code := websocket.CloseStatus(err); code {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
	case 0:
		if !errors.Is(err, websocket.ErrClosed) {
			log.Printf("%s %v: %v", endpoint, r.RemoteAddr, err)
		}
	default:
		// 1006 for a timeout or a broken connection, 1009 for a message
		// over the limit, or the client's own code.
		log.Printf("%s %v: closed %d: %v", endpoint, r.RemoteAddr, code, err)
	}
}

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	var conns sync.WaitGroup // handlers still running
	counted := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			conns.Add(1)
			defer conns.Done()
			h(w, r)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", counted(echo))
	mux.HandleFunc("/ticks", counted(ticks))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests end with the signal; their connections then close
		// with 1001.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	fmt.Printf("listening on http://%s\n", ln.Addr())

	<-ctx.Done()
	stop()
	// Shutdown does not wait for WebSocket connections: wait for their
	// handlers, which close them with 1001.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Print(err)
	}
	conns.Wait()
}
