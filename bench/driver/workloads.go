package main

import (
	"fmt"
	"strings"
)

// A workload is one row of the tables.
type workload struct {
	name  string // as given to -workloads; the full-size name even under -quick
	label string // as printed: the name with the counts actually used
	mode  string // echo, idle or broadcast: the load generator's -mode
	size  int    // payload bytes
	conns int
	// window is the broadcast messages in flight at once: 1 waits for
	// each message to reach every subscriber before the next.
	window int
	// rate, if positive, paces echo at that many messages per second over
	// all the connections; zero lets each connection send its next
	// message as soon as its reply is in.
	rate int
	// z makes a compression row: the load generator offers
	// permessage-deflate as browsers do and sends a stream of JSON events
	// of about size bytes, and the servers are those of zservers.
	z bool
	// tls makes a row of the HTTP/2 comparison (h2.go): this library's
	// server over TLS, its "servers" the ways of h2Protos.
	tls bool
}

// pacedRate is the load of the paced echo rows, in messages per second:
// about half of what the load generator reaches on its core unpaced, and
// under what the slowest server serves, so that no side of a paced row
// runs flat out.
const pacedRate = 40000

// unit names what a workload's per-message figures are per.
func (w workload) unit() string {
	switch w.mode {
	case "idle":
		return "handshake"
	case "broadcast":
		return "delivery"
	}
	return "message"
}

// serverMode is the bench/server -mode for w.
func (w workload) serverMode() string {
	if w.mode == "broadcast" {
		return "broadcast"
	}
	return "echo"
}

// allWorkloads returns the workloads of the issue: echo of four sizes
// over 1, 64 and 1,000 connections, 10,000 idle connections, and a
// broadcast to 1,000 subscribers, one message at a time and with eight in
// flight. Echo of small messages on many connections comes twice: as fast
// as the load generator goes, and paced at pacedRate. Unpaced, those rows
// run the load generator flat out, and a server that needs less than it
// spends what it saves taking the messages in smaller batches, so the
// figure follows the load generator's speed as much as the server's; paced,
// every server takes the same messages per second and its CPU per message
// is its own. quick cuts the connection counts by ten (64 stays) so that
// a smoke test is fast.
func allWorkloads(quick bool) []workload {
	scale := func(n int) int {
		if quick && n > 64 {
			return n / 10
		}
		return n
	}
	var ws []workload
	echo := func(sizes, counts []int, rate int, suffix string) {
		for _, size := range sizes {
			for _, conns := range counts {
				ws = append(ws, workload{
					name:  fmt.Sprintf("echo-%s-%d%s", sizeName(size), conns, suffix),
					label: fmt.Sprintf("echo-%s-%d%s", sizeName(size), scale(conns), suffix),
					mode:  "echo",
					size:  size,
					conns: scale(conns),
					rate:  rate,
				})
			}
		}
	}
	echo([]int{16, 1 << 10, 16 << 10, 1 << 20}, []int{1, 64, 1000}, 0, "")
	echo([]int{16, 1 << 10}, []int{64, 1000}, pacedRate, "-paced")
	ws = append(ws,
		workload{
			name:  "idle-10000",
			label: fmt.Sprintf("idle-%d", scale(10000)),
			mode:  "idle",
			conns: scale(10000),
		},
		workload{
			name:   "broadcast-64B-1000",
			label:  fmt.Sprintf("broadcast-64B-%d", scale(1000)),
			mode:   "broadcast",
			size:   64,
			conns:  scale(1000),
			window: 1,
		},
		workload{
			name:   "broadcast-64B-1000-w8",
			label:  fmt.Sprintf("broadcast-64B-%d-w8", scale(1000)),
			mode:   "broadcast",
			size:   64,
			conns:  scale(1000),
			window: 8,
		},
	)
	// The compression rows: JSON events of about 1 KiB, echoed on 64 and
	// 1,000 connections and broadcast to 1,000 (one message in flight,
	// and eight), and 10,000 connections that negotiated compression, each
	// of which exchanges a few messages and then waits.
	for _, conns := range []int{64, 1000} {
		ws = append(ws, workload{
			name:  fmt.Sprintf("z-echo-json-1KiB-%d", conns),
			label: fmt.Sprintf("z-echo-json-1KiB-%d", scale(conns)),
			mode:  "echo",
			size:  1 << 10,
			conns: scale(conns),
			z:     true,
		})
	}
	ws = append(ws,
		workload{
			name:   "z-broadcast-json-1KiB-1000",
			label:  fmt.Sprintf("z-broadcast-json-1KiB-%d", scale(1000)),
			mode:   "broadcast",
			size:   1 << 10,
			conns:  scale(1000),
			window: 1,
			z:      true,
		},
		workload{
			name:   "z-broadcast-json-1KiB-1000-w8",
			label:  fmt.Sprintf("z-broadcast-json-1KiB-%d-w8", scale(1000)),
			mode:   "broadcast",
			size:   1 << 10,
			conns:  scale(1000),
			window: 8,
			z:      true,
		},
		workload{
			name:  "z-idle-10000",
			label: fmt.Sprintf("z-idle-%d", scale(10000)),
			mode:  "idle",
			size:  1 << 10,
			conns: scale(10000),
			z:     true,
		},
	)
	return ws
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// selectWorkloads keeps the workloads named in list, in the order of all;
// an empty list keeps all. A name matches either form of a workload's
// name, so that a -workloads list works with and without -quick.
func selectWorkloads(all []workload, list string) ([]workload, error) {
	if list == "" {
		return all, nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		want[strings.TrimSpace(name)] = true
	}
	var sel []workload
	for _, w := range all {
		if want[w.name] || want[w.label] {
			sel = append(sel, w)
			delete(want, w.name)
			delete(want, w.label)
		}
	}
	if len(want) > 0 {
		var names []string
		for _, w := range all {
			names = append(names, w.name)
		}
		var unknown []string
		for name := range want {
			unknown = append(unknown, name)
		}
		return nil, fmt.Errorf("unknown workloads %q (known: %s)", unknown, strings.Join(names, ","))
	}
	return sel, nil
}
