//go:build !unix

package websocket

// initRaw leaves the transport to its own Read on systems where reading a
// file descriptor directly is not supported here.
func (in *input) initRaw() {}

func (in *input) fillRaw() error { panic("unreachable") }

func (in *input) readRawInto([]byte) (int, error) { panic("unreachable") }
