package websocket

// permessage-deflate (RFC 7692): the rows D1–D19 of RFC7692-CHECKLIST.md.
// The peer in these tests compresses and decompresses with compress/flate,
// written here without the library's code, so that the library's
// compressor is checked against an independent one.

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// zTestPeer is the raw peer's side of permessage-deflate.
type zTestPeer struct {
	// Compressing what the peer sends: one Writer for the stream under
	// context takeover, flushed after each message.
	w        *flate.Writer
	out      bytes.Buffer
	takeover bool // the peer's own context carries over
	// Decompressing what it receives: the window so far.
	hist     []byte
	window   int  // the window the other side compresses with
	keepHist bool // the other side keeps context
}

func newZTestPeer(takeover, keepHist bool, window int) *zTestPeer {
	p := &zTestPeer{takeover: takeover, keepHist: keepHist, window: window}
	p.w, _ = flate.NewWriter(&p.out, flate.BestSpeed)
	return p
}

// compress returns msg compressed as one message: the sync flush's tail
// left out (§7.2.1).
func (p *zTestPeer) compress(msg []byte) []byte {
	if !p.takeover {
		p.w.Reset(&p.out)
	}
	p.out.Reset()
	p.w.Write(msg)
	p.w.Flush()
	b := p.out.Bytes()
	if !bytes.HasSuffix(b, []byte{0, 0, 0xff, 0xff}) {
		panic("compress/flate's flush did not end with the sync marker")
	}
	return append([]byte{}, b[:len(b)-4]...)
}

// inflate decompresses a message: the tail appended (§7.2.2), the window
// so far as the dictionary, at most the other side's window of it.
func (p *zTestPeer) inflate(comp []byte) ([]byte, error) {
	var dict []byte
	if p.keepHist {
		dict = p.hist[max(0, len(p.hist)-p.window):]
	}
	r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(comp), strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff")), dict)
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if p.keepHist {
		p.hist = append(p.hist, out...)
		p.hist = p.hist[max(0, len(p.hist)-p.window):]
	}
	return out, nil
}

// readMessage reads a data message from rc, fragments joined, and
// inflates it if its first frame has RSV1. It returns the payload as sent
// and the message.
func (p *zTestPeer) readMessage(t testing.TB, rc *rawClient) (op byte, compressed bool, wire, msg []byte) {
	t.Helper()
	first := true
	for {
		f, err := rc.readFrame()
		if err != nil {
			t.Fatalf("reading a message: %v", err)
		}
		if f.op >= 0x8 {
			if f.rsv != 0 {
				t.Fatalf("D8: a control frame (opcode %#x) has RSV bits %#x", f.op, f.rsv)
			}
			if f.op == 0x8 {
				t.Fatalf("close frame %x while reading a message", f.payload)
			}
			continue
		}
		if first {
			op, compressed = f.op, f.rsv&0x40 != 0
			if f.rsv&^0x40 != 0 {
				t.Fatalf("RSV bits %#x on a first frame", f.rsv)
			}
		} else if f.rsv != 0 {
			t.Fatalf("D8: a continuation frame has RSV bits %#x", f.rsv)
		}
		first = false
		wire = append(wire, f.payload...)
		if f.fin {
			break
		}
	}
	if !compressed {
		return op, false, wire, wire
	}
	msg, err := p.inflate(wire)
	if err != nil {
		t.Fatalf("inflating a %d-byte message: %v", len(wire), err)
	}
	return op, true, wire, msg
}

// zTestOffer is the offer of most tests, as browsers make it.
const zTestOffer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"

// zTestEvents returns n JSON events like those of a chat.
func zTestEvents(n int) [][]byte {
	rng := rand.New(rand.NewPCG(11, 11))
	words := strings.Fields("hello there how are you doing today the build passed merge it please thanks later")
	out := make([][]byte, n)
	for i := range out {
		var text []string
		for range 5 + rng.IntN(60) {
			text = append(text, words[rng.IntN(len(words))])
		}
		out[i] = fmt.Appendf(nil, `{"type":"message","id":%d,"room":"general","user":{"name":"user%d","status":"online"},"text":%q}`,
			1000+i, rng.IntN(5), strings.Join(text, " "))
	}
	return out
}

// zTestDialWith connects with the usual offer, plus param if with is set,
// and checks that the response carries param exactly then.
func zTestDialWith(t *testing.T, url, param string, with bool) *rawClient {
	t.Helper()
	offer := zTestOffer
	if with {
		offer += "; " + param
	}
	rc := dialRaw(t, url, offer)
	if resp := rc.resp.Header.Get("Sec-WebSocket-Extensions"); strings.Contains(resp, param) != with {
		t.Fatalf("offer %q, response %q", offer, resp)
	}
	return rc
}

func zTestUpgrader(z Compression) *Upgrader {
	return &Upgrader{Compression: &z, CloseTimeout: time.Second}
}

