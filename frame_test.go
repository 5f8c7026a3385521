package websocket

// Tests of the frame layer (RFC 6455 §5): the header codec of frame.go, the
// masking of mask.go, and the framing rules as a server applies them on a
// real connection (checklist rows F1–F12). The raw client of
// helpers_test.go writes frames by hand and decodes the frames coming back
// byte by byte, independently of parseHeader, keeping their encoding (mask
// bit, length form) so that it can be checked.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"
	"unicode/utf8"
)

// frameKey is the masking key of the hand-written headers below.
var frameKey = [4]byte{0x11, 0x22, 0x33, 0x44}

// frameWithKey appends frameKey to a hand-written header prefix.
func frameWithKey(prefix ...byte) []byte {
	return append(prefix, frameKey[:]...)
}

// frameWantFailure checks that err is a failure of the connection with the
// given close code.
func frameWantFailure(t *testing.T, err error, want StatusCode) {
	t.Helper()
	var f *failure
	if !errors.As(err, &f) {
		t.Fatalf("error %v (%T), want a failure with close %d", err, err, want)
	}
	if f.code != want {
		t.Fatalf("failure with close %d (%v), want %d", f.code, err, want)
	}
}

// ---- parseHeader ----

func TestParseHeaderLengthForms(t *testing.T) {
	// F2: 7-bit lengths, 126 + 16-bit, 127 + 64-bit, in network byte order.
	tests := []struct {
		name  string
		input []byte
		want  header
		n     int
	}{
		{
			name:  "F2/len0",
			input: []byte{0x81, 0x00},
			want:  header{fin: true, op: opText, length: 0},
			n:     2,
		},
		{
			name:  "F2/len0-masked",
			input: frameWithKey(0x81, 0x80),
			want:  header{fin: true, op: opText, masked: true, key: frameKey, length: 0},
			n:     6,
		},
		{
			name:  "F2/len125",
			input: []byte{0x82, 0x7D},
			want:  header{fin: true, op: opBinary, length: 125},
			n:     2,
		},
		{
			name:  "F2/len125-masked",
			input: frameWithKey(0x82, 0xFD),
			want:  header{fin: true, op: opBinary, masked: true, key: frameKey, length: 125},
			n:     6,
		},
		{
			name:  "F2/len126",
			input: []byte{0x82, 0x7E, 0x00, 0x7E},
			want:  header{fin: true, op: opBinary, length: 126},
			n:     4,
		},
		{
			name:  "F2/len126-masked",
			input: frameWithKey(0x82, 0xFE, 0x00, 0x7E),
			want:  header{fin: true, op: opBinary, masked: true, key: frameKey, length: 126},
			n:     8,
		},
		{
			name:  "F2/len65535",
			input: []byte{0x02, 0x7E, 0xFF, 0xFF},
			want:  header{fin: false, op: opBinary, length: 65535},
			n:     4,
		},
		{
			name:  "F2/len65535-masked",
			input: frameWithKey(0x02, 0xFE, 0xFF, 0xFF),
			want:  header{fin: false, op: opBinary, masked: true, key: frameKey, length: 65535},
			n:     8,
		},
		{
			name:  "F2/len65536",
			input: []byte{0x80, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0},
			want:  header{fin: true, op: opContinuation, length: 65536},
			n:     10,
		},
		{
			name:  "F2/len65536-masked",
			input: frameWithKey(0x80, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0),
			want:  header{fin: true, op: opContinuation, masked: true, key: frameKey, length: 65536},
			n:     14,
		},
		{
			name:  "F2/len2^32",
			input: []byte{0x01, 0x7F, 0, 0, 0, 1, 0, 0, 0, 0},
			want:  header{fin: false, op: opText, length: 1 << 32},
			n:     10,
		},
		{
			name:  "F2/len2^32-masked",
			input: frameWithKey(0x01, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0),
			want:  header{fin: false, op: opText, masked: true, key: frameKey, length: 1 << 32},
			n:     14,
		},
		{
			name:  "F2/len-max-int63",
			input: []byte{0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
			want:  header{fin: true, op: opBinary, length: math.MaxInt64},
			n:     10,
		},
		{
			name:  "rsv-bits-kept",
			input: []byte{0xF9, 0x03},
			want:  header{fin: true, rsv: 0x70, op: opPing, length: 3},
			n:     2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Payload bytes behind the header must not be taken for it.
			input := append(append([]byte(nil), tt.input...), "payload"...)
			h, n, err := parseHeader(input)
			if err != nil {
				t.Fatalf("parseHeader: %v", err)
			}
			if n != tt.n {
				t.Errorf("n = %d, want %d", n, tt.n)
			}
			if h != tt.want {
				t.Errorf("header = %+v, want %+v", h, tt.want)
			}

			// F1: every strict prefix of the header is "not yet".
			for i := 0; i < tt.n; i++ {
				_, n, err := parseHeader(tt.input[:i])
				if n != 0 || err != nil {
					t.Errorf("F1: first %d of %d bytes: n = %d, err = %v; want 0, nil", i, tt.n, n, err)
				}
			}
		})
	}
}

func TestParseHeaderLengthMSBSet(t *testing.T) {
	// F2: a 64-bit length must have its most significant bit clear.
	tests := []struct {
		name  string
		input []byte
	}{
		{
			name:  "F2/msb-only",
			input: []byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0},
		},
		{
			name:  "F2/all-ones",
			input: []byte{0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
		},
		{
			name:  "F2/msb-masked",
			input: frameWithKey(0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, n, err := parseHeader(tt.input)
			if n != 0 {
				t.Errorf("n = %d, want 0 with an error", n)
			}
			frameWantFailure(t, err, StatusProtocolError)

			// Before the length is complete nothing is known yet (F1).
			for i := 0; i < 10; i++ {
				_, n, err := parseHeader(tt.input[:i])
				if n != 0 || err != nil {
					t.Errorf("F1: first %d bytes: n = %d, err = %v; want 0, nil", i, n, err)
				}
			}
		})
	}
}

