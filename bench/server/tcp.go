// tcp: the floor, not a WebSocket server. It answers the opening handshake
// by hand (the request's headers read with net/textproto, the 101 written
// with the Sec-WebSocket-Accept of RFC 6455 §4.2.2) and then sends every
// byte back as it comes, in a loop of one read and one write through a
// 32 KiB buffer. The client's masked frames come back masked and the load
// generator takes them for replies; no framing, masking or copying happens
// here, so what this costs is what the kernel and the Go runtime cost for
// the same traffic. (Waiting for whole frames, in a buffer grown to each,
// and writing each back in one write, cost more: 511 µs per 1 MiB message
// against 367 on one connection, 541 against 556 on 64, in the run that
// gobwas.go quotes.)
//
// Broadcast needs framing, so there the floor does the least a WebSocket
// server can: it reads each frame's header and payload, unmasks the
// payload, builds the server's frame once, and writes those bytes to every
// connection, one Write each for all the frames that one read brought in. No validation, no fragmentation, no control
// frames: it is a floor, not a server.
package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/textproto"
)

// wsGUID is the fixed GUID of RFC 6455 §1.3 that the accept key hashes.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func serveTCP(ln net.Listener, broadcast bool) error {
	var h hub[net.Conn]
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		if broadcast {
			go tcpBroadcast(conn, &h)
		} else {
			go tcpEcho(conn)
		}
	}
}

func tcpEcho(conn net.Conn) {
	defer conn.Close()
	br, ok := tcpHandshake(conn)
	if !ok {
		return
	}
	// Bytes the client sent right behind its request are echoed first.
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if _, err := conn.Write(b); err != nil {
			return
		}
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// tcpBroadcast reads the frames of one connection and sends each payload
// to every connection in h as a server frame built once. Frames that
// arrived together go out together: after a frame, those already in the
// read buffer join it, and the lot is one Write per connection.
func tcpBroadcast(conn net.Conn, h *hub[net.Conn]) {
	defer conn.Close()
	br, ok := tcpHandshake(conn)
	if !ok {
		return
	}
	h.add(conn)
	defer h.remove(conn)
	var batch []byte
	for {
		batch = batch[:0]
		for first := true; first || br.Buffered() > 0; first = false {
			if batch, ok = tcpAppendFrame(batch, br); !ok {
				return
			}
		}
		h.each(func(c net.Conn) { c.Write(batch) })
	}
}

// tcpAppendFrame reads a client's data frame from br and appends it to b
// as a server would send it, unmasked.
func tcpAppendFrame(b []byte, br *bufio.Reader) ([]byte, bool) {
	var hdr [14]byte
	if _, err := io.ReadFull(br, hdr[:2]); err != nil {
		return b, false
	}
	op, n := hdr[0]&0x0f, int(hdr[1]&0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(br, hdr[2:4]); err != nil {
			return b, false
		}
		n = int(binary.BigEndian.Uint16(hdr[2:4]))
	case 127:
		if _, err := io.ReadFull(br, hdr[2:10]); err != nil {
			return b, false
		}
		n = int(binary.BigEndian.Uint64(hdr[2:10]))
	}
	if op >= 0x8 || n > readLimit {
		return b, false // a close, or nothing a floor needs to handle
	}
	var key [4]byte
	if _, err := io.ReadFull(br, key[:]); err != nil {
		return b, false
	}
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	start := len(b)
	b = append(b, make([]byte, n)...)
	if _, err := io.ReadFull(br, b[start:]); err != nil {
		return b, false
	}
	for i := range b[start:] {
		b[start+i] ^= key[i&3]
	}
	return b, true
}

// tcpHandshake reads the opening handshake and answers it with a 101.
func tcpHandshake(conn net.Conn) (*bufio.Reader, bool) {
	br := bufio.NewReader(conn)
	tp := textproto.NewReader(br)
	if _, err := tp.ReadLine(); err != nil { // the request line
		return nil, false
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, false
	}
	key := hdr.Get("Sec-WebSocket-Key")
	if key == "" {
		conn.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		return nil, false
	}
	_, err = conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"))
	return br, err == nil
}

// acceptKey computes Sec-WebSocket-Accept from the client's key
// (RFC 6455 §4.2.2): base64 of the SHA-1 of the key and the GUID.
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}
