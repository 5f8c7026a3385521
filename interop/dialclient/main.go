// Command dialclient is the library's own client, for the interop suite:
// it dials an echo server with permessage-deflate offered as its flags say,
// prints what was agreed, sends messages below and above the compression
// threshold, whole and streamed in pieces through NextWriter, checks that
// each comes back unchanged, and closes with 1000. It prints a line per
// check and exits 0 only if every check held.
//
//	go run ./interop/dialclient -url ws://127.0.0.1:8080/ -window 10 -peer-window 9
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rfc6455/websocket"
)

func main() {
	url := flag.String("url", "", "the server's ws:// URL")
	window := flag.Int("window", 0, "Compression.WindowBits (0: the default)")
	peerWindow := flag.Int("peer-window", 0, "Compression.PeerWindowBits (0: the default)")
	noContext := flag.Bool("no-context-takeover", false, "Compression.NoContextTakeover")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	z := &websocket.Compression{WindowBits: *window, PeerWindowBits: *peerWindow, NoContextTakeover: *noContext}
	c, err := websocket.Dial(ctx, *url, &websocket.DialOptions{Compression: z, ReadLimit: 32 << 20})
	if err != nil {
		fail("dial: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	fmt.Println("extensions:", c.Extensions())

	var msgs [][]byte
	for i := range 40 {
		msgs = append(msgs, fmt.Appendf(nil, `{"type":"message","id":%d,"user":"user%d","text":"hello, 你好, %s"}`, i, i%3, strings.Repeat("la", i)))
	}
	msgs = append(msgs, []byte("short"), bytes.Repeat([]byte("the same line again\n"), 50000))
	for i, m := range msgs {
		var err error
		if streamed := i%2 == 1; streamed {
			w, werr := c.NextWriter(websocket.TextMessage)
			if werr != nil {
				fail("NextWriter: %v", werr)
			}
			for p := m; len(p) > 0; {
				n := min(len(p), 1+i*7)
				w.Write(p[:n])
				p = p[n:]
			}
			err = w.Close()
		} else {
			err = c.WriteMessage(websocket.TextMessage, m)
		}
		if err != nil {
			fail("write message %d: %v", i, err)
		}
		t, got, err := c.ReadMessage()
		if err != nil {
			fail("read echo %d: %v", i, err)
		}
		if t != websocket.TextMessage || !bytes.Equal(got, m) {
			fail("echo %d: %v of %d bytes, want text of %d", i, t, len(got), len(m))
		}
	}
	fmt.Printf("%d echoes ok\n", len(msgs))
	if err := c.Close(); err != nil {
		fail("close: %v", err)
	}
	fmt.Println("closed")
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "dialclient: "+format+"\n", args...)
	os.Exit(1)
}