func TestHeaderCheck(t *testing.T) {
	type checkCase struct {
		name       string
		h          header
		fromClient bool
		wantErr    bool
	}
	tests := []checkCase{
		{
			name:       "client-text-masked",
			h:          header{fin: true, op: opText, masked: true, length: 10},
			fromClient: true,
			wantErr:    false,
		},
		{
			name:       "server-binary-unmasked",
			h:          header{fin: true, op: opBinary, length: 1 << 20},
			fromClient: false,
			wantErr:    false,
		},
		{
			name:       "client-continuation-not-fin",
			h:          header{fin: false, op: opContinuation, masked: true, length: 70000},
			fromClient: true,
			wantErr:    false,
		},
		{
			name:       "F8/ping-125",
			h:          header{fin: true, op: opPing, masked: true, length: 125},
			fromClient: true,
			wantErr:    false,
		},
		{
			name:       "F6/rsv1",
			h:          header{fin: true, rsv: 0x40, op: opText, masked: true, length: 1},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F6/rsv2",
			h:          header{fin: true, rsv: 0x20, op: opText, masked: true, length: 1},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F6/rsv3",
			h:          header{fin: true, rsv: 0x10, op: opText, masked: true, length: 1},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F6/rsv3-from-server",
			h:          header{fin: true, rsv: 0x10, op: opBinary, length: 1},
			fromClient: false,
			wantErr:    true,
		},
		{
			name:       "F8/ping-126",
			h:          header{fin: true, op: opPing, masked: true, length: 126},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F8/pong-126",
			h:          header{fin: true, op: opPong, masked: true, length: 126},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F8/close-126",
			h:          header{fin: true, op: opClose, masked: true, length: 126},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F8/ping-fin-clear",
			h:          header{fin: false, op: opPing, masked: true, length: 1},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F8/pong-fin-clear",
			h:          header{fin: false, op: opPong, masked: true, length: 0},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F8/close-fin-clear",
			h:          header{fin: false, op: opClose, masked: true, length: 2},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F4/unmasked-from-client",
			h:          header{fin: true, op: opText, length: 1},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F4/unmasked-ping-from-client",
			h:          header{fin: true, op: opPing, length: 0},
			fromClient: true,
			wantErr:    true,
		},
		{
			name:       "F4/masked-from-server",
			h:          header{fin: true, op: opText, masked: true, length: 1},
			fromClient: false,
			wantErr:    true,
		},
	}
	// F7: every reserved opcode, from either side.
	for op := opcode(0x3); op <= 0xF; op++ {
		if op >= 0x8 && op <= 0xA {
			continue
		}
		tests = append(tests, checkCase{
			name:       fmt.Sprintf("F7/op-%#x", byte(op)),
			h:          header{fin: true, op: op, masked: true, length: 0},
			fromClient: true,
			wantErr:    true,
		}, checkCase{
			name:       fmt.Sprintf("F7/op-%#x-from-server", byte(op)),
			h:          header{fin: true, op: op, length: 0},
			fromClient: false,
			wantErr:    true,
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.h
			err := h.check(tt.fromClient, false)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("check: %v, want nil", err)
				}
				return
			}
			frameWantFailure(t, err, StatusProtocolError)
		})
	}
}

// ---- appendHeader ----

func TestAppendHeader(t *testing.T) {
	// F5: the length in its shortest form, and no mask bit without a key.
	key := [4]byte{0xA1, 0xB2, 0xC3, 0xD4}
	tests := []struct {
		name   string
		fin    bool
		op     opcode
		length int
		key    *[4]byte
		want   []byte
	}{
		{
			name:   "F5/len0",
			fin:    true,
			op:     opText,
			length: 0,
			key:    nil,
			want:   []byte{0x81, 0x00},
		},
		{
			name:   "F5/len125",
			fin:    true,
			op:     opBinary,
			length: 125,
			key:    nil,
			want:   []byte{0x82, 0x7D},
		},
		{
			name:   "F5/len126",
			fin:    true,
			op:     opBinary,
			length: 126,
			key:    nil,
			want:   []byte{0x82, 0x7E, 0x00, 0x7E},
		},
		{
			name:   "F5/len65535",
			fin:    false,
			op:     opText,
			length: 65535,
			key:    nil,
			want:   []byte{0x01, 0x7E, 0xFF, 0xFF},
		},
		{
			name:   "F5/len65536",
			fin:    false,
			op:     opContinuation,
			length: 65536,
			key:    nil,
			want:   []byte{0x00, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0},
		},
		{
			name:   "F5/len-maxint32",
			fin:    true,
			op:     opBinary,
			length: math.MaxInt32,
			key:    nil,
			want:   []byte{0x82, 0x7F, 0, 0, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF},
		},
		{
			name:   "close-empty",
			fin:    true,
			op:     opClose,
			length: 0,
			key:    nil,
			want:   []byte{0x88, 0x00},
		},
		{
			name:   "masked-len125",
			fin:    true,
			op:     opPing,
			length: 125,
			key:    &key,
			want:   []byte{0x89, 0xFD, 0xA1, 0xB2, 0xC3, 0xD4},
		},
		{
			name:   "masked-len126",
			fin:    true,
			op:     opText,
			length: 126,
			key:    &key,
			want:   []byte{0x81, 0xFE, 0x00, 0x7E, 0xA1, 0xB2, 0xC3, 0xD4},
		},
		{
			name:   "masked-len65536",
			fin:    true,
			op:     opBinary,
			length: 65536,
			key:    &key,
			want:   []byte{0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0xA1, 0xB2, 0xC3, 0xD4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("xy")
			got := appendHeader(prefix, tt.fin, tt.op, tt.length, tt.key)
			if !bytes.Equal(got[:2], []byte("xy")) {
				t.Fatalf("appendHeader overwrote the bytes before it: % x", got)
			}
			if !bytes.Equal(got[2:], tt.want) {
				t.Errorf("appendHeader = % x, want % x", got[2:], tt.want)
			}
		})
	}
}

