package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// The opening handshake uses the example key of RFC 6455 §1.3: the server
// cannot tell, and a fixed key lets the expected accept value be a
// constant instead of a SHA-1 per connection.
const (
	handshakeKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	handshakeAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// dialers bounds how many connections are being opened at once, well
// under the listen backlog (somaxconn is 4096 here), so that no SYN is
// dropped and retried a second later.
const dialers = 64

// handshakeTimeout bounds one dial plus handshake.
const handshakeTimeout = 10 * time.Second

// wsConn is one client connection after its handshake. The bufio.Reader
// is the one the handshake response was read with, so that a frame the
// server sends right behind its 101 is not lost. c is a *net.TCPConn, or
// with -tls a *tls.Conn, or with -h2 a stream of an HTTP/2 connection
// (h2.go).
type wsConn struct {
	c  net.Conn
	br *bufio.Reader
}

// extOffer is the Sec-WebSocket-Extensions line of the handshake: empty,
// or a permessage-deflate offer with -deflate.
var extOffer string

// request is the opening handshake for path, the same bytes for every
// connection.
func request(addr, path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\n" +
		"Host: " + addr + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + handshakeKey + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		extOffer +
		"\r\n")
}

// dialAll opens n connections with at most dialers at a time. readBuf is
// the size of each connection's bufio.Reader. With -h2 they are streams
// of one HTTP/2 connection.
func dialAll(addr string, n, readBuf int) ([]*wsConn, error) {
	if useH2 {
		return dialH2(addr, n, readBuf)
	}
	return dialAllPath(addr, "/", n, readBuf)
}

// dialAllPath is dialAll with the request's path.
func dialAllPath(addr, path string, n, readBuf int) ([]*wsConn, error) {
	req := request(addr, path)
	conns := make([]*wsConn, n)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs error
		next = make(chan int)
	)
	for w := 0; w < min(dialers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := dial(addr, req, readBuf)
				if err != nil {
					mu.Lock()
					if errs == nil {
						errs = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range conns {
		mu.Lock()
		failed := errs != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if errs != nil {
		for _, c := range conns {
			if c != nil {
				c.c.Close()
			}
		}
		return nil, errs
	}
	return conns, nil
}

func dial(addr string, req []byte, readBuf int) (*wsConn, error) {
	c, err := net.DialTimeout("tcp", addr, handshakeTimeout)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	if useTLS {
		if c, err = handshakeTLS(c, "http/1.1"); err != nil {
			return nil, err
		}
	}
	br := bufio.NewReaderSize(c, readBuf)
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, fmt.Errorf("write handshake: %w", err)
	}
	if err := readResponse(br); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return &wsConn{c: c, br: br}, nil
}

// readResponse checks the server's answer to the opening handshake
// (RFC 6455 §4.2.2 step 5 and §4.1's client checks): a 101, the upgrade
// headers, the right accept value, and no extension unless one was
// offered, which is then recorded (see agreed).
func readResponse(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("read handshake response: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 101")) {
		return fmt.Errorf("handshake refused: %q", bytes.TrimSpace(line))
	}
	var upgrade, connection, accept bool
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("read handshake response: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return fmt.Errorf("malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Upgrade")):
			upgrade = bytes.EqualFold(value, []byte("websocket"))
		case bytes.EqualFold(name, []byte("Connection")):
			connection = hasToken(value, "upgrade")
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			if string(value) != handshakeAccept {
				return fmt.Errorf("wrong Sec-WebSocket-Accept %q", value)
			}
			accept = true
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Extensions")):
			if extOffer == "" || !bytes.HasPrefix(value, []byte("permessage-deflate")) {
				return fmt.Errorf("server chose extension %q that was not offered", value)
			}
			agreed(value)
		}
	}
	if !upgrade || !connection || !accept {
		return errors.New("handshake response lacks Upgrade, Connection or Sec-WebSocket-Accept")
	}
	return nil
}

// hasToken reports whether a comma-separated header value holds token,
// without regard to case.
func hasToken(value []byte, token string) bool {
	for _, t := range bytes.Split(value, []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(t), []byte(token)) {
			return true
		}
	}
	return false
}
