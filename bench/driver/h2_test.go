package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestH2Smallest runs the HTTP/2 comparison in its smallest form: both
// echo rows and the idle row (100 WebSockets), each over HTTP/1.1 and
// over HTTP/2, one short window. It checks that every run finished with
// no process complaining, that the idle rows found the server's
// goroutines (a reader per WebSocket at least), and that the report has
// every row; not the figures, which a window this short cannot give.
// The server gets GODEBUG=http2xconnect=1 from the driver, as in a real
// run: without it, every extended CONNECT would be refused.
func TestH2Smallest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the harness's programs")
	}
	dir := t.TempDir()
	if err := build(dir, "server", "loadgen"); err != nil {
		t.Fatal(err)
	}
	cfg := config{
		reps:     1,
		duration: 200 * time.Millisecond,
		warmup:   50 * time.Millisecond,
		quick:    true,
		bin:      dir,
		hz:       clockTicks(),
		pin:      canPin(),
		h2:       true,
		loads:    h2Workloads(true, defaultH2Rate1KiB, defaultH2Rate16KiB),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := runAll(ctx, cfg)

	// A paced row that fell behind on a busy machine is not the code's
	// fault; any other note is.
	for _, n := range res.notes {
		if strings.Contains(n, notKeptUp) {
			t.Log(n)
		} else {
			t.Error(n)
		}
	}
	if want := len(cfg.loads) * len(h2Protos); res.runs != want {
		t.Errorf("%d runs, want %d", res.runs, want)
	}
	report := h2Report(cfg, res)
	for _, w := range cfg.loads {
		for _, proto := range h2Protos {
			cs := res.cells[cell{w.label, proto}]
			label := h2Label(w, proto)
			if len(cs) != 1 || !cs[0].ok {
				t.Errorf("%s: the run failed", label)
				continue
			}
			if cs[0].rate <= 0 {
				t.Errorf("%s: %.0f messages/s, want more than 0", label, cs[0].rate)
			}
			// Over HTTP/1.1 and TLS, EventHandler keeps a reader per
			// connection; over HTTP/2, the handler's goroutine and the
			// stream's reader.
			if w.mode == "idle" && cs[0].goroutines < 1 {
				t.Errorf("%s: %.2f goroutines per WebSocket, want at least 1", label, cs[0].goroutines)
			}
			if !strings.Contains(report, "| "+label+" |") {
				t.Errorf("the report lacks the row %q", label)
			}
		}
		if !strings.Contains(report, "| "+h2What(w)+": HTTP/2 / HTTP/1.1 |") {
			t.Errorf("the report lacks the ratios of %q", h2What(w))
		}
	}
	if t.Failed() || testing.Verbose() {
		os.Stderr.WriteString(report)
	}
}

// TestXconnectEnv checks that the server's environment turns extended
// CONNECT on and keeps the rest of GODEBUG.
func TestXconnectEnv(t *testing.T) {
	t.Setenv("GODEBUG", "gctrace=0")
	var godebug []string
	for _, kv := range xconnectEnv() {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = append(godebug, v)
		}
	}
	if len(godebug) != 1 || godebug[0] != "gctrace=0,http2xconnect=1" {
		t.Errorf("GODEBUG in the server's environment: %q, want one, gctrace=0,http2xconnect=1", godebug)
	}
}
