package main

import (
	"bytes"
	"context"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/rfc6455/websocket"
)

const (
	// maxLine is the longest message a member may send, in bytes; a
	// longer one ends its connection (with 1009).
	maxLine = 512
	// A member is pinged after pingPeriod without a pong, and given up if
	// the pong takes longer than pongWait-pingPeriod: a live browser
	// answers pings by itself.
	pingPeriod = 45 * time.Second
	pongWait   = time.Minute
	// sendQueue is how many lines of backlog a member may have before
	// the room drops it as too slow (with 1008).
	sendQueue = 64
)

// upgrader, like the zero Upgrader, refuses browsers on pages of other
// hosts, which suits a room served with its own page; it also pings every
// member, and gives up on one that stops answering.
var upgrader = websocket.Upgrader{
	PingInterval: pingPeriod,
	PongTimeout:  pongWait - pingPeriod,
}

// room writes every line to every member, each at its own pace.
var room = websocket.Hub{
	BacklogLimit: sendQueue * maxLine,
	// The hub closes a member that falls too far behind (with 1008), or
	// whose write failed; its reader then ends and logs the code. A write
	// fails too when a member has just left, which is not worth a line.
	Dropped: func(c *websocket.Conn, err error) {
		if errors.Is(err, websocket.ErrBacklogLimit) {
			log.Printf("chat: %v: too slow: %v", c.RemoteAddr(), err)
		}
	},
}

// serveWS upgrades a request to a member of the room, and hands every line
// the member sends to the room, until the connection ends: closed, silent
// too long, or a message over maxLine.
func serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		log.Printf("upgrade: %v", err) // Upgrade has answered with an HTTP error
		return
	}
	defer c.Close()
	// r's context ends when the server shuts down (see main).
	stop := context.AfterFunc(r.Context(), func() {
		c.CloseWithStatus(websocket.StatusGoingAway, "server shutting down")
	})
	defer stop()
	c.SetReadLimit(maxLine)

	if err := room.Add(c); err != nil {
		log.Printf("chat: %v: %v", c.RemoteAddr(), err)
		return
	}
	defer room.Remove(c)
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			logEnd(c, err)
			return
		}
		// The page splits what it gets at "\n", so no line may hold one.
		line := bytes.TrimSpace(bytes.ReplaceAll(msg, []byte{'\n'}, []byte{' '}))
		if len(line) == 0 {
			continue
		}
		room.Broadcast(websocket.TextMessage, line)
	}
}

// logEnd logs how a member's connection ended, unless it said goodbye.
func logEnd(c *websocket.Conn, err error) {
	switch code := websocket.CloseStatus(err); code {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
	case 0:
		if !errors.Is(err, websocket.ErrClosed) { // not closed by us first
			log.Printf("chat: %v: %v", c.RemoteAddr(), err)
		}
	default:
		log.Printf("chat: %v: closed %d: %v", c.RemoteAddr(), code, err)
	}
}
