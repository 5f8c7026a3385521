// gobwas/ws: the zero-copy ws.Upgrade straight on connections from the raw
// listener (no net/http), then the package's low-level frame API on a
// goroutine per connection. That is the way gobwas/ws is built to be fast:
// its wsutil helpers are conveniences on top of this API that add a copy
// (wsutil.Writer buffers) or an allocation per message (wsutil.ReadData).
//
// Echo: frame by frame. ws.ReadHeaderBuffer reads each header from a
// bufio.Reader into a scratch array; ws.CheckHeader checks it; the payload
// is read into a reused per-connection buffer right behind the reply's
// header (ws.WriteHeaderBuffer), unmasked in place with ws.Cipher, and
// header and payload leave in one write. A frame longer than the buffer
// streams through it in 32 KiB pieces, so a 1 MiB message is never held
// whole. Fragmented messages come back fragmented the same way.
//
// Reading a long frame whole instead, into a buffer sized from its header,
// and writing it back in one write takes fewer system calls (11 per 1 MiB
// message against 68) but more CPU: 567 µs per 1 MiB message against 383
// on one connection, and 571 against 571 on 64, in one run of the driver
// (2026-12-06). In pieces, the reply is under way before the message has
// all arrived, and the load generator reads it while it still sends.
//
// Broadcast: the message is gathered whole, encoded once with
// ws.CompileFrame, and the same bytes are written to every net.Conn from
// the goroutine that read it (see hub). A net.Conn writes one Write call
// whole even with other writers, so no goroutine or queue per subscriber
// is needed.
package main

import (
	"bufio"
	"errors"
	"io"
	"net"

	"github.com/gobwas/ws"
)

// gobwasChunk is the most payload one read and one write move.
const gobwasChunk = 32 << 10

var errGobwasTooBig = errors.New("message exceeds the read limit")

func serveGobwas(ln net.Listener, broadcast bool) error {
	var h *hub[net.Conn]
	if broadcast {
		h = new(hub[net.Conn])
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer conn.Close()
			// The zero Upgrader checks no Origin and negotiates nothing.
			if _, err := ws.Upgrade(conn); err != nil {
				return
			}
			g := &gobwasConn{
				conn:  conn,
				br:    bufio.NewReaderSize(conn, ws.DefaultServerReadBufferSize),
				state: ws.StateServerSide,
			}
			onData := g.echoFrame
			if broadcast {
				h.add(conn)
				defer h.remove(conn)
				onData = func(hd ws.Header) error { return g.gather(hd, h) }
			}
			err := g.serve(onData)
			if errors.Is(err, errGobwasTooBig) {
				g.writeFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusMessageTooBig, ""))
			}
		}()
	}
}

// gobwasConn is the state of one connection, allocated once.
type gobwasConn struct {
	conn  net.Conn
	br    *bufio.Reader
	state ws.State
	hdr   [ws.MaxHeaderSize]byte // scratch for headers read and written
	out   frameBuf               // the next frame to send; allocated at the first data frame

	// Broadcast only: the message being gathered.
	msgOp ws.OpCode
	msg   []byte
}

// frameBuf collects a frame to send, so that ws.WriteHeaderBuffer can put
// the header right in front of the payload.
type frameBuf struct{ b []byte }

func (f *frameBuf) Write(p []byte) (int, error) {
	f.b = append(f.b, p...)
	return len(p), nil
}

// serve reads frames until the connection ends, answers control frames,
// and hands each data frame's header to onData, which must consume the
// payload.
func (g *gobwasConn) serve(onData func(ws.Header) error) error {
	for {
		h, err := ws.ReadHeaderBuffer(g.br, g.hdr[:])
		if err != nil {
			return err
		}
		if err := ws.CheckHeader(h, g.state); err != nil {
			g.writeFrame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusProtocolError, ""))
			return err
		}
		if h.OpCode.IsControl() {
			if err := g.control(h); err != nil {
				return err
			}
			continue
		}
		if h.Length > readLimit {
			return errGobwasTooBig
		}
		if h.Fin {
			g.state = g.state.Clear(ws.StateFragmented)
		} else {
			g.state = g.state.Set(ws.StateFragmented)
		}
		if err := onData(h); err != nil {
			return err
		}
	}
}

// control answers a ping with a pong and a close with a close, which ends
// the connection (io.EOF).
func (g *gobwasConn) control(h ws.Header) error {
	var p [ws.MaxControlFramePayloadSize]byte
	b := p[:h.Length] // CheckHeader has bounded it
	if _, err := io.ReadFull(g.br, b); err != nil {
		return err
	}
	ws.Cipher(b, h.Mask, 0)
	switch h.OpCode {
	case ws.OpPing:
		return g.writeFrame(ws.OpPong, b)
	case ws.OpClose:
		g.writeFrame(ws.OpClose, b)
		return io.EOF
	}
	return nil
}

// writeFrame sends a small frame in one write.
func (g *gobwasConn) writeFrame(op ws.OpCode, payload []byte) error {
	g.out.b = g.out.b[:0]
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(payload))}
	if err := ws.WriteHeaderBuffer(&g.out, h, g.hdr[:]); err != nil {
		return err
	}
	g.out.b = append(g.out.b, payload...)
	_, err := g.conn.Write(g.out.b)
	return err
}

// echoFrame sends the frame back with the same header, unmasked.
func (g *gobwasConn) echoFrame(h ws.Header) error {
	if g.out.b == nil {
		g.out.b = make([]byte, 0, ws.MaxHeaderSize+gobwasChunk)
	}
	key := h.Mask
	h.Masked = false
	g.out.b = g.out.b[:0]
	if err := ws.WriteHeaderBuffer(&g.out, h, g.hdr[:]); err != nil {
		return err
	}
	for pos := int64(0); ; {
		start := len(g.out.b)
		n := min(h.Length-pos, int64(cap(g.out.b)-start))
		b := g.out.b[start : start+int(n)]
		if _, err := io.ReadFull(g.br, b); err != nil {
			return err
		}
		ws.Cipher(b, key, int(pos))
		if _, err := g.conn.Write(g.out.b[:start+int(n)]); err != nil {
			return err
		}
		g.out.b = g.out.b[:0]
		pos += n
		if pos == h.Length {
			return nil
		}
	}
}

// gather adds a frame's payload to the message and, at its last frame,
// broadcasts the message.
func (g *gobwasConn) gather(h ws.Header, subs *hub[net.Conn]) error {
	if h.OpCode != ws.OpContinuation {
		g.msgOp = h.OpCode
		g.msg = g.msg[:0]
	}
	if int64(len(g.msg))+h.Length > readLimit {
		return errGobwasTooBig
	}
	start := len(g.msg)
	g.msg = append(g.msg, make([]byte, h.Length)...)
	b := g.msg[start:]
	if _, err := io.ReadFull(g.br, b); err != nil {
		return err
	}
	ws.Cipher(b, h.Mask, 0)
	if !h.Fin {
		return nil
	}
	frame, err := ws.CompileFrame(ws.NewFrame(g.msgOp, true, g.msg))
	if err != nil {
		return err
	}
	subs.each(func(c net.Conn) {
		// A failed write breaks c; its own reader then leaves the hub.
		c.Write(frame)
	})
	return nil
}