func TestAppendHeaderRoundTrip(t *testing.T) {
	key := [4]byte{0x00, 0xFF, 0x80, 0x7F}
	ops := []opcode{opContinuation, opText, opBinary, opClose, opPing, opPong}
	lengths := []int{0, 1, 125, 126, 127, 65535, 65536, 1 << 20, math.MaxInt32}
	for _, op := range ops {
		for _, length := range lengths {
			for _, fin := range []bool{true, false} {
				for _, k := range []*[4]byte{nil, &key} {
					b := appendHeader(nil, fin, op, length, k)
					h, n, err := parseHeader(b)
					if err != nil || n != len(b) {
						t.Fatalf("parseHeader(% x) = n %d, err %v; want %d, nil", b, n, err, len(b))
					}
					want := header{fin: fin, op: op, length: int64(length), masked: k != nil}
					if k != nil {
						want.key = *k
					}
					if h != want {
						t.Errorf("round trip of % x: %+v, want %+v", b, h, want)
					}
				}
			}
		}
	}
}

// ---- mask ----

// frameMaskNaive is the definition of §5.3: byte i of the payload is XORed
// with key byte (pos+i) mod 4.
func frameMaskNaive(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
}

// frameTestPayload returns n bytes that are not a repeating pattern of a
// short period, so that a wrong key offset shows.
func frameTestPayload(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestMask(t *testing.T) {
	// F12: XOR with the key, the key index continuing from pos.
	frameTestMaskReference(t)
}

// frameTestMaskReference checks mask against a byte-at-a-time reference
// for every length up to 300 (past each step of the vector code's loops),
// some long ones, each key position, and starts at every alignment.
func frameTestMaskReference(t *testing.T) {
	key := [4]byte{0x01, 0x80, 0xFE, 0x5A}
	var sizes []int
	for n := 0; n <= 300; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 1000, 4093, 4096, 65536+5, 1<<20+3)
	for _, n := range sizes {
		for _, offset := range []int{0, 1, 7} {
			src := frameTestPayload(n + offset)[offset:]
			for pos := 0; pos < 4; pos++ {
				want := append([]byte(nil), src...)
				frameMaskNaive(key, pos, want)
				got := append(make([]byte, offset), src...)[offset:]
				next := mask(key, pos, got)
				if !bytes.Equal(got, want) {
					t.Fatalf("F12: mask of %d bytes at alignment %d from key position %d differs from the byte-at-a-time reference", n, offset, pos)
				}
				if wantNext := (pos + n) % 4; next != wantNext {
					t.Fatalf("F12: mask of %d bytes from %d returned position %d, want %d", n, pos, next, wantNext)
				}
				// Masking twice gives the payload back (§5.3).
				mask(key, pos, got)
				if !bytes.Equal(got, src) {
					t.Fatalf("F12: masking %d bytes twice from %d did not restore them", n, pos)
				}
			}
		}
	}
}

func TestMaskInPieces(t *testing.T) {
	// F12: a payload masked in two pieces, the second starting at the key
	// position the first returned, equals the payload masked whole.
	key := [4]byte{0xDE, 0xAD, 0xBE, 0xEF}
	for n := 0; n <= 100; n++ {
		src := frameTestPayload(n)
		for pos := 0; pos < 4; pos++ {
			whole := append([]byte(nil), src...)
			mask(key, pos, whole)
			for split := 0; split <= n; split++ {
				got := append([]byte(nil), src...)
				mid := mask(key, pos, got[:split])
				end := mask(key, mid, got[split:])
				if !bytes.Equal(got, whole) {
					t.Fatalf("F12: %d bytes from %d split at %d differ from masking whole", n, pos, split)
				}
				if end != (pos+n)%4 {
					t.Fatalf("F12: %d bytes from %d split at %d ended at position %d, want %d", n, pos, split, end, (pos+n)%4)
				}
			}
		}
	}

	// A large payload cut into pieces of odd sizes, as reads deliver it.
	src := frameTestPayload(300 << 10)
	whole := append([]byte(nil), src...)
	mask(key, 0, whole)
	got := append([]byte(nil), src...)
	pos := 0
	for i, rest := 0, got; len(rest) > 0; i++ {
		n := min(len(rest), []int{1, 3, 7, 4093, 2, 33, 65537}[i%7])
		pos = mask(key, pos, rest[:n])
		rest = rest[n:]
	}
	if !bytes.Equal(got, whole) {
		t.Fatal("F12: 300 KiB masked in odd pieces differ from masking whole")
	}
}

// ---- Frames on a connection ----

// frameEchoes are the two ways a handler reads and writes messages, for
// tests that run against both.
var frameEchoes = []struct {
	name    string
	handler func(*Conn)
}{
	{
		name:    "ReadMessage",
		handler: echoMessages,
	},
	{
		name:    "NextReader",
		handler: echoStreams,
	},
}

// frameUpgrader keeps the close handshake after a failure short.
func frameUpgrader() *Upgrader {
	return &Upgrader{CloseTimeout: time.Second}
}

// frameCheckServerFrame checks F5 on a frame the server sent: no mask, the
// shortest length form, no RSV bits.
func frameCheckServerFrame(t testing.TB, f rawFrame) {
	t.Helper()
	if f.masked {
		t.Errorf("F5: the server sent a masked frame (opcode %#x, %d bytes)", f.op, f.length)
	}
	want := 0
	switch {
	case f.length > 65535:
		want = 8
	case f.length > 125:
		want = 2
	}
	if f.lenBytes != want {
		t.Errorf("F5: a %d-byte payload was sent with a %d-byte extended length, want %d", f.length, f.lenBytes, want)
	}
	if f.rsv != 0 {
		t.Errorf("F6: the server sent RSV bits %#x", f.rsv)
	}
}

// frameReadMessage reads one data message from the server, checking every
// frame of it with frameCheckServerFrame.
func frameReadMessage(t testing.TB, rc *rawClient) (op byte, payload []byte) {
	t.Helper()
	for first := true; ; first = false {
		f, err := rc.readFrame()
		if err != nil {
			t.Fatalf("reading a message from the server: %v", err)
		}
		frameCheckServerFrame(t, f)
		switch {
		case first && (f.op == 0x1 || f.op == 0x2):
			op = f.op
		case !first && f.op == 0x0:
		default:
			t.Fatalf("unexpected frame with opcode %#x (first frame of the message: %v)", f.op, first)
		}
		payload = append(payload, f.payload...)
		if f.fin {
			return op, payload
		}
	}
}

