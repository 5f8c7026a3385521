package websocket

// Ending a connection, seen from the peer, on every read path and in both
// roles: failing it (§7.1.7, C8) shuts TCP right behind the close frame,
// without waiting for an answer from a peer that broke the protocol; a
// clean close (§7.1.1, C1, C7) leaves the closing of TCP to the server,
// which does it at once.
//
// The close timeout here is a minute, far beyond the peers' own deadline of
// testTimeout, so that a wait for it shows up as a failed read, not as a
// delay to measure.

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

const (
	closeTestTimeout = time.Minute
	// closeTestReadLimit is small, so that a frame or message over it is
	// cheap to send.
	closeTestReadLimit = 1024
)

// closeTestFailure is one way for the peer to break the protocol.
type closeTestFailure struct {
	name string
	// stream is what a client sends; the server's version of it is
	// fromServer, or else stream with its masks taken off.
	stream, fromServer []byte
	code               StatusCode
	// peerClosed says that the stream ends with the peer's close frame,
	// after which the peer sends nothing more, not even an answer.
	peerClosed bool
	// framingLost says that the stream breaks the framing, so that the
	// peer's answer cannot be found in what follows: only the end of the
	// peer's stream ends the wait for it at once.
	framingLost bool
}

func (f closeTestFailure) sent(client bool) []byte {
	switch {
	case client:
		return f.stream
	case f.fromServer != nil:
		return f.fromServer
	}
	return connTestUnmaskFrames(f.stream)
}

// closeTestFailures are the ways to fail a connection of the checklist:
// every row whose failure is a close 1002, 1007 or 1009.
func closeTestFailures() []closeTestFailure {
	over := make([]byte, closeTestReadLimit*2)
	half := make([]byte, closeTestReadLimit*7/10)
	return []closeTestFailure{
		{
			name:        "F2/64-bit length with the top bit set",
			stream:      []byte{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},
			fromServer:  []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0},
			code:        StatusProtocolError,
			framingLost: true,
		},
		{
			name:   "F3/frame longer than the read limit",
			stream: clientFrame(0x82, over),
			code:   StatusMessageTooBig,
		},
		{
			name:   "M4/fragments longer than the read limit",
			stream: append(clientFrame(0x02, half), clientFrame(0x80, half)...),
			code:   StatusMessageTooBig,
		},
		{
			name:       "F4/mask bit wrong for the sender",
			stream:     encodeFrame(0x82, []byte("unmasked"), nil),
			fromServer: encodeFrame(0x82, []byte("masked"), &testKey),
			code:       StatusProtocolError,
		},
		{
			name:   "F6/RSV1 without an extension",
			stream: clientFrame(0xC2, []byte("x")),
			code:   StatusProtocolError,
		},
		{
			name:   "F6/RSV2",
			stream: clientFrame(0xA2, []byte("x")),
			code:   StatusProtocolError,
		},
		{
			name:   "F6/RSV3",
			stream: clientFrame(0x92, []byte("x")),
			code:   StatusProtocolError,
		},
		{
			name:   "F7/reserved data opcode",
			stream: clientFrame(0x83, nil),
			code:   StatusProtocolError,
		},
		{
			name:   "F7/reserved control opcode",
			stream: clientFrame(0x8B, []byte("x")),
			code:   StatusProtocolError,
		},
		{
			name:   "F8/ping of 126 bytes",
			stream: clientFrame(0x89, make([]byte, 126)),
			code:   StatusProtocolError,
		},
		{
			name:   "F8/close of 126 bytes",
			stream: clientFrame(0x88, closePayload(StatusNormalClosure, string(make([]byte, 124)))),
			code:   StatusProtocolError,
		},
		{
			name:   "F8/fragmented ping",
			stream: clientFrame(0x09, []byte("x")),
			code:   StatusProtocolError,
		},
		{
			name:   "F10/continuation without a message",
			stream: clientFrame(0x80, []byte("x")),
			code:   StatusProtocolError,
		},
		{
			name:   "F10/new message inside a fragmented one",
			stream: append(clientFrame(0x01, []byte("first")), clientFrame(0x81, []byte("second"))...),
			code:   StatusProtocolError,
		},
		{
			name:   "M3/invalid UTF-8 in one frame",
			stream: clientFrame(0x81, []byte("a\xffb")),
			code:   StatusInvalidFramePayloadData,
		},
		{
			name:   "M3/invalid UTF-8 in a later fragment",
			stream: append(clientFrame(0x01, []byte("fine")), clientFrame(0x80, []byte("\xc0\x80"))...),
			code:   StatusInvalidFramePayloadData,
		},
		{
			name:   "M3/text ends inside a code point",
			stream: clientFrame(0x81, []byte("caf\xc3")),
			code:   StatusInvalidFramePayloadData,
		},
		{
			name:       "C3/close payload of 1 byte",
			stream:     clientFrame(0x88, []byte{0x03}),
			code:       StatusProtocolError,
			peerClosed: true,
		},
		{
			name:       "C4/close code 1005",
			stream:     clientFrame(0x88, closePayload(StatusNoStatusReceived, "")),
			code:       StatusProtocolError,
			peerClosed: true,
		},
		{
			name:       "C5/close reason not UTF-8",
			stream:     clientFrame(0x88, closePayload(StatusNormalClosure, "\xff")),
			code:       StatusInvalidFramePayloadData,
			peerClosed: true,
		},
	}
}

