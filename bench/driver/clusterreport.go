package main

import (
	"fmt"
	"sort"
	"strings"
)

// clusterReport returns the markdown of the cluster comparison: one table
// of the medians, the ratios cluster/single against the target, the
// spread of the headline, and the problems.
func clusterReport(cfg config, res *clusterResults) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Cluster broadcast\n\n"+
		"Medians of %d repetition(s); window %s after %s of warmup; fresh processes per run. "+
		"%d subscribers in all: on one process without a bus (single), or %d on each of %d nodes "+
		"whose hubs share broadcasts over a bus process. The load generator publishes %d messages a second, "+
		"each through the next node in turn, so %d deliveries a second are due. "+
		"The row with no bus is three nodes to each of which the load generator publishes every message: "+
		"what three processes cost without the bus's part; the target is not for it. "+
		"Nodes and bus on CPU 0, load generator on CPU 1. "+
		"CPU is that of the nodes and the bus together, per delivery; the load generator's is apart. "+
		"Latency is from the publish to the copy of the last subscriber of all. "+
		"Cells marked * lost some repetitions to errors; err: every repetition failed.\n\n",
		cfg.reps, cfg.duration, cfg.warmup, cfg.clusterSubs, cfg.clusterSubs/clusterNodes, clusterNodes,
		cfg.clusterRate, cfg.clusterRate*cfg.clusterSubs)
	configs := append([]string{""}, cfg.buses...)
	type column struct {
		title string
		cell  func(row clusterRow, cs []clusterOutcome) string
	}
	// val prints the median of f; none, if set, says the row has no such
	// figure.
	val := func(f func(clusterOutcome) float64, scale float64, none func(clusterRow) bool) func(clusterRow, []clusterOutcome) string {
		return func(row clusterRow, cs []clusterOutcome) string {
			if none != nil && none(row) {
				return "–"
			}
			v, ok, partial := clusterMedian(cs, f)
			switch {
			case !ok:
				return "err"
			case partial:
				return num(v*scale) + "*"
			}
			return num(v * scale)
		}
	}
	noBusProcess := func(row clusterRow) bool { return row.bus == "" || row.bus == noBus }
	headline := []column{
		{"deliveries/s", val(func(o clusterOutcome) float64 { return o.rate }, 1, nil)},
		{"CPU µs/delivery", val(cpuOf, 1, nil)},
		{"of which nodes", val(func(o clusterOutcome) float64 { return o.nodes }, 1, nil)},
		{"of which bus", val(func(o clusterOutcome) float64 { return o.bus }, 1, noBusProcess)},
		{"cluster / single", func(row clusterRow, cs []clusterOutcome) string {
			if row.bus == "" {
				return "–"
			}
			single, ok1, _ := clusterMedian(res.cells[clusterRow{row.size, ""}], cpuOf)
			v, ok2, _ := clusterMedian(cs, cpuOf)
			if !ok2 {
				return "–"
			}
			return ratio(v, single, ok1)
		}},
		{"p50 ms", val(func(o clusterOutcome) float64 { return o.p50 }, 1e-3, nil)},
		{"p99 ms", val(func(o clusterOutcome) float64 { return o.p99 }, 1e-3, nil)},
	}
	reading := []column{
		{"syscalls/delivery", val(func(o clusterOutcome) float64 { return o.sys }, 1, nil)},
		{"context switches/message, voluntary", val(func(o clusterOutcome) float64 { return o.vol }, 1, nil)},
		{"involuntary", val(func(o clusterOutcome) float64 { return o.invol }, 1, nil)},
		{"nodes+bus busy %", val(func(o clusterOutcome) float64 { return o.srvBusy }, 1, nil)},
		{"load generator µs/delivery", val(func(o clusterOutcome) float64 { return o.lg }, 1, nil)},
		{"load generator busy %", val(func(o clusterOutcome) float64 { return o.lgBusy }, 1, nil)},
		{"everything else %", val(func(o clusterOutcome) float64 { return o.other }, 1, nil)},
	}
	for i, cols := range [][]column{headline, reading} {
		if i == 1 {
			b.WriteString("\nFor reading the above: the server side's read and write system calls per delivery, " +
				"and its threads' context switches per message published (all the nodes' and the bus's together); " +
				"the CPU use of the nodes and bus together, of the load generator, and of everything else on the machine " +
				"in the window, in % of one core (other processes, interrupts, the hypervisor's steal: " +
				"a cell far above the others marks a disturbed run).\n\n")
		}
		b.WriteString("| row |")
		for _, c := range cols {
			b.WriteString(" " + c.title + " |")
		}
		b.WriteString("\n|---|" + strings.Repeat("---:|", len(cols)) + "\n")
		for _, size := range clusterSizes {
			for _, bus := range configs {
				row := clusterRow{size, bus}
				b.WriteString("| " + row.label(cfg.clusterSubs) + " |")
				for _, c := range cols {
					b.WriteString(" " + c.cell(row, res.cells[row]) + " |")
				}
				b.WriteString("\n")
			}
		}
	}

	if cfg.quick {
		fmt.Fprintf(&b, "\nA smoke test (-quick): windows this short, with this few subscribers, give figures that "+
			"mean nothing (CPU time is counted in ticks of %.0f ms); they are printed only to show that every part ran.\n",
			1000/cfg.hz)
	}
	fmt.Fprintf(&b, "\nTarget: a cluster costs at most %.1f× the single process's CPU per delivery, bus included. "+
		"The ratio of the medians, and the range of the ratios of each repetition's runs:\n\n", clusterTarget)
	for _, size := range clusterSizes {
		for _, bus := range cfg.buses {
			if bus == noBus {
				continue
			}
			v := verdict(res, size, bus)
			if cfg.quick {
				v, _, _ = strings.Cut(v, ",")
				v += ", no verdict from a smoke test"
			}
			fmt.Fprintf(&b, "- %s over %s: %s\n", sizeName(size), busName(bus), v)
		}
	}

	if cfg.reps >= 2 {
		fmt.Fprintf(&b, "\nSpread of CPU per delivery across repetitions, (max − min) / median: ")
		var parts []string
		for _, size := range clusterSizes {
			for _, bus := range configs {
				row := clusterRow{size, bus}
				var vs []float64
				for _, o := range res.cells[row] {
					if o.ok {
						vs = append(vs, o.cpu)
					}
				}
				m, ok, _ := clusterMedian(res.cells[row], cpuOf)
				if len(vs) < 2 || !ok || m == 0 {
					continue
				}
				sort.Float64s(vs)
				parts = append(parts, fmt.Sprintf("%s %s %.0f%%", sizeName(size), row.config(), 100*(vs[len(vs)-1]-vs[0])/m))
			}
		}
		b.WriteString(strings.Join(parts, ", ") + ".\n")
	}

	if len(res.notes) > 0 {
		b.WriteString("\n### Problems\n\n")
		for _, n := range res.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	} else {
		b.WriteString("\nNo problems: every run finished, every message reached every subscriber, " +
			"every configuration kept up, and no process wrote to stderr or exited with an error.\n")
	}
	return b.String()
}

