// Command chat is a chat room: every line a member sends reaches every
// member.
//
//	go run .
//
// then open http://localhost:8080 in two windows. The page connects to
// /ws and sends each line as a text message; the server sends every line
// back to every member as a text message. (The page also accepts several
// lines in one message, separated by "\n".)
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
	"sync"
	"syscall"
	"time"
)

//go:embed index.html
var page []byte

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
	var members sync.WaitGroup // handlers of upgraded connections
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		members.Add(1)
		defer members.Done()
		serveWS(w, r)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests end with the signal: serveWS then closes its member
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
	stop() // a second signal ends the program the hard way
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Shutdown leaves upgraded connections alone; each member's handler
	// says goodbye with 1001, and we wait for them.
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Print(err)
	}
	members.Wait()
}
