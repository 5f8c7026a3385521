package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rfc6455/websocket"
	"github.com/rfc6455/websocket/internal/exampletest"
)

// The tests of -tls run the poll as a process, through main: the test
// binary started again (see exampletest).
func TestMain(m *testing.M) { exampletest.Main(m, main) }

// With -tls the poll serves https with a certificate for localhost and
// 127.0.0.1, the page over HTTP/2 agreed by ALPN, and the poll over TLS
// to a client that speaks HTTP/1.1 only; its log says which request each
// connection came with.
func TestTLS(t *testing.T) {
	p := exampletest.Start(t, "-tls")
	if !strings.HasPrefix(p.URL, "https://127.0.0.1:") {
		t.Fatalf("listening on %s, want https://127.0.0.1:PORT", p.URL)
	}
	p.WaitLog(t, "vote: WebSockets over HTTP/2: ")
	cfg := p.TLSConfig(t)

	resp, body := p.Get(t, cfg, "/")
	if resp.Proto != "HTTP/2.0" || resp.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("the page came over %s (ALPN %q), want HTTP/2 (h2)", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
	if !bytes.Equal(body, page) {
		t.Errorf("GET / = %s with %d bytes, want the page", resp.Status, len(body))
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	wsURL := "wss" + strings.TrimPrefix(p.URL, "https") + "/ws"
	c, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.LocalAddr().String()
	p.WaitLog(t, "vote: "+addr+" connected (HTTP/1.1 GET)")
	for _, want := range wantInitial {
		if got, err := readMessage(c); err != nil || got != want {
			t.Fatalf("got %s, %v; want %s", got, err, want)
		}
	}
	vote(t, c, "2")
	if got, want := readState(t, c), (candidate{ID: "2", Name: "Rust", Count: 1}); got != want {
		t.Fatalf("after a vote: %+v, want %+v", got, want)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	p.WaitLog(t, "vote: "+addr+" closed 1000")
}
