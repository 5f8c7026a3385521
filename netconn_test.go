package websocket

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// netConnTestListener hands out one net.Conn, then waits to be closed.
type netConnTestListener struct {
	conns  chan net.Conn
	closed chan struct{}
	addr   net.Addr
}

func (l *netConnTestListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *netConnTestListener) Close() error {
	select {
	case <-l.closed:
	default:
		close(l.closed)
	}
	return nil
}

func (l *netConnTestListener) Addr() net.Addr { return l.addr }

// net/http runs through a net.Conn over a WebSocket connection: requests
// and responses of every size, over one connection kept alive, with the
// server's timeouts set, which move the read deadline while a read waits
// (net/http's background read between requests).
func TestNetConnCarriesHTTP(t *testing.T) {
	ln := &netConnTestListener{conns: make(chan net.Conn, 1), closed: make(chan struct{})}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			sum := sha256.Sum256(body)
			fmt.Fprintf(w, "%s %s %d %x", r.Method, r.URL.Path, len(body), sum[:4])
		}),
		ReadTimeout:  testTimeout,
		WriteTimeout: testTimeout,
		IdleTimeout:  testTimeout,
	}
	served := make(chan error, 1)
	url := startServer(t, nil, func(c *Conn) {
		nc := c.NetConn(BinaryMessage)
		ln.addr = nc.LocalAddr()
		ln.conns <- nc
		served <- srv.Serve(ln)
	})
	var dials atomic.Int32
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			c, err := Dial(ctx, url, nil)
			if err != nil {
				return nil, err
			}
			return c.NetConn(BinaryMessage), nil
		},
		MaxConnsPerHost: 1,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: testTimeout}

	for i, size := range []int{0, 10, 100 << 10, 1 << 20, 5} {
		body := bytes.Repeat([]byte{byte('a' + i)}, size)
		method := http.MethodPost
		if size == 0 {
			method = http.MethodGet
		}
		req, _ := http.NewRequest(method, fmt.Sprintf("http://tunnel/r%d", i), bytes.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha256.Sum256(body)
		if want := fmt.Sprintf("%s /r%d %d %x", method, i, size, sum[:4]); err != nil || string(got) != want {
			t.Fatalf("request %d: %q, %v; want %q", i, got, err, want)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("the requests took %d connections, want 1 kept alive", n)
	}
	transport.CloseIdleConnections()
	srv.Close()
	if err := connTestWait(t, served, "Serve to return"); !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
}

// netConnTestPair returns a net.Conn over the server end of a pipe, and
// the client Conn at the other end.
func netConnTestPair(t *testing.T) (net.Conn, *Conn) {
	server, client := pipeConns(t, config{})
	return server.NetConn(BinaryMessage), client
}

// Read sees the messages as one stream: a Read may take part of a message,
// or end at a message's end.
func TestNetConnReadsAStream(t *testing.T) {
	nc, peer := netConnTestPair(t)
	go func() {
		for _, m := range []string{"ab", "cdefg", "h", "ijklmnop"} {
			peer.WriteMessage(BinaryMessage, []byte(m))
		}
	}()
	got := make([]byte, 16)
	if _, err := io.ReadFull(nc, got[:3]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(nc, got[3:]); err != nil {
		t.Fatal(err)
	}
	if string(got) != "abcdefghijklmnop" {
		t.Fatalf("read %q", got)
	}
}

// Each Write is one message of the net.Conn's type; an empty Write sends
// nothing.
func TestNetConnWritesMessages(t *testing.T) {
	nc, peer := netConnTestPair(t)
	go func() {
		nc.Write([]byte("one"))
		nc.Write(nil)
		nc.Write([]byte("two"))
	}()
	for _, want := range []string{"one", "two"} {
		typ, p, err := peer.ReadMessage()
		if err != nil || typ != BinaryMessage || string(p) != want {
			t.Fatalf("peer read %v %q, %v; want binary %q", typ, p, err, want)
		}
	}
}

// A read deadline that passes fails that Read with a timeout and leaves
// the connection usable; one moved while a Read waits takes effect at
// once, as net/http relies on.
func TestNetConnReadDeadline(t *testing.T) {
	nc, peer := netConnTestPair(t)
	buf := make([]byte, 10)

	nc.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := nc.Read(buf)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past its deadline: %v, want a timeout", err)
	}

	// A Read that waits, with no deadline or a distant one, ends when the
	// deadline moves to now.
	for _, first := range []time.Time{{}, time.Now().Add(time.Hour)} {
		nc.SetReadDeadline(first)
		waiting := make(chan struct{}, 1)
		nc.(*netConn).awaiting = func() { waiting <- struct{}{} }
		result := make(chan error, 1)
		go func() {
			_, err := nc.Read(buf)
			result <- err
		}()
		connTestWait(t, waiting, "the Read to wait")
		nc.SetReadDeadline(time.Now())
		if err := connTestWait(t, result, "the waiting Read"); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read whose deadline moved from %v to now: %v, want a timeout", first, err)
		}
		nc.(*netConn).awaiting = nil
	}

	nc.SetReadDeadline(time.Now().Add(testTimeout))
	go peer.WriteMessage(BinaryMessage, []byte("still here"))
	n, err := io.ReadFull(nc, buf)
	if err != nil || string(buf[:n]) != "still here" {
		t.Fatalf("Read after two timeouts: %q, %v", buf[:n], err)
	}
}

