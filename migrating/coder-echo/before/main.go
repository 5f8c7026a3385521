// Command echo serves two WebSocket endpoints, written with
// coder/websocket:
//
//   - /echo answers each JSON message, {"seq":1,"text":"hello"}, with the
//     same message and the time the server read it:
//     {"seq":1,"text":"hello","server_time":"2026-12-06T10:00:00.123Z"}.
//   - /ticks sends {"seq":N,"time":"..."} four times a second and reads
//     nothing but the client's close.
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

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
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
)

var acceptOptions = &websocket.AcceptOptions{
	// Pages from a development server on another port of this machine
	// may connect too; the request's own host always may.
	OriginPatterns: []string{"localhost:*"},
}

func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, acceptOptions)
	if err != nil {
		log.Printf("echo: %v", err) // Accept has answered with an HTTP error
		return
	}
	defer c.CloseNow()

	for {
		if err := echoOne(r.Context(), c); err != nil {
			logEnd("echo", r, err)
			return
		}
	}
}

// echoOne reads one message and answers it.
func echoOne(ctx context.Context, c *websocket.Conn) error {
	readCtx, cancel := context.WithTimeout(ctx, idleTimeout)
	defer cancel()
	var m message
	if err := wsjson.Read(readCtx, c, &m); err != nil {
		return err
	}
	m.ServerTime = time.Now().UTC()

	writeCtx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return wsjson.Write(writeCtx, c, m)
}

func ticks(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, acceptOptions)
	if err != nil {
		log.Printf("ticks: %v", err)
		return
	}
	defer c.CloseNow()
	// The client sends nothing but still needs its close frame read and
	// answered: CloseRead does that, and ends ctx when the connection ends.
	ctx := c.CloseRead(r.Context())

	t := time.NewTicker(tickInterval)
	defer t.Stop()
	end := time.NewTimer(streamLimit)
	defer end.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			c.Close(websocket.StatusNormalClosure, "")
			return
		case now := <-t.C:
			if err := sendTick(ctx, c, tick{Seq: seq, Time: now.UTC()}); err != nil {
				logEnd("ticks", r, err)
				return
			}
		}
	}
}

func sendTick(ctx context.Context, c *websocket.Conn, t tick) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return wsjson.Write(ctx, c, t)
}

// logEnd logs why a connection ended, unless the client simply closed it.
func logEnd(endpoint string, r *http.Request, err error) {
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
	case -1: // no close frame: not JSON, a timeout, a broken connection
		log.Printf("%s %v: %v", endpoint, r.RemoteAddr, err)
	default:
		log.Printf("%s %v: closed with %v", endpoint, r.RemoteAddr, websocket.CloseStatus(err))
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
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/ticks", ticks)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	fmt.Printf("listening on http://%s\n", ln.Addr())

	<-ctx.Done()
	stop()
	// Shutdown does not wait for hijacked (WebSocket) connections; any
	// still open end with the process.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Print(err)
	}
}
