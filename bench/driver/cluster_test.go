package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestClusterSmallest runs the cluster comparison in its smallest form:
// both sizes, the single process, a cluster over each bus and the three
// nodes without one, ten subscribers on each node, one short window. It checks that every run
// finished with every message delivered to every subscriber exactly once
// and no process complaining, and that the report has every row; not the
// figures, which a window this short cannot give.
func TestClusterSmallest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the harness's programs")
	}
	buses := []string{"nats", noBus}
	if _, err := exec.LookPath("redis-server"); err == nil {
		buses = append(buses, "redis")
	} else {
		// CI installs it (.ci/run); a developer's machine may lack it.
		t.Log("redis-server not found: the Redis cluster is not run")
	}
	dir := t.TempDir()
	if err := build(dir, "server", "loadgen", "natsd"); err != nil {
		t.Fatal(err)
	}
	cfg := config{
		reps:        1,
		duration:    200 * time.Millisecond,
		warmup:      50 * time.Millisecond,
		quick:       true,
		bin:         dir,
		hz:          clockTicks(),
		pin:         canPin(),
		cluster:     true,
		clusterSubs: 3 * 10,
		clusterRate: defaultClusterRate,
		buses:       buses,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := runClusters(ctx, cfg)

	// Notes of timing (a publisher late on a busy machine) are not the
	// code's fault; any other is.
	for _, n := range res.notes {
		if strings.Contains(n, "fell a whole period behind") {
			t.Log(n)
		} else {
			t.Error(n)
		}
	}
	configs := append([]string{""}, buses...)
	if want := len(clusterSizes) * len(configs); res.runs != want {
		t.Errorf("%d runs, want %d", res.runs, want)
	}
	report := clusterReport(cfg, res)
	for _, size := range clusterSizes {
		for _, bus := range configs {
			row := clusterRow{size, bus}
			cs := res.cells[row]
			if len(cs) != 1 || !cs[0].ok {
				t.Errorf("%s: the run failed", row.label(cfg.clusterSubs))
				continue
			}
			if cs[0].rate <= 0 || cs[0].p99 <= 0 {
				t.Errorf("%s: %.0f deliveries/s, p99 %.0f µs: want both above 0", row.label(cfg.clusterSubs), cs[0].rate, cs[0].p99)
			}
			if !strings.Contains(report, "| "+row.label(cfg.clusterSubs)+" |") {
				t.Errorf("the report lacks the row %q", row.label(cfg.clusterSubs))
			}
		}
	}
	if t.Failed() || testing.Verbose() {
		os.Stderr.WriteString(report)
	}
}
