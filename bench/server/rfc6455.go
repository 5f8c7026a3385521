// rfc6455 (this library): Upgrader.Handler on a net/http server.
//
// Echo: NextReader, NextWriter and io.Copy. The copy goes through the
// connection's own buffers (the reader implements io.WriterTo): no
// allocation per message, a long payload read through a buffer of up to
// 64 KiB, and a message of up to 64 KiB sent back as one frame in one
// write. ReadMessage/WriteMessage would allocate every message.
//
// Broadcast: the message is encoded once with NewPreparedMessage and
// written with WritePreparedMessage to every connection, from the goroutine
// that read it (see hub): the prepared frame goes out as it is, one write
// per connection, and Conn writes are safe from any goroutine, so no
// goroutine or queue per subscriber is needed.
package main

import (
	"io"
	"net"
	"net/http"

	"github.com/rfc6455/websocket"
)

func serveRFC6455(ln net.Listener, broadcast bool) error {
	u := &websocket.Upgrader{
		ReadLimit:   readLimit,
		CheckOrigin: func(*http.Request) bool { return true },
	}
	f := rfc6455Echo
	if broadcast {
		var h hub[*websocket.Conn]
		f = func(c *websocket.Conn) { rfc6455Broadcast(&h, c) }
	}
	return (&http.Server{Handler: u.Handler(f)}).Serve(ln)
}

func rfc6455Echo(c *websocket.Conn) {
	for {
		t, r, err := c.NextReader()
		if err != nil {
			return
		}
		w, err := c.NextWriter(t)
		if err != nil {
			return
		}
		_, err = io.Copy(w, r)
		if cerr := w.Close(); err != nil || cerr != nil {
			return
		}
	}
}

func rfc6455Broadcast(h *hub[*websocket.Conn], c *websocket.Conn) {
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
			// A failed write closes sub; its own reader then leaves the hub.
			sub.WritePreparedMessage(m)
		})
	}
}
