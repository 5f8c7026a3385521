package websocket

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// errJSONTrailing is returned by ReadJSON for a message with more than
// white space after its value: another value, or what is not JSON (then
// wrapped with the decoder's *json.SyntaxError).
var errJSONTrailing = errors.New("websocket: JSON message has data after its value")

// ReadJSON reads the next message and decodes it, as JSON, into v. The
// message is decoded as it arrives, never held whole; it may be text or
// binary. As with json.Unmarshal, nothing but white space may follow the
// value, and an empty message is an error (io.ErrUnexpectedEOF). A
// message that does not decode leaves the connection open: the next read
// starts at the next message. An error of the connection is returned as
// ReadMessage returns it, so CloseStatus and errors.As work on it.
func (c *Conn) ReadJSON(v any) error {
	_, r, err := c.NextReader()
	if err != nil {
		return err
	}
	dec := json.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	_, err = dec.Token()
	var syntax *json.SyntaxError
	switch {
	case err == io.EOF:
		return nil
	case err == nil:
		return errJSONTrailing
	case errors.As(err, &syntax):
		// Not JSON after the value: say so first, since the decoder
		// speaks only of what it was looking for.
		return fmt.Errorf("%w: %w", errJSONTrailing, err)
	}
	return err
}

// WriteJSON sends v, encoded as JSON, in a text message: what
// json.Encoder writes, which ends in a newline. The encoding streams
// through NextWriter; a value that cannot be encoded returns the error
// and sends nothing.
func (c *Conn) WriteJSON(v any) error {
	w := jsonWriter{c: c}
	err := json.NewEncoder(&w).Encode(v)
	if w.msg != nil {
		if cerr := w.msg.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// jsonWriter opens the message at the first byte the encoder writes, so
// that a value that fails to encode sends nothing.
type jsonWriter struct {
	c   *Conn
	msg io.WriteCloser
}

func (w *jsonWriter) Write(p []byte) (int, error) {
	if w.msg == nil {
		msg, err := w.c.NextWriter(TextMessage)
		if err != nil {
			return 0, err
		}
		w.msg = msg
	}
	return w.msg.Write(p)
}
