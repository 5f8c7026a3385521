package devtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rfc6455/websocket"
)

const testTimeout = 10 * time.Second

// The certificate is self-signed and valid, today, for the names a user
// types to reach an example on their own machine, and for nothing else.
func TestCertificateIsValidForLocalhost(t *testing.T) {
	cfg, err := Config()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 || len(cfg.Certificates[0].Certificate) != 1 {
		t.Fatalf("want one certificate, alone in its chain")
	}
	cert, err := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if cert.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithm %v, want ECDSA", cert.PublicKeyAlgorithm)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("not valid for %s: %v", host, err)
		}
	}
	for _, host := range []string{"example.com", "10.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err == nil {
			t.Errorf("valid for %s too", host)
		}
	}
	// Each start makes a new one.
	again, err := Config()
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Certificates[0].Certificate[0]) == string(cfg.Certificates[0].Certificate[0]) {
		t.Error("two calls gave the same certificate")
	}
}

// A server that serves Config with ServeTLS speaks HTTP/2, agreed by
// ALPN, and HTTP/1.1 to a client that offers only that.
func TestServeTLSNegotiatesHTTP2(t *testing.T) {
	cfg, err := Config()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig: cfg,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.Proto)
		}),
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })

	cert, _ := x509.ParseCertificate(cfg.Certificates[0].Certificate[0])
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	addr := ln.Addr().String()
	port := addr[strings.LastIndex(addr, ":")+1:]
	tests := []struct {
		name, url, proto, alpn string
		http1Only              bool
	}{
		{"127.0.0.1", "https://127.0.0.1:" + port + "/", "HTTP/2.0", "h2", false},
		{"localhost", "https://localhost:" + port + "/", "HTTP/2.0", "h2", false},
		{"HTTP/1.1 only", "https://localhost:" + port + "/", "HTTP/1.1", "http/1.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: roots},
				ForceAttemptHTTP2: !tt.http1Only,
				// localhost is the listener's 127.0.0.1, whatever the
				// resolver says first.
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return new(net.Dialer).DialContext(ctx, network, addr)
				},
			}
			if tt.http1Only {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
				tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
			}
			t.Cleanup(tr.CloseIdleConnections)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tt.url, nil)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.TLS == nil || resp.TLS.NegotiatedProtocol != tt.alpn {
				t.Fatalf("ALPN agreed on %q, want %q", resp.TLS.NegotiatedProtocol, tt.alpn)
			}
			if resp.Proto != tt.proto || string(body) != tt.proto {
				t.Fatalf("the client saw %s, the server %s; want %s", resp.Proto, body, tt.proto)
			}
		})
	}
}

// The start-up line says whether WebSockets go over HTTP/2 and, when they
// do not, the command that makes them.
func TestHTTP2Status(t *testing.T) {
	const command = "GODEBUG=http2xconnect=1 go run ./examples/echo -tls"
	on := websocket.HTTP2Enabled() // go test leaves GODEBUG as it finds it
	for _, useTLS := range []bool{true, false} {
		got := HTTP2Status("echo", useTLS)
		switch {
		case on && useTLS:
			if !strings.HasPrefix(got, "WebSockets over HTTP/2: on (") || strings.Contains(got, command) {
				t.Errorf("on, -tls: %q", got)
			}
		case on:
			if !strings.HasPrefix(got, "WebSockets over HTTP/2: on, but") || !strings.Contains(got, "add -tls") {
				t.Errorf("on, no -tls: %q, want it to ask for -tls", got)
			}
		default:
			if !strings.HasPrefix(got, "WebSockets over HTTP/2: off") || !strings.Contains(got, command) {
				t.Errorf("off, -tls=%v: %q, want off and the command that turns it on", useTLS, got)
			}
		}
	}
}
