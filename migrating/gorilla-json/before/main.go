// Command jsonecho answers JSON messages over WebSocket, written with
// gorilla/websocket. Each message the client sends at /echo,
//
//	{"seq":1,"text":"hello"}
//
// comes back with the time the server read it added:
//
//	{"seq":1,"text":"hello","server_time":"2026-12-06T10:00:00.123456789Z"}
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
	"syscall"
	"time"

	"github.com/gorilla/websocket"
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
	conn.SetReadLimit(maxMessage)

	for {
		conn.SetReadDeadline(time.Now().Add(idleWait))
		var m message
		if err := conn.ReadJSON(&m); err != nil {
			switch {
			case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
				// The client said goodbye.
			case websocket.IsUnexpectedCloseError(err):
				log.Printf("echo %v: closed: %v", r.RemoteAddr, err)
			default:
				// Not JSON, too long, too slow, or the connection broke.
				log.Printf("echo %v: %v", r.RemoteAddr, err)
			}
			return
		}
		m.ServerTime = time.Now().UTC()
		conn.SetWriteDeadline(time.Now().Add(writeWait))
		if err := conn.WriteJSON(m); err != nil {
			log.Printf("echo %v: %v", r.RemoteAddr, err)
			return
		}
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
	http.HandleFunc("/echo", echo)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	fmt.Printf("listening on http://%s\n", ln.Addr())

	<-ctx.Done()
	stop()
	// Shutdown does not wait for upgraded connections; any still open end
	// with the process.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Print(err)
	}
}
