package websocket_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/rfc6455/websocket"
)

// An echo server embedded in net/http, and a client that talks to it.
func Example() {
	var upgrader websocket.Upgrader
	echo := upgrader.Handler(func(c *websocket.Conn) {
		for {
			t, msg, err := c.ReadMessage()
			if err != nil {
				return // the client closed, or broke the protocol
			}
			if err := c.WriteMessage(t, msg); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(echo)
	defer srv.Close()

	c, err := websocket.Dial(context.Background(), wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.WriteMessage(websocket.TextMessage, []byte("你好，世界"))
	t, msg, err := c.ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t, string(msg))
	// Output: text 你好，世界
}

// JSON values as text messages: a server that answers each request with
// a reply, decoded and encoded as the messages stream through.
func ExampleConn_ReadJSON() {
	type request struct {
		Op   string `json:"op"`
		Args []int  `json:"args"`
	}
	type reply struct {
		Result int `json:"result"`
	}
	var upgrader websocket.Upgrader
	srv := httptest.NewServer(upgrader.Handler(func(c *websocket.Conn) {
		for {
			var req request
			if err := c.ReadJSON(&req); err != nil {
				if websocket.CloseStatus(err) != 0 {
					return // the connection ended
				}
				c.CloseWithStatus(websocket.StatusUnsupportedData, "JSON only")
				return
			}
			sum := 0
			for _, a := range req.Args {
				sum += a
			}
			if err := c.WriteJSON(reply{Result: sum}); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	c, err := websocket.Dial(context.Background(), wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.WriteJSON(request{Op: "sum", Args: []int{1, 2, 39}})
	var r reply
	if err := c.ReadJSON(&r); err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Result)
	// Output: 42
}

// Upgrade inside an ordinary handler, with a header of the application's
// own in the 101 response.
func ExampleUpgrader_Upgrade() {
	upgrader := &websocket.Upgrader{ReadLimit: 64 << 10}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, http.Header{"X-Server": {"example"}})
		if err != nil {
			return // Upgrade has answered the request with an HTTP error
		}
		defer c.Close()
		c.WriteMessage(websocket.TextMessage, []byte("hello "+r.URL.Query().Get("name")))
	}))
	defer srv.Close()

	c, err := websocket.Dial(context.Background(), wsURL(srv)+"/?name=gopher", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, msg, _ := c.ReadMessage()
	fmt.Println(string(msg))
	// Output: hello gopher
}

// The code and reason of the peer's close frame come with the error that
// ends reading.
func ExampleCloseError() {
	var upgrader websocket.Upgrader
	srv := httptest.NewServer(upgrader.Handler(func(c *websocket.Conn) {
		c.CloseWithStatus(websocket.StatusTryAgainLater, "server busy")
	}))
	defer srv.Close()

	c, err := websocket.Dial(context.Background(), wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		fmt.Println(uint16(ce.Code), ce.Code, ce.Reason)
	}
	// Output: 1013 try again later server busy
}

// The server lists the subprotocols it speaks, most preferred first; the
// first one the client also offers is chosen.
func ExampleConn_Subprotocol() {
	upgrader := &websocket.Upgrader{Subprotocols: []string{"chat.v2", "chat"}}
	srv := httptest.NewServer(upgrader.Handler(func(c *websocket.Conn) {
		c.WriteMessage(websocket.TextMessage, []byte("speaking "+c.Subprotocol()))
	}))
	defer srv.Close()

	c, err := websocket.Dial(context.Background(), wsURL(srv), &websocket.DialOptions{
		Subprotocols: []string{"chat", "chat.v2"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, msg, _ := c.ReadMessage()
	fmt.Println(c.Subprotocol(), "/", string(msg))
	// Output: chat.v2 / speaking chat.v2
}

// A browser on another site is refused unless its origin is allowed.
func ExampleUpgrader_AllowedOrigins() {
	upgrader := &websocket.Upgrader{AllowedOrigins: []string{"*.example.com"}}
	srv := httptest.NewServer(upgrader.Handler(func(c *websocket.Conn) {}))
	defer srv.Close()

	for _, origin := range []string{"https://app.example.com", "https://evil.test"} {
		c, err := websocket.Dial(context.Background(), wsURL(srv), &websocket.DialOptions{
			Header: http.Header{"Origin": {origin}},
		})
		if err != nil {
			fmt.Println(origin, "refused")
			continue
		}
		fmt.Println(origin, "accepted")
		c.Close()
	}
	// Output:
	// https://app.example.com accepted
	// https://evil.test refused
}

// With the keepalive on, the server pings quiet connections and drops those
// whose pong does not come: here a client that stops reading, so it never
// sees the pings. The server's read then fails with ErrPongTimeout.
func ExampleUpgrader_keepalive() {
	upgrader := &websocket.Upgrader{
		PingInterval: 50 * time.Millisecond, // in production: 30 * time.Second or so
		PongTimeout:  50 * time.Millisecond,
	}
	result := make(chan error, 1)
	srv := httptest.NewServer(upgrader.Handler(func(c *websocket.Conn) {
		_, _, err := c.ReadMessage() // pongs are seen while reading
		result <- err
	}))
	defer srv.Close()

	c, err := websocket.Dial(context.Background(), wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	// This client never reads, so it never answers a ping.
	err = <-result
	fmt.Println(errors.Is(err, websocket.ErrPongTimeout))
	// Output: true
}

func wsURL(srv *httptest.Server) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// A room that tells everyone how many are in it, served by events: between
// messages a connection holds no goroutine.
func ExampleUpgrader_EventHandler() {
	var (
		mu    sync.Mutex
		peers = map[*websocket.Conn]bool{}
	)
	announce := func() {
		mu.Lock()
		defer mu.Unlock()
		m, _ := websocket.NewPreparedMessage(websocket.TextMessage, []byte(fmt.Sprintf("%d here", len(peers))))
		for c := range peers {
			c.WritePreparedMessage(m)
		}
	}
	var upgrader websocket.Upgrader
	srv := httptest.NewServer(upgrader.EventHandler(websocket.Events{
		Open: func(c *websocket.Conn) {
			mu.Lock()
			peers[c] = true
			mu.Unlock()
			announce()
		},
		Message: func(c *websocket.Conn, t websocket.MessageType, r io.Reader) {
			// This room only counts; a chat would broadcast r here.
		},
		Close: func(c *websocket.Conn, err error) {
			mu.Lock()
			delete(peers, c)
			mu.Unlock()
			announce()
		},
	}))
	defer srv.Close()

	alice, err := websocket.Dial(context.Background(), wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	_, msg, _ := alice.ReadMessage()
	fmt.Println("alice:", string(msg))

	bob, err := websocket.Dial(context.Background(), wsURL(srv), nil)
	if err != nil {
		log.Fatal(err)
	}
	_, msg, _ = alice.ReadMessage()
	fmt.Println("alice:", string(msg))
	bob.Close()
	_, msg, _ = alice.ReadMessage()
	fmt.Println("alice:", string(msg))
	alice.Close()
	// Output:
	// alice: 1 here
	// alice: 2 here
	// alice: 1 here
}

// A chat room: what one member sends, every member receives.
func ExampleHub() {
	var room websocket.Hub
	var upgrader websocket.Upgrader
	srv := httptest.NewServer(upgrader.Handler(func(c *websocket.Conn) {
		room.Add(c)
		defer room.Remove(c)
		c.WriteMessage(websocket.TextMessage, []byte("welcome"))
		for {
			t, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			room.Broadcast(t, msg)
		}
	}))
	defer srv.Close()

	join := func() *websocket.Conn {
		c, err := websocket.Dial(context.Background(), wsURL(srv), nil)
		if err != nil {
			log.Fatal(err)
		}
		c.ReadMessage() // the welcome: c is in the room
		return c
	}
	alice, bob := join(), join()
	defer alice.Close()
	defer bob.Close()
	alice.WriteMessage(websocket.TextMessage, []byte("hello, room"))
	for _, c := range []*websocket.Conn{alice, bob} {
		_, msg, _ := c.ReadMessage()
		fmt.Println(string(msg))
	}
	// Output:
	// hello, room
	// hello, room
}
