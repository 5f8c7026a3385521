// gorilla/websocket: Upgrader.Upgrade in a net/http handler that then
// serves the connection itself.
//
// Echo: ReadMessage then WriteMessage. Measured against NextReader,
// NextWriter and io.Copy (server pinned to one core, 64 connections):
// streaming was 5 to 15% cheaper at 16 B and 1 KiB, but it moves 4 KiB per
// system call and frame, so at 16 KiB it cost 10 to 25% more and at 1 MiB
// about 2.7 times the CPU (515 system calls per message against 17), while
// WriteMessage sends a whole message as one frame in one vectored write.
//
// Broadcast: one websocket.PreparedMessage per message, which encodes the
// frame once and hands the same bytes to every connection, written with
// WritePreparedMessage from the goroutine that read it. gorilla allows one
// writer at a time per connection; the hub's lock gives that (see hub), so
// no goroutine or queue per subscriber is needed.
package main

import (
	"net"
	"net/http"

	"github.com/gorilla/websocket"
)

func serveGorilla(ln net.Listener, broadcast bool) error {
	u := &websocket.Upgrader{
		CheckOrigin: func(*http.Request) bool { return true },
		// Negotiated when the client offers it; gorilla then compresses
		// every message it writes, each on its own, at compress/flate's
		// BestSpeed.
		EnableCompression: deflate == "no-takeover",
	}
	serve := gorillaEcho
	if broadcast {
		var h hub[*websocket.Conn]
		serve = func(c *websocket.Conn) { gorillaBroadcast(&h, c) }
	}
	return (&http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered with an HTTP error.
		}
		defer c.Close()
		c.SetReadLimit(readLimit)
		serve(c)
	})}).Serve(ln)
}

func gorillaEcho(c *websocket.Conn) {
	for {
		t, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(t, p); err != nil {
			return
		}
	}
}

func gorillaBroadcast(h *hub[*websocket.Conn], c *websocket.Conn) {
	h.add(c)
	defer h.remove(c)
	for {
		t, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		m, err := websocket.NewPreparedMessage(t, p)
		if err != nil {
			return
		}
		h.each(func(sub *websocket.Conn) {
			// A failed write breaks sub; its own reader then leaves the hub.
			sub.WritePreparedMessage(m)
		})
	}
}