// ---- D1–D7: negotiation ----

// D1: the first offer the server can honour is accepted, whatever headers
// and elements come before it; the response carries exactly one element.
func TestCompressD1FirstOfferAccepted(t *testing.T) {
	tests := []struct {
		name   string
		offers []string
		want   string
	}{
		{
			// Without client_max_window_bits in the offer, the client
			// cannot be asked for a small window (D6).
			name:   "D1/one offer",
			offers: []string{"permessage-deflate"},
			want:   "permessage-deflate; client_no_context_takeover",
		},
		{
			name:   "D1/two offers in one line, the first taken",
			offers: []string{"permessage-deflate; server_max_window_bits=10, permessage-deflate"},
			want:   "permessage-deflate; server_max_window_bits=10; client_no_context_takeover",
		},
		{
			name:   "D1/an unknown extension and a declined offer first, over several lines",
			offers: []string{"x-webkit-deflate-frame", "permessage-deflate; foo=1", "permessage-deflate; client_max_window_bits"},
			want:   "permessage-deflate; client_max_window_bits=11",
		},
		{
			name:   "D1/quoted values",
			offers: []string{`permessage-deflate; server_max_window_bits="9"; client_max_window_bits="11"`},
			want:   "permessage-deflate; server_max_window_bits=9; client_max_window_bits=11",
		},
	}
	url, _ := connTestServer(t, zTestUpgrader(Compression{}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra []string
			for _, o := range tt.offers {
				extra = append(extra, "Sec-WebSocket-Extensions: "+o)
			}
			rc := dialRaw(t, url, extra...)
			got := rc.resp.Header.Values("Sec-WebSocket-Extensions")
			if len(got) != 1 || zTestNormalize(got[0]) != zTestNormalize(tt.want) {
				t.Fatalf("response %q, want %q", got, tt.want)
			}
		})
	}
}

// zTestNormalize puts the parameters of an element in order, so that
// elements compare whatever order the parameters come in.
func zTestNormalize(el string) string {
	parts := strings.Split(el, ";")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	rest := parts[1:]
	for i := 1; i < len(rest); i++ {
		for j := i; j > 0 && rest[j] < rest[j-1]; j-- {
			rest[j], rest[j-1] = rest[j-1], rest[j]
		}
	}
	return strings.Join(parts, "; ")
}

// D2: an offer that breaks the rules of §7 is declined, that offer only;
// the handshake succeeds, without compression if nothing else is left.
func TestCompressD2InvalidOffersDeclined(t *testing.T) {
	invalid := []string{
		"permessage-deflate; foo",
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
		"permessage-deflate; server_max_window_bits=7",
		"permessage-deflate; server_max_window_bits=16",
		"permessage-deflate; client_max_window_bits=7",
		"permessage-deflate; server_max_window_bits",
		"permessage-deflate; server_max_window_bits=010",
		"permessage-deflate; server_max_window_bits=ten",
		"permessage-deflate; server_no_context_takeover=1",
		"permessage-deflate; client_no_context_takeover=true",
		`permessage-deflate; client_max_window_bits="1 0"`,
	}
	url, _ := connTestServer(t, zTestUpgrader(Compression{}))
	for _, offer := range invalid {
		t.Run("D2/"+offer, func(t *testing.T) {
			rc := dialRaw(t, url, "Sec-WebSocket-Extensions: "+offer)
			if got := rc.resp.Header.Values("Sec-WebSocket-Extensions"); len(got) != 0 {
				t.Fatalf("an invalid offer was accepted: %q", got)
			}
			// Without compression, the connection works.
			rc.write(clientFrame(0x81, []byte("plain")))
			if f := connTestReadData(rc); f.rsv != 0 || string(f.payload) != "plain" {
				t.Fatalf("echo %q with RSV %#x, want \"plain\" uncompressed", f.payload, f.rsv)
			}
			rc2 := dialRaw(t, url, "Sec-WebSocket-Extensions: "+offer, "Sec-WebSocket-Extensions: permessage-deflate")
			if got := rc2.resp.Header.Values("Sec-WebSocket-Extensions"); len(got) != 1 || got[0] != "permessage-deflate; client_no_context_takeover" {
				t.Fatalf("with a valid offer after it, the response is %q", got)
			}
		})
	}
}

// zTestEcho sends msgs from a peer that negotiated with the given offer
// and response expectations, and returns the payloads as the server sent
// them, after checking that each inflates to the message sent.
func zTestEcho(t *testing.T, rc *rawClient, p *zTestPeer, msgs [][]byte, compress bool) (wires [][]byte) {
	t.Helper()
	for _, m := range msgs {
		if compress {
			rc.write(clientFrame(0xC2, p.compress(m)))
		} else {
			rc.write(clientFrame(0x82, m))
		}
		_, _, wire, got := p.readMessage(t, rc)
		if !bytes.Equal(got, m) {
			t.Fatalf("echo %.60q, want %.60q", got, m)
		}
		wires = append(wires, wire)
	}
	return wires
}