// frameFailAndClose sends stream, checks that the server fails the
// connection with want, answers the close and checks that the server
// then closes TCP.
func frameFailAndClose(t *testing.T, wsURL string, stream []byte, want StatusCode) {
	t.Helper()
	rc := dialRaw(t, wsURL)
	rc.write(stream)
	rc.expectClose(want)
	// The server may have closed TCP already; then this write fails, which
	// is fine.
	rc.conn.Write(clientFrame(0x88, closePayload(want, "")))
	rc.expectEOF()
}

func TestF1ManyFramesInOneWrite(t *testing.T) {
	// F1: many frames in one read. The stream is several times the
	// server's read buffer, and the frames have sizes that vary, so that
	// headers also straddle the end of a full buffer.
	rc := dialRaw(t, startServer(t, frameUpgrader(), echoMessages))
	const count = 1000
	message := func(i int) string {
		return fmt.Sprintf("message %d %s", i, bytes.Repeat([]byte("."), i%37))
	}
	var stream []byte
	for i := 0; i < count; i++ {
		stream = append(stream, clientFrame(0x81, []byte(message(i)))...)
	}
	rc.write(stream)
	for i := 0; i < count; i++ {
		op, p := frameReadMessage(t, rc)
		if want := message(i); op != 0x1 || string(p) != want {
			t.Fatalf("echo %d: opcode %#x %q, want text %q", i, op, p, want)
		}
	}
}

func TestF1OneBytePerWrite(t *testing.T) {
	// F1: a header and payload split at every byte (TCP may join some
	// writes again; most arrive alone on loopback).
	rc := dialRaw(t, startServer(t, frameUpgrader(), echoMessages))
	tests := []struct {
		name    string
		b0      byte
		payload []byte
	}{
		{
			name:    "7-bit-length",
			b0:      0x81,
			payload: []byte("split at every byte"),
		},
		{
			name:    "16-bit-length",
			b0:      0x82,
			payload: frameTestPayload(300),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range clientFrame(tt.b0, tt.payload) {
				rc.write([]byte{c})
			}
			op, p := frameReadMessage(t, rc)
			if op != tt.b0&0x0F || !bytes.Equal(p, tt.payload) {
				t.Fatalf("echo: opcode %#x, %d bytes, want %#x, %d bytes equal to those sent", op, len(p), tt.b0&0x0F, len(tt.payload))
			}
		})
	}
}

func TestF1PipeSplitAtEveryByte(t *testing.T) {
	// F1: a stream of two frames written in two pieces, split at every
	// byte offset, over net.Pipe, where each write reaches the reader as
	// it was written. Split 0 writes nothing first, which the server reads
	// as an empty read (0, nil) that io.Reader permits.
	first := []byte("a text message longer than 125 bytes, so that its length takes the 16-bit form: " +
		"0123456789 0123456789 0123456789 0123456789 0123456789")
	second := []byte{0x00, 0xFF, 0x10, 0x7F}
	stream := append(clientFrame(0x81, first), clientFrame(0x82, second)...)
	type result struct {
		mt  MessageType
		p   []byte
		err error
	}
	for split := 0; split < len(stream); split++ {
		server, client := pipeConns(t, config{closeTimeout: time.Second})
		results := make(chan result, 2)
		go func() {
			for i := 0; i < 2; i++ {
				mt, p, err := server.ReadMessage()
				results <- result{mt, p, err}
				if err != nil {
					return
				}
			}
		}()
		raw := client.t
		raw.SetWriteDeadline(time.Now().Add(testTimeout))
		if _, err := raw.Write(stream[:split]); err != nil {
			t.Fatalf("split %d: writing the first piece: %v", split, err)
		}
		if _, err := raw.Write(stream[split:]); err != nil {
			t.Fatalf("split %d: writing the second piece: %v", split, err)
		}
		for i, want := range []result{{TextMessage, first, nil}, {BinaryMessage, second, nil}} {
			var got result
			select {
			case got = <-results:
			case <-time.After(testTimeout):
				t.Fatalf("split %d: message %d never came", split, i)
			}
			if got.err != nil || got.mt != want.mt || !bytes.Equal(got.p, want.p) {
				t.Fatalf("split %d: message %d: %v %q %v, want %v %q", split, i, got.mt, got.p, got.err, want.mt, want.p)
			}
		}
	}
}

func TestF2LengthForms(t *testing.T) {
	// F2: the 7-, 16- and 64-bit length forms are read; the echoes use
	// the shortest form and no mask (F5).
	wsURL := startServer(t, frameUpgrader(), echoMessages)
	tests := []struct {
		name     string
		size     int
		lenBytes int
	}{
		{
			name:     "F2/7-bit-125",
			size:     125,
			lenBytes: 0,
		},
		{
			name:     "F2/16-bit-126",
			size:     126,
			lenBytes: 2,
		},
		{
			name:     "F2/16-bit-65535",
			size:     65535,
			lenBytes: 2,
		},
		{
			name:     "F2/64-bit-65536",
			size:     65536,
			lenBytes: 8,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, wsURL)
			payload := frameTestPayload(tt.size)
			frame := clientFrame(0x82, payload)
			if got := frame[1] & 0x7F; (tt.lenBytes == 0 && got > 125) || (tt.lenBytes == 2 && got != 126) || (tt.lenBytes == 8 && got != 127) {
				t.Fatalf("the test's frame does not use the %d-byte length form", tt.lenBytes)
			}
			rc.write(frame)
			f, err := rc.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			frameCheckServerFrame(t, f)
			if f.op != 0x2 || !f.fin || f.lenBytes != tt.lenBytes || !bytes.Equal(f.payload, payload) {
				t.Fatalf("echo: opcode %#x fin %v, %d-byte length form, %d bytes; want one binary frame, %d-byte form, the %d bytes sent",
					f.op, f.fin, f.lenBytes, len(f.payload), tt.lenBytes, tt.size)
			}
		})
	}

	t.Run("F2/64-bit-msb-set", func(t *testing.T) {
		frameFailAndClose(t, wsURL, frameWithKey(0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 4), StatusProtocolError)
	})
}

