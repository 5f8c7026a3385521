//go:build linux && !noepoll

package websocket

import (
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// poller watches the connections of EventHandler that wait for their peer:
// one epoll set that holds their descriptors, and one goroutine that waits
// on the set through the runtime's own poller, so that no thread is
// blocked on it either.
type poller struct {
	epfd int
	raw  syscall.RawConn // of file, for waits in the runtime's poller
	file *os.File        // keeps epfd open

	mu    sync.Mutex
	conns map[int32]*Conn // by descriptor
}

// epollET is EPOLLET, which package syscall declares negative on some
// architectures.
const epollET = 1 << 31

var (
	pollerOnce sync.Once
	thePoller  *poller // nil if no epoll set could be made
)

// getPoller returns the process's poller, starting it on first use.
func getPoller() *poller {
	pollerOnce.Do(func() {
		p, err := newPoller()
		if err == nil {
			thePoller = p
			go p.run()
		}
	})
	return thePoller
}

func newPoller() (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// Non-blocking, the epoll descriptor joins the runtime's poller, which
	// reports it readable when the set has events.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	file := os.NewFile(uintptr(fd), "websocket-epoll")
	raw, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, err
	}
	return &poller{epfd: fd, raw: raw, file: file, conns: make(map[int32]*Conn)}, nil
}

// run takes the events of the set as they come and wakes their connections.
// It takes them with a raw epoll_pwait that does not wait, for the reason
// given in rawio_linux.go.
//
// It waits inside a single RawConn.Read that never returns: each call of
// its function takes every event of the set, wakes their connections and
// asks to wait again. The runtime's poller reports the set readable once
// for each event that joins it, and remembers a report that comes while
// nobody waits, so one look per report is enough, with none before each
// wait (a new Read would also forget such a report before it waited).
func (p *poller) run() {
	events := make([]syscall.EpollEvent, 128)
	ready := make([]*Conn, 0, len(events))
	take := func(fd uintptr) bool {
		for {
			r, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, fd,
				uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
			if errno == syscall.EINTR {
				continue
			}
			n := int(r)
			if errno != 0 {
				n = 0
			}
			p.mu.Lock()
			for _, ev := range events[:n] {
				if c := p.conns[ev.Fd]; c != nil {
					if ev.Events&^syscall.EPOLLIN != 0 {
						c.ev.Load().hangup.Store(true)
					}
					ready = append(ready, c)
				}
			}
			p.mu.Unlock()
			for i, c := range ready {
				c.ev.Load().wake(c)
				ready[i] = nil
			}
			ready = ready[:0]
			if n < len(events) {
				// The set is empty, and the next event that joins
				// it will be reported.
				return false
			}
		}
	}
	p.raw.Read(take)
}

// watch adds c to the poller's epoll set, if there is a poller and c has
// a descriptor of its own, and reports whether it did. The descriptor is
// edge-triggered: an event comes when new bytes arrive, so a connection is
// never armed again, and the goroutine serving it reads until the socket
// is empty before it lets the poller have it back.
func (c *Conn) watch(e *eventLoop) bool {
	p := getPoller()
	if p == nil || c.in.raw == nil {
		return false
	}
	var err error
	// Inside Control the descriptor cannot be closed and reused.
	cerr := c.in.raw.Control(func(fd uintptr) {
		e.fd = int32(fd)
		p.mu.Lock()
		p.conns[e.fd] = c
		p.mu.Unlock()
		ev := syscall.EpollEvent{
			Events: syscall.EPOLLIN | syscall.EPOLLPRI | syscall.EPOLLRDHUP | epollET,
			Fd:     e.fd,
		}
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if cerr != nil || err != nil {
		p.mu.Lock()
		delete(p.conns, e.fd)
		p.mu.Unlock()
		return false
	}
	e.polled = true
	return true
}

// unwatch forgets c. The kernel drops its descriptor from the epoll set
// when the descriptor is closed.
func (c *Conn) unwatch(e *eventLoop) {
	if !e.polled {
		return
	}
	p := thePoller
	p.mu.Lock()
	if p.conns[e.fd] == c {
		delete(p.conns, e.fd)
	}
	p.mu.Unlock()
}
