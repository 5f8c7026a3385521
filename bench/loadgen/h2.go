//lint:file-ignore SA1019 net/http's own client refuses the :protocol pseudo-header of an extended CONNECT (go1.26), so -h2 uses x/net/http2's Transport, and its ClientConn directly so that every stream goes over one connection

package main

// Over TLS: -tls opens each connection as a TLS connection that agreed on
// HTTP/1.1 by ALPN and upgrades it as usual; -h2 opens one TLS connection
// that agreed on HTTP/2 and each WebSocket as an extended CONNECT on a
// stream of it (RFC 8441), as a browser does with an origin it already
// talks HTTP/2 to. Certificates are not checked: the server's is
// self-signed, made when it starts.
//
// A stream is golang.org/x/net/http2's: the request body is a pipe the
// frames are written to, the response body what the server sends. Unlike
// the rest of the load generator, the client's HTTP/2 machinery allocates
// as it goes (the driver reports it apart); it is how a Go client does
// it, not the cheapest possible client.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// useTLS and useH2 are the -tls and -h2 flags.
var useTLS, useH2 bool

// h2Client is the HTTP/2 connection of a -h2 run.
var h2Client *http2.ClientConn

// handshakeTLS runs a TLS handshake over c that must agree on proto by
// ALPN. The deadline of c bounds it.
func handshakeTLS(c net.Conn, proto string) (*tls.Conn, error) {
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}})
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	if got := tc.ConnectionState().NegotiatedProtocol; got != proto {
		tc.Close()
		return nil, fmt.Errorf("the server agreed on %q by ALPN, not %q", got, proto)
	}
	return tc, nil
}

// dialH2 opens one HTTP/2 connection to addr and n WebSockets over it,
// at most dialers at a time.
func dialH2(addr string, n, readBuf int) ([]*wsConn, error) {
	nc, err := net.DialTimeout("tcp", addr, handshakeTimeout)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	tc, err := handshakeTLS(nc, "h2")
	if err != nil {
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("HTTP/2 connection: %w", err)
	}
	h2Client = cc
	url := "https://" + addr + "/"
	conns := make([]*wsConn, n)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range min(dialers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := openStream(cc, tc, url, readBuf)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("stream %d: %w", i, err)
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
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		cc.Close()
		return nil, first
	}
	return conns, nil
}

// openStream sends the extended CONNECT of one WebSocket on cc and checks
// the answer: 200, and no extension, none having been offered.
func openStream(cc *http2.ClientConn, tc *tls.Conn, url string, readBuf int) (*wsConn, error) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodConnect, url, pr)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	t := time.AfterFunc(handshakeTimeout, cancel)
	resp, err := cc.RoundTrip(req)
	t.Stop()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("extended CONNECT: %w", err)
	}
	s := &h2Stream{body: resp.Body, pw: pw, cancel: cancel, tc: tc}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		s.Close()
		return nil, fmt.Errorf("extended CONNECT refused: %s %q", resp.Status, strings.TrimSpace(string(b)))
	}
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		s.Close()
		return nil, fmt.Errorf("server chose extension %q that was not offered", ext)
	}
	return &wsConn{c: s, br: bufio.NewReaderSize(s, readBuf)}, nil
}

// h2Stream is a WebSocket's stream as a net.Conn. A deadline, read or
// write, ends the whole stream when it passes: the load generator sets
// them only to end a run.
type h2Stream struct {
	body   io.ReadCloser
	pw     *io.PipeWriter
	cancel context.CancelFunc
	tc     *tls.Conn

	mu    sync.Mutex
	timer *time.Timer
}

func (s *h2Stream) Read(p []byte) (int, error)  { return s.body.Read(p) }
func (s *h2Stream) Write(p []byte) (int, error) { return s.pw.Write(p) }

// Close ends the request body, which the server reads as the end of the
// WebSocket's stream, and resets the stream.
func (s *h2Stream) Close() error {
	s.SetDeadline(time.Time{})
	s.pw.Close()
	s.cancel()
	return s.body.Close()
}

// expire fails the reads and writes under way and to come.
func (s *h2Stream) expire() {
	s.pw.CloseWithError(os.ErrDeadlineExceeded)
	s.cancel()
}

func (s *h2Stream) SetDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !t.IsZero() {
		s.timer = time.AfterFunc(time.Until(t), s.expire)
	}
	return nil
}

func (s *h2Stream) SetReadDeadline(t time.Time) error  { return s.SetDeadline(t) }
func (s *h2Stream) SetWriteDeadline(t time.Time) error { return s.SetDeadline(t) }
func (s *h2Stream) LocalAddr() net.Addr                { return s.tc.LocalAddr() }
func (s *h2Stream) RemoteAddr() net.Addr               { return s.tc.RemoteAddr() }
