//go:build !linux

package websocket

// Without epoll, every connection of EventHandler keeps a reading
// goroutine.

func (c *Conn) watch(*eventLoop) bool { return false }
func (c *Conn) unwatch(*eventLoop)    {}