// closeTestPath is a way to read a connection, in one role. start returns
// the peer, connected, and a channel that receives how the reading ended.
type closeTestPath struct {
	name   string
	server bool // the connection is the server's, and the peer a client
	start  func(t *testing.T) (peer *rawClient, ended <-chan closeTestEnd)
}

// closeTestEnd is the error that ended the reading of c.
type closeTestEnd struct {
	err error
	c   *Conn
}

// closeTestPaths are the read paths of both roles, with the given close
// timeout: ReadMessage, NextReader (read with Read, and with io.Copy,
// which takes WriteTo) and EventHandler on the server, the same but
// EventHandler on the Dial client. A text message
// closeTestPlease makes the connection close, with code 4000.
func closeTestPaths(closeTimeout time.Duration) []closeTestPath {
	u := &Upgrader{CloseTimeout: closeTimeout, ReadLimit: closeTestReadLimit}
	server := func(read func(*Conn) error) func(t *testing.T) (*rawClient, <-chan closeTestEnd) {
		return func(t *testing.T) (*rawClient, <-chan closeTestEnd) {
			ended := make(chan closeTestEnd, 1)
			url := startServer(t, u, func(c *Conn) { ended <- closeTestEnd{read(c), c} })
			return dialRaw(t, url), ended
		}
	}
	client := func(read func(*Conn) error) func(t *testing.T) (*rawClient, <-chan closeTestEnd) {
		return func(t *testing.T) (*rawClient, <-chan closeTestEnd) {
			url, peers := serveRaw(t, nil)
			c := connTestDial(t, url, &DialOptions{CloseTimeout: closeTimeout, ReadLimit: closeTestReadLimit})
			ended := make(chan closeTestEnd, 1)
			go func() { ended <- closeTestEnd{read(c), c} }()
			return acceptRaw(t, peers), ended
		}
	}
	return []closeTestPath{
		{
			name:   "server role/ReadMessage",
			server: true,
			start:  server(closeTestReadMessages),
		},
		{
			name:   "server role/NextReader, Read",
			server: true,
			start:  server(closeTestReadStreams(io.ReadAll)),
		},
		{
			name:   "server role/NextReader, WriteTo",
			server: true,
			start:  server(closeTestReadStreams(closeTestCopy)),
		},
		{
			name:   "server role/EventHandler",
			server: true,
			start: func(t *testing.T) (*rawClient, <-chan closeTestEnd) {
				ended := make(chan closeTestEnd, 1)
				url := serveHTTP(t, u.EventHandler(Events{
					Message: func(c *Conn, _ MessageType, r io.Reader) { closeTestHandle(c, r, closeTestCopy) },
					Close:   func(c *Conn, err error) { ended <- closeTestEnd{err, c} },
				}))
				return dialRaw(t, url), ended
			},
		},
		{
			name:  "client role/ReadMessage",
			start: client(closeTestReadMessages),
		},
		{
			name:  "client role/NextReader, Read",
			start: client(closeTestReadStreams(io.ReadAll)),
		},
		{
			name:  "client role/NextReader, WriteTo",
			start: client(closeTestReadStreams(closeTestCopy)),
		},
	}
}

// closeTestPlease is the message that asks a connection to close.
const closeTestPlease = "close, please"

// closeTestReadMessages reads messages whole until a read fails.
func closeTestReadMessages(c *Conn) error {
	for {
		_, p, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if string(p) == closeTestPlease {
			c.CloseWithStatus(4000, "as asked")
		}
	}
}

