// Command jsonecho answers JSON messages over WebSocket. Each message the
// client sends at /echo,
//
//	{"seq":1,"text":"hello"}
//
// comes back with the time the server read it added:
//
//	{"seq":1,"text":"hello","server_time":"2026-12-06T10:00:00.123456789Z"}
//
// A message that is not one JSON value ends the connection with 1007.
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

// message is what clients send and, with ServerTime set, get back.
type message struct {
	Seq        int       `json:"seq"`
	Text       string    `json:"text"`
	ServerTime time.Time `json:"server_time,omitzero"`
}

const (
	maxMessage = 64 << 10 // bytes; a longer message ends the connection
	idleWait   = time.Minute
	writeWait  = 10 * time.Second
)

var upgrader websocket.Upgrader // same-origin browsers only, and any non-browser client

func echo(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		log.Printf("upgrade: %v", err) // Upgrade has answered with an HTTP error
		return
	}
	defer conn.Close()
	// r's context ends when the server shuts down (see main).
	stop := context.AfterFunc(r.Context(), func() {
		conn.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
	})
	defer stop()
	conn.SetReadLimit(maxMessage)

	for {
		conn.SetReadDeadline(time.Now().Add(idleWait))
		var m message
		if err := conn.ReadJSON(&m); err != nil {
			if notJSON(err) {
				// The connection is fine, but the message was not JSON.
				code := websocket.StatusInvalidFramePayloadData
				conn.CloseWithStatus(code, "not the JSON expected")
				log.Printf("echo %v: closed %d: %v", r.RemoteAddr, code, err)
				return
			}
			logEnd(r, err)
			return
		}
		m.ServerTime = time.Now().UTC()
		conn.SetWriteDeadline(time.Now().Add(writeWait))
		if err := conn.WriteJSON(m); err != nil {
			logEnd(r, err)
			return
		}
	}
}

// notJSON reports whether a ReadJSON error is about the message alone,
// with the connection still open: no close code, and not closed by us.
func notJSON(err error) bool {
	return websocket.CloseStatus(err) == 0 && !errors.Is(err, websocket.ErrClosed)
}

// logEnd logs how a connection ended, unless with a goodbye.
func logEnd(r *http.Request, err error) {
	switch code := websocket.CloseStatus(err); code {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		// The client said goodbye, or we are shutting down.
	case 0:
		if !errors.Is(err, websocket.ErrClosed) { // else we closed it first
			log.Printf("echo %v: %v", r.RemoteAddr, err)
		}
	default:
		// Too long (1009), too slow or broken (1006), a protocol error.
		log.Printf("echo %v: closed %d: %v", r.RemoteAddr, code, err)
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
	var conns sync.WaitGroup // echo handlers still running
	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		conns.Add(1)
		defer conns.Done()
		echo(w, r)
	})
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		// Requests end with the signal, and echo closes with 1001.
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
	// Shutdown does not wait for upgraded connections: wait for their
	// handlers, which say goodbye with 1001.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Print(err)
	}
	conns.Wait()
}