// D3: with server_no_context_takeover, each message the server sends
// inflates on its own, and a message sent twice compresses the same both
// times; with context takeover, the second time it refers back to the
// first and comes out far smaller.
func TestCompressD3ServerNoContextTakeover(t *testing.T) {
	msg := zTestEvents(1)[0]
	for _, noCT := range []bool{true, false} {
		t.Run(fmt.Sprintf("D3/server_no_context_takeover %v", noCT), func(t *testing.T) {
			url, _ := connTestServer(t, zTestUpgrader(Compression{}))
			rc := zTestDialWith(t, url, "server_no_context_takeover", noCT)
			p := newZTestPeer(true, !noCT, 1<<12)
			wires := zTestEcho(t, rc, p, [][]byte{msg, msg}, true)
			if noCT && !bytes.Equal(wires[0], wires[1]) {
				t.Fatal("without context takeover, the same message compressed differently the second time")
			}
			if !noCT && len(wires[1]) >= len(wires[0])/4 {
				t.Fatalf("with context takeover, the repeat took %d bytes after %d", len(wires[1]), len(wires[0]))
			}
		})
	}
}

// D4, D13: with client_no_context_takeover in the response, the server
// inflates every message with a fresh window: a client that refers back
// to its previous message anyway fails the connection with 1007. Without
// it, the server keeps the window, and the same stream is fine.
func TestCompressD4ClientNoContextTakeover(t *testing.T) {
	msgs := zTestEvents(3)
	for _, noCT := range []bool{true, false} {
		t.Run(fmt.Sprintf("D4/client_no_context_takeover %v", noCT), func(t *testing.T) {
			url, errs := connTestServer(t, zTestUpgrader(Compression{}))
			rc := zTestDialWith(t, url, "client_no_context_takeover", noCT)
			p := newZTestPeer(true, true, 1<<12) // keeps context, breaking its word when noCT
			zTestEcho(t, rc, p, msgs[:1], true)
			rc.write(clientFrame(0xC1, p.compress(msgs[0])))
			if noCT {
				rc.expectClose(StatusInvalidFramePayloadData)
				if code := connTestFailCode(connTestWait(t, errs, "the server's read")); code != StatusInvalidFramePayloadData {
					t.Fatalf("the server's read failed with %d, want 1007", code)
				}
				return
			}
			if _, _, _, got := p.readMessage(t, rc); !bytes.Equal(got, msgs[0]) {
				t.Fatal("the echo of a message compressed with context differs")
			}
		})
	}
}

// D5: server_max_window_bits=N is honoured: the response says so, and no
// message the server sends reaches further back than 2^N bytes, within a
// message or into earlier ones. The peer keeps exactly 2^N bytes of
// history, so a reach further back fails to inflate.
func TestCompressD5ServerMaxWindowBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, bits := range []int{8, 9, 10, 12, 15} {
		t.Run(fmt.Sprintf("D5/server_max_window_bits=%d", bits), func(t *testing.T) {
			url, _ := connTestServer(t, zTestUpgrader(Compression{WindowBits: 15}))
			rc := dialRaw(t, url, fmt.Sprintf("%s; server_max_window_bits=%d", zTestOffer, bits))
			resp := rc.resp.Header.Get("Sec-WebSocket-Extensions")
			if !strings.Contains(resp, fmt.Sprintf("server_max_window_bits=%d", bits)) {
				t.Fatalf("response %q", resp)
			}
			// Random blocks that repeat at distances around the window,
			// in one message and across messages.
			block := make([]byte, 200)
			for i := range block {
				block[i] = byte(rng.Uint32())
			}
			gap := make([]byte, 1<<bits)
			for i := range gap {
				gap[i] = byte(rng.Uint32())
			}
			msgs := [][]byte{
				append(append(append([]byte{}, block...), gap...), block...),
				block,
				append(append([]byte{}, gap[:1<<bits-100]...), block...),
			}
			p := newZTestPeer(false, true, 1<<bits)
			zTestEcho(t, rc, p, msgs, false)
		})
	}
}

// D6: client_max_window_bits in the response only when the offer had it,
// never above the offered value; without it, the server asks the client
// not to keep context rather than keep 32 KiB for it.
func TestCompressD6ClientMaxWindowBits(t *testing.T) {
	tests := []struct {
		name  string
		offer string
		want  string
	}{
		{
			name:  "D6/offered without a value",
			offer: "permessage-deflate; client_max_window_bits",
			want:  "permessage-deflate; client_max_window_bits=11",
		},
		{
			name:  "D6/offered with a smaller value",
			offer: "permessage-deflate; client_max_window_bits=9",
			want:  "permessage-deflate; client_max_window_bits=9",
		},
		{
			name:  "D6/offered with a larger value",
			offer: "permessage-deflate; client_max_window_bits=15",
			want:  "permessage-deflate; client_max_window_bits=11",
		},
		{
			name:  "D6/not offered",
			offer: "permessage-deflate",
			want:  "permessage-deflate; client_no_context_takeover",
		},
	}
	url, _ := connTestServer(t, zTestUpgrader(Compression{}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, url, "Sec-WebSocket-Extensions: "+tt.offer)
			if got := rc.resp.Header.Get("Sec-WebSocket-Extensions"); zTestNormalize(got) != zTestNormalize(tt.want) {
				t.Fatalf("response %q, want %q", got, tt.want)
			}
		})
	}
}

