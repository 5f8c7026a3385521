package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// The HTTP/2 comparison (-h2): this library's server (EventHandler) over
// TLS, its WebSockets opened two ways in the same run:
//
//   - http1.1: each WebSocket a TLS connection of its own that agreed on
//     HTTP/1.1 by ALPN and was upgraded (bench/loadgen -tls);
//   - http2: every WebSocket a stream of one TLS connection that agreed on
//     HTTP/2, opened with an extended CONNECT (RFC 8441), as a browser
//     opens its WebSockets to an origin it already talks HTTP/2 to
//     (bench/loadgen -h2).
//
// The server is bench/server -tls: a self-signed certificate made at
// start-up, HTTP/2 and HTTP/1.1 offered by ALPN, and GODEBUG=http2xconnect=1
// in its environment, without which net/http refuses extended CONNECT.
// Rows: paced echo of 1 KiB and 16 KiB messages on 64 WebSockets, and
// 1,000 idle WebSockets, whose memory is read from /proc and, for the Go
// heap, stacks and goroutines, from the server's /debug/stats.

// The two ways, the "servers" of the -h2 rows.
const (
	protoHTTP1 = "http1.1"
	protoHTTP2 = "http2"
)

var h2Protos = []string{protoHTTP1, protoHTTP2}

// Defaults of the echo rows' rates, messages per second over the 64
// WebSockets: a pace both ways keep up with, the server and the load
// generator well under their cores (README.md, HTTP/2), so that each
// spends on a message what it needs.
const (
	defaultH2Rate1KiB  = 10000
	defaultH2Rate16KiB = 4000
)

// h2Conns is the WebSockets of the echo rows; h2Idle those of the idle
// row, cut by ten under -quick.
const (
	h2Conns = 64
	h2Idle  = 1000
)

// h2Workloads returns the rows of the HTTP/2 comparison, at rates r1 (1
// KiB) and r16 (16 KiB).
func h2Workloads(quick bool, r1, r16 int) []workload {
	idle := h2Idle
	if quick {
		idle /= 10
	}
	var ws []workload
	for _, s := range []struct{ size, rate int }{{1 << 10, r1}, {16 << 10, r16}} {
		name := fmt.Sprintf("tls-echo-%s-%d-paced", sizeName(s.size), h2Conns)
		ws = append(ws, workload{name: name, label: name, mode: "echo", size: s.size, conns: h2Conns, rate: s.rate, tls: true})
	}
	ws = append(ws, workload{
		name:  fmt.Sprintf("tls-idle-%d", h2Idle),
		label: fmt.Sprintf("tls-idle-%d", idle),
		mode:  "idle",
		conns: idle,
		tls:   true,
	})
	return ws
}

// parseH2Rates reads -h2-rates: the 1 KiB and the 16 KiB rows' rates.
func parseH2Rates(s string) (r1, r16 int, err error) {
	a, b, ok := strings.Cut(s, ",")
	if ok {
		r1, err = strconv.Atoi(strings.TrimSpace(a))
		if err == nil {
			r16, err = strconv.Atoi(strings.TrimSpace(b))
		}
	}
	if !ok || err != nil || r1 < 1 || r16 < 1 {
		return 0, 0, fmt.Errorf("-h2-rates %q: want two positive rates, 1 KiB's and 16 KiB's, as in %d,%d",
			s, defaultH2Rate1KiB, defaultH2Rate16KiB)
	}
	return r1, r16, nil
}

// tlsArgs returns what the server and the load generator are given for
// a -h2 row run the way proto.
func tlsArgs(proto string) (server, loadgen []string) {
	if proto == protoHTTP2 {
		return []string{"-tls"}, []string{"-h2"}
	}
	return []string{"-tls"}, []string{"-tls"}
}

// xconnectEnv returns the environment of a -tls server: the driver's,
// with http2xconnect=1 added to GODEBUG, which net/http reads when the
// process starts.
func xconnectEnv() []string {
	var env []string
	godebug := "http2xconnect=1"
	for _, kv := range os.Environ() {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			if v != "" {
				godebug = v + "," + godebug
			}
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GODEBUG="+godebug)
}

// srvStats is bench/server's answer on /debug/stats, taken after a
// garbage collection.
type srvStats struct {
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	StackInuse uint64 `json:"stack_inuse"`
}

// statsClient asks a -tls server for its stats, over a TLS connection
// of its own that speaks HTTP/1.1 and is closed after each request, so
// that it is not among the connections measured.
var statsClient = &http.Client{
	Timeout: readyTimeout,
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: true,
	},
}

func readStats(addr string) (srvStats, error) {
	var s srvStats
	resp, err := statsClient.Get("https://" + addr + "/debug/stats")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("/debug/stats: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, fmt.Errorf("/debug/stats: %w", err)
	}
	return s, nil
}

// keptUp is the part of a paced row's nominal rate under which a run is
// reported as not keeping up.
const keptUp = 0.95

// notKeptUp is how the problem of a paced -h2 row that fell behind its
// rate begins: a busy machine, or a rate too high for the way it ran.
const notKeptUp = "did not keep up"
