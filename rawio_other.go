//go:build !linux || race

package websocket

import "net"

// output is the writing end of a connection, used with frameMu held.
// Frames go to the transport's Write (see rawio_linux.go for Linux).
type output struct {
	vec  net.Buffers
	pair [2][]byte
}

func (c *Conn) initOutput() {}

func (o *output) direct() bool { return false }

func (o *output) writeDirect(*input, []byte, []byte) (int, error) { panic("unreachable") }

// writeNow writes nothing: a transport's Write cannot be told not to wait.
func (o *output) writeNow(*input, []byte) (int, error) { return 0, nil }
