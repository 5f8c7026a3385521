// Package h2test holds the tests of WebSockets over HTTP/2 (RFC 8441).
// They need GODEBUG=http2xconnect=1 in the environment when the process
// starts, which net/http reads once; TestMain starts the test binary
// again with it when it is missing, so that `go test ./...` runs them as
// it is.
package h2test
