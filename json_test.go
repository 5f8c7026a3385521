package websocket

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

type jsonTestEvent struct {
	Type string   `json:"type"`
	Seq  int      `json:"seq"`
	Tags []string `json:"tags,omitempty"`
}

// WriteJSON sends one text message with the encoding; ReadJSON decodes
// it, also when it is longer than a frame and the read buffer.
func TestJSONRoundTrip(t *testing.T) {
	server, client := pipeConns(t, config{})
	long := strings.Repeat("x", 3*defaultBufferSize)
	sent := []jsonTestEvent{
		{Type: "join", Seq: 1},
		{Type: "message", Seq: 2, Tags: []string{"你好", long}},
	}
	go func() {
		for _, e := range sent {
			if err := client.WriteJSON(e); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i, want := range sent {
		var got jsonTestEvent
		if i == 0 {
			// On the wire: one text message, the encoding and a newline.
			typ, p, err := server.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			enc, _ := json.Marshal(want)
			if typ != TextMessage || !bytes.Equal(p, append(enc, '\n')) {
				t.Fatalf("got a %v message %q, want text %q", typ, p, enc)
			}
			continue
		}
		if err := server.ReadJSON(&got); err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || got.Seq != want.Seq || len(got.Tags) != 2 || got.Tags[1] != long {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
}

// A value that cannot be encoded sends nothing: the next message the peer
// reads is the next one written.
func TestJSONWriteUnencodable(t *testing.T) {
	server, client := pipeConns(t, config{})
	errs := make(chan error, 2)
	go func() {
		errs <- client.WriteJSON(map[string]any{"f": func() {}})
		errs <- client.WriteJSON(jsonTestEvent{Type: "after", Seq: 3})
	}()
	var got jsonTestEvent
	if err := server.ReadJSON(&got); err != nil || got.Type != "after" {
		t.Fatalf("read %+v, %v; want the message written after the failed one", got, err)
	}
	var unsupported *json.UnsupportedTypeError
	if err := <-errs; !errors.As(err, &unsupported) {
		t.Fatalf("WriteJSON of a func: %v, want *json.UnsupportedTypeError", err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// A message that is not one JSON value is an error for that message only:
// the connection stays open and the next read gets the next message.
func TestJSONReadBadMessages(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want func(error) bool
	}{
		{
			name: "empty",
			msg:  "",
			want: func(err error) bool { return err == io.ErrUnexpectedEOF },
		},
		{
			name: "only white space",
			msg:  " \n",
			want: func(err error) bool { return err == io.ErrUnexpectedEOF },
		},
		{
			name: "cut short",
			msg:  `{"type":"jo`,
			want: func(err error) bool { return err == io.ErrUnexpectedEOF },
		},
		{
			name: "not JSON",
			msg:  "hello",
			want: func(err error) bool { var e *json.SyntaxError; return errors.As(err, &e) },
		},
		{
			name: "two values",
			msg:  `{"seq":1} {"seq":2}`,
			want: func(err error) bool { return err == errJSONTrailing },
		},
		{
			name: "garbage after the value",
			msg:  `{"seq":1} and then some`,
			want: func(err error) bool {
				var e *json.SyntaxError
				return errors.As(err, &e) && errors.Is(err, errJSONTrailing)
			},
		},
		{
			name: "wrong type for a field",
			msg:  `{"seq":"one"}`,
			want: func(err error) bool { var e *json.UnmarshalTypeError; return errors.As(err, &e) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := pipeConns(t, config{})
			go func() {
				client.WriteMessage(TextMessage, []byte(tt.msg))
				client.WriteMessage(TextMessage, []byte(`{"type":"next","seq":7}`+" \n"))
			}()
			var got jsonTestEvent
			if err := server.ReadJSON(&got); !tt.want(err) {
				t.Fatalf("ReadJSON of %q: %v", tt.msg, err)
			}
			got = jsonTestEvent{}
			if err := server.ReadJSON(&got); err != nil || got.Type != "next" || got.Seq != 7 {
				t.Fatalf("the next message: %+v, %v", got, err)
			}
		})
	}
}

// The end of the connection reaches ReadJSON's caller as it would reach
// ReadMessage's, close code included.
func TestJSONReadClosed(t *testing.T) {
	server, client := pipeConns(t, config{})
	go client.CloseWithStatus(StatusGoingAway, "bye")
	var v any
	err := server.ReadJSON(&v)
	if CloseStatus(err) != StatusGoingAway {
		t.Fatalf("ReadJSON after the peer closed: %v, want its close 1001", err)
	}
}
