// Package devtls is what the examples share to serve over TLS with -tls:
// a self-signed certificate for localhost, made in memory when the
// program starts, and a line for the log that says whether WebSockets go
// over HTTP/2.
//
// Browsers speak HTTP/2 only over TLS, so it takes TLS to see a WebSocket
// open as a stream of the page's own HTTP/2 connection (RFC 8441). The
// browser warns once about the certificate, which nobody vouches for; it
// is meant for trying the examples on one's own machine, never for a
// server that others reach.
package devtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/rfc6455/websocket"
)

// hosts are the names and addresses the certificate is valid for.
var hosts = []string{"localhost", "127.0.0.1", "::1"}

// validFor is how long a certificate lasts: longer than anyone keeps an
// example running, short enough that a copy left somewhere soon expires.
const validFor = 30 * 24 * time.Hour

// Config returns a TLS configuration that serves a new self-signed
// certificate for localhost, 127.0.0.1 and ::1, with a new ECDSA P-256 key. Nothing is written
// to disk: each start makes its own, which is why the browser asks again.
// Serve with http.Server.ServeTLS(ln, "", ""), which offers HTTP/2 and
// HTTP/1.1 by ALPN.
func Config() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devtls: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("devtls: serial number: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"rfc6455/websocket examples (self-signed)"},
			CommonName:   "localhost",
		},
		// An hour back, so that a clock a little behind still accepts it.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			template.IPAddresses = append(template.IPAddresses, ip)
		} else {
			template.DNSNames = append(template.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devtls: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devtls: certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
	}, nil
}

// HTTP2Status says, for a line of the start-up log of examples/NAME,
// whether its WebSockets can go over HTTP/2 (websocket.HTTP2Enabled), and
// how to get there when they cannot.
func HTTP2Status(name string, useTLS bool) string {
	run := fmt.Sprintf("GODEBUG=http2xconnect=1 go run ./examples/%s -tls", name)
	switch on := websocket.HTTP2Enabled(); {
	case on && useTLS:
		return "WebSockets over HTTP/2: on (extended CONNECT, RFC 8441): a browser opens them as streams of the page's HTTP/2 connection"
	case useTLS:
		return "WebSockets over HTTP/2: off, so browsers open them on HTTP/1.1 connections of their own; to turn them on: " + run
	case on:
		return "WebSockets over HTTP/2: on, but browsers speak HTTP/2 only over TLS; add -tls: " + run
	default:
		return "WebSockets over HTTP/2: off (HTTP/1.1 only without -tls); to try them: " + run
	}
}