func TestF3LengthOverLimitRefusedBeforePayload(t *testing.T) {
	// F3: the length is checked against the read limit from the header
	// alone; no payload is sent, so a server that waited for it, or tried
	// to allocate it, would never answer.
	u := &Upgrader{ReadLimit: 1024, CloseTimeout: 500 * time.Millisecond}
	wsURL := startServer(t, u, echoMessages)
	tests := []struct {
		name   string
		header []byte
	}{
		{
			name:   "F3/64-bit-2^40",
			header: frameWithKey(0x82, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0),
		},
		{
			name:   "F3/16-bit-limit+1",
			header: frameWithKey(0x81, 0xFE, 0x04, 0x01),
		},
		{
			name:   "F3/continuation-over-limit",
			header: append(clientFrame(0x02, frameTestPayload(1000)), frameWithKey(0x80, 0xFE, 0x00, 25)...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, wsURL)
			rc.write(tt.header)
			rc.expectClose(StatusMessageTooBig)
		})
	}

	t.Run("F3/at-limit-accepted", func(t *testing.T) {
		rc := dialRaw(t, wsURL)
		payload := frameTestPayload(1024)
		rc.write(clientFrame(0x82, payload))
		if op, p := frameReadMessage(t, rc); op != 0x2 || !bytes.Equal(p, payload) {
			t.Fatalf("echo of a message at the limit: opcode %#x, %d bytes", op, len(p))
		}
	})
}

func TestF4UnmaskedClientFrame(t *testing.T) {
	// F4: every frame from a client is masked.
	wsURL := startServer(t, frameUpgrader(), echoMessages)
	tests := []struct {
		name   string
		stream []byte
	}{
		{
			name:   "F4/text",
			stream: encodeFrame(0x81, []byte("not masked"), nil),
		},
		{
			name:   "F4/empty-binary",
			stream: encodeFrame(0x82, nil, nil),
		},
		{
			name:   "F4/ping",
			stream: encodeFrame(0x89, []byte("p"), nil),
		},
		{
			name:   "F4/second-fragment",
			stream: append(clientFrame(0x01, []byte("masked")), encodeFrame(0x80, []byte("not"), nil)...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frameFailAndClose(t, wsURL, tt.stream, StatusProtocolError)
		})
	}
}

func TestF4ClientRefusesMaskedServerFrame(t *testing.T) {
	// F4 (§5.1): a client fails the connection on a masked frame from the
	// server. The server here is hand-written so that it can misbehave.
	wsURL, peers := serveRaw(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, err := Dial(ctx, wsURL, &DialOptions{CloseTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.closeTransport() })
	server := acceptRaw(t, peers)

	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	server.write(encodeFrame(0x81, []byte("masked by the server"), &testKey))

	// The client's close frame: 1002, and masked, as all its frames are.
	f, err := server.readFrame()
	if err != nil {
		t.Fatalf("waiting for the client's close: %v", err)
	}
	if f.op != 0x8 || len(f.payload) < 2 || binary.BigEndian.Uint16(f.payload) != uint16(StatusProtocolError) {
		t.Fatalf("the client sent opcode %#x with payload %q, want close 1002", f.op, f.payload)
	}
	if !f.masked {
		t.Error("the client's close frame is not masked")
	}
	server.write(encodeFrame(0x88, closePayload(StatusProtocolError, ""), nil))
	server.conn.Close() // the server closes TCP first (§7.1.1)

	select {
	case err := <-readErr:
		frameWantFailure(t, err, StatusProtocolError)
	case <-time.After(testTimeout):
		t.Fatal("the client's ReadMessage did not return")
	}
}

func TestF5ServerFramesUnmaskedMinimal(t *testing.T) {
	// F5: data frames from WriteMessage and NextWriter, a pong and a close,
	// each unmasked and with the shortest length form.
	sizes := []int{0, 1, 125, 126, 127, 4000, 4096, 65535, 65536, 65537, 200000}
	handlerDone := make(chan struct{})
	wsURL := startServer(t, frameUpgrader(), func(c *Conn) {
		defer close(handlerDone)
		for _, n := range sizes {
			if err := c.WriteMessage(BinaryMessage, frameTestPayload(n)); err != nil {
				return
			}
		}
		for _, n := range sizes {
			p := bytes.Repeat([]byte("f"), n)
			w, err := c.NextWriter(TextMessage)
			if err != nil {
				return
			}
			w.Write(p[:n/3])
			w.Write(p[n/3:])
			if err := w.Close(); err != nil {
				return
			}
		}
		// Answers the ping, then the close.
		c.ReadMessage()
	})
	rc := dialRaw(t, wsURL)
	for _, n := range sizes {
		op, p := frameReadMessage(t, rc)
		if op != 0x2 || !bytes.Equal(p, frameTestPayload(n)) {
			t.Fatalf("WriteMessage of %d bytes arrived as opcode %#x with %d bytes", n, op, len(p))
		}
	}
	for _, n := range sizes {
		op, p := frameReadMessage(t, rc)
		if op != 0x1 || !bytes.Equal(p, bytes.Repeat([]byte("f"), n)) {
			t.Fatalf("NextWriter message of %d bytes arrived as opcode %#x with %d bytes", n, op, len(p))
		}
	}

	rc.write(clientFrame(0x89, []byte("ping payload")))
	f, err := rc.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	frameCheckServerFrame(t, f)
	if f.op != 0xA || !f.fin || string(f.payload) != "ping payload" {
		t.Fatalf("answer to a ping: opcode %#x %q, want a pong with the ping's payload", f.op, f.payload)
	}

	rc.write(clientFrame(0x88, closePayload(StatusNormalClosure, "")))
	f, err = rc.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	frameCheckServerFrame(t, f)
	if f.op != 0x8 || !f.fin || len(f.payload) < 2 || binary.BigEndian.Uint16(f.payload) != uint16(StatusNormalClosure) {
		t.Fatalf("answer to a close: opcode %#x %q, want close 1000", f.op, f.payload)
	}
	rc.expectEOF()
	select {
	case <-handlerDone:
	case <-time.After(testTimeout):
		t.Fatal("the handler did not return")
	}
}

func TestF6ReservedBits(t *testing.T) {
	// F6: no extension is negotiated, so every RSV bit fails the connection.
	wsURL := startServer(t, frameUpgrader(), echoMessages)
	tests := []struct {
		name string
		b0   byte
	}{
		{
			name: "F6/rsv1",
			b0:   0x81 | 0x40,
		},
		{
			name: "F6/rsv2",
			b0:   0x81 | 0x20,
		},
		{
			name: "F6/rsv3",
			b0:   0x81 | 0x10,
		},
		{
			name: "F6/rsv1-on-ping",
			b0:   0x89 | 0x40,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frameFailAndClose(t, wsURL, clientFrame(tt.b0, []byte("x")), StatusProtocolError)
		})
	}
}

