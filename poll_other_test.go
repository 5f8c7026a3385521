//go:build !linux || noepoll

package websocket

// pollerWatching returns how many connections the poller holds: there is
// no poller here.
func pollerWatching() int { return 0 }

func pollerStart() {}

const pollerUsed = false