// D7: Dial offers what it can decompress, and fails the handshake on a
// response with a parameter it did not offer, an unknown or invalid one,
// or a second extension.
func TestCompressD7ClientChecksResponse(t *testing.T) {
	tests := []struct {
		name     string
		response string // the Sec-WebSocket-Extensions of the 101
		options  Compression
		fails    bool
	}{
		{
			name:     "D7/accepted as offered",
			response: "permessage-deflate; client_max_window_bits=10",
		},
		{
			name:     "D7/declined",
			response: "",
		},
		{
			name:     "D7/server_max_window_bits within the offer",
			response: "permessage-deflate; server_max_window_bits=10",
		},
		{
			// The plain offer that follows the first allows it.
			name:     "D7/server_max_window_bits above the first offer",
			response: "permessage-deflate; server_max_window_bits=15",
		},
		{
			// The server may say so unasked (RFC 7692 §7.1.2.1).
			name:     "D7/server_max_window_bits not offered",
			response: "permessage-deflate; server_max_window_bits=10",
			options:  Compression{PeerWindowBits: 15},
		},
		{
			name:     "D7/server_max_window_bits out of range",
			response: "permessage-deflate; server_max_window_bits=7",
			fails:    true,
		},

		{
			name:     "D7/unknown parameter",
			response: "permessage-deflate; foo=bar",
			fails:    true,
		},
		{
			name:     "D7/client_max_window_bits without a value",
			response: "permessage-deflate; client_max_window_bits",
			fails:    true,
		},
		{
			name:     "D7/out of range",
			response: "permessage-deflate; client_max_window_bits=16",
			fails:    true,
		},
		{
			name:     "D7/a second extension",
			response: "permessage-deflate, permessage-deflate",
			fails:    true,
		},
		{
			name:     "D7/another extension",
			response: "x-webkit-deflate-frame",
			fails:    true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := serveRaw(t, func(accept string) string {
				h := switchingProtocols(accept)
				if tt.response != "" {
					h += "Sec-WebSocket-Extensions: " + tt.response + "\r\n"
				}
				return h
			})
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			c, err := Dial(ctx, url, &DialOptions{Compression: &tt.options})
			if tt.fails {
				if err == nil {
					c.closeTransport()
					t.Fatal("Dial accepted the response")
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.closeTransport()
			if got := c.z != nil; got != (tt.response != "") {
				t.Fatalf("compression on: %v, want %v", got, tt.response != "")
			}
		})
	}
}

// D7: what Dial offers is a permessage-deflate element that lets the
// server pick the client's window and asks for what the options want, and
// if that is anything, a plain one after it.
func TestCompressD7DialOffer(t *testing.T) {
	for _, z := range []Compression{{}, {PeerWindowBits: 10}, {NoContextTakeover: true}, {PeerWindowBits: 15}} {
		got := z.offer()
		els := parseExtensions([]string{got})
		plain := z.PeerWindowBits == 15 && !z.NoContextTakeover
		if len(els) != map[bool]int{true: 1, false: 2}[plain] || els[0].name != extensionName {
			t.Fatalf("offer %q: want %d permessage-deflate elements", got, map[bool]int{true: 1, false: 2}[plain])
		}
		if !plain {
			if last, err := parseDeflateParams(els[1].params); err != nil || len(els[1].params) != 1 || !last.clientMaxWindowBitsSet {
				t.Fatalf("offer %q: the fallback is not the plain offer", got)
			}
		}
		p, err := parseDeflateParams(els[0].params)
		if err != nil || !p.clientMaxWindowBitsSet {
			t.Fatalf("offer %q: %v, client_max_window_bits offered: %v", got, err, p.clientMaxWindowBitsSet)
		}
		if z.PeerWindowBits != 0 && z.PeerWindowBits < 15 && p.serverMaxWindowBits != z.PeerWindowBits {
			t.Fatalf("offer %q does not ask for a server window of 2^%d", got, z.PeerWindowBits)
		}
		if z.NoContextTakeover != (p.serverNoContextTakeover && p.clientNoContextTakeover) {
			t.Fatalf("offer %q does not ask for what NoContextTakeover says", got)
		}
	}
}

// ---- D8–D14: framing and data ----

// D8, D19: a long message sent through NextWriter goes out in several
// frames, RSV1 on the first only; a ping answered meanwhile is a pong with
// no RSV bit, between the frames.
func TestCompressD8RSV1OnFirstFrameOnly(t *testing.T) {
	// Random letters shrink to some six bits each: 600 KiB of them take
	// several frames.
	rng := rand.New(rand.NewPCG(8, 8))
	big := make([]byte, 600<<10)
	for i := range big {
		big[i] = 'a' + byte(rng.IntN(26))
	}
	started := make(chan struct{})
	release := make(chan struct{})
	url := startServer(t, zTestUpgrader(Compression{}), func(c *Conn) {
		go c.ReadMessage() // to answer pings
		w, err := c.NextWriter(TextMessage)
		if err != nil {
			return
		}
		w.Write(big[:len(big)/2])
		close(started)
		<-release
		w.Write(big[len(big)/2:])
		w.Close()
	})
	rc := dialRaw(t, url, zTestOffer)
	p := newZTestPeer(false, true, 1<<12)
	<-started
	rc.write(clientFrame(0x89, []byte("ping")))
	var wire []byte
	frames, pong := 0, false
	for {
		f, err := rc.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.op == 0xA {
			if f.rsv != 0 {
				t.Fatalf("D8: the pong has RSV bits %#x", f.rsv)
			}
			pong = true
			close(release)
			continue
		}
		if frames == 0 && f.rsv != 0x40 || frames > 0 && f.rsv != 0 {
			t.Fatalf("D8: frame %d has RSV bits %#x", frames, f.rsv)
		}
		frames++
		wire = append(wire, f.payload...)
		if f.fin {
			break
		}
	}
	if !pong {
		t.Fatal("D19: no pong came while the message was written")
	}
	if frames < 2 {
		t.Fatalf("the message came in %d frame", frames)
	}
	got, err := p.inflate(wire)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the message inflates to %d bytes (%v), want the %d sent", len(got), err, len(big))
	}
}

