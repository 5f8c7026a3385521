// TLS mode (-tls), for the driver's HTTP/2 comparison: this library's
// server (rfc6455 or rfc6455-handler) on a net/http server over TLS,
// with a self-signed certificate made in memory at start-up, offering
// HTTP/2 and HTTP/1.1 by ALPN. A client that picks HTTP/1.1 upgrades its
// connection as usual; one that picks HTTP/2 opens each WebSocket as an
// extended CONNECT on a stream of it (RFC 8441), which net/http allows
// only when the process starts with GODEBUG=http2xconnect=1 in its
// environment: the driver sets it.
//
// GET /debug/stats answers, after a garbage collection, the process's
// goroutines and Go memory as JSON (statsReply), so that the driver can
// tell what an idle connection costs beyond its resident memory.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"log"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/rfc6455/websocket"
)

// useTLS is the -tls flag.
var useTLS bool

// maxStreams is the server's limit on concurrent streams of one HTTP/2
// connection. net/http's default, 250, would keep the 1,000 WebSockets
// of the driver's idle row from sharing one connection: the client would
// wait for a free stream. A browser's WebSockets to one origin share one
// connection likewise, so a server that expects many from one client
// raises it the same way.
const maxStreams = 10000

// statsPath is where the server answers with statsReply.
const statsPath = "/debug/stats"

// statsReply is the answer on statsPath.
type statsReply struct {
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`  // bytes in in-use spans of the heap, after a GC
	HeapAlloc  uint64 `json:"heap_alloc"`  // bytes of live objects, after a GC
	StackInuse uint64 `json:"stack_inuse"` // bytes of goroutine stacks
	Sys        uint64 `json:"sys"`         // bytes obtained from the OS
}

// serveHTTP serves h on ln: over TLS with -tls, in plain HTTP/1.1
// otherwise.
func serveHTTP(ln net.Listener, h http.Handler) error {
	if !useTLS {
		return (&http.Server{Handler: h}).Serve(ln)
	}
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	if !websocket.HTTP2Enabled() {
		// Not fatal: HTTP/1.1 works. The driver reports what a server
		// writes to stderr as a problem of the run.
		log.Print("extended CONNECT is off (GODEBUG lacks http2xconnect=1): WebSockets over HTTP/2 will be refused")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+statsPath, serveStats)
	// Not "/": a pattern without a method matches the CONNECT, which a
	// method would not.
	mux.Handle("/", h)
	srv := &http.Server{
		Handler:   mux,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		HTTP2:     &http.HTTP2Config{MaxConcurrentStreams: maxStreams},
	}
	// ServeTLS adds "h2" to the protocols offered by ALPN.
	return srv.ServeTLS(ln, "", "")
}

func serveStats(w http.ResponseWriter, _ *http.Request) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(statsReply{
		Goroutines: runtime.NumGoroutine(),
		HeapInuse:  ms.HeapInuse,
		HeapAlloc:  ms.HeapAlloc,
		StackInuse: ms.StackInuse,
		Sys:        ms.Sys,
	})
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, signed by
// its own new P-256 key, valid for a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "bench server"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
