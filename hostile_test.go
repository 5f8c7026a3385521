package websocket

// Hostile input at scale (S1, S4, S5): many connections attack one server
// at once, and the server's heap must stay within a bound derived from its
// configured limits while a fresh connection is still served promptly.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

// hostileConns is the number of attacking connections in each Hostile
// test. The default keeps `go test ./...` quick; .ci/run passes 1000.
var hostileConns = flag.Int("hostile.conns", 100, "attacking connections per attack in the Hostile tests")

// The configuration every attack meets, and from which the memory bound is
// derived.
const (
	hostileReadLimit    = 64 << 10
	hostileBufferSize   = 4096
	hostileCloseTimeout = 2 * time.Second
)

// hostileConnAllowance is what one connection costs in the heap besides
// the library's buffers and messages, with both ends in this process. Most
// of it is net/http's: its conn keeps a 4 KiB bufio.Reader and a 4 KiB
// bufio.Writer, and the request with its headers and contexts (about
// 2.5 KiB), reachable from the handler's goroutine until the handler
// returns, hijacked or not. Then the library's Conn and input (about
// 1 KiB), the net.TCPConn of each end, and the goroutine structs. A heap
// profile of 500 connections that hold no buffer put it at 13.5 KiB with
// Go 1.26; 16 KiB leaves room for other versions of net/http.
const hostileConnAllowance = 16 << 10

// hostileSlack covers what does not grow with the connections: the fresh
// connection that checks the server still serves, runtime bookkeeping, and
// the test's own tables.
const hostileSlack = 4 << 20

// hostileUpgrader is the server's configuration, spelled out rather than
// left to the defaults, since the bound is derived from it.
func hostileUpgrader() *Upgrader {
	return &Upgrader{
		ReadLimit:       hostileReadLimit,
		ReadBufferSize:  hostileBufferSize,
		WriteBufferSize: hostileBufferSize,
		CloseTimeout:    hostileCloseTimeout,
	}
}

// hostileAttack is one way to attack a server from many connections.
type hostileAttack struct {
	name string
	// start runs on a connection just past its handshake and returns once
	// the attack is in place: the server has seen the attack's bytes.
	start func(conn net.Conn) error
	// hold, if set, goes on attacking once every attack is in place, until
	// release is closed. It calls going once it is under way.
	hold func(conn net.Conn, going func(), release <-chan struct{}) error
	// finish, if set, runs after the measurements, before the attacker
	// closes the connection.
	finish func(conn net.Conn) error
	// holdsMessage says the server may hold a partial message of up to the
	// read limit for each connection; the other attacks must not make it
	// hold any.
	holdsMessage bool
	// serverErr checks the error the server's read ends with once the
	// attacker has gone; nil accepts any.
	serverErr func(err error) error
	// frameHeavy marks an attack that makes the server read tens of
	// thousands of frames per connection. The race detector makes each
	// ten times dearer, so under it the attack runs on a tenth of the
	// connections to stay within seconds.
	frameHeavy bool
}

// S1, S4, S5: many connections attack one server at once. While every
// attack is in place, the live heap stays within a bound derived from the
// configured limits, and a fresh connection is served. Afterwards every
// server read has ended as it should, and nothing is left of the
// connections.
func TestHostile(t *testing.T) {
	tests := []hostileAttack{
		{
			// S1, M4: the length is checked against the limit before
			// anything is allocated for it.
			name:      "S1/2^62-byte frame claimed",
			start:     hostileClaimHugeFrame,
			serverErr: hostileWantReadLimit,
		},
		{
			// S1, M4: the limit applies to the message, whatever the
			// size of its fragments.
			name:         "S1/16 MiB message in one-byte fragments",
			start:        hostileFragmentsToLimit,
			finish:       hostileFragmentsPastLimit,
			holdsMessage: true,
			serverErr:    hostileWantReadLimit,
			frameHeavy:   true,
		},
		{
			// S4: pongs to a peer that reads nothing do not pile up in
			// the heap, and a flood does not starve a newcomer.
			name:  "S4/endless pings, nothing read",
			start: hostilePingsStart,
			hold:  hostilePingsHold,
		},
		{
			// S4: a peer silent in the middle of a header costs no more
			// than a read buffer.
			name:      "S4/stalled after 1 byte of a 2-byte header",
			start:     hostileStallHeader([]byte{0x82}),
			serverErr: hostileWantUnexpectedEOF,
		},
		{
			name:      "S4/stalled after 5 bytes of a 14-byte header",
			start:     hostileStallHeader([]byte{0x82, 0x80 | 127, 0, 0, 0}),
			serverErr: hostileWantUnexpectedEOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := *hostileConns
			if tt.frameHeavy && hostileRaceEnabled() {
				n = max(n/10, 1)
			}
			hostileRun(t, tt, n)
		})
	}
}