// D9: RSV1 where permessage-deflate gives it no meaning fails the
// connection: when it was not negotiated, on a continuation frame, on a
// control frame.
func TestCompressD9RSV1Misplaced(t *testing.T) {
	tests := []struct {
		name       string
		negotiated bool
		stream     []byte
	}{
		{
			name:   "D9/not negotiated",
			stream: clientFrame(0xC1, []byte{0}),
		},
		{
			name:       "D9/continuation frame",
			negotiated: true,
			stream:     append(clientFrame(0x41, []byte{0}), clientFrame(0xC0, []byte{0})...),
		},
		{
			name:       "D9/ping",
			negotiated: true,
			stream:     clientFrame(0xC9, []byte("p")),
		},
		{
			name:       "D9/close",
			negotiated: true,
			stream:     clientFrame(0xC8, closePayload(StatusNormalClosure, "")),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, errs := connTestServer(t, zTestUpgrader(Compression{}))
			var extra []string
			if tt.negotiated {
				extra = append(extra, zTestOffer)
			}
			rc := dialRaw(t, url, extra...)
			rc.write(tt.stream)
			connTestFinish(rc, StatusProtocolError)
			if code := connTestFailCode(connTestWait(t, errs, "the server's read")); code != StatusProtocolError {
				t.Fatalf("failed with %d, want 1002", code)
			}
		})
	}
}

// D10: a compressed message leaves without the tail 00 00 ff ff, and an
// empty message as a single 00 byte or uncompressed.
func TestCompressD10Tail(t *testing.T) {
	url, _ := connTestServer(t, zTestUpgrader(Compression{Threshold: -1}))
	rc := dialRaw(t, url, zTestOffer)
	p := newZTestPeer(false, true, 1<<12)
	for _, m := range append(zTestEvents(5), []byte{}) {
		rc.write(clientFrame(0x81, m))
		_, compressed, wire, got := p.readMessage(t, rc)
		if !bytes.Equal(got, m) {
			t.Fatalf("echo differs")
		}
		if compressed && bytes.HasSuffix(wire, []byte{0, 0, 0xff, 0xff}) {
			t.Fatalf("D10: a compressed message ends with the tail 00 00 ff ff")
		}
		if len(m) == 0 && compressed && !bytes.Equal(wire, []byte{0}) {
			t.Fatalf("D10: the empty message was sent as %x", wire)
		}
	}
}

