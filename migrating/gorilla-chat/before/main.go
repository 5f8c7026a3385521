// Command chat is a chat room written with gorilla/websocket: every line a
// member sends reaches every member.
//
//	go run .
//
// then open http://localhost:8080 in two windows. The page connects to
// /ws and sends each line as a text message. The server sends lines back
// as text messages of one or more lines, separated by "\n": lines queued
// for a member while its previous message was being written go out
// together.
package main

import (
	"context"
	_ "embed"
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

//go:embed index.html
var page []byte

// The zero Upgrader refuses browsers on pages of other hosts (its
// CheckOrigin compares Origin with Host), which suits a room served with
// its own page.
var upgrader websocket.Upgrader

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	flag.Parse()

	// Catch signals before saying we listen, so that whoever reads the
	// line may stop us at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	rm := newRoom()
	go rm.run()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		serveWS(rm, w, r)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	fmt.Printf("listening on http://%s\n", ln.Addr())

	<-ctx.Done()
	stop() // a second signal ends the program the hard way
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Shutdown leaves upgraded connections alone: the room says goodbye
	// to its members itself.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Print(err)
	}
	rm.shutdown()
}

// serveWS upgrades a request to a member of the room.
func serveWS(rm *room, w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		log.Printf("upgrade: %v", err) // Upgrade has answered with an HTTP error
		return
	}
	c := &client{room: rm, conn: conn, send: make(chan []byte, sendQueue)}
	select {
	case rm.register <- c:
	case <-rm.done:
		conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"),
			time.Now().Add(writeWait))
		conn.Close()
		return
	}
	go c.writePump()
	c.readPump()
}
