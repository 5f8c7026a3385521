//go:build unix

package websocket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// eventsFuzzOutcome is what a reader made of a stream: its messages and the
// close code of the error that ended it (-1 for another error).
type eventsFuzzOutcome struct {
	messages []string // type and payload
	code     int
}

func eventsFuzzCode(err error) int {
	var ce *CloseError
	switch {
	case connTestFailCode(err) != 0:
		return int(connTestFailCode(err))
	case errors.As(err, &ce):
		return int(ce.Code)
	}
	return -1
}

// eventsSocketPair returns both ends of a connected Unix stream socket, as
// net.Conns with file descriptors.
func eventsSocketPair(t *testing.T) (net.Conn, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return conns[0], conns[1]
}

// FuzzEventReads feeds a stream, a chunk per write, to the reads of
// EventHandler's loop, which end with errWouldBlock whenever the socket is
// empty between messages, and checks that they make of it exactly what a
// plain reader makes of the whole stream: the same messages, the same end.
// A header cut anywhere must be taken up again where it was left.
func FuzzEventReads(f *testing.F) {
	const limit = 1 << 16
	frameFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		// The close timeout also bounds the write of a pong over the
		// socket (see writeControl), which a loaded machine can keep from
		// starting for a millisecond; no read here waits it out, since
		// the stream always ends.
		cfg := config{readLimit: limit, closeTimeout: time.Second}
		n := max(int(chunk), 1)

		// The reference: a plain reader of the whole stream.
		var want eventsFuzzOutcome
		ref := newConn(&frameFuzzTransport{r: bytes.NewReader(stream), chunk: n}, nil, false, "", cfg)
		for {
			mt, p, err := ref.ReadMessage()
			if err != nil {
				want.code = eventsFuzzCode(err)
				break
			}
			want.messages = append(want.messages, mt.String()+" "+string(p))
		}

		// The event loop's reads, while the stream arrives a chunk per
		// write: a would-block is answered by looking again, told whether
		// the poller would have reported bytes since.
		server, peer := eventsSocketPair(t)
		defer peer.Close()
		go io.Copy(io.Discard, peer) // pongs and closes from the server
		// The writes begun and the writes done, the close of the write
		// side among them: the bytes of each raise a poller's event.
		var started, done atomic.Int32
		var ended atomic.Bool // the write side is being closed
		go func() {
			for rest := stream; len(rest) > 0; {
				k := min(n, len(rest))
				started.Add(1)
				if _, err := peer.Write(rest[:k]); err != nil {
					return // the server failed the connection and closed
				}
				done.Add(1)
				rest = rest[k:]
			}
			started.Add(1)
			ended.Store(true)
			peer.(*net.UnixConn).CloseWrite()
			done.Add(1)
		}()
		c := newConn(server, nil, false, "", cfg)
		defer c.closeTransport()
		// A read that never returns would stall the fuzzer silently: make
		// it a crash, with the stacks, that names its input.
		watchdog := time.AfterFunc(testTimeout, func() {
			buf := make([]byte, 1<<20)
			panic("FuzzEventReads: a read is stuck\n" + string(buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		var got eventsFuzzOutcome
		// The poller's view: a call is woken unless the writer was still
		// at the previous call's start and has begun nothing since, in
		// which case no bytes can have come after that call's reads. The
		// end of the stream is reported as a hang-up, after which every
		// call is woken (eventLoop.hangup).
		var last int32 = -1 // writes begun at the last call's start, if all were done then
		for {
			d := done.Load()
			s := started.Load()
			woken := s != last || ended.Load()
			last = -1
			if d == s {
				last = s
			}
			mt, r, err := c.nextMessage(false, woken)
			if err == errWouldBlock {
				// Bytes that were in the socket before the call, with no
				// write begun since to raise an event for them, would
				// wait for ever under the poller.
				if k, ok := socketUnread(server); ok && k > 0 && d == s && started.Load() == s {
					t.Fatalf("no message waiting, said with %d bytes unread in the socket and no write since", k)
				}
				runtime.Gosched()
				continue
			}
			if err != nil {
				got.code = eventsFuzzCode(err)
				break
			}
			p, err := io.ReadAll(r)
			if err != nil {
				got.code = eventsFuzzCode(err)
				break
			}
			got.messages = append(got.messages, mt.String()+" "+string(p))
		}

		if len(got.messages) != len(want.messages) {
			t.Fatalf("the event reads got %d messages, a plain reader %d", len(got.messages), len(want.messages))
		}
		for i := range want.messages {
			if got.messages[i] != want.messages[i] {
				t.Fatalf("message %d differs: %.40q, a plain reader %.40q", i, got.messages[i], want.messages[i])
			}
		}
		if got.code != want.code {
			t.Fatalf("the event reads ended with code %d, a plain reader with %d", got.code, want.code)
		}
	})
}
