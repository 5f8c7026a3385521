package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rfc6455/websocket"
)

// serverBin is the server binary, built once by TestMain, so that the tests
// check the program the driver runs: its flags, its "ready ADDR" line and
// its exit on SIGTERM.
var serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bench-server-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin = filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", serverBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the server:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wsLibs are the servers that speak WebSocket; tcp echoes bytes as they
// come, and frames only its broadcasts.
var wsLibs = []string{"rfc6455", "rfc6455-handler", "gorilla", "coder", "gobwas", "gws"}

// startServer runs the server binary, waits for its "ready ADDR" line and
// returns ADDR. At the end of the test it sends SIGTERM and checks that the
// server exits with status 0.
func startServer(t *testing.T, lib, mode string, extra ...string) string {
	t.Helper()
	cmd := exec.Command(serverBin, append([]string{"-lib", lib, "-mode", mode, "-addr", "127.0.0.1:0"}, extra...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout) // nothing else is expected; keep the pipe drained
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%s server after SIGTERM: %v, want exit status 0", lib, err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("%s server still running 10s after SIGTERM", lib)
			<-exited
		}
	})

	select {
	case line, ok := <-lines:
		addr, found := strings.CutPrefix(line, "ready ")
		if !ok || !found {
			t.Fatalf("%s server's first line is %q, want \"ready ADDR\"", lib, line)
		}
		return addr
	case <-time.After(10 * time.Second):
		t.Fatalf("%s server printed nothing for 10s", lib)
		return ""
	}
}

func dial(t *testing.T, ctx context.Context, addr string) *websocket.Conn {
	t.Helper()
	c, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{ReadLimit: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// payload returns n bytes for a message of type typ: printable ASCII for
// text (valid UTF-8), pseudo-random bytes for binary.
func payload(typ websocket.MessageType, n int) []byte {
	p := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), uint64(typ)))
	for i := range p {
		if typ == websocket.TextMessage {
			p[i] = byte(' ' + r.IntN('~'-' '+1))
		} else {
			p[i] = byte(r.Uint32())
		}
	}
	return p
}

var echoSizes = []struct {
	name string
	size int
}{
	{name: "16B", size: 16},
	{name: "1KiB", size: 1 << 10},
	{name: "16KiB", size: 16 << 10},
	{name: "1MiB", size: 1 << 20},
}

func TestEcho(t *testing.T) {
	for _, lib := range wsLibs {
		t.Run(lib, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			addr := startServer(t, lib, "echo")
			c := dial(t, ctx, addr)
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for _, typ := range []websocket.MessageType{websocket.TextMessage, websocket.BinaryMessage} {
				for _, sz := range echoSizes {
					t.Run(typ.String()+"-"+sz.name, func(t *testing.T) {
						want := payload(typ, sz.size)
						if err := c.WriteMessage(typ, want); err != nil {
							t.Fatal(err)
						}
						gotType, got, err := c.ReadMessage()
						if err != nil {
							t.Fatal(err)
						}
						if gotType != typ {
							t.Errorf("type %v, want %v", gotType, typ)
						}
						if !bytes.Equal(got, want) {
							t.Errorf("got %d bytes back that differ from the %d sent", len(got), len(want))
						}
					})
				}
			}
		})
	}
}

type received struct {
	typ websocket.MessageType
	p   []byte
	err error
}

