package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// figure is one table: which number of an outcome it shows and which way
// is better.
type figure struct {
	title  string
	value  func(outcome) float64
	lower  bool // lower is better
	ratios bool // print the ratio columns
	only   string
	z      bool // compression rows only
}

var figures = []figure{
	{
		title:  "Server CPU time per message, µs (broadcast: per delivery; idle: per handshake). Lower is better.",
		value:  func(o outcome) float64 { return o.cpu },
		lower:  true,
		ratios: true,
	},
	{
		title:  "Server read+write system calls per message (broadcast: per delivery; idle: per handshake). Lower is better.",
		value:  func(o outcome) float64 { return o.sys },
		lower:  true,
		ratios: true,
	},
	{
		title:  "Messages per second (broadcast: deliveries; idle: handshakes). Higher is better.",
		value:  func(o outcome) float64 { return o.rate },
		ratios: true,
	},
	{
		title:  "Round trip p50, µs (broadcast: publish to the last subscriber's copy). Lower is better.",
		value:  func(o outcome) float64 { return o.p50 },
		lower:  true,
		ratios: true,
	},
	{
		title:  "Round trip p99, µs. Lower is better.",
		value:  func(o outcome) float64 { return o.p99 },
		lower:  true,
		ratios: true,
	},
	{
		title:  "Payload bytes the server sent per message (broadcast: per delivery), compressed. Lower is better.",
		value:  func(o outcome) float64 { return o.wire },
		lower:  true,
		ratios: true,
		z:      true,
	},
	{
		title:  "Server resident memory growth per idle connection, KiB. Lower is better.",
		value:  func(o outcome) float64 { return o.rss },
		lower:  true,
		ratios: true,
		only:   "idle",
	},
	{
		title: "For reading the above: server CPU use in the window, % of its core (a server below 100% was waiting on the load generator or the kernel).",
		value: func(o outcome) float64 { return o.srvBusy },
	},
	{
		title: "For reading the above: load generator CPU use in the window, % of its core.",
		value: func(o outcome) float64 { return o.lgBusy },
	},
	{
		title: "For reading the above: CPU use of everything else in the window, % of one core: other processes, ksoftirqd, the hypervisor's steal, and interrupts that wake an idle CPU (a one-connection ping-pong shows some 20% from those alone). A cell far above the others of its row marks a disturbed run.",
		value: func(o outcome) float64 { return o.other },
	},
}

// report returns the markdown tables of the medians, and the problems.
func report(cfg config, res *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nMedians of %d repetition(s); window %s after %s of warmup; a fresh server per run; "+
		"server on CPU 0, load generator on CPU 1. Cells marked * lost some repetitions to errors; "+
		"err: every repetition failed. Ratios use the medians; "+
		"\"best other\" is the best of gorilla, coder, gobwas and gws. "+
		"Rows ending in -paced send %d messages per second over all their connections; "+
		"the other echo rows send each connection's next message as soon as its reply is in.\n",
		cfg.reps, cfg.duration, cfg.warmup, pacedRate)
	var plain, z []workload
	for _, w := range cfg.loads {
		if w.z {
			z = append(z, w)
		} else {
			plain = append(plain, w)
		}
	}
	for _, f := range figures {
		if !f.z {
			table(&b, plain, cfg.servers, ours, floor, res, f)
		}
	}
	spread(&b, cfg, plain, cfg.servers, res)
	if len(z) > 0 && len(cfg.zservers) > 0 {
		fmt.Fprintf(&b, "\n## Compression\n\nThe load generator offers permessage-deflate as browsers do "+
			"(\"permessage-deflate; client_max_window_bits\") and sends a stream of JSON events of about %d bytes, "+
			"compressed with context takeover when the server allows it. %s serves with context takeover, "+
			"LIB:nct without; \"best other\" is the best of the other libraries; %s is ours. "+
			"The idle row's connections each exchange %d messages before they wait, so that their windows hold "+
			"what a connection in use would; its CPU is per connection, handshake and messages.\n",
			z[0].size, "LIB:z", zours, 8)
		for _, f := range figures {
			table(&b, z, cfg.zservers, zours, "", res, f)
		}
		spread(&b, cfg, z, cfg.zservers, res)
	}
	if len(res.notes) > 0 {
		b.WriteString("\n## Problems\n\n")
		for _, n := range res.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	} else {
		b.WriteString("\nNo problems: every run finished, no server wrote to stderr or exited with an error.\n")
	}
	return b.String()
}

