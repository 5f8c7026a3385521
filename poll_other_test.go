//go:build !linux || noepoll

package websocket

import "net"

// pollerWatching returns how many connections the poller holds: there is
// no poller here.
func pollerWatching() int { return 0 }

func pollerStart() {}

const pollerUsed = false

// socketUnread would return the bytes unread in the socket under c: not
// known here.
func socketUnread(net.Conn) (int, bool) { return 0, false }
