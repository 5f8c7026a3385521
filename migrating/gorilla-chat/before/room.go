package main

import (
	"bytes"
	"log"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// maxLine is the longest message a member may send, in bytes; a
	// longer one ends its connection.
	maxLine = 512
	// pongWait is how long a member may stay silent: a connection with
	// neither a message nor a pong for this long is given up.
	pongWait = time.Minute
	// pingPeriod must be shorter than pongWait, so that a live browser's
	// pong (browsers answer pings by themselves) arrives in time.
	pingPeriod = 45 * time.Second
	writeWait  = 10 * time.Second // for one message to one member
	sendQueue  = 64               // lines queued for a member before it is dropped as too slow
	maxBatch   = 32               // lines in one message at most
)

// room is the hub: its run goroutine alone owns the set of members, and
// members join, leave and speak by sending to its channels.
type room struct {
	register   chan *client
	unregister chan *client
	broadcast  chan []byte
	quit       chan struct{} // closed by shutdown
	done       chan struct{} // closed when run has returned

	writers sync.WaitGroup // write pumps still running
}

func newRoom() *room {
	return &room{
		register:   make(chan *client),
		unregister: make(chan *client),
		broadcast:  make(chan []byte),
		quit:       make(chan struct{}),
		done:       make(chan struct{}),
	}
}

func (rm *room) run() {
	defer close(rm.done)
	members := make(map[*client]bool)
	// drop takes c out and closes its queue: its write pump then sends
	// the close frame with code and ends the connection.
	drop := func(c *client, code int) {
		delete(members, c)
		c.closeCode = code
		close(c.send)
	}
	for {
		select {
		case c := <-rm.register:
			members[c] = true
			rm.writers.Add(1) // for c's write pump, started once this send completes
		case c := <-rm.unregister:
			if members[c] {
				drop(c, websocket.CloseNormalClosure)
			}
		case line := <-rm.broadcast:
			for c := range members {
				select {
				case c.send <- line:
				default:
					// Its queue is full: it does not read, and the room
					// does not wait for it.
					drop(c, websocket.ClosePolicyViolation)
				}
			}
		case <-rm.quit:
			for c := range members {
				drop(c, websocket.CloseGoingAway)
			}
			return
		}
	}
}

// shutdown closes every member's connection with 1001 (going away) and
// returns once each close frame is written or has timed out.
func (rm *room) shutdown() {
	close(rm.quit)
	<-rm.done
	rm.writers.Wait()
}

// client is one member: readPump reads its connection, writePump writes
// it, so that the room never waits on a slow connection.
type client struct {
	room *room
	conn *websocket.Conn
	send chan []byte // lines to write; closed by the room
	// closeCode is set by the room before it closes send, so the write
	// pump reads it after seeing send closed.
	closeCode int
}

var newline = []byte{'\n'}

// readPump hands every line the member sends to the room, until the
// connection fails: closed, silent too long, or a message over maxLine.
func (c *client) readPump() {
	defer func() {
		select {
		case c.room.unregister <- c:
		case <-c.room.done:
		}
		c.conn.Close()
	}()
	c.conn.SetReadLimit(maxLine)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				log.Printf("chat: %v: %v", c.conn.RemoteAddr(), err)
			}
			return
		}
		// Newlines separate lines on the way out, so none may be inside one.
		line := bytes.TrimSpace(bytes.ReplaceAll(msg, newline, []byte{' '}))
		if len(line) == 0 {
			continue
		}
		select {
		case c.room.broadcast <- line:
		case <-c.room.done:
			return
		}
	}
}

// writePump writes what the room queues for the member, and a ping every
// pingPeriod, until the room closes the queue or a write fails.
func (c *client) writePump() {
	ping := time.NewTicker(pingPeriod)
	defer func() {
		ping.Stop()
		c.conn.Close() // ends readPump too, if a write failed
		c.room.writers.Done()
	}()
	for {
		select {
		case line, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(c.closeCode, ""))
				return
			}
			if err := c.writeLines(line); err != nil {
				return
			}
		case <-ping.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

// writeLines writes first, and the lines queued behind it, as one text
// message with "\n" between lines: a busy room sends fewer, longer
// messages instead of falling behind.
func (c *client) writeLines(first []byte) error {
	w, err := c.conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	w.Write(first)
	for n := 1; n < maxBatch; n++ {
		select {
		case line, ok := <-c.send:
			if !ok {
				// writePump sees the closed queue next time round.
				return w.Close()
			}
			w.Write(newline)
			w.Write(line)
		default:
			return w.Close()
		}
	}
	return w.Close()
}
