module github.com/rfc6455/websocket/internal/h2test

go 1.26.0

replace github.com/rfc6455/websocket => ../..

require (
	github.com/rfc6455/websocket v0.0.0-00010101000000-000000000000
	golang.org/x/net v0.63.0
)

require golang.org/x/text v0.44.0 // indirect
