module example.com/migrating/coder-echo/after

go 1.26

replace github.com/rfc6455/websocket => ../../..

require github.com/rfc6455/websocket v0.0.0-00010101000000-000000000000