// D11, F1: compressed messages split into many frames, and frames split at
// every byte on the wire, or many in one write, inflate the same.
func TestCompressD11SplitAnywhere(t *testing.T) {
	msgs := zTestEvents(6)
	url, _ := connTestServer(t, zTestUpgrader(Compression{}))
	rc := dialRaw(t, url, zTestOffer)
	p := newZTestPeer(true, true, 1<<12)
	var stream []byte
	for i, m := range msgs {
		comp := p.compress(m)
		// Fragments of 1 to 7 bytes, the first with RSV1.
		for off, k := 0, 0; off < len(comp) || off == 0; k++ {
			n := min(len(comp)-off, 1+(i+k)%7)
			b0 := byte(0x00)
			if off == 0 {
				b0 = 0x41
			}
			if off+n == len(comp) {
				b0 |= 0x80
			}
			stream = append(stream, clientFrame(b0, comp[off:off+n])...)
			off += n
			if off == len(comp) {
				break
			}
		}
	}
	// The first half byte by byte, the rest in one write.
	half := len(stream) / 2
	for i := 0; i < half; i++ {
		rc.write(stream[i : i+1])
	}
	rc.write(stream[half:])
	for _, m := range msgs {
		if _, _, _, got := p.readMessage(t, rc); !bytes.Equal(got, m) {
			t.Fatalf("D11: echo %.60q, want %.60q", got, m)
		}
	}
}

// D12: under context takeover, messages that went uncompressed, because
// they were short or would have grown, stay out of the windows on both
// sides: the peer inflates what follows with a window without them.
func TestCompressD12UncompressedMessagesOutOfWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	random := make([]byte, 600)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	ev := zTestEvents(4)
	msgs := [][]byte{ev[0], []byte("short"), ev[1], random, ev[2], ev[0], []byte("x"), ev[3]}
	url, _ := connTestServer(t, zTestUpgrader(Compression{}))
	rc := dialRaw(t, url, zTestOffer)
	p := newZTestPeer(true, true, 1<<12)
	for i, m := range msgs {
		rc.write(clientFrame(0xC2, p.compress(m)))
		_, compressed, _, got := p.readMessage(t, rc)
		if !bytes.Equal(got, m) {
			t.Fatalf("message %d: echo differs", i)
		}
		wantCompressed := len(m) >= DefaultCompressionThreshold && !bytes.Equal(m, random)
		if compressed != wantCompressed {
			t.Fatalf("message %d (%d bytes): compressed %v, want %v", i, len(m), compressed, wantCompressed)
		}
	}
}

// D13: what is not valid DEFLATE fails the connection with 1007: garbage,
// a message cut short, a block type 3, and a reference further back than
// the history.
func TestCompressD13InvalidData(t *testing.T) {
	p := newZTestPeer(false, false, 1<<12)
	good := p.compress(zTestEvents(1)[0])
	tests := []struct {
		name string
		comp []byte
	}{
		{
			name: "D13/garbage",
			comp: []byte("this is not deflate at all"),
		},
		{
			name: "D13/cut short",
			comp: good[:len(good)/2],
		},
		{
			name: "D13/block type 3",
			comp: []byte{0x07, 0x00},
		},
		{
			// A fixed block whose first symbol is a match 1 byte back,
			// with nothing before it.
			name: "D13/reference before the history",
			comp: zTestFixedMatchFirst(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, errs := connTestServer(t, zTestUpgrader(Compression{}))
			rc := dialRaw(t, url, zTestOffer)
			rc.write(clientFrame(0xC2, tt.comp))
			connTestFinish(rc, StatusInvalidFramePayloadData)
			if code := connTestFailCode(connTestWait(t, errs, "the server's read")); code != StatusInvalidFramePayloadData {
				t.Fatalf("failed with %d, want 1007", code)
			}
		})
	}
}

// zTestFixedMatchFirst returns a fixed-Huffman block that starts with a
// match of length 3 at distance 1, then ends.
func zTestFixedMatchFirst() []byte {
	var acc uint64
	var n uint
	put := func(v uint64, bits uint) { acc |= v << n; n += bits }
	rev := func(c uint64, bits uint) uint64 {
		var r uint64
		for i := uint(0); i < bits; i++ {
			r = r<<1 | c>>i&1
		}
		return r
	}
	put(0b010, 3)             // BFINAL 0, fixed Huffman
	put(rev(0b0000001, 7), 7) // symbol 257: length 3
	put(rev(0b00000, 5), 5)   // distance code 0: 1 back
	put(rev(0b0000000, 7), 7) // end of block
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, acc)
	return b[:(n+7)/8]
}

// D14, M3: a compressed text message is checked as UTF-8 once inflated,
// and fails with 1007 at an invalid byte; valid text split anywhere by the
// compression passes.
func TestCompressD14TextUTF8(t *testing.T) {
	valid := []byte(strings.Repeat("größer café 日本語 😀 ", 300))
	invalid := append(append([]byte{}, valid[:1000]...), 0xff)
	for _, tt := range []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{name: "D14/valid", msg: valid, ok: true},
		{name: "D14/invalid", msg: invalid},
		{name: "D14/ends inside a code point", msg: valid[:len(valid)-2]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url, errs := connTestServer(t, zTestUpgrader(Compression{}))
			rc := dialRaw(t, url, zTestOffer)
			p := newZTestPeer(false, true, 1<<12)
			rc.write(clientFrame(0xC1, p.compress(tt.msg)))
			if tt.ok {
				if _, _, _, got := p.readMessage(t, rc); !bytes.Equal(got, tt.msg) {
					t.Fatal("echo differs")
				}
				return
			}
			connTestFinish(rc, StatusInvalidFramePayloadData)
			if code := connTestFailCode(connTestWait(t, errs, "the server's read")); code != StatusInvalidFramePayloadData {
				t.Fatalf("failed with %d, want 1007", code)
			}
		})
	}
}

