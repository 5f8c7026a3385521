package main

import (
	"context"
	"strings"
	"testing"

	"github.com/rfc6455/websocket"
	"github.com/rfc6455/websocket/internal/exampletest"
)

// The tests of -tls run the chat as a process, through main: the test binary
// started again (see exampletest).
func TestMain(m *testing.M) { exampletest.Main(m, main) }

// With -tls the chat serves https with a certificate for localhost and
// 127.0.0.1, the page over HTTP/2 agreed by ALPN, and the chat over TLS
// to a client that speaks HTTP/1.1 only; its log says which request each
// connection came with.
func TestTLS(t *testing.T) {
	p := exampletest.Start(t, "-tls")
	if !strings.HasPrefix(p.URL, "https://127.0.0.1:") {
		t.Fatalf("listening on %s, want https://127.0.0.1:PORT", p.URL)
	}
	p.WaitLog(t, "chat: WebSockets over HTTP/2: ")
	cfg := p.TLSConfig(t)

	resp, body := p.Get(t, cfg, "/")
	if resp.Proto != "HTTP/2.0" || resp.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("the page came over %s (ALPN %q), want HTTP/2 (h2)", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
	if string(body) != string(page) {
		t.Errorf("GET / = %s with %d bytes, want the page", resp.Status, len(body))
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	wsURL := "wss" + strings.TrimPrefix(p.URL, "https") + "/ws"
	c, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{TLSConfig: cfg, Subprotocols: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.LocalAddr().String()
	p.WaitLog(t, "chat: "+addr+" connected (HTTP/1.1 GET)")
	send(t, c, "alice")
	expect(t, c, joinJSON("alice"))
	send(t, c, "你好，世界")
	expect(t, c, messageJSON("alice", "你好，世界"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	p.WaitLog(t, "chat: "+addr+" closed 1000")
}