// verdict says whether the cluster over bus met the target for size.
func verdict(res *clusterResults, size int, bus string) string {
	single, ok1, _ := clusterMedian(res.cells[clusterRow{size, ""}], cpuOf)
	cl, ok2, _ := clusterMedian(res.cells[clusterRow{size, bus}], cpuOf)
	switch {
	case !ok1 || !ok2:
		return "no figure (runs failed)"
	case single == 0:
		return "no figure (the single process's CPU time in the window was under a tick)"
	}
	r := cl / single
	s := fmt.Sprintf("%.2f×", r)
	// Each repetition ran both, one after the other: their ratio.
	var rs []float64
	sing, clus := res.cells[clusterRow{size, ""}], res.cells[clusterRow{size, bus}]
	for i := range min(len(sing), len(clus)) {
		if sing[i].ok && clus[i].ok && sing[i].cpu > 0 {
			rs = append(rs, clus[i].cpu/sing[i].cpu)
		}
	}
	if len(rs) >= 2 {
		sort.Float64s(rs)
		s += fmt.Sprintf(" (%.2f–%.2f×)", rs[0], rs[len(rs)-1])
	}
	if r <= clusterTarget {
		return s + ", target met"
	}
	return s + ", target **missed**"
}

// clusterMedian is median for the cluster's outcomes: the median of f
// over the runs that succeeded, whether any did, and whether some did not.
func clusterMedian(cs []clusterOutcome, f func(clusterOutcome) float64) (v float64, ok, partial bool) {
	all := make([]outcome, len(cs))
	for i, c := range cs {
		all[i] = outcome{ok: c.ok, cpu: f(c)}
	}
	return median(all, func(o outcome) float64 { return o.cpu })
}

func cpuOf(o clusterOutcome) float64 { return o.cpu }