// hostileEnd is how the server's read on one connection ended.
type hostileEnd struct {
	peer string // the client's address
	err  error
}

// hostileHeapStats is the part of runtime.MemStats the test bounds.
type hostileHeapStats struct {
	alloc, inuse uint64 // HeapAlloc and HeapInuse
}

// hostileRun serves an echo handler, attacks it from n connections, and
// checks the bounds while the attacks are in place and after they end.
func hostileRun(t *testing.T, attack hostileAttack, n int) {
	ends := make(chan hostileEnd, n+1)
	url := startServer(t, hostileUpgrader(), func(c *Conn) {
		peer := c.RemoteAddr().String()
		for {
			mt, p, err := c.ReadMessage()
			if err == nil {
				err = c.WriteMessage(mt, p)
			}
			if err != nil {
				ends <- hostileEnd{peer: peer, err: err}
				return
			}
		}
	})
	addr := tcpAddr(url)

	base := faultSnapshot()
	baseHeap := hostileHeap()

	var placed, going sync.WaitGroup
	placed.Add(n)
	going.Add(n)
	allPlaced := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseAll()
	errs := make(chan error, n) // one per attacker: nil if all went well

	// Dial with bounded concurrency: the listen backlog is finite, and a
	// thousand handshakes at once would only queue in the kernel.
	sem := make(chan struct{}, 64)
	setupStart := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			goingOnce := sync.OnceFunc(going.Done)
			defer goingOnce()
			sem <- struct{}{}
			conn, err := hostileDial(addr)
			if err == nil {
				err = attack.start(conn)
			}
			<-sem
			placed.Done()
			if err != nil {
				if conn != nil {
					conn.Close()
				}
				errs <- err
				return
			}
			defer conn.Close()
			<-allPlaced
			if attack.hold != nil {
				err = attack.hold(conn, goingOnce, release)
			} else {
				goingOnce()
				<-release
			}
			if err == nil && attack.finish != nil {
				err = attack.finish(conn)
			}
			errs <- err
		}()
	}

	if !hostileWait(&placed, testTimeout) {
		t.Fatalf("the %d attacks did not get in place within %v", n, testTimeout)
	}
	setup := time.Since(setupStart)
	close(allPlaced)
	if !hostileWait(&going, testTimeout) {
		t.Fatalf("the %d attacks did not get under way within %v", n, testTimeout)
	}

	// Every attack is in place: measure, and check that a newcomer is
	// served, twice the heap, before and after the newcomer's echo.
	peak := hostileHeap()
	echoPeer, echoTime, echoErr := hostileFreshEcho(url)
	after := hostileHeap()
	peak.alloc = max(peak.alloc, after.alloc)
	peak.inuse = max(peak.inuse, after.inuse)
	releaseAll()

	failed := 0
	var firstErr error
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
			}
		case <-time.After(testTimeout):
			t.Fatalf("the attackers did not finish within %v", testTimeout)
		}
	}

	// What one connection may cost: a read and a write buffer, twice over
	// for the pools' rounding and a buffer on its way back; the allowance
	// for what is not the library's; and, where the attack may make the
	// server hold a message, twice the read limit, for a message grows as
	// its bytes arrive, by at most doubling.
	perConn := int64(2*(hostileBufferSize+hostileBufferSize) + hostileConnAllowance)
	if attack.holdsMessage {
		perConn += 2 * hostileReadLimit
	}
	bound := int64(n)*perConn + hostileSlack
	growth := int64(peak.alloc) - int64(baseHeap.alloc)
	growthInuse := int64(peak.inuse) - int64(baseHeap.inuse)
	t.Logf("%d connections in place in %v; live heap %d B before, %d B at peak, %d B per connection; heap in use %d B before, %d B at peak, %d B per connection; bound %d B per connection + %d B; fresh echo in %v",
		n, setup.Round(time.Millisecond),
		baseHeap.alloc, peak.alloc, growth/int64(n),
		baseHeap.inuse, peak.inuse, growthInuse/int64(n),
		perConn, hostileSlack, echoTime.Round(time.Microsecond))
	if failed > 0 {
		t.Errorf("%d of %d attackers failed; the first: %v", failed, n, firstErr)
	}
	if growth > bound {
		t.Errorf("the live heap grew by %d B under %d attacks, more than the bound of %d B", growth, n, bound)
	}
	if growthInuse > bound {
		t.Errorf("the heap in use grew by %d B under %d attacks, more than the bound of %d B", growthInuse, n, bound)
	}
	if echoErr != nil {
		t.Errorf("a fresh connection was not served during the attack: %v", echoErr)
	}

	// Every server read ended, the attackers' as the attack calls for.
	wrong := 0
	var firstWrong error
	for i := 0; i < n+1; i++ {
		var e hostileEnd
		select {
		case e = <-ends:
		case <-time.After(testTimeout):
			t.Fatalf("only %d of %d server reads ended", i, n+1)
		}
		if e.peer == echoPeer || attack.serverErr == nil {
			continue
		}
		if err := attack.serverErr(e.err); err != nil {
			wrong++
			if firstWrong == nil {
				firstWrong = err
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d server reads ended wrongly; the first: %v", wrong, n, firstWrong)
	}

	faultWaitReturn(t, base)
}

// hostileRaceEnabled reports whether the test binary was built with the
// race detector.
func hostileRaceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// hostileWait waits for wg up to d.
func hostileWait(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// hostileHeap reads the heap's figures after garbage collections that also
// empty the sync.Pool caches, which survive one.
func hostileHeap() hostileHeapStats {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return hostileHeapStats{alloc: m.HeapAlloc, inuse: m.HeapInuse}
}

// hostileFreshEcho dials the server and checks that a message comes back.
// It returns the client's address and how long the whole took.
func hostileFreshEcho(url string) (string, time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, url, nil)
	if err != nil {
		return "", 0, err
	}
	defer c.Close()
	peer := c.LocalAddr().String()
	c.SetReadDeadline(time.Now().Add(testTimeout))
	c.SetWriteDeadline(time.Now().Add(testTimeout))
	want := []byte("still served")
	if err := c.WriteMessage(TextMessage, want); err != nil {
		return peer, 0, err
	}
	_, got, err := c.ReadMessage()
	if err != nil {
		return peer, 0, err
	}
	if !bytes.Equal(got, want) {
		return peer, 0, fmt.Errorf("echo %q, want %q", got, want)
	}
	return peer, time.Since(start), nil
}

// hostileDial opens a connection and performs the opening handshake by
// hand, keeping no buffer: the response is read up to its blank line, and
// the server sends nothing after it until the client does.
func hostileDial(addr string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(testTimeout))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	var buf [512]byte
	n := 0
	for !bytes.HasSuffix(buf[:n], []byte("\r\n\r\n")) {
		if n == len(buf) {
			conn.Close()
			return nil, errors.New("handshake response too long")
		}
		k, err := conn.Read(buf[n:])
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("reading the handshake response: %w", err)
		}
		n += k
	}
	if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
		conn.Close()
		return nil, fmt.Errorf("handshake answered %q", bytes.SplitN(buf[:n], []byte("\r\n"), 2)[0])
	}
	return conn, nil
}