// closeTestReadStreams returns a reader of messages through NextReader,
// each read with readAll, until a read fails.
func closeTestReadStreams(readAll func(io.Reader) ([]byte, error)) func(c *Conn) error {
	return func(c *Conn) error {
		for {
			_, r, err := c.NextReader()
			if err != nil {
				return err
			}
			closeTestHandle(c, r, readAll)
		}
	}
}

// closeTestCopy reads r with io.Copy, which goes through the reader's
// WriteTo.
func closeTestCopy(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	_, err := io.Copy(&b, r)
	return b.Bytes(), err
}

// closeTestHandle reads a message from r with readAll, and closes c if the
// message asks for it.
func closeTestHandle(c *Conn, r io.Reader, readAll func(io.Reader) ([]byte, error)) {
	p, err := readAll(r)
	if err == nil && string(p) == closeTestPlease {
		c.CloseWithStatus(4000, "as asked")
	}
}

// closeTestFrame encodes a frame as the peer sends it: masked if the peer
// is a client.
func closeTestFrame(peerIsClient bool, b0 byte, payload []byte) []byte {
	if peerIsClient {
		return clientFrame(b0, payload)
	}
	return encodeFrame(b0, payload, nil)
}

// closeTestExpectEOF checks that the stream ends cleanly where the peer
// is: no more frames, and an end of stream rather than a reset, which
// could have destroyed the close frame before it was read.
func closeTestExpectEOF(t *testing.T, peer *rawClient) {
	t.Helper()
	b, err := peer.br.ReadByte()
	switch {
	case err == nil:
		t.Fatalf("byte %#x after the close frame, want the end of the stream", b)
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatal("the connection was not closed after the close frame: the peer's read timed out")
	case err != io.EOF:
		t.Fatalf("after the close frame: %v, want the end of the stream", err)
	}
}

// closeTestWantFailure waits for the reading to end with the failure of
// the given code. answered says whether the peer's close frame, sent after
// the failure, must have been seen: a connection that missed it waited for
// its bound on the wait instead, a delay that the test would not notice.
func closeTestWantFailure(t *testing.T, ended <-chan closeTestEnd, code StatusCode, answered bool) {
	t.Helper()
	end := connTestWait(t, ended, "the failed read to return")
	if got := connTestFailCode(end.err); got != code {
		t.Fatalf("the read returned %v, want the failure with code %d", end.err, code)
	}
	if got := CloseStatus(end.err); got != code {
		t.Fatalf("CloseStatus(%v) = %d, want the code sent, %d", end.err, got, code)
	}
	if end.c.closeReceived != answered {
		t.Fatalf("the connection saw the peer's close frame: %v, want %v", end.c.closeReceived, answered)
	}
}

// C8 (§7.1.7): failing the connection sends the close frame and closes TCP
// right behind it, for every way to fail, on every read path, in both
// roles: the peer reads the close frame and then the end of the stream,
// and the read that failed returns the failure, all with the close timeout
// at a minute.
func TestCloseC8FailureClosesAtOnce(t *testing.T) {
	for _, path := range closeTestPaths(closeTestTimeout) {
		for _, f := range closeTestFailures() {
			t.Run(path.name+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				peer, ended := path.start(t)
				client := path.server
				peer.write(f.sent(client))
				peer.expectClose(f.code)
				closeTestExpectEOF(t, peer)
				if !f.peerClosed {
					// As a well-behaved peer would: the end of the stream
					// does not stop it from answering.
					peer.write(closeTestFrame(client, 0x88, closePayload(f.code, "")))
				}
				if f.framingLost {
					peer.conn.(*net.TCPConn).CloseWrite()
				}
				closeTestWantFailure(t, ended, f.code, !f.framingLost)
			})
		}
	}
}

