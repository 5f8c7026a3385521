package websocket

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// A prepared message reaches every connection whole, with its type, at
// every size, including one cut into several frames.
func TestPreparedMessageBroadcast(t *testing.T) {
	const clients = 3
	sizes := []int{0, 10, 125, 126, 70000, 3*maxFrameSize + 1}
	messages := make(chan *PreparedMessage)
	conns := make(chan *Conn, clients)
	url := startServer(t, nil, func(c *Conn) {
		conns <- c
		c.ReadMessage() // until the client closes
	})
	var cs []*Conn
	for range clients {
		c, err := Dial(context.Background(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs = append(cs, c)
	}
	var servers []*Conn
	for range clients {
		servers = append(servers, connTestWait(t, conns, "a server connection"))
	}
	go func() {
		for m := range messages {
			for _, s := range servers {
				if err := s.WritePreparedMessage(m); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	defer close(messages)
	for i, n := range sizes {
		typ := []MessageType{TextMessage, BinaryMessage}[i%2]
		p := bytes.Repeat([]byte{'a' + byte(i)}, n)
		m, err := NewPreparedMessage(typ, p)
		if err != nil {
			t.Fatal(err)
		}
		messages <- m
		for j, c := range cs {
			got, q, err := c.ReadMessage()
			if err != nil || got != typ || !bytes.Equal(q, p) {
				t.Fatalf("client %d, %d bytes: got %v %d bytes %v, want %v", j, n, got, len(q), err, typ)
			}
		}
	}
}

// On the server side a prepared message goes out as the bytes prepared,
// each frame in one write (a long one with its head first, see
// headWrite), the same as WriteMessage would send; a client masks it
// afresh.
func TestPreparedMessageWire(t *testing.T) {
	for _, n := range []int{5, maxFrameSize + 5} {
		p := bytes.Repeat([]byte("x"), n)
		m, err := NewPreparedMessage(BinaryMessage, p)
		if err != nil {
			t.Fatal(err)
		}
		prepared := &connTestCountingTransport{}
		if err := newConn(prepared, nil, false, "", config{}).WritePreparedMessage(m); err != nil {
			t.Fatal(err)
		}
		plain := &connTestCountingTransport{}
		if err := newConn(plain, nil, false, "", config{}).WriteMessage(BinaryMessage, p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(prepared.out.Bytes(), plain.out.Bytes()) {
			t.Fatalf("%d bytes: the prepared frames differ from WriteMessage's", n)
		}
		want, start := 0, 0
		for _, end := range m.ends {
			want++
			if end-start > headWriteMin {
				want++
			}
			start = end
		}
		if prepared.writes != want {
			t.Fatalf("%d bytes: %d writes, want one per frame and one per head of a long frame (%d)", n, prepared.writes, want)
		}

		client := &connTestCountingTransport{}
		if err := newConn(client, nil, true, "", config{}).WritePreparedMessage(m); err != nil {
			t.Fatal(err)
		}
		var got []byte
		br := bufio.NewReader(&client.out)
		for {
			f, err := readRawFrame(br, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !f.masked {
				t.Fatalf("%d bytes: the client sent an unmasked frame", n)
			}
			got = append(got, f.payload...)
			if f.fin {
				break
			}
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("%d bytes: the client's frames carry %d bytes that differ", n, len(got))
		}
	}
}

// Writing a prepared message allocates nothing on the server side.
func TestPreparedMessageAllocs(t *testing.T) {
	if connTestRaceEnabled() {
		t.Skip("allocation counts are not exact under the race detector")
	}
	m, err := NewPreparedMessage(TextMessage, []byte("hello, everyone"))
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(discardTransport{}, nil, false, "", config{})
	if n := testing.AllocsPerRun(100, func() { c.WritePreparedMessage(m) }); n != 0 {
		t.Fatalf("%v allocations per write, want 0", n)
	}
}

func BenchmarkBroadcastPrepared(b *testing.B) {
	m, _ := NewPreparedMessage(TextMessage, make([]byte, 64))
	c := newConn(discardTransport{}, nil, false, "", config{})
	b.ReportAllocs()
	for range b.N {
		c.WritePreparedMessage(m)
	}
}

// discardTransport accepts every write and reads nothing.
type discardTransport struct{}

func (discardTransport) Read(p []byte) (int, error)       { return 0, io.EOF }
func (discardTransport) Write(p []byte) (int, error)      { return len(p), nil }
func (discardTransport) Close() error                     { return nil }
func (discardTransport) SetReadDeadline(time.Time) error  { return nil }
func (discardTransport) SetWriteDeadline(time.Time) error { return nil }
