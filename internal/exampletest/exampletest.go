// Package exampletest runs an example's main as a process of its own, as
// a user would start it, for the examples' tests: its flags, its
// "listening on" line, its log, and its shutdown on Ctrl-C.
//
// The process is the example's test binary started again, whose TestMain
// (Main) runs the example's main instead of the tests, so nothing is
// built.
package exampletest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Timeout bounds every wait: for a line of the log, for the server to
// answer, for it to stop.
const Timeout = 10 * time.Second

const runMainEnv = "EXAMPLETEST_RUN_MAIN"

// Main is an example's TestMain: in a process that Start started it runs
// main, with the arguments Start gave, and exits; otherwise it runs the
// tests.
func Main(m *testing.M, main func()) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Process is an example running as a process of its own.
type Process struct {
	// URL is where the example says it listens, from its "listening on"
	// line: "https://127.0.0.1:40123" with -tls.
	URL string

	cmd  *exec.Cmd
	done chan struct{} // closed once the log has ended

	mu    sync.Mutex
	lines []string
	more  chan struct{} // signalled when a line arrives
}

// Start runs the example with -addr 127.0.0.1:0 and args, and waits for
// its "listening on" line. The process is stopped when the test ends, as
// Ctrl-C stops it.
func Start(t *testing.T, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{}), more: make(chan struct{}, 1)}
	go func() {
		defer close(p.done)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, s.Text())
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { p.stop(t) })
	line := p.WaitLog(t, "listening on ")
	p.URL = strings.TrimSpace(line[strings.Index(line, "listening on ")+len("listening on "):])
	return p
}

// WaitLog waits until the example has logged a line that contains s, and
// returns the first such line.
func (p *Process) WaitLog(t *testing.T, s string) string {
	t.Helper()
	timeout := time.NewTimer(Timeout)
	defer timeout.Stop()
	for {
		p.mu.Lock()
		for _, line := range p.lines {
			if strings.Contains(line, s) {
				p.mu.Unlock()
				return line
			}
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-p.done:
			// The log has ended: look once more, then give up.
			p.mu.Lock()
			found := false
			for _, line := range p.lines {
				found = found || strings.Contains(line, s)
			}
			p.mu.Unlock()
			if !found {
				t.Fatalf("the example ended without logging %q; it logged:\n%s", s, p.Log())
			}
		case <-timeout.C:
			t.Fatalf("no log line with %q within %v; the example logged:\n%s", s, Timeout, p.Log())
		}
	}
}

// Log returns what the example has logged so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// stop interrupts the example, as Ctrl-C does, and waits for it to exit;
// one that does not within Timeout is killed, and the test fails.
func (p *Process) stop(t *testing.T) {
	p.cmd.Process.Signal(os.Interrupt)
	exited := make(chan error, 1)
	go func() {
		<-p.done // Wait closes the pipe: let the reader finish first
		exited <- p.cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the example exited with %v; it logged:\n%s", err, p.Log())
		}
	case <-time.After(Timeout):
		p.cmd.Process.Kill()
		<-exited
		t.Errorf("the example did not stop within %v of an interrupt; it logged:\n%s", Timeout, p.Log())
	}
}

// TLSConfig connects to the example over TLS and checks the certificate
// it presents: one alone, self-signed, valid for localhost and for
// 127.0.0.1. It returns a client configuration that trusts that
// certificate and no other. It offers no protocol by ALPN, so that a
// client that speaks HTTP/1.1 only, as websocket.Dial does, gets it.
func (p *Process) TLSConfig(t *testing.T) *tls.Config {
	t.Helper()
	host := strings.TrimPrefix(p.URL, "https://")
	if host == p.URL {
		t.Fatalf("the example listens on %s, not https://", p.URL)
	}
	// No verification here: this connection only fetches the
	// certificate, which is checked below.
	conn, err := tls.DialWithDialer(&netDialer, "tcp", host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	chain := conn.ConnectionState().PeerCertificates
	conn.Close()
	if len(chain) != 1 {
		t.Fatalf("the example presents %d certificates, want one, self-signed", len(chain))
	}
	roots := x509.NewCertPool()
	roots.AddCert(chain[0])
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("the certificate is not valid for %s: %v", name, err)
		}
	}
	return &tls.Config{RootCAs: roots}
}

var netDialer = net.Dialer{Timeout: Timeout}

// Get fetches path from the example over TLS, trusting cfg's roots and
// offering HTTP/2 and HTTP/1.1 by ALPN, as a browser does, and returns
// the response with its body read.
func (p *Process) Get(t *testing.T, cfg *tls.Config, path string) (*http.Response, []byte) {
	t.Helper()
	// A clone: the Transport adds h2 to the NextProtos of its
	// configuration, and cfg is also for websocket.Dial, which speaks
	// HTTP/1.1 only and would be answered in HTTP/2.
	tr := &http.Transport{TLSClientConfig: cfg.Clone(), ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}
