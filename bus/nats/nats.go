// Package natsbus carries the broadcasts of websocket.Hub values between
// server processes over NATS core publish-subscribe
// (github.com/nats-io/nats.go):
//
//	nc, err := nats.Connect(nats.DefaultURL,
//		nats.MaxReconnects(-1),    // see Delivery
//		nats.ReconnectBufSize(-1),
//	)
//	…
//	room := &websocket.Hub{Bus: natsbus.New(nc), Topic: "chat.lobby"}
//
// Every process that serves the room does the same, with its own
// connection to the same NATS cluster and the same Topic, which is the
// NATS subject.
//
// # Delivery
//
// NATS core delivers at most once. A process that is disconnected from
// NATS misses what the others publish until it is back; nats.go then
// reconnects and renews its subscriptions by itself (see its
// MaxReconnects and ReconnectWait options). By default it gives up after
// 60 attempts, two seconds apart, and the connection is then closed for
// good: a server that must outlive a longer outage of NATS connects with
// nats.MaxReconnects(-1). While the connection is not up, Publish
// returns an error, so that the hub's Broadcast reports it; the hub's own
// members get the message regardless. A publish that races the loss of
// the connection is kept by nats.go in its reconnect buffer and sent
// late, after the reconnection, unless the connection was made with
// nats.ReconnectBufSize(-1), as above. A subscriber that falls far behind is dropped as a
// slow consumer by nats.go (see its pending limits), which loses messages
// too; a hub takes each message from the bus without waiting for its
// members, unless its BacklogLimit is reached.
//
// # On the wire
//
// A message is published to the subject Topic with its payload as the
// NATS payload, unchanged, and two headers: Websocket-Type, "text" or
// "binary", and Websocket-Origin, which identifies the publishing Bus so
// that its own messages are not delivered back to its hub. A message
// without Websocket-Type is text, so any NATS client can speak to a room:
//
//	nats pub chat.lobby '{"type":"message","name":"ops","text":"deploying"}'
//
// The server must support headers, as every NATS server since 2.2 does.
package natsbus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/rfc6455/websocket"
)

// The headers of a published message.
const (
	TypeHeader   = "Websocket-Type"
	OriginHeader = "Websocket-Origin"
)

// Bus is a websocket.Bus over a NATS connection.
type Bus struct {
	nc     *nats.Conn
	origin string
}

var _ websocket.Bus = (*Bus)(nil)

// New returns a Bus that publishes and subscribes through nc. The
// connection stays the caller's to configure and to close; closing it
// ends the subscriptions.
func New(nc *nats.Conn) *Bus {
	var id [12]byte
	rand.Read(id[:])
	return &Bus{nc: nc, origin: hex.EncodeToString(id[:])}
}

// ErrNotConnected is returned by Publish while the NATS connection is
// down or reconnecting.
var ErrNotConnected = errors.New("natsbus: not connected to NATS")

// Publish publishes p on the subject topic.
func (b *Bus) Publish(topic string, t websocket.MessageType, p []byte) error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("%w (%v)", ErrNotConnected, b.nc.Status())
	}
	m := &nats.Msg{Subject: topic, Data: p, Header: nats.Header{}}
	m.Header.Set(TypeHeader, t.String())
	m.Header.Set(OriginHeader, b.origin)
	return b.nc.PublishMsg(m)
}

// Subscribe subscribes to the subject topic. nats.go calls receive from
// one goroutine per subscription, in the order the server delivers.
func (b *Bus) Subscribe(topic string, receive func(websocket.MessageType, []byte)) (func(), error) {
	sub, err := b.nc.Subscribe(topic, func(m *nats.Msg) {
		if m.Header.Get(OriginHeader) == b.origin {
			return
		}
		t := websocket.TextMessage
		if m.Header.Get(TypeHeader) == websocket.BinaryMessage.String() {
			t = websocket.BinaryMessage
		}
		receive(t, m.Data)
	})
	if err != nil {
		return nil, err
	}
	return func() { sub.Unsubscribe() }, nil
}
