// lxzan/gws: its own Server on the raw listener (gws.NewServer and
// RunListener: it parses the handshake itself, without net/http), with
// the event-driven API: OnMessage runs on the connection's reading
// goroutine. ParallelEnabled stays off, so messages are handled in order on
// that goroutine with no hand-off; ReadBufferSize keeps its default; the
// message's pooled buffer goes back with Message.Close once written.
//
// Echo: OnMessage writes the message back with WriteMessage, which builds
// the frame and writes it in one call.
//
// Broadcast: gws.Broadcaster, the library's own fan-out: the frame is
// encoded once and queued on each connection's write queue, for which gws
// starts a goroutine whenever the queue was idle. The hub only keeps the
// list of connections.
package main

import (
	"net"

	"github.com/lxzan/gws"
)

func serveGws(ln net.Listener, broadcast bool) error {
	var handler gws.Event = gwsEcho{}
	if broadcast {
		handler = &gwsBroadcast{}
	}
	srv := gws.NewServer(handler, &gws.ServerOption{
		ReadMaxPayloadSize: readLimit,
		ParallelEnabled:    false,
		PermessageDeflate: gws.PermessageDeflate{
			Enabled:               deflate == "takeover",
			ServerContextTakeover: true,
			ClientContextTakeover: true,
		},
	})
	return srv.RunListener(ln)
}

type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.WriteMessage(m.Opcode, m.Bytes())
}

type gwsBroadcast struct {
	gws.BuiltinEventHandler
	hub hub[*gws.Conn]
}

func (b *gwsBroadcast) OnOpen(c *gws.Conn) { b.hub.add(c) }

func (b *gwsBroadcast) OnClose(c *gws.Conn, err error) { b.hub.remove(c) }

func (b *gwsBroadcast) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	// The frame is encoded from m's payload by the first Broadcast call,
	// so m can give its buffer back when this returns; bc.Close lets the
	// frame go back to gws's pool once the last queued write is done.
	bc := gws.NewBroadcaster(m.Opcode, m.Bytes())
	defer bc.Close()
	b.hub.each(func(sub *gws.Conn) { bc.Broadcast(sub) })
}