func TestF7ReservedOpcodes(t *testing.T) {
	// F7: opcodes 0x3–0x7 and 0xB–0xF fail the connection.
	wsURL := startServer(t, frameUpgrader(), echoMessages)
	for _, op := range []byte{0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		t.Run(fmt.Sprintf("F7/op-%#x", op), func(t *testing.T) {
			frameFailAndClose(t, wsURL, clientFrame(0x80|op, []byte("reserved")), StatusProtocolError)
		})
	}
}

func TestF8ControlFrameRules(t *testing.T) {
	// F8: control frames carry at most 125 bytes and are not fragmented.
	wsURL := startServer(t, frameUpgrader(), echoMessages)
	tests := []struct {
		name   string
		stream []byte
	}{
		{
			name:   "F8/ping-126-bytes",
			stream: clientFrame(0x89, frameTestPayload(126)),
		},
		{
			name:   "F8/pong-126-bytes",
			stream: clientFrame(0x8A, frameTestPayload(126)),
		},
		{
			name:   "F8/fragmented-ping",
			stream: append(clientFrame(0x09, []byte("frag")), clientFrame(0x80, []byte("ment"))...),
		},
		{
			name:   "F8/fragmented-close",
			stream: clientFrame(0x08, closePayload(StatusNormalClosure, "")),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frameFailAndClose(t, wsURL, tt.stream, StatusProtocolError)
		})
	}

	t.Run("F8/ping-125-bytes-answered", func(t *testing.T) {
		rc := dialRaw(t, wsURL)
		payload := frameTestPayload(125)
		rc.write(clientFrame(0x89, payload))
		f, err := rc.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.op != 0xA || !bytes.Equal(f.payload, payload) {
			t.Fatalf("answer to a 125-byte ping: opcode %#x, %d bytes", f.op, len(f.payload))
		}
	})
}

func TestF9ControlFramesBetweenFragments(t *testing.T) {
	// F9: a ping and a pong between the fragments of a text message.
	for _, echo := range frameEchoes {
		t.Run("F9/"+echo.name, func(t *testing.T) {
			rc := dialRaw(t, startServer(t, frameUpgrader(), echo.handler))
			rc.write(clientFrame(0x01, []byte("one, ")))
			rc.write(clientFrame(0x89, []byte("ping between 1 and 2")))

			// The pong comes before the message is complete (the rest is
			// not sent yet).
			f, err := rc.readFrame()
			if err != nil {
				t.Fatal(err)
			}
			frameCheckServerFrame(t, f)
			if f.op != 0xA || string(f.payload) != "ping between 1 and 2" {
				t.Fatalf("opcode %#x %q, want a pong with the ping's payload", f.op, f.payload)
			}

			rc.write(clientFrame(0x00, []byte("two, ")))
			rc.write(clientFrame(0x8A, []byte("unsolicited pong between 2 and 3")))
			rc.write(clientFrame(0x80, []byte("three")))
			op, p := frameReadMessage(t, rc)
			if op != 0x1 || string(p) != "one, two, three" {
				t.Fatalf("echo: opcode %#x %q, want text %q", op, p, "one, two, three")
			}
		})
	}
}

func TestF10FragmentSequence(t *testing.T) {
	// F10: continuations continue something; messages do not nest.
	wsURL := startServer(t, frameUpgrader(), echoMessages)
	tests := []struct {
		name   string
		stream []byte
	}{
		{
			name:   "F10/continuation-without-message",
			stream: clientFrame(0x80, []byte("orphan")),
		},
		{
			name:   "F10/non-final-continuation-without-message",
			stream: clientFrame(0x00, []byte("orphan")),
		},
		{
			name:   "F10/continuation-after-complete-message",
			stream: append(clientFrame(0x81, []byte("done")), clientFrame(0x80, []byte("more"))...),
		},
		{
			name:   "F10/text-while-text-open",
			stream: append(clientFrame(0x01, []byte("open")), clientFrame(0x81, []byte("new"))...),
		},
		{
			name:   "F10/binary-while-text-open",
			stream: append(clientFrame(0x01, []byte("open")), clientFrame(0x02, []byte("new"))...),
		},
		{
			name:   "F10/text-after-ping-while-open",
			stream: bytes.Join([][]byte{clientFrame(0x02, []byte("open")), clientFrame(0x89, nil), clientFrame(0x81, nil)}, nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frameFailAndClose(t, wsURL, tt.stream, StatusProtocolError)
		})
	}
}

