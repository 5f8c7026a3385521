package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rfc6455/websocket"
	"github.com/rfc6455/websocket/internal/exampletest"
)

// The tests run the echo as a process, through main: the test binary
// started again (see exampletest).
func TestMain(m *testing.M) { exampletest.Main(m, main) }

// With -tls the echo serves https with a certificate for localhost and
// 127.0.0.1, the page over HTTP/2 agreed by ALPN, and the WebSocket over
// TLS to a client that speaks HTTP/1.1 only; its log says which request
// each connection came with, and the round trip of a ping.
func TestTLS(t *testing.T) {
	for _, args := range [][]string{{"-tls"}, {"-tls", "-events"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			p := exampletest.Start(t, args...)
			if !strings.HasPrefix(p.URL, "https://127.0.0.1:") {
				t.Fatalf("listening on %s, want https://127.0.0.1:PORT", p.URL)
			}
			p.WaitLog(t, "echo: WebSockets over HTTP/2: ")
			cfg := p.TLSConfig(t)

			resp, body := p.Get(t, cfg, "/")
			if resp.Proto != "HTTP/2.0" || resp.TLS.NegotiatedProtocol != "h2" {
				t.Errorf("the page came over %s (ALPN %q), want HTTP/2 (h2)", resp.Proto, resp.TLS.NegotiatedProtocol)
			}
			if !bytes.Equal(body, page) {
				t.Errorf("GET / = %s with %d bytes, want the page", resp.Status, len(body))
			}
			p.WaitLog(t, " page (HTTP/2.0 GET)")

			ctx, cancel := context.WithTimeout(context.Background(), exampletest.Timeout)
			defer cancel()
			wsURL := "wss" + strings.TrimPrefix(p.URL, "https") + "/ws"
			c, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{TLSConfig: cfg})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			addr := c.LocalAddr().String()
			p.WaitLog(t, "echo: "+addr+" connected (HTTP/1.1 GET)")
			// A goroutine reads, as a browser does: it answers the
			// server's ping whenever it comes.
			msgs, ended := make(chan string, 1), make(chan error, 1)
			go func() {
				for {
					_, msg, err := c.ReadMessage()
					if err != nil {
						ended <- err
						return
					}
					msgs <- string(msg)
				}
			}()
			if err := c.WriteMessage(websocket.TextMessage, []byte("你好，世界")); err != nil {
				t.Fatal(err)
			}
			select {
			case msg := <-msgs:
				if msg != "你好，世界" {
					t.Fatalf("echo: %q", msg)
				}
			case err := <-ended:
				t.Fatalf("no echo: %v", err)
			case <-time.After(exampletest.Timeout):
				t.Fatal("no echo")
			}
			p.WaitLog(t, "echo: pong from "+addr+" in ")
			if err := c.CloseWithStatus(4000, "done"); err != nil {
				t.Fatal(err)
			}
			p.WaitLog(t, "echo: "+addr+" closed 4000")
		})
	}
}
