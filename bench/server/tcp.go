// tcp: the floor, not a WebSocket server. It answers the opening handshake
// by hand (the request's headers read with net/textproto, the 101 written
// with the Sec-WebSocket-Accept of RFC 6455 §4.2.2) and then sends every
// byte back as it comes, in a loop of one read and one write through a
// 32 KiB buffer. The client's masked frames come back masked and the load
// generator takes them for replies; no framing, masking or copying happens
// here, so what this costs is what the kernel and the Go runtime cost for
// the same traffic. Echo only: a broadcast needs framing.
package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/textproto"
)

// wsGUID is the fixed GUID of RFC 6455 §1.3 that the accept key hashes.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func serveTCP(ln net.Listener, _ bool) error {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go tcpEcho(conn)
	}
}

func tcpEcho(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	tp := textproto.NewReader(br)
	if _, err := tp.ReadLine(); err != nil { // the request line
		return
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return
	}
	key := hdr.Get("Sec-WebSocket-Key")
	if key == "" {
		conn.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		return
	}
	_, err = conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"))
	if err != nil {
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

// acceptKey computes Sec-WebSocket-Accept from the client's key
// (RFC 6455 §4.2.2): base64 of the SHA-1 of the key and the GUID.
func acceptKey(key string) string {
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}