// reader delivers every message c receives on a channel.
func reader(c *websocket.Conn) <-chan received {
	ch := make(chan received, 16)
	go func() {
		defer close(ch)
		for {
			typ, p, err := c.ReadMessage()
			ch <- received{typ, p, err}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// waitFor reads ch until it delivers p, for at most d. Other messages are
// skipped.
func waitFor(ch <-chan received, p []byte, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case r, ok := <-ch:
			if !ok || r.err != nil {
				return false
			}
			if bytes.Equal(r.p, p) {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

func TestBroadcast(t *testing.T) {
	// The tcp floor frames its broadcasts, so it is checked here too.
	for _, lib := range append(wsLibs, "tcp") {
		t.Run(lib, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			addr := startServer(t, lib, "broadcast")
			var conns [3]*websocket.Conn
			var recv [3]<-chan received
			for i := range conns {
				conns[i] = dial(t, ctx, addr)
				recv[i] = reader(conns[i])
			}

			// A server joins a connection to its broadcast set only after
			// the 101 has gone out, so Dial may return first. Probes go out
			// until one reaches all three: from then on all are subscribed.
			for i := 0; ; i++ {
				if ctx.Err() != nil {
					t.Fatal("the three connections never all received a probe")
				}
				probe := []byte(fmt.Sprintf("probe %d", i))
				if err := conns[0].WriteMessage(websocket.TextMessage, probe); err != nil {
					t.Fatal(err)
				}
				all := true
				for _, ch := range recv {
					all = waitFor(ch, probe, 200*time.Millisecond) && all
				}
				if all {
					break
				}
			}

			// Each connection in turn sends; all three, the sender
			// included, must receive exactly that message next.
			for from := range conns {
				for _, typ := range []websocket.MessageType{websocket.TextMessage, websocket.BinaryMessage} {
					want := payload(typ, 64)
					want[0] = byte('0' + from) // tell the messages apart
					if err := conns[from].WriteMessage(typ, want); err != nil {
						t.Fatal(err)
					}
					for i, ch := range recv {
						select {
						case r := <-ch:
							if r.err != nil {
								t.Fatalf("conn %d: %v", i, r.err)
							}
							if r.typ != typ || !bytes.Equal(r.p, want) {
								t.Errorf("conn %d got a %v message of %d bytes from conn %d's %v message of %d, or other bytes",
									i, r.typ, len(r.p), from, typ, len(want))
							}
						case <-ctx.Done():
							t.Fatalf("conn %d received nothing of conn %d's %v message", i, from, typ)
						}
					}
				}
			}
		})
	}
}

// TestTCPFloor checks the floor by hand: it does not frame its replies,
// it sends the client's own masked bytes back.
func TestTCPFloor(t *testing.T) {
	addr := startServer(t, "tcp", "echo")
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))

	// The key and accept value of the example in RFC 6455 §1.3.
	_, err = io.WriteString(conn, "GET /chat HTTP/1.1\r\n"+
		"Host: "+addr+"\r\n"+
		"Upgrade: websocket\r\n"+
		"Connection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
		"Sec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("Sec-WebSocket-Accept %q, want %q", got, want)
	}

	for _, sz := range echoSizes {
		t.Run(sz.name, func(t *testing.T) {
			frame := maskedFrame(payload(websocket.BinaryMessage, sz.size))
			// Write while reading: a 1 MiB frame does not fit the socket
			// buffers of both directions.
			werr := make(chan error, 1)
			go func() {
				_, err := conn.Write(frame)
				werr <- err
			}()
			got := make([]byte, len(frame))
			if _, err := io.ReadFull(br, got); err != nil {
				t.Fatal(err)
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, frame) {
				t.Errorf("the %d bytes back differ from the frame sent", len(frame))
			}
		})
	}
}

// maskedFrame builds a final binary frame as a client sends it: masked,
// with a fixed key.
func maskedFrame(p []byte) []byte {
	b := []byte{0x82}
	switch {
	case len(p) < 126:
		b = append(b, 0x80|byte(len(p)))
	case len(p) <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	}
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b = append(b, key[:]...)
	for i, c := range p {
		b = append(b, c^key[i%4])
	}
	return b
}

// Every library in every compression mode the comparison uses agrees to
// permessage-deflate with a client that offers it (the library's Dial,
// keeping context), keeps or drops context as its mode says, and echoes
// and broadcasts compressible text intact.
func TestDeflateModes(t *testing.T) {
	msgs := [][]byte{[]byte("short")}
	for i := range 20 {
		msgs = append(msgs, fmt.Appendf(nil, `{"type":"message","id":%d,"text":"%s"}`, i, strings.Repeat("hello, world. ", 5+i*3)))
	}
	for lib, modes := range deflateModes {
		for deflateMode := range modes {
			for _, mode := range []string{"echo", "broadcast"} {
				t.Run(lib+"/"+deflateMode+"/"+mode, func(t *testing.T) {
					addr := startServer(t, lib, mode, "-deflate", deflateMode)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					c, err := websocket.Dial(ctx, "ws://"+addr+"/", &websocket.DialOptions{Compression: &websocket.Compression{}})
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					ext := c.Extensions()
					if !strings.HasPrefix(ext, "permessage-deflate") {
						t.Fatalf("agreed to %q, want permessage-deflate", ext)
					}
					if keeps := !strings.Contains(ext, "server_no_context_takeover"); keeps != (deflateMode == "takeover") {
						t.Fatalf("-deflate %s agreed to %q", deflateMode, ext)
					}
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					for i, m := range msgs {
						if err := c.WriteMessage(websocket.TextMessage, m); err != nil {
							t.Fatal(err)
						}
						typ, got, err := c.ReadMessage()
						if err != nil || typ != websocket.TextMessage || !bytes.Equal(got, m) {
							t.Fatalf("message %d: %v %v, want the text sent back", i, typ, err)
						}
					}
				})
			}
		}
	}
}
