//go:build linux && !noepoll

package websocket

// pollerWatching returns how many connections the poller holds.
func pollerWatching() int {
	p := thePoller
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// pollerStart starts the poller, whose epoll descriptor and goroutine then
// count in a test's baseline.
func pollerStart() { getPoller() }

// pollerUsed reports whether idle connections of EventHandler wait in
// epoll here, rather than in a goroutine's read.
const pollerUsed = true
