module github.com/rfc6455/websocket/examples/cluster

go 1.26.0

replace github.com/rfc6455/websocket => ../..

replace github.com/rfc6455/websocket/bus/nats => ../../bus/nats

replace github.com/rfc6455/websocket/bus/redis => ../../bus/redis

require (
	github.com/nats-io/nats-server/v2 v2.15.3
	github.com/nats-io/nats.go v1.56.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/rfc6455/websocket v0.0.0-00010101000000-000000000000
	github.com/rfc6455/websocket/bus/nats v0.0.0-00010101000000-000000000000
	github.com/rfc6455/websocket/bus/redis v0.0.0-00010101000000-000000000000
)

require (
	github.com/antithesishq/antithesis-sdk-go v0.9.0-default-no-op // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/google/go-tpm v0.9.8 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/minio/highwayhash v1.0.4 // indirect
	github.com/nats-io/jwt/v2 v2.8.3 // indirect
	github.com/nats-io/nkeys v0.4.17 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)