// hostileReadControl reads frames until one with opcode op.
func hostileReadControl(conn net.Conn, op byte) (rawFrame, error) {
	for {
		f, err := readRawFrame(conn, maxControlPayload)
		if err != nil {
			return f, err
		}
		if f.op == op {
			return f, nil
		}
	}
}

// hostileExpectClose reads frames until a close frame with code want.
func hostileExpectClose(conn net.Conn, want StatusCode) error {
	f, err := hostileReadControl(conn, 0x8)
	if err != nil {
		return fmt.Errorf("waiting for close %d: %w", want, err)
	}
	if len(f.payload) < 2 || StatusCode(binary.BigEndian.Uint16(f.payload)) != want {
		return fmt.Errorf("close frame %q, want code %d", f.payload, want)
	}
	return nil
}

// hostilePing is a masked ping with an empty payload; its pong tells the
// attacker that the server has read everything sent before it.
var hostilePing = clientFrame(0x89, nil)

// hostileClaimHugeFrame sends the header of a binary frame of 2^62 bytes
// and nothing more. The server answers with close 1009 at once; reading it
// shows the header was handled. The attacker then neither answers nor
// closes, and the server waits for the rest of the frame and a close
// frame, up to its close timeout.
func hostileClaimHugeFrame(conn net.Conn) error {
	h := []byte{0x82, 0x80 | 127}
	h = binary.BigEndian.AppendUint64(h, 1<<62)
	h = append(h, testKey[:]...)
	if _, err := conn.Write(h); err != nil {
		return err
	}
	return hostileExpectClose(conn, StatusMessageTooBig)
}