// A Write whose deadline has passed sends nothing, and the connection
// stays usable.
func TestNetConnWriteDeadlinePassed(t *testing.T) {
	nc, peer := netConnTestPair(t)
	nc.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := nc.Write([]byte("late")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past its deadline: %d, %v; want 0 and a timeout", n, err)
	}
	nc.SetWriteDeadline(time.Time{})
	go nc.Write([]byte("on time"))
	if _, p, err := peer.ReadMessage(); err != nil || string(p) != "on time" {
		t.Fatalf("peer read %q, %v; want only the message written on time", p, err)
	}
}

// How the connection ends reaches Read: io.EOF for a normal close, the
// error otherwise; a message of the other type is refused with 1003.
func TestNetConnEnd(t *testing.T) {
	tests := []struct {
		name string
		end  func(peer *Conn)
		want func(err error) bool
		// peerSees is the close code the peer's read must report.
		peerSees StatusCode
	}{
		{
			name:     "the peer closes with 1000",
			end:      func(peer *Conn) { peer.Close() },
			want:     func(err error) bool { return err == io.EOF },
			peerSees: StatusNormalClosure,
		},
		{
			name:     "the peer closes with 1001",
			end:      func(peer *Conn) { peer.CloseWithStatus(StatusGoingAway, "") },
			want:     func(err error) bool { return err == io.EOF },
			peerSees: StatusGoingAway,
		},
		{
			name:     "the peer closes with 1011",
			end:      func(peer *Conn) { peer.CloseWithStatus(StatusInternalError, "oops") },
			want:     func(err error) bool { return CloseStatus(err) == StatusInternalError },
			peerSees: StatusInternalError,
		},
		{
			name: "the peer sends text",
			end: func(peer *Conn) {
				peer.WriteMessage(TextMessage, []byte("text"))
				peer.ReadMessage() // sees the close, and answers it
			},
			want:     func(err error) bool { return err != nil && err != io.EOF && strings.Contains(err.Error(), "text") },
			peerSees: StatusUnsupportedData,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, peer := pipeConns(t, config{})
			nc := server.NetConn(BinaryMessage)
			peerDone := make(chan struct{})
			go func() {
				defer close(peerDone)
				tt.end(peer)
			}()
			_, err := nc.Read(make([]byte, 10))
			if !tt.want(err) {
				t.Fatalf("Read: %v", err)
			}
			connTestWait(t, peerDone, "the peer")
			if _, _, err := peer.ReadMessage(); CloseStatus(err) != tt.peerSees {
				t.Fatalf("the peer's read: %v, want the close %d", err, tt.peerSees)
			}
		})
	}
}

// Close closes the WebSocket connection with 1000; Read and Write then
// return net.ErrClosed, also a Read that was waiting.
func TestNetConnClose(t *testing.T) {
	nc, peer := netConnTestPair(t)
	waiting := make(chan error, 1)
	go func() {
		_, err := nc.Read(make([]byte, 10))
		waiting <- err
	}()
	peerRead := make(chan error, 1)
	go func() {
		_, _, err := peer.ReadMessage()
		peerRead <- err
	}()
	if err := nc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := connTestWait(t, waiting, "the waiting Read"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the Read that waited: %v, want net.ErrClosed", err)
	}
	if err := connTestWait(t, peerRead, "the peer's read"); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("the peer's read: %v, want close 1000", err)
	}
	if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := nc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := nc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a second Close: %v", err)
	}
}