// C8: a peer that goes on sending after its fault, and so has bytes in
// flight when the connection fails, still reads the close frame and a
// clean end of the stream: closing a socket with unread input would send
// a reset instead. And a peer that never answers does not hold the
// connection for the close timeout.
func TestCloseC8FailureWithPeerBusyOrSilent(t *testing.T) {
	for _, path := range closeTestPaths(closeTestTimeout) {
		t.Run(path.name+"/C8/peer goes on sending", func(t *testing.T) {
			t.Parallel()
			peer, ended := path.start(t)
			client := path.server
			stream := closeTestFrame(client, 0x83, nil)
			chunk := closeTestFrame(client, 0x82, bytes.Repeat([]byte("after the fault "), 1024))
			for range 64 {
				stream = append(stream, chunk...)
			}
			wrote := make(chan error, 1)
			go func() {
				_, err := peer.conn.Write(stream)
				wrote <- err
			}()
			peer.expectClose(StatusProtocolError)
			closeTestExpectEOF(t, peer)
			if err := connTestWait(t, wrote, "the peer's write"); err != nil {
				t.Fatalf("the peer's write after its fault: %v", err)
			}
			peer.write(closeTestFrame(client, 0x88, closePayload(StatusProtocolError, "")))
			closeTestWantFailure(t, ended, StatusProtocolError, true)
		})
		if strings.Contains(path.name, "NextReader") {
			// Each waits out the bound on the wait for an answer, and
			// NextReader fails the connection where ReadMessage does.
			continue
		}
		t.Run(path.name+"/C8/peer answers nothing", func(t *testing.T) {
			t.Parallel()
			peer, ended := path.start(t)
			peer.write(closeTestFrame(path.server, 0x83, nil))
			peer.expectClose(StatusProtocolError)
			closeTestExpectEOF(t, peer)
			// The peer neither answers nor closes: the read still
			// returns, long before the close timeout.
			closeTestWantFailure(t, ended, StatusProtocolError, false)
		})
	}
}

// closeTestWantClose checks that err is the peer's close, with code.
func closeTestWantClose(t *testing.T, err error, code StatusCode) {
	t.Helper()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("the read returned %v, want the peer's close %d", err, code)
	}
}

// C1 (§7.1.1): once both close frames have crossed, the server closes TCP,
// at once, whichever side began; the client waits for it, and closes as
// soon as the server has.
func TestCloseC1ServerClosesTCPFirst(t *testing.T) {
	for _, path := range closeTestPaths(closeTestTimeout) {
		t.Run(path.name+"/C1/the peer closes first", func(t *testing.T) {
			t.Parallel()
			peer, ended := path.start(t)
			peer.write(closeTestFrame(path.server, 0x88, closePayload(StatusGoingAway, "bye")))
			peer.expectClose(StatusGoingAway)
			if path.server {
				closeTestExpectEOF(t, peer)
			} else {
				peer.conn.Close()
			}
			closeTestWantClose(t, connTestWait(t, ended, "the read to return").err, StatusGoingAway)
		})
		t.Run(path.name+"/C1/the connection closes first", func(t *testing.T) {
			t.Parallel()
			peer, ended := path.start(t)
			peer.write(closeTestFrame(path.server, 0x81, []byte(closeTestPlease)))
			peer.expectClose(4000)
			peer.write(closeTestFrame(path.server, 0x88, closePayload(4000, "")))
			if path.server {
				closeTestExpectEOF(t, peer)
			} else {
				peer.conn.Close()
			}
			closeTestWantClose(t, connTestWait(t, ended, "the read to return").err, 4000)
		})
	}
}

// C1, C7 (§7.1.1): after the close frames have crossed, the client leaves
// closing TCP to the server, and closes it itself only when the server has
// not within the client's close timeout.
func TestCloseC1ClientWaitsForServer(t *testing.T) {
	const closeTimeout = 400 * time.Millisecond
	for _, path := range closeTestPaths(closeTimeout) {
		if path.server {
			continue
		}
		for _, first := range []string{"the server", "the client"} {
			t.Run(path.name+"/C1/"+first+" closes first", func(t *testing.T) {
				t.Parallel()
				peer, ended := path.start(t)
				code := StatusGoingAway
				if first == "the server" {
					peer.write(encodeFrame(0x88, closePayload(code, ""), nil))
					peer.expectClose(code)
				} else {
					code = 4000
					peer.write(encodeFrame(0x81, []byte(closeTestPlease), nil))
					peer.expectClose(code)
					peer.write(encodeFrame(0x88, closePayload(code, ""), nil))
				}
				// Both close frames have crossed. The server does not close
				// TCP: the client must wait for it before closing itself.
				crossed := time.Now()
				closeTestExpectEOF(t, peer)
				if waited := time.Since(crossed); waited < closeTimeout/2 {
					t.Fatalf("the client closed TCP %v after the close frames crossed, without waiting for the server (close timeout %v)", waited, closeTimeout)
				}
				closeTestWantClose(t, connTestWait(t, ended, "the read to return").err, code)
			})
		}
	}
}

