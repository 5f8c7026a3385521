package websocket

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSmoke(t *testing.T) {
	var u Upgrader
	srv := httptest.NewServer(u.Handler(func(c *Conn) {
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 125, 126, 4000, 5000, 65535, 65536, 1 << 20, 3<<20 + 7} {
		msg := bytes.Repeat([]byte("a"), n)
		if err := c.WriteMessage(TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		mt, p, err := c.ReadMessage()
		if err != nil || mt != TextMessage || !bytes.Equal(p, msg) {
			t.Fatalf("n=%d: %v %v %d", n, err, mt, len(p))
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	if !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}