// ---- D15–D19: limits and memory ----

// D15: the read limit counts inflated bytes, as they come out: a message
// of a few KiB that inflates to 64 MiB fails with 1009 once it passes the
// limit, having inflated no more than one byte beyond it, on every read
// path.
func TestCompressD15ZipBomb(t *testing.T) {
	const limit = 1 << 20
	bomb := newZTestPeer(false, false, 1<<15).compress(make([]byte, 64<<20))
	for _, path := range []string{"ReadMessage", "NextReader"} {
		t.Run("D15/"+path, func(t *testing.T) {
			ended := make(chan error, 1)
			inflated := make(chan int64, 1)
			u := &Upgrader{Compression: &Compression{}, ReadLimit: limit, CloseTimeout: time.Second}
			url := startServer(t, u, func(c *Conn) {
				var err error
				if path == "ReadMessage" {
					_, _, err = c.ReadMessage()
				} else {
					var r io.Reader
					if _, r, err = c.NextReader(); err == nil {
						_, err = io.Copy(io.Discard, r)
					}
				}
				inflated <- c.z.inflated
				ended <- err
			})
			rc := dialRaw(t, url, zTestOffer)
			rc.write(clientFrame(0xC2, bomb))
			connTestFinish(rc, StatusMessageTooBig)
			if n := connTestWait(t, inflated, "the server's read"); n > limit+1 {
				t.Errorf("inflated %d bytes for a limit of %d", n, limit)
			}
			if err := connTestWait(t, ended, "the server's read"); !errors.Is(err, ErrReadLimit) {
				t.Fatalf("read returned %v, want ErrReadLimit", err)
			}
		})
	}
}

// D16: an idle connection that compresses keeps its windows and nothing
// else for compression: no compressor, no inflater, no buffer; without
// context takeover, not even the windows. The bound is the Conn's own
// (see TestConnIdleMemory), the compression state, and the windows as far
// as the traffic filled them.
func TestCompressD16IdleMemory(t *testing.T) {
	for _, noCT := range []bool{false, true} {
		t.Run(fmt.Sprintf("D16/no context takeover %v", noCT), func(t *testing.T) {
			conns := make(chan *Conn, 1)
			// The peer compresses with compress/flate, whose window is
			// always 32 KiB.
			u := zTestUpgrader(Compression{NoContextTakeover: noCT, PeerWindowBits: 15})
			url := startServer(t, u, func(c *Conn) {
				for i := 0; i < 20; i++ {
					mt, p, err := c.ReadMessage()
					if err != nil {
						return
					}
					c.WriteMessage(mt, p)
				}
				conns <- c
				c.ReadMessage()
			})
			rc := dialRaw(t, url, zTestOffer)
			p := newZTestPeer(!noCT, !noCT, 1<<12)
			zTestEcho(t, rc, p, zTestEvents(20), true)
			c := connTestWait(t, conns, "the server's connection")
			// The handler's goroutine reads, so the fields are read here
			// only after it has nothing more to do with them.
			if c.z.inf != nil || c.z.enc != nil || c.z.out != nil {
				t.Fatal("an idle connection holds an inflater or a compressor")
			}
			if got := c.z.send.Cap(); !noCT && got > 1<<12 {
				t.Fatalf("the sending window holds %d bytes, more than 2^12", got)
			}
			if got := c.z.recv.Cap(); !noCT && got > 1<<15 {
				t.Fatalf("the receiving window holds %d bytes, more than 2^15", got)
			}
			if noCT && c.z.send.Cap()+c.z.recv.Cap() != 0 {
				t.Fatal("without context takeover, a window is kept")
			}
		})
	}
}

// D17: messages shorter than the threshold go uncompressed; from the
// threshold on, compressed.
func TestCompressD17Threshold(t *testing.T) {
	url, _ := connTestServer(t, zTestUpgrader(Compression{Threshold: 100}))
	rc := dialRaw(t, url, zTestOffer)
	p := newZTestPeer(false, true, 1<<12)
	for _, n := range []int{0, 1, 99, 100, 101, 5000} {
		m := bytes.Repeat([]byte("ab"), n/2+1)[:n]
		rc.write(clientFrame(0x82, m))
		_, compressed, _, got := p.readMessage(t, rc)
		if !bytes.Equal(got, m) {
			t.Fatalf("%d bytes: echo differs", n)
		}
		if compressed != (n >= 100) {
			t.Fatalf("D17: %d bytes went compressed: %v", n, compressed)
		}
	}
}

