// rfc6455 (this library) on a net/http server, two ways: "rfc6455" with
// Upgrader.EventHandler, where a connection holds no goroutine between its
// messages (epoll on Linux) and a pooled goroutine is lent to it for each
// message; "rfc6455-handler" with Upgrader.Handler, a goroutine per
// connection blocked in NextReader. The driver's ratios use the first.
//
// Echo: NextWriter and io.Copy from the message's reader. The copy goes
// through the connection's own buffers (the reader implements
// io.WriterTo): no allocation per message, a long payload read through a
// buffer of up to 64 KiB, and a message of up to 64 KiB sent back as one
// frame in one write. ReadMessage/WriteMessage would allocate every
// message.
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
	return serveRFC6455With(ln, broadcast, true)
}

// serveRFC6455Handler is the same server with Upgrader.Handler: a goroutine
// per connection that blocks in NextReader.
func serveRFC6455Handler(ln net.Listener, broadcast bool) error {
	return serveRFC6455With(ln, broadcast, false)
}

func serveRFC6455With(ln net.Listener, broadcast, events bool) error {
	u := &websocket.Upgrader{
		ReadLimit:   readLimit,
		CheckOrigin: func(*http.Request) bool { return true },
	}
	var h http.Handler
	switch {
	case broadcast && events:
		var subs hub[*websocket.Conn]
		h = u.EventHandler(websocket.Events{
			Open: subs.add,
			Message: func(c *websocket.Conn, t websocket.MessageType, r io.Reader) {
				if p, err := io.ReadAll(r); err == nil {
					rfc6455Publish(&subs, t, p)
				}
			},
			Close: func(c *websocket.Conn, _ error) { subs.remove(c) },
		})
	case broadcast:
		var subs hub[*websocket.Conn]
		h = u.Handler(func(c *websocket.Conn) { rfc6455Broadcast(&subs, c) })
	case events:
		h = u.EventHandler(websocket.Events{Message: rfc6455EchoMessage})
	default:
		h = u.Handler(rfc6455Echo)
	}
	return (&http.Server{Handler: h}).Serve(ln)
}

func rfc6455Echo(c *websocket.Conn) {
	for {
		t, r, err := c.NextReader()
		if err != nil || rfc6455EchoOne(c, t, r) != nil {
			return
		}
	}
}

// rfc6455EchoMessage is the Message callback of EventHandler.
func rfc6455EchoMessage(c *websocket.Conn, t websocket.MessageType, r io.Reader) {
	if rfc6455EchoOne(c, t, r) != nil {
		c.Close()
	}
}

// rfc6455EchoOne sends the message r back as it is read.
func rfc6455EchoOne(c *websocket.Conn, t websocket.MessageType, r io.Reader) error {
	w, err := c.NextWriter(t)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

func rfc6455Broadcast(h *hub[*websocket.Conn], c *websocket.Conn) {
	h.add(c)
	defer h.remove(c)
	for {
		t, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		rfc6455Publish(h, t, p)
	}
}

func rfc6455Publish(h *hub[*websocket.Conn], t websocket.MessageType, p []byte) {
	m, err := websocket.NewPreparedMessage(t, p)
	if err != nil {
		return
	}
	h.each(func(sub *websocket.Conn) {
		// A failed write closes sub, which then leaves the hub.
		sub.WritePreparedMessage(m)
	})
}
