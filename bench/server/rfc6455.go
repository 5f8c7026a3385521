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
// Broadcast: a websocket.Hub, which encodes each message once and writes
// it to every subscriber from a goroutine of its own, with writes that do
// not wait for room; messages that arrive while it is busy go out together,
// one write per subscriber.
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
	if deflate != "" {
		// The defaults, windows of 4 KiB each way, unless -deflate-window.
		u.Compression = &websocket.Compression{
			NoContextTakeover: deflate == "no-takeover",
			WindowBits:        deflateWindow,
			PeerWindowBits:    deflateWindow,
		}
	}
	var h http.Handler
	switch {
	case broadcast && events:
		var room websocket.Hub
		h = u.EventHandler(websocket.Events{
			Open: func(c *websocket.Conn) { room.Add(c) },
			Message: func(c *websocket.Conn, t websocket.MessageType, r io.Reader) {
				if p, err := io.ReadAll(r); err == nil {
					room.Broadcast(t, p)
				}
			},
			Close: func(c *websocket.Conn, _ error) { room.Remove(c) },
		})
	case broadcast:
		var room websocket.Hub
		h = u.Handler(func(c *websocket.Conn) { rfc6455Broadcast(&room, c) })
	case events:
		h = u.EventHandler(websocket.Events{Message: rfc6455EchoMessage})
	default:
		h = u.Handler(rfc6455Echo)
	}
	return serveHTTP(ln, h)
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

func rfc6455Broadcast(room *websocket.Hub, c *websocket.Conn) {
	room.Add(c)
	defer room.Remove(c)
	for {
		t, p, err := c.ReadMessage()
		if err != nil {
			return
		}
		room.Broadcast(t, p)
	}
}
