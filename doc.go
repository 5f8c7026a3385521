// Package websocket implements the WebSocket protocol of RFC 6455 for
// net/http servers, with nothing beyond the standard library.
//
// # Serving
//
// An Upgrader turns an HTTP request into a *Conn. The shortest way to serve
// WebSocket connections is its Handler method, which upgrades each request,
// runs a function with the connection, and closes it when the function
// returns:
//
//	var upgrader websocket.Upgrader // the zero value is ready to use
//
//	http.Handle("/ws", upgrader.Handler(func(c *websocket.Conn) {
//		for {
//			t, msg, err := c.ReadMessage()
//			if err != nil {
//				return
//			}
//			if err := c.WriteMessage(t, msg); err != nil {
//				return
//			}
//		}
//	}))
//
// Inside an ordinary handler, call Upgrader.Upgrade instead. A request that
// is not a valid opening handshake is answered with an HTTP error status and
// a short text body, and Upgrade returns an error.
//
// # Many connections, few goroutines
//
// A goroutine that waits in ReadMessage costs a few KiB of stack for as long
// as its connection lives. Servers that hold many mostly quiet connections
// (notifications, dashboards, chat) can use Upgrader.EventHandler instead,
// which calls back for each message and keeps no goroutine for a
// connection between its messages: on Linux, waiting connections sit in
// one epoll set, and an idle connection costs about 3.3 KiB in all.
//
//	http.Handle("/ws", upgrader.EventHandler(websocket.Events{
//		Message: func(c *websocket.Conn, t websocket.MessageType, r io.Reader) {
//			w, err := c.NextWriter(t)
//			if err != nil {
//				return
//			}
//			io.Copy(w, r)
//			w.Close()
//		},
//	}))
//
// On Linux, with either handler, a connection over a TCP socket reads and
// writes it with raw system calls rather than through package net. The
// socket is non-blocking, so no call can wait; the difference is that raw
// calls do not wake the runtime's monitor thread, which a server that
// idles between messages would otherwise wake for each one. Deadlines,
// Close and errors behave as with package net.
//
// A long frame reaches a socket a packet or a few at a time. On Linux 5.7
// and later, a reader that has caught up with its peer in the middle of
// one asks the kernel (with the socket's low-water mark) to wake it when
// the rest of the frame is there, up to 1 MiB or what the read has room
// for, rather than for each packet. A read can therefore wait for more
// than its first byte, but never past the frame's end or the connection's,
// and a read deadline that passes returns what has arrived by then.
//
// # Messages
//
// ReadMessage and WriteMessage move whole messages. NextReader and
// NextWriter stream them: neither holds a whole message in memory, and the
// reader and writer they return work with io.Copy without a buffer of its
// own. ReadJSON and WriteJSON move one JSON value per message, streamed
// through them. NetConn turns a connection into a net.Conn, to carry
// another protocol's byte stream. Text messages are checked to be valid
// UTF-8 as they arrive; an invalid byte fails the connection at once with
// StatusInvalidFramePayloadData.
//
// # Compression
//
// Set Upgrader.Compression (or DialOptions.Compression) to compress
// messages with permessage-deflate (RFC 7692), which every browser offers.
// It pays where messages repeat themselves: a stream of JSON events, chat
// lines, dashboard updates shrinks several-fold, because with context
// takeover each message may refer back to the ones before it. It does not
// pay for messages that are already compressed (images, video, gzip), nor
// for a few bytes at a time: messages shorter than Compression.Threshold go
// as they are, and so does a message that compressing would not shorten.
//
//	upgrader := websocket.Upgrader{Compression: &websocket.Compression{}}
//
// What it costs: CPU for each message compressed and inflated, and memory
// for the windows. Under context takeover a connection keeps, between
// messages, the last bytes it sent and received, up to 2^WindowBits and
// 2^PeerWindowBits bytes (4 KiB and 2 KiB by default), and only as much
// as its traffic has filled; the compressor and the inflater are borrowed
// from pools for the time a message is written or read. With NoContextTakeover
// a connection keeps nothing between messages, and each message is
// compressed on its own. A connection whose peer did not offer compression
// costs what it costs without it.
//
// Every way to read and write works compressed: ReadMessage and
// WriteMessage, NextReader and NextWriter (streaming, never holding a
// whole message), EventHandler, PreparedMessage and Hub (each compressed
// once for all the connections that compress alike). The read limit
// counts decompressed bytes and is enforced while inflating, so a small
// message that inflates past it fails the connection with
// StatusMessageTooBig before it is inflated further.
//
// # Broadcast
//
// A Hub sends each message it is given to every connection in it: a chat
// room, a live count. Broadcast encodes the message once and returns; the
// hub writes it to each connection without waiting on any, so one peer
// that reads slowly delays nobody else, and one that falls too far behind
// is closed with StatusPolicyViolation. Messages broadcast faster than
// they can be written go out together, one write per connection for
// several messages. To send one message to a few connections of your
// choosing, NewPreparedMessage and WritePreparedMessage encode it once.
//
// A room that spans several server processes, behind a load balancer,
// gives each process's Hub the same Bus and Topic: what one broadcasts
// reaches the members of all, through a message bus the processes share.
// The modules github.com/rfc6455/websocket/bus/nats and .../bus/redis
// adapt NATS and Redis, which deliver at most once:
//
//	room := &websocket.Hub{Bus: natsbus.New(nc), Topic: "chat.lobby"}
//
// # Concurrency
//
// One goroutine at a time may read: ReadMessage, NextReader and the reader
// it returns. Any number of goroutines may write at once: WriteMessage,
// NextWriter, Ping, PingPong, Close and CloseWithStatus. Frames never
// interleave on the wire: data messages go out one after another, and a
// control frame (a ping, a close, or the pong that answers a peer's ping)
// can go out between the frames of a long message another goroutine is
// still writing. A writer from NextWriter keeps other data messages
// waiting until it is closed.
//
// Control frames from the peer are handled while a goroutine reads: pings
// are answered, pongs go to the pong handler and end the wait of
// PingPong, and a close frame is answered and ends the connection. An
// application that only writes should still read in a goroutine of its
// own, to see them; with EventHandler the library does that reading,
// between the callbacks.
//
// # Limits
//
// A connection accepts messages up to DefaultReadLimit (16 MiB) unless
// Upgrader.ReadLimit or Conn.SetReadLimit says otherwise. A larger message
// is refused from its frame header, before any of its payload is read or
// buffered, and the connection is closed with StatusMessageTooBig; the
// read returns an error wrapping ErrReadLimit.
//
// Deadlines bound single reads and writes (SetReadDeadline,
// SetWriteDeadline). After a read or write fails, for its deadline or any
// other reason, the connection is closed.
//
// Buffers come from shared pools while a frame is read or written; an idle
// connection holds none, so many mostly quiet connections cost little.
//
// # Origins
//
// Browsers let any page open a WebSocket connection to any server, sending
// the page's origin in the Origin header and the user's cookies along. By
// default an Upgrader therefore refuses, with 403 Forbidden, a request
// whose Origin names a host other than the one the request was sent to
// (RFC 6455 §10.2); requests without Origin, which do not come from
// browsers, are allowed. Widen the policy with Upgrader.AllowedOrigins, or
// replace it with Upgrader.CheckOrigin.
//
// # Closing
//
// Close sends a close frame with StatusNormalClosure, waits for the peer's
// close frame, and closes the connection; CloseWithStatus does the same
// with a code and reason of your choice. Both return within the close
// timeout (DefaultCloseTimeout unless configured) whatever the peer does.
// When the peer closes first, the connection answers with a close frame
// of its own, and reads return a *CloseError with the peer's code and
// reason:
//
//	var ce *websocket.CloseError
//	if errors.As(err, &ce) {
//		log.Printf("peer closed: %d %s", ce.Code, ce.Reason)
//	}
//
// A connection that ends without a close frame gives a *CloseError with
// StatusAbnormalClosure. When the peer breaks the protocol, the
// connection sends a close frame with the matching code (StatusProtocolError,
// StatusInvalidFramePayloadData or StatusMessageTooBig) and ends its side
// of TCP right behind it, without waiting for an answer a broken peer may
// never send; it reads on, discarding, only until the peer's close frame
// or end of stream, and for a second at most, so that bytes still in
// flight do not turn the close into a reset that could destroy the close
// frame. The read that met the fault returns it once the connection is
// closed.
//
// CloseStatus tells, from any error a read returned, the code that ended
// the connection: the peer's, or the one this side sent when it failed
// the connection, such as StatusMessageTooBig. That is the code to log:
//
//	log.Printf("%v closed %d: %v", c.RemoteAddr(), websocket.CloseStatus(err), err)
//
// # HTTP/2
//
// A browser that already holds an HTTP/2 connection to a site opens its
// WebSockets as streams of that connection, with an extended CONNECT (RFC
// 8441), when the server says it may: no new TCP or TLS handshake, and
// it works through infrastructure that speaks only HTTP/2. Upgrade,
// Handler and EventHandler accept such a request as they accept an
// HTTP/1.1 upgrade, with the same subprotocols, compression, origin
// policy, read limit and keepalive.
//
// Go 1.26's net/http offers extended CONNECT only when the process is
// started with GODEBUG=http2xconnect=1 in its environment (a //go:debug
// line does not do it); HTTP2Enabled reports whether it is on. Without
// it, nothing breaks: browsers use HTTP/1.1 for their WebSockets.
//
//	GODEBUG=http2xconnect=1 ./server
//
// What differs from HTTP/1.1:
//
//   - A route with a method, "GET /ws", does not match the CONNECT: use
//     "/ws".
//   - The stream ends when the handler returns. Handler and EventHandler
//     keep the handler until the connection closes; a handler that calls
//     Upgrade must itself not return while it uses the Conn.
//   - A browser whose extended CONNECT is refused does not retry over
//     HTTP/1.1: the refusal's status and text body say why (400, 403,
//     405, 426), and so does Upgrade's error.
//   - All of a browser's WebSockets to one origin share one HTTP/2
//     connection, whose limit on concurrent streams (250 by default, see
//     http.Server.HTTP2) also counts its ordinary requests.
//   - HTTP/2 flow control returns credit only as a stream is read, and
//     the credit of the whole connection is shared. So that one
//     WebSocket whose application stops reading cannot stall the others,
//     each stream is read as it arrives into a buffer, and a connection
//     that lets more than 1 MiB wait is closed with
//     StatusPolicyViolation.
//   - The server's ReadTimeout and WriteTimeout, meant for requests, do
//     not apply to the stream once upgraded, and Server.Shutdown closes
//     open WebSockets with StatusGoingAway instead of waiting for them.
//   - A browser whose page closes resets the stream without a close
//     frame: the read ends with StatusAbnormalClosure, as when a TCP
//     peer vanishes.
//   - A connection keeps the handler's goroutine and the stream's reader,
//     so EventHandler saves no goroutines over HTTP/2.
//
// Dial speaks HTTP/1.1 only: net/http's client refuses the :protocol
// pseudo-header of an extended CONNECT.
//
// # Clients
//
// Dial opens a connection as a client. It is small and meant for tests,
// tools and programs that talk to a server of their own. When the server
// refuses the handshake, the error is a *HandshakeError with the status,
// the header and the start of the body, so that a 401 is told from a 403
// with errors.As.
package websocket