func TestF11EmptyFramesAndMessages(t *testing.T) {
	// F11: empty frames, empty fragments and empty messages are valid.
	tests := []struct {
		name   string
		stream []byte
		op     byte
		want   string
	}{
		{
			name:   "F11/empty-text",
			stream: clientFrame(0x81, nil),
			op:     0x1,
			want:   "",
		},
		{
			name:   "F11/empty-binary",
			stream: clientFrame(0x82, nil),
			op:     0x2,
			want:   "",
		},
		{
			name: "F11/empty-fragments-around-data",
			stream: bytes.Join([][]byte{
				clientFrame(0x01, nil),
				clientFrame(0x00, nil),
				clientFrame(0x00, []byte("the only data")),
				clientFrame(0x00, nil),
				clientFrame(0x80, nil),
			}, nil),
			op:   0x1,
			want: "the only data",
		},
		{
			name: "F11/all-fragments-empty",
			stream: bytes.Join([][]byte{
				clientFrame(0x02, nil),
				clientFrame(0x00, nil),
				clientFrame(0x80, nil),
			}, nil),
			op:   0x2,
			want: "",
		},
		{
			name: "F11/empty-first-fragment-then-ping",
			stream: bytes.Join([][]byte{
				clientFrame(0x01, nil),
				clientFrame(0x8A, nil),
				clientFrame(0x80, []byte("x")),
			}, nil),
			op:   0x1,
			want: "x",
		},
	}
	for _, echo := range frameEchoes {
		wsURL := startServer(t, frameUpgrader(), echo.handler)
		for _, tt := range tests {
			t.Run(tt.name+"/"+echo.name, func(t *testing.T) {
				rc := dialRaw(t, wsURL)
				// Twice, so that an empty message that left the reader in a
				// wrong state shows in the second echo.
				rc.write(append(append([]byte(nil), tt.stream...), tt.stream...))
				for i := 0; i < 2; i++ {
					op, p := frameReadMessage(t, rc)
					if op != tt.op || string(p) != tt.want {
						t.Fatalf("echo %d: opcode %#x %q, want %#x %q", i, op, p, tt.op, tt.want)
					}
				}
			})
		}
	}
}

func TestF12LargeFrameInOddChunks(t *testing.T) {
	// F12: one 300 KiB masked frame, larger than the read buffer, arrives
	// in pieces of odd sizes, so that the key position carries over
	// between reads at every offset mod 4.
	payload := frameTestPayload(300 << 10)
	frame := clientFrame(0x82, payload)
	chunks := []int{1, 3, 7, 4093, 2, 5, 8191, 11, 65521}
	for _, echo := range frameEchoes {
		t.Run("F12/"+echo.name, func(t *testing.T) {
			rc := dialRaw(t, startServer(t, frameUpgrader(), echo.handler))
			// Write from another goroutine: the streaming echo answers
			// while the frame is still arriving.
			writeErr := make(chan error, 1)
			go func() {
				rest := frame
				for i := 0; len(rest) > 0; i++ {
					n := min(len(rest), chunks[i%len(chunks)])
					if _, err := rc.conn.Write(rest[:n]); err != nil {
						writeErr <- err
						return
					}
					rest = rest[n:]
				}
				writeErr <- nil
			}()
			op, p := frameReadMessage(t, rc)
			if err := <-writeErr; err != nil {
				t.Fatalf("writing the frame: %v", err)
			}
			if op != 0x2 || len(p) != len(payload) {
				t.Fatalf("echo: opcode %#x, %d bytes, want binary, %d bytes", op, len(p), len(payload))
			}
			if i := frameFirstDiff(p, payload); i >= 0 {
				t.Fatalf("echo differs from the payload sent at byte %d (offset mod 4 = %d)", i, i%4)
			}
		})
	}
}

// frameFirstDiff returns the index of the first byte where a and b
// differ, or -1.
func frameFirstDiff(a, b []byte) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	if len(b) > len(a) {
		return len(a)
	}
	return -1
}

// ---- Fuzzing ----

// frameHeaderSize returns the size of the header that b starts with, from
// its first two bytes alone (2 when b is shorter than that).
func frameHeaderSize(b []byte) int {
	if len(b) < 2 {
		return 2
	}
	n := 2
	switch b[1] & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

func FuzzParseHeader(f *testing.F) {
	// F1, F2, S1: any bytes, no panic; sizes and the encoding agree.
	seeds := [][]byte{
		{},
		{0x81},
		{0x81, 0x00},
		frameWithKey(0x81, 0x85),
		{0x82, 0x7E, 0x00, 0x7E},
		frameWithKey(0x82, 0xFE, 0xFF, 0xFF),
		{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0},
		frameWithKey(0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0),
		{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0},
		{0x81, 0x7E, 0x00, 0x05},
		{0xF3, 0x7F, 0, 0, 0, 0, 0, 0, 0, 1},
		clientFrame(0x89, []byte("ping")),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseHeader(b)
		size := frameHeaderSize(b)
		if err != nil {
			// The only error is a 64-bit length with its top bit set.
			if len(b) < 10 || b[1]&0x7F != 127 || b[2]&0x80 == 0 {
				t.Fatalf("parseHeader(% x): unexpected error %v", b, err)
			}
			frameWantFailure(t, err, StatusProtocolError)
			return
		}
		if n == 0 {
			if len(b) >= size {
				t.Fatalf("parseHeader(% x) = n 0, but a %d-byte header is complete", b, size)
			}
			return
		}
		if n > len(b) {
			t.Fatalf("parseHeader took %d bytes of %d", n, len(b))
		}
		switch n {
		case 2, 4, 6, 8, 10, 12, 14:
		default:
			t.Fatalf("parseHeader took %d bytes, not a header size", n)
		}
		if n != size {
			t.Fatalf("parseHeader(% x) took %d bytes, the header has %d", b, n, size)
		}
		if h.length < 0 {
			t.Fatalf("negative length %d", h.length)
		}
		l7 := b[1] & 0x7F
		minimal := l7 < 126 || (l7 == 126 && h.length >= 126) || (l7 == 127 && h.length > 65535)
		if !minimal || h.rsv != 0 || h.length > math.MaxInt {
			return
		}
		var key *[4]byte
		if h.masked {
			k := h.key
			key = &k
		}
		if got := appendHeader(nil, h.fin, h.op, int(h.length), key); !bytes.Equal(got, b[:n]) {
			t.Fatalf("re-encoding %+v gave % x, want % x", h, got, b[:n])
		}
	})
}

// frameFuzzTransport is an in-memory transport: reads come from a fixed
// stream, at most chunk bytes at a time; writes are counted and dropped.
type frameFuzzTransport struct {
	r       *bytes.Reader
	chunk   int
	written int
}

func (ft *frameFuzzTransport) Read(p []byte) (int, error) {
	if len(p) > ft.chunk {
		p = p[:ft.chunk]
	}
	return ft.r.Read(p)
}

