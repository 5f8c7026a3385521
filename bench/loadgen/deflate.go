package main

// permessage-deflate for the compression rows (-deflate): the offer, what
// the server answered, and a stream of JSON events compressed ahead of the
// run, as a browser would send them, so that compressing costs the load
// generator nothing during the window.
//
// With context takeover each message may refer back to the ones before
// it, so the stream is compressed in order, once, and every connection
// sends it from the start, in order. A connection that reaches its end
// starts again from the first message: the first was compressed with
// nothing before it and refers back to nothing, and each later one
// reaches back only into messages that come again in the same order, so
// the server's window holds what each expects at the distances it uses.

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/rfc6455/websocket/internal/deflate"
)

// deflateOn says the server accepted permessage-deflate; deflateAgreed is
// its answer. Set by the first handshake; every connection to one server
// gets the same answer.
var (
	deflateOn     bool
	deflateAgreed string
	agreedOnce    sync.Once
)

// offer returns the Sec-WebSocket-Extensions line for mode, as browsers
// offer it (takeover), or asking for no context either way.
func offer(mode string) string {
	switch mode {
	case "takeover":
		return "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
	case "no-takeover":
		return "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits\r\n"
	}
	return ""
}

// streamLen is how many messages the compressed stream holds before it
// starts again.
const streamLen = 4096

// jsonStream returns n JSON chat events of about size bytes each (from
// two thirds to four thirds of it), all different, as a server of chats or
// dashboards would see them.
func jsonStream(n, size int) [][]byte {
	rng := rand.New(rand.NewPCG(uint64(size), 42))
	words := strings.Fields(`the a to of and in is it you that for on was with he as have be at one by
		this had not are but from or his they we which an she were there been has their if will
		time message room user online typing hello thanks meeting tomorrow sounds good deploy
		build failed passed review merge branch ticket latency server client vote count poll`)
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	kinds := []string{"message", "message", "message", "typing", "presence", "reaction", "vote"}
	out := make([][]byte, n)
	for i := range out {
		want := size*2/3 + rng.IntN(size*2/3+1)
		var b bytes.Buffer
		fmt.Fprintf(&b, `{"type":%q,"id":%d,"room":"room-%d","user":{"name":%q,"id":%d,"status":"online"},"ts":"2026-12-06T%02d:%02d:%02d.%03dZ","text":"`,
			kinds[rng.IntN(len(kinds))], 100000+i, rng.IntN(8), users[rng.IntN(len(users))], 1000+rng.IntN(len(users)),
			rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000))
		for b.Len() < want-40 {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, `","reactions":%d,"edited":false}`, rng.IntN(5))
		out[i] = b.Bytes()
	}
	return out
}

// agreed records the server's Sec-WebSocket-Extensions answer.
func agreed(value []byte) {
	agreedOnce.Do(func() {
		deflateOn = true
		deflateAgreed = string(value)
	})
}

// clientWindow returns the window the server allows this side to compress
// with, and whether context carries over, from its answer.
func clientWindow() (bits int, takeover bool) {
	bits, takeover = deflate.MaxWindowBits, true
	for _, p := range strings.Split(deflateAgreed, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.TrimSpace(name) {
		case "client_max_window_bits":
			if v, err := strconv.Atoi(strings.Trim(strings.TrimSpace(value), `"`)); err == nil {
				bits = v
			}
		case "client_no_context_takeover":
			takeover = false
		}
	}
	return bits, takeover
}

// compressedFrames returns msgs as frames of compressed messages, masked,
// RSV1 set, in the window and with the context the server agreed to.
func compressedFrames(op byte, msgs [][]byte) [][]byte {
	bits, takeover := clientWindow()
	var e deflate.Encoder
	var hist deflate.History
	hist.SetWindow(bits)
	frames := make([][]byte, len(msgs))
	for i, m := range msgs {
		h := &hist
		if !takeover {
			h = nil
		}
		e.Reset(h, bits, deflate.Fastest, len(m))
		var comp []byte
		for p := m; len(p) > 0; {
			n := min(len(p), deflate.MaxWrite)
			comp = e.Write(comp, p[:n])
			p = p[n:]
		}
		comp = e.Close(comp)
		if takeover {
			e.Commit(&hist)
		}
		frames[i] = buildFrame(0x40|op, comp)
	}
	return frames
}

// deflateFrames returns, once the first handshake has told what the
// server agreed to, the opcode, the frames of the compressed JSON stream,
// and the first message as it should come back.
func deflateFrames(o options) (byte, [][]byte, []byte, error) {
	if !deflateOn {
		return 0, nil, nil, fmt.Errorf("the server did not accept permessage-deflate")
	}
	msgs := jsonStream(streamLen, o.size)
	return opText, compressedFrames(opText, msgs), msgs[0], nil
}

// inflate decompresses the payload of a compressed message from a server
// that kept no window before it: the first reply of a run.
func inflate(p []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")))
	return io.ReadAll(r)
}
