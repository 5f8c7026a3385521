//go:build !linux || noepoll

package websocket

// Without epoll (off Linux, or built with the noepoll tag, which CI uses
// to test this path on Linux), every connection of EventHandler keeps a
// reading goroutine.

func (c *Conn) watch(*eventLoop) bool { return false }
func (c *Conn) unwatch(*eventLoop)    {}
