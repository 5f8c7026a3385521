package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// h2What names a row of the HTTP/2 report without the way it ran.
func h2What(w workload) string {
	if w.mode == "idle" {
		return fmt.Sprintf("%s idle", thousands(w.conns))
	}
	return fmt.Sprintf("echo %s × %d at %s/s", sizeName(w.size), w.conns, thousands(w.rate))
}

// h2Label names a row of the HTTP/2 report: w run the way proto.
func h2Label(w workload, proto string) string {
	what := h2What(w)
	if proto == protoHTTP2 {
		return fmt.Sprintf("%s, HTTP/2: %s streams of 1 TLS connection", what, thousands(w.conns))
	}
	return fmt.Sprintf("%s, HTTP/1.1: %s TLS connections", what, thousands(w.conns))
}

// thousands prints n with a comma between thousands: 1,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// h2Column is a column of the HTTP/2 report: a figure of an outcome,
// whether its ratio HTTP/2 / HTTP/1.1 is worth printing, and whether that
// ratio is a headline, printed in bold.
type h2Column struct {
	title    string
	value    func(outcome) float64
	ratio    bool
	headline bool
}

// h2Report returns the markdown of the HTTP/2 comparison: a table of the
// medians of each kind of row, with the ratio HTTP/2 / HTTP/1.1 under
// each pair, the range of that ratio over the repetitions, the spread,
// and the problems.
func h2Report(cfg config, res *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## HTTP/2 against HTTP/1.1\n\n"+
		"Medians of %d repetition(s); window %s after %s of warmup; a fresh server per run. "+
		"This library's server (EventHandler) over TLS, a self-signed certificate, HTTP/2 and HTTP/1.1 offered by ALPN "+
		"and extended CONNECT turned on (GODEBUG=http2xconnect=1). "+
		"HTTP/1.1: each WebSocket is a TLS connection of its own, upgraded. "+
		"HTTP/2: every WebSocket is a stream of one TLS connection, opened with an extended CONNECT (RFC 8441), "+
		"the client golang.org/x/net/http2's. Server on CPU 0, load generator on CPU 1. "+
		"Cells marked * lost some repetitions to errors; err: every repetition failed. "+
		"The ratio rows divide the medians.\n",
		cfg.reps, cfg.duration, cfg.warmup)

	var echo, idle []workload
	for _, w := range cfg.loads {
		if w.mode == "idle" {
			idle = append(idle, w)
		} else {
			echo = append(echo, w)
		}
	}
	// µs of CPU per message or per handshake, and the rest.
	cpu := func(o outcome) float64 { return o.cpu }
	lg := func(o outcome) float64 { return o.lg }
	if len(echo) > 0 {
		b.WriteString("\n### Echo, paced\n\nCPU time per message, µs; lower is better. " +
			"The load generator's CPU, its allocations, and the CPU use of each side and of everything else on the machine " +
			"(other processes, interrupts, the hypervisor's steal; in % of one core) are there to read the rest by.\n")
		h2Table(&b, echo, res, []h2Column{
			{"messages/s", func(o outcome) float64 { return o.rate }, false, false},
			{"server CPU µs/message", cpu, true, true},
			{"load generator CPU µs/message", lg, true, false},
			{"p50 µs", func(o outcome) float64 { return o.p50 }, true, false},
			{"p99 µs", func(o outcome) float64 { return o.p99 }, true, false},
			{"server read+write syscalls/message", func(o outcome) float64 { return o.sys }, true, false},
			{"load generator allocations/message", func(o outcome) float64 { return o.allocs }, true, false},
			{"server busy %", func(o outcome) float64 { return o.srvBusy }, false, false},
			{"load generator busy %", func(o outcome) float64 { return o.lgBusy }, false, false},
			{"everything else %", func(o outcome) float64 { return o.other }, false, false},
		})
	}
	if len(idle) > 0 {
		b.WriteString("\n### Idle WebSockets\n\nPer WebSocket, lower is better: the server's CPU while they were opened " +
			"(TLS handshakes included), and the growth of its memory once they are open and idle against before: " +
			"resident (VmRSS, read at once), and, after a garbage collection, the Go heap in use, the goroutine stacks, " +
			"and the goroutines (the server's /debug/stats). " +
			fmt.Sprintf("CPU time is counted in ticks of %.0f ms, %s µs a WebSocket over %s: ", 1000/cfg.hz,
				num(1e6/cfg.hz/float64(max(idle[0].conns, 1))), thousands(idle[0].conns)) +
			"over HTTP/2, where opening them takes a few ticks in all, the CPU columns say little more than that.\n")
		h2Table(&b, idle, res, []h2Column{
			{"server CPU µs/WebSocket", cpu, true, false},
			{"RSS KiB/WebSocket", func(o outcome) float64 { return o.rss }, true, true},
			{"Go heap in use KiB/WebSocket", func(o outcome) float64 { return o.heap }, true, true},
			{"goroutine stacks KiB/WebSocket", func(o outcome) float64 { return o.stacks }, true, false},
			{"goroutines/WebSocket", func(o outcome) float64 { return o.goroutines }, true, false},
			{"load generator CPU µs/WebSocket", lg, true, false},
			{"everything else %", func(o outcome) float64 { return o.other }, false, false},
		})
	}

	if cfg.quick {
		fmt.Fprintf(&b, "\nA smoke test (-quick): windows this short give figures that mean nothing "+
			"(CPU time is counted in ticks of %.0f ms); they are printed only to show that every part ran.\n", 1000/cfg.hz)
	}
	if cfg.reps >= 2 {
		b.WriteString("\nThe ratio HTTP/2 / HTTP/1.1 of each repetition (both ran in it, one after the other), " +
			"and the spread of each row's figure, (max − min) / median:\n\n")
		type figure struct {
			what string
			f    func(outcome) float64
		}
		for _, w := range cfg.loads {
			figs := []figure{{"server CPU per message", cpu}}
			if w.mode == "idle" {
				figs = []figure{
					{"RSS per WebSocket", func(o outcome) float64 { return o.rss }},
					{"Go heap per WebSocket", func(o outcome) float64 { return o.heap }},
				}
			}
			for _, fig := range figs {
				fmt.Fprintf(&b, "- %s, %s: ratios %s; spread %s (HTTP/1.1), %s (HTTP/2)\n", h2What(w), fig.what,
					repRatios(res.cells[cell{w.label, protoHTTP2}], res.cells[cell{w.label, protoHTTP1}], fig.f),
					spreadOf(res.cells[cell{w.label, protoHTTP1}], fig.f), spreadOf(res.cells[cell{w.label, protoHTTP2}], fig.f))
			}
		}
	}

	var timing, other []string
	for _, n := range res.notes {
		if strings.Contains(n, notKeptUp) {
			timing = append(timing, n)
		} else {
			other = append(other, n)
		}
	}
	if len(res.notes) > 0 {
		b.WriteString("\n### Problems\n\n")
		for _, n := range append(timing, other...) {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	} else {
		b.WriteString("\nNo problems: every run finished and kept up with its pace, " +
			"and no server wrote to stderr or exited with an error.\n")
	}
	return b.String()
}