// table prints figure f for the workloads of loads (those f is for) and
// the servers cols, with the ratios of oursName to the best other and to
// floorName ("" for none).
func table(b *strings.Builder, loads []workload, cols []string, oursName, floorName string, res *results, f figure) {
	var rows []workload
	for _, w := range loads {
		if f.only == "" || f.only == w.mode {
			rows = append(rows, w)
		}
	}
	if len(rows) == 0 || len(cols) == 0 {
		return
	}
	fmt.Fprintf(b, "\n### %s\n\n| workload |", f.title)
	for _, s := range cols {
		fmt.Fprintf(b, " %s |", s)
	}
	if f.ratios {
		b.WriteString(" ours / best other |")
		if floorName != "" {
			b.WriteString(" ours / tcp floor |")
		}
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---:|")
	}
	if f.ratios {
		b.WriteString("---:|")
		if floorName != "" {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, w := range rows {
		fmt.Fprintf(b, "| %s |", w.label)
		med := map[string]float64{}
		for _, s := range cols {
			v, ok, partial := median(res.cells[cell{w.label, s}], f.value)
			switch {
			case ok && math.IsNaN(v):
				b.WriteString(" – |")
				continue
			case !ok:
				b.WriteString(" err |")
			case partial:
				fmt.Fprintf(b, " %s* |", num(v))
			default:
				fmt.Fprintf(b, " %s |", num(v))
			}
			if ok {
				med[s] = v
			}
		}
		if f.ratios {
			fmt.Fprintf(b, " %s |", bestRatio(med, oursName, f.lower))
			if floorName != "" {
				fmt.Fprintf(b, " %s |", floorRatio(med, oursName, floorName, w))
			}
		}
		b.WriteString("\n")
	}
}

// median returns the median of f over the runs that succeeded, whether
// any did, and whether some did not.
func median(os []outcome, f func(outcome) float64) (v float64, ok, partial bool) {
	var vs []float64
	for _, o := range os {
		if o.ok {
			vs = append(vs, f(o))
		}
	}
	if len(vs) == 0 {
		return 0, false, false
	}
	sort.Float64s(vs)
	n := len(vs)
	if n%2 == 1 {
		v = vs[n/2]
	} else {
		v = (vs[n/2-1] + vs[n/2]) / 2
	}
	return v, true, len(vs) < len(os)
}

// bestRatio is oursName's figure divided by the best other library's.
func bestRatio(med map[string]float64, oursName string, lower bool) string {
	o, ok := med[oursName]
	if !ok {
		return "–"
	}
	best, found := 0.0, false
	for s, v := range med {
		if strings.HasPrefix(s, ours) || s == floor {
			continue
		}
		if !found || lower && v < best || !lower && v > best {
			best, found = v, true
		}
	}
	return ratio(o, best, found)
}

// floorRatio is oursName's figure divided by floorName's, for echo and
// broadcast workloads.
func floorRatio(med map[string]float64, oursName, floorName string, w workload) string {
	o, ok1 := med[oursName]
	t, ok2 := med[floorName]
	if w.mode == "idle" || !ok1 {
		return "–"
	}
	return ratio(o, t, ok2)
}

func ratio(a, b float64, ok bool) string {
	if !ok || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// num prints v with three significant digits or as a whole number.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	}
	return fmt.Sprintf("%.3g", v)
}

// spread shows how far apart the repetitions of the headline figure were:
// (max−min)/median, so a reader can tell a real difference from noise.
func spread(b *strings.Builder, cfg config, loads []workload, cols []string, res *results) {
	if cfg.reps < 2 || len(loads) == 0 || len(cols) == 0 {
		return
	}
	fmt.Fprintf(b, "\n### Spread of server CPU per message across repetitions, (max − min) / median, %%.\n\n| workload |")
	for _, s := range cols {
		fmt.Fprintf(b, " %s |", s)
	}
	b.WriteString("\n|---|")
	for range cols {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, w := range loads {
		fmt.Fprintf(b, "| %s |", w.label)
		for _, s := range cols {
			var vs []float64
			for _, o := range res.cells[cell{w.label, s}] {
				if o.ok {
					vs = append(vs, o.cpu)
				}
			}
			m, ok, _ := median(res.cells[cell{w.label, s}], func(o outcome) float64 { return o.cpu })
			if len(vs) < 2 || !ok || m == 0 {
				b.WriteString(" – |")
				continue
			}
			sort.Float64s(vs)
			fmt.Fprintf(b, " %.0f |", 100*(vs[len(vs)-1]-vs[0])/m)
		}
		b.WriteString("\n")
	}
}
