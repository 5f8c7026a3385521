package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rfc6455/websocket"
)

// TestTLS checks -tls over HTTP/1.1: a wss echo through the self-signed
// certificate, and /debug/stats, which counts the goroutines of the open
// WebSocket. (Over HTTP/2 the driver's TestH2Smallest checks it, with
// x/net's client.)
func TestTLS(t *testing.T) {
	t.Setenv("GODEBUG", "http2xconnect=1")
	for _, lib := range []string{"rfc6455", "rfc6455-handler"} {
		t.Run(lib, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			addr := startServer(t, lib, "echo", "-tls")
			insecure := &tls.Config{InsecureSkipVerify: true}
			c, err := websocket.Dial(ctx, "wss://"+addr+"/", &websocket.DialOptions{TLSConfig: insecure})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for _, sz := range echoSizes {
				want := payload(websocket.BinaryMessage, sz.size)
				if err := c.WriteMessage(websocket.BinaryMessage, want); err != nil {
					t.Fatal(err)
				}
				_, got, err := c.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: got %d bytes back that differ from the %d sent", sz.name, len(got), len(want))
				}
			}

			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: insecure}}
			resp, err := hc.Get("https://" + addr + statsPath)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var s statsReply
			if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
				t.Fatalf("%s: %v", statsPath, err)
			}
			// The WebSocket's reader, and the server's own.
			if s.Goroutines < 2 || s.HeapInuse == 0 || s.StackInuse == 0 {
				t.Errorf("%s: %+v, want some goroutines, heap and stacks", statsPath, s)
			}
		})
	}
}
