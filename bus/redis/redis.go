// Package redisbus carries the broadcasts of websocket.Hub values between
// server processes over Redis publish-subscribe
// (github.com/redis/go-redis/v9):
//
//	rdb := redis.NewClient(&redis.Options{
//		Addr:          "localhost:6379",
//		MaxRetries:    -1, // see Delivery
//		DialerRetries: 1,
//	})
//	room := &websocket.Hub{Bus: redisbus.New(rdb), Topic: "chat:lobby"}
//
// Every process that serves the room does the same, with its own client
// of the same Redis and the same Topic, which is the Redis channel.
//
// # Delivery
//
// Redis pub/sub delivers at most once. A process that is cut off from
// Redis misses what the others publish until it is back; go-redis then
// reconnects and subscribes again by itself, checking the connection with
// pings. While Redis cannot be reached, Publish returns the client's
// error, so that the hub's Broadcast reports it; the hub's own members get
// the message regardless. Broadcast waits for Publish, so configure the
// client for that: go-redis by default retries a command three times
// (MaxRetries), which can deliver a PUBLISH whose answer was lost twice,
// or seconds late, and dials five times (DialerRetries) before a Publish
// fails. MaxRetries -1 and DialerRetries 1, as above, keep delivery at
// most once and make a Publish to a Redis that is down fail after one
// dial timeout (DialTimeout, 5 s by default: shorten it for a bus on the
// same network). A subscriber that falls far behind is disconnected by Redis
// (client-output-buffer-limit pubsub), which loses messages too.
//
// # On the wire
//
// A message is published on the channel Topic as one byte of type, 't'
// for text or 'b' for binary, then 16 bytes that identify the publishing
// Bus (so that its own messages are not delivered back to its hub), then
// the payload. A message that is not in this form is delivered as text,
// whole, so any Redis client can speak to a room:
//
//	redis-cli publish chat:lobby '{"type":"message","name":"ops","text":"deploying"}'
//
// (A message from such a client that happens to start with 't' or 'b' and
// is 17 bytes or longer is taken for this form: publish those with the
// prefix "t" and 16 zero bytes.)
package redisbus

import (
	"context"
	"crypto/rand"

	"github.com/redis/go-redis/v9"
	"github.com/rfc6455/websocket"
)

// originSize is the length of a Bus's identity on the wire.
const originSize = 16

// Bus is a websocket.Bus over a Redis client.
type Bus struct {
	rdb    redis.UniversalClient
	origin [originSize]byte
}

var _ websocket.Bus = (*Bus)(nil)

// New returns a Bus that publishes and subscribes through rdb, a
// *redis.Client or any other redis.UniversalClient. The client stays the
// caller's to configure and to close; closing it ends the subscriptions.
func New(rdb redis.UniversalClient) *Bus {
	b := &Bus{rdb: rdb}
	rand.Read(b.origin[:])
	return b
}

// Publish publishes p on the channel topic.
func (b *Bus) Publish(topic string, t websocket.MessageType, p []byte) error {
	m := make([]byte, 0, 1+originSize+len(p))
	m = append(m, 't')
	if t == websocket.BinaryMessage {
		m[0] = 'b'
	}
	m = append(m, b.origin[:]...)
	m = append(m, p...)
	return b.rdb.Publish(context.Background(), topic, m).Err()
}

// Subscribe subscribes to the channel topic, and waits for Redis to
// confirm it. receive is called from one goroutine, in the order Redis
// delivers.
func (b *Bus) Subscribe(topic string, receive func(websocket.MessageType, []byte)) (func(), error) {
	ctx := context.Background()
	ps := b.rdb.Subscribe(ctx, topic)
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, err
	}
	ch := ps.Channel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ch {
			t, p, mine := b.decode(m.Payload)
			if !mine {
				receive(t, p)
			}
		}
	}()
	return func() {
		ps.Close() // closes ch, which ends the goroutine
		<-done
	}, nil
}

// decode takes a published message apart, and reports whether this Bus
// published it.
func (b *Bus) decode(s string) (t websocket.MessageType, p []byte, mine bool) {
	if len(s) < 1+originSize || s[0] != 't' && s[0] != 'b' {
		return websocket.TextMessage, []byte(s), false
	}
	t = websocket.TextMessage
	if s[0] == 'b' {
		t = websocket.BinaryMessage
	}
	return t, []byte(s[1+originSize:]), s[1:1+originSize] == string(b.origin[:])
}