// C9: CloseStatus names the code that ended the connection, however it
// ended: the peer's close frame, a connection lost without one, or, in
// TestCloseC8FailureClosesAtOnce, every failure this side sent. Errors
// that report no end of the connection give 0.
func TestCloseStatus(t *testing.T) {
	tests := []struct {
		name string
		cfg  config
		// end makes the server's read return; peer is the client's end.
		end  func(c *Conn, peer net.Conn)
		want StatusCode
	}{
		{
			name: "C9/the peer closes with 1001",
			end:  func(c *Conn, peer net.Conn) { peer.Write(clientFrame(0x88, closePayload(StatusGoingAway, "bye"))) },
			want: StatusGoingAway,
		},
		{
			name: "C9/the peer closes with 4000",
			end:  func(c *Conn, peer net.Conn) { peer.Write(clientFrame(0x88, closePayload(4000, ""))) },
			want: 4000,
		},
		{
			name: "C9/the peer closes without a code",
			end:  func(c *Conn, peer net.Conn) { peer.Write(clientFrame(0x88, nil)) },
			want: StatusNoStatusReceived,
		},
		{
			name: "C9/the connection is lost between frames",
			end:  func(c *Conn, peer net.Conn) { peer.Close() },
			want: StatusAbnormalClosure,
		},
		{
			name: "C9/the connection is lost inside a frame",
			end: func(c *Conn, peer net.Conn) {
				peer.Write(clientFrame(0x82, []byte("hello"))[:4])
				peer.Close()
			},
			want: StatusAbnormalClosure,
		},
		{
			name: "C9/no pong comes for the keepalive's ping",
			cfg: config{
				pingInterval: time.Millisecond,
				pongTimeout:  time.Millisecond,
			},
			end:  func(c *Conn, peer net.Conn) {},
			want: StatusAbnormalClosure,
		},
		{
			// The connection is closed then, and the peer sees no close
			// frame.
			name: "the read deadline passes",
			end:  func(c *Conn, peer net.Conn) { c.SetReadDeadline(time.Now()) },
			want: StatusAbnormalClosure,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := tcpTestPairWith(t, tt.cfg)
			tt.end(c, peer)
			_, _, err := c.ReadMessage()
			if got := CloseStatus(err); got != tt.want {
				t.Fatalf("CloseStatus(%v) = %d, want %d", err, got, tt.want)
			}
		})
	}
	t.Run("this side closed first and no answer came", func(t *testing.T) {
		c, peer := tcpTestPairWith(t, config{})
		go func() {
			// Read the close frame, then vanish without answering.
			readRawFrame(peer, rawFrameLimit)
			peer.Close()
		}()
		c.Close()
		_, _, err := c.ReadMessage()
		if !errors.Is(err, ErrClosed) || CloseStatus(err) != 0 {
			t.Fatalf("read after Close: %v, CloseStatus %d; want ErrClosed and 0", err, CloseStatus(err))
		}
	})
	t.Run("this side closed first while a goroutine read, and no answer came", func(t *testing.T) {
		c, peer := tcpTestPairWith(t, config{closeTimeout: 50 * time.Millisecond})
		ended := make(chan error, 1)
		go func() {
			_, _, err := c.ReadMessage()
			ended <- err
		}()
		// The close frame is read, and never answered.
		go readRawFrame(peer, rawFrameLimit)
		c.CloseWithStatus(StatusGoingAway, "")
		err := connTestWait(t, ended, "the read to end")
		if !errors.Is(err, ErrClosed) || CloseStatus(err) != 0 {
			t.Fatalf("read while closing: %v, CloseStatus %d; want ErrClosed and 0", err, CloseStatus(err))
		}
	})
	if got := CloseStatus(nil); got != 0 {
		t.Fatalf("CloseStatus(nil) = %d", got)
	}
}

// A read that ends the connection (its deadline passed, or the peer
// vanished) closes it: writes and Close then return ErrClosed, as after
// Close, not the error of a write to a closed socket.
func TestWritesAfterReadEnded(t *testing.T) {
	ends := map[string]func(c *Conn, peer net.Conn){
		"the read deadline passes": func(c *Conn, peer net.Conn) { c.SetReadDeadline(time.Now()) },
		"the peer vanishes":        func(c *Conn, peer net.Conn) { peer.Close() },
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			c, peer := tcpTestPairWith(t, config{})
			end(c, peer)
			if _, _, err := c.ReadMessage(); CloseStatus(err) != StatusAbnormalClosure {
				t.Fatalf("read: %v, want the end of the connection (1006)", err)
			}
			if err := c.WriteMessage(TextMessage, []byte("late")); !errors.Is(err, ErrClosed) {
				t.Errorf("WriteMessage after the read ended: %v, want ErrClosed", err)
			}
			if err := c.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("Close after the read ended: %v, want ErrClosed", err)
			}
		})
	}
}