// h2Table prints the columns cols for the rows loads, each run both ways,
// with a row of the ratios HTTP/2 / HTTP/1.1 under each pair.
func h2Table(b *strings.Builder, loads []workload, res *results, cols []h2Column) {
	b.WriteString("\n| row |")
	for _, c := range cols {
		b.WriteString(" " + c.title + " |")
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(cols)) + "\n")
	for _, w := range loads {
		med := map[string][]float64{}
		okAll := map[string][]bool{}
		for _, proto := range h2Protos {
			fmt.Fprintf(b, "| %s |", h2Label(w, proto))
			for _, c := range cols {
				v, ok, partial := median(res.cells[cell{w.label, proto}], c.value)
				med[proto] = append(med[proto], v)
				okAll[proto] = append(okAll[proto], ok)
				switch {
				case !ok:
					b.WriteString(" err |")
				case math.IsNaN(v):
					b.WriteString(" – |")
				case partial:
					b.WriteString(" " + num(v) + "* |")
				default:
					b.WriteString(" " + num(v) + " |")
				}
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(b, "| %s: HTTP/2 / HTTP/1.1 |", h2What(w))
		for i, c := range cols {
			h1, h2 := med[protoHTTP1][i], med[protoHTTP2][i]
			if !c.ratio || !okAll[protoHTTP1][i] || !okAll[protoHTTP2][i] || math.IsNaN(h1) || math.IsNaN(h2) {
				b.WriteString(" – |")
				continue
			}
			r := ratio(h2, h1, true)
			if c.headline && r != "–" {
				r = "**" + r + "**"
			}
			b.WriteString(" " + r + " |")
		}
		b.WriteString("\n")
	}
}

// repRatios is the range of the ratios a/b of f over the repetitions in
// which both ran.
func repRatios(a, b []outcome, f func(outcome) float64) string {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if a[i].ok && b[i].ok && f(b[i]) > 0 {
			rs = append(rs, f(a[i])/f(b[i]))
		}
	}
	if len(rs) == 0 {
		return "–"
	}
	sort.Float64s(rs)
	if len(rs) == 1 {
		return fmt.Sprintf("%.2f×", rs[0])
	}
	return fmt.Sprintf("%.2f–%.2f×", rs[0], rs[len(rs)-1])
}

// spreadOf is (max − min) / median of f over the runs that succeeded.
func spreadOf(os []outcome, f func(outcome) float64) string {
	var vs []float64
	for _, o := range os {
		if o.ok {
			vs = append(vs, f(o))
		}
	}
	m, ok, _ := median(os, f)
	if len(vs) < 2 || !ok || m == 0 {
		return "–"
	}
	sort.Float64s(vs)
	return fmt.Sprintf("%.0f%%", 100*(vs[len(vs)-1]-vs[0])/m)
}