// D18: a prepared message is compressed once for every connection that
// compresses alike, and sent compressed or not as each negotiated; a
// connection that keeps context adds it to its window.
func TestCompressD18PreparedOnce(t *testing.T) {
	ev := zTestEvents(3)
	m, err := NewPreparedMessage(TextMessage, ev[0])
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan *Conn, 4)
	url := startServer(t, zTestUpgrader(Compression{}), func(c *Conn) {
		conns <- c
		c.ReadMessage()
	})
	const offer = "permessage-deflate; client_max_window_bits"
	offers := []string{offer, offer + "; server_no_context_takeover", ""}
	var wires [][]byte
	for i, offer := range offers {
		var extra []string
		if offer != "" {
			extra = append(extra, "Sec-WebSocket-Extensions: "+offer)
		}
		rc := dialRaw(t, url, extra...)
		c := connTestWait(t, conns, "the connection")
		if err := c.WritePreparedMessage(m); err != nil {
			t.Fatal(err)
		}
		// Then a message of its own, which may refer back to the prepared
		// one under context takeover.
		if err := c.WriteMessage(TextMessage, ev[0]); err != nil {
			t.Fatal(err)
		}
		p := newZTestPeer(false, !strings.Contains(offer, "server_no"), 1<<12)
		_, compressed, wire, got := p.readMessage(t, rc)
		if !bytes.Equal(got, ev[0]) || compressed != (offer != "") {
			t.Fatalf("connection %d: the prepared message came compressed %v, or differs", i, compressed)
		}
		if _, _, _, got := p.readMessage(t, rc); !bytes.Equal(got, ev[0]) {
			t.Fatalf("connection %d: the message after the prepared one differs", i)
		}
		wires = append(wires, wire)
	}
	if !bytes.Equal(wires[0], wires[1]) {
		t.Fatal("D18: the two compressing connections got different bytes")
	}
	if n := len(m.deflated); n != 1 {
		t.Fatalf("D18: the message was compressed %d times", n)
	}
}

// D16, D12: compressing and decompressing allocate nothing per message in
// steady state, whichever way the message is read or written.
func TestCompressAllocs(t *testing.T) {
	if connTestRaceEnabled() {
		t.Skip("allocation counts are not exact under the race detector")
	}
	ev := zTestEvents(50)
	server, client := pipeConns(t, config{})
	zs := Compression{}
	server.z = newDeflateConn(&zs, 12, true, 12, true)
	client.z = newDeflateConn(&zs, 12, true, 12, true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			mt, r, err := client.NextReader()
			if err != nil {
				return
			}
			w, _ := client.NextWriter(mt)
			io.Copy(w, r)
			if w.Close() != nil {
				return
			}
		}
	}()
	buf := make([]byte, 4096)
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		m := ev[i%len(ev)]
		i++
		if err := server.WriteMessage(TextMessage, m); err != nil {
			t.Fatal(err)
		}
		_, r, err := server.NextReader()
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.ReadFull(r, buf[:len(m)])
		if !bytes.Equal(buf[:n], m) {
			t.Fatal("echo differs")
		}
		io.Copy(io.Discard, r)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per compressed message and its echo", allocs)
	}
	server.closeTransport()
	<-done
	runtime.KeepAlive(client)
}

// The client role end to end: Dial with compression against the server,
// in every mode, both sides this library. Extensions reports what was
// agreed, and nothing when compression was not offered.
func TestCompressDialRoundTrip(t *testing.T) {
	plain := connTestDial(t, startServer(t, zTestUpgrader(Compression{}), echoStreams), nil)
	if got := plain.Extensions(); got != "" {
		t.Fatalf("Extensions() = %q without an offer", got)
	}
	modes := []Compression{{}, {NoContextTakeover: true}, {WindowBits: 9, PeerWindowBits: 10, Level: CompressionFastest}, {WindowBits: 15, PeerWindowBits: 15, Level: CompressionBetter}}
	for _, server := range modes {
		for _, client := range modes {
			t.Run(fmt.Sprintf("server %+v/client %+v", server, client), func(t *testing.T) {
				url := startServer(t, zTestUpgrader(server), echoStreams)
				c := connTestDial(t, url, &DialOptions{Compression: &client})
				if !strings.HasPrefix(c.Extensions(), "permessage-deflate") {
					t.Fatalf("Extensions() = %q after compression was negotiated", c.Extensions())
				}
				msgs := append(zTestEvents(30), bytes.Repeat([]byte("x"), 300<<10))
				for _, m := range msgs {
					if err := c.WriteMessage(TextMessage, m); err != nil {
						t.Fatal(err)
					}
					_, got, err := c.ReadMessage()
					if err != nil || !bytes.Equal(got, m) {
						t.Fatalf("echo of %d bytes: %v", len(m), err)
					}
				}
			})
		}
	}
}
