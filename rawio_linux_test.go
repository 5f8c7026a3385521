//go:build !race

package websocket

import (
	"bytes"
	"io"
	"os"
	"syscall"
	"testing"
)

// A connection over TCP reads and writes its descriptor with raw system
// calls (see rawio_linux.go): reads through the RawConn and writes too.
func TestRawIOOnTCP(t *testing.T) {
	conns := make(chan *Conn, 1)
	url := startServer(t, nil, func(c *Conn) {
		conns <- c
		c.ReadMessage()
	})
	client := connTestDial(t, url, nil)
	for _, c := range []*Conn{connTestWait(t, conns, "the server's connection"), client} {
		if c.in.raw == nil || !c.out.direct() {
			t.Errorf("client %v: raw reads %v, raw writes %v; want both", c.client, c.in.raw != nil, c.out.direct())
		}
	}
}

// A descriptor in blocking mode is never read or written with a raw call,
// which would block its thread where the runtime cannot see it: the
// connection uses the transport's own Read and Write, and works.
func TestRawIOBlockingDescriptor(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "blocking")
	peer := os.NewFile(uintptr(fds[1]), "peer")
	defer f.Close()
	defer peer.Close()
	c := newConn(f, nil, false, "", config{})
	if c.in.raw != nil || c.out.direct() {
		t.Fatalf("raw reads %v, raw writes %v on a blocking descriptor; want neither", c.in.raw != nil, c.out.direct())
	}
	if _, err := peer.Write(clientFrame(0x82, []byte("hello"))); err != nil {
		t.Fatal(err)
	}
	_, p, err := c.ReadMessage()
	if err != nil || string(p) != "hello" {
		t.Fatalf("ReadMessage = %q, %v; want hello", p, err)
	}
	if err := c.WriteMessage(BinaryMessage, []byte("back")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, []byte{0x82, 4, 'b', 'a', 'c', 'k'}) {
		t.Fatalf("the peer read % x, %v", got, err)
	}
}