// hostileFragment is one continuation frame with a one-byte payload, and
// hostileFragments many in a row: written to every attacking connection,
// they are built once.
var (
	hostileFragment  = clientFrame(0x00, []byte{'x'})
	hostileFragments = bytes.Repeat(hostileFragment, 4096)
)

// hostileFragmentsToLimit starts a 16 MiB binary message and sends exactly
// the read limit of it in one-byte fragments, then a ping. The pong shows
// the server holds the whole partial message.
func hostileFragmentsToLimit(conn net.Conn) error {
	// The first fragment opens the message; the others continue it.
	if _, err := conn.Write(clientFrame(0x02, []byte{'x'})); err != nil {
		return err
	}
	for sent := 1; sent < hostileReadLimit; {
		k := min(hostileReadLimit-sent, len(hostileFragments)/len(hostileFragment))
		if _, err := conn.Write(hostileFragments[:k*len(hostileFragment)]); err != nil {
			return err
		}
		sent += k
	}
	if _, err := conn.Write(hostilePing); err != nil {
		return err
	}
	_, err := hostileReadControl(conn, 0xA)
	return err
}

// hostileFragmentsPastLimit goes on with the message past the limit, until
// a write fails or 4096 more fragments are sent, and expects close 1009.
func hostileFragmentsPastLimit(conn net.Conn) error {
	conn.Write(hostileFragments)
	return hostileExpectClose(conn, StatusMessageTooBig)
}

// hostilePingBatch is 64 pings with the largest control payload.
var hostilePingBatch = bytes.Repeat(clientFrame(0x89, bytes.Repeat([]byte{'p'}, maxControlPayload)), 64)

// hostilePingsStart shrinks the connection's socket buffers, sends a batch
// of pings and waits for the first pong. With the kernel's default
// buffers, megabytes of pongs would queue on the way to a peer that reads
// nothing before the server's writes block, and a thousand such floods
// would keep both cores busy for a minute; small buffers make the flood
// stall after a few hundred pings, as any flood of a peer that does not
// read eventually does.
func hostilePingsStart(conn net.Conn) error {
	tc := conn.(*net.TCPConn)
	if err := tc.SetReadBuffer(4096); err != nil {
		return err
	}
	if err := tc.SetWriteBuffer(4096); err != nil {
		return err
	}
	if _, err := conn.Write(hostilePingBatch); err != nil {
		return err
	}
	_, err := hostileReadControl(conn, 0xA)
	return err
}

// hostilePingsHold sends pings without reading until released or until the
// server gives up on the connection and a write fails. The writes soon
// block, once the pongs have filled the attacker's receive buffer and the
// pings the buffers on the way.
func hostilePingsHold(conn net.Conn, going func(), release <-chan struct{}) error {
	// The release interrupts a write that full buffers block.
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-release:
			conn.SetWriteDeadline(time.Unix(1, 0))
		case <-done:
		}
	}()
	going()
	for {
		if _, err := conn.Write(hostilePingBatch); err != nil {
			return nil
		}
	}
}

// hostileStallHeader sends a ping and the first bytes of a frame header in
// one write, and waits for the pong: the server then has the partial
// header, and waits for the rest forever.
func hostileStallHeader(partial []byte) func(conn net.Conn) error {
	return func(conn net.Conn) error {
		if _, err := conn.Write(append(append([]byte{}, hostilePing...), partial...)); err != nil {
			return err
		}
		_, err := hostileReadControl(conn, 0xA)
		return err
	}
}

// hostileWantReadLimit accepts the error of a read refused for its size.
func hostileWantReadLimit(err error) error {
	if !errors.Is(err, ErrReadLimit) {
		return fmt.Errorf("read returned %v, want an error wrapping ErrReadLimit", err)
	}
	return nil
}

// hostileWantUnexpectedEOF accepts the error of a read whose peer closed
// the TCP connection inside a frame.
func hostileWantUnexpectedEOF(err error) error {
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure || !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read returned %v, want a CloseError 1006 wrapping io.ErrUnexpectedEOF", err)
	}
	return nil
}