func (ft *frameFuzzTransport) Write(p []byte) (int, error) {
	ft.written += len(p)
	return len(p), nil
}

func (ft *frameFuzzTransport) Close() error                     { return nil }
func (ft *frameFuzzTransport) SetReadDeadline(time.Time) error  { return nil }
func (ft *frameFuzzTransport) SetWriteDeadline(time.Time) error { return nil }

var _ transport = (*frameFuzzTransport)(nil)

// frameFuzzStreams are the seeds of the fuzz targets that read streams:
// valid ones, and ones that break each rule.
func frameFuzzStreams() [][]byte {
	join := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	return [][]byte{
		// Valid streams.
		join(clientFrame(0x81, []byte("hello")), clientFrame(0x82, []byte{0, 1, 2}), clientFrame(0x88, closePayload(StatusNormalClosure, "bye"))),
		join(clientFrame(0x01, []byte("frag ")), clientFrame(0x89, []byte("ping")), clientFrame(0x00, []byte("ment ")),
			clientFrame(0x8A, nil), clientFrame(0x80, []byte("ed")), clientFrame(0x88, nil)),
		join(clientFrame(0x81, nil), clientFrame(0x02, nil), clientFrame(0x80, nil), clientFrame(0x81, []byte("héllo wörld"))),
		join(clientFrame(0x82, frameTestPayload(300)), clientFrame(0x81, []byte("€𝄞"))),
		// Invalid streams.
		clientFrame(0x83, []byte("reserved opcode")),
		clientFrame(0xC1, []byte("rsv1")),
		frameWithKey(0x82, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0),
		frameWithKey(0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0),
		encodeFrame(0x81, []byte("unmasked"), nil),
		clientFrame(0x80, []byte("orphan continuation")),
		join(clientFrame(0x01, []byte("open")), clientFrame(0x81, []byte("nested"))),
		clientFrame(0x81, []byte{0xE2, 0x82}),
		join(clientFrame(0x01, []byte{0xF0, 0x9F}), clientFrame(0x80, []byte{0x98, 0x80})),
		clientFrame(0x81, []byte{0xC0, 0xAF}),
		clientFrame(0x88, []byte{0x03}),
		clientFrame(0x88, closePayload(1005, "")),
		clientFrame(0x89, frameTestPayload(126)),
		join(clientFrame(0x02, frameTestPayload(40000)), clientFrame(0x80, frameTestPayload(30000))),
		frameWithKey(0x82, 0xFE, 0xFF, 0xFF),
	}
}

// frameFuzzSeeds adds frameFuzzStreams to f's corpus, each with a chunk
// size of its own, for targets that take (stream, chunk).
func frameFuzzSeeds(f *testing.F) {
	for i, s := range frameFuzzStreams() {
		f.Add(s, uint8(i*37+1))
	}
}

func FuzzReadMessages(f *testing.F) {
	// S1, F1–F12: a server reads any stream without panicking, within its
	// limit, with memory in proportion to the input.
	const limit = 1 << 16
	frameFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		ft := &frameFuzzTransport{r: bytes.NewReader(stream), chunk: max(int(chunk), 1)}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)

		c := newConn(ft, nil, false, "", config{readLimit: limit, closeTimeout: time.Millisecond})
		// Every message takes at least a 2-byte header from the stream,
		// and the stream ends.
		messages := 0
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				break
			}
			messages++
			if messages > len(stream)/2 {
				t.Fatalf("%d messages from %d bytes: reading does not end", messages, len(stream))
			}
			if len(p) > limit {
				t.Fatalf("a message of %d bytes passed the read limit of %d", len(p), limit)
			}
			if mt != TextMessage && mt != BinaryMessage {
				t.Fatalf("message of type %v", mt)
			}
			if mt == TextMessage && !utf8.Valid(p) {
				t.Fatalf("a text message is not valid UTF-8: %q", p)
			}
		}

		runtime.ReadMemStats(&after)
		if grew, bound := after.TotalAlloc-before.TotalAlloc, uint64(64*len(stream)+1<<20); grew > bound {
			t.Fatalf("reading %d bytes allocated %d bytes, more than %d", len(stream), grew, bound)
		}
	})
}

// ---- Benchmarks ----

var frameBenchSink int

func BenchmarkAppendHeader(b *testing.B) {
	key := [4]byte{1, 2, 3, 4}
	cases := []struct {
		name   string
		length int
		key    *[4]byte
	}{
		{
			name:   "7bit",
			length: 100,
			key:    nil,
		},
		{
			name:   "16bit",
			length: 4000,
			key:    nil,
		},
		{
			name:   "64bit",
			length: 1 << 20,
			key:    nil,
		},
		{
			name:   "64bit-masked",
			length: 1 << 20,
			key:    &key,
		},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf [maxHeaderSize]byte
			n := 0
			for i := 0; i < b.N; i++ {
				n += len(appendHeader(buf[:0], true, opBinary, bc.length, bc.key))
			}
			frameBenchSink = n
		})
	}
}

func BenchmarkParseHeader(b *testing.B) {
	cases := []struct {
		name  string
		input []byte
	}{
		{
			name:  "7bit-masked",
			input: frameWithKey(0x81, 0xE4),
		},
		{
			name:  "16bit-masked",
			input: frameWithKey(0x82, 0xFE, 0x0F, 0xA0),
		},
		{
			name:  "64bit-masked",
			input: frameWithKey(0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0),
		},
		{
			name:  "64bit",
			input: []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0x10, 0, 0},
		},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var total int64
			for i := 0; i < b.N; i++ {
				h, n, err := parseHeader(bc.input)
				if err != nil || n == 0 {
					b.Fatal("parseHeader failed")
				}
				total += h.length
			}
			frameBenchSink = int(total)
		})
	}
}

func BenchmarkMask(b *testing.B) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for _, size := range []int{16, 1 << 10, 16 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			buf := frameTestPayload(size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			pos := 0
			for i := 0; i < b.N; i++ {
				pos = mask(key, pos, buf)
			}
			frameBenchSink = pos
		})
	}
}
