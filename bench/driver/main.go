// Command driver runs the comparison: every workload against every
// server, a fresh server process per run, and prints markdown tables of
// the medians over the repetitions.
//
//	cd bench && go run ./driver [-quick] [-reps 3] [-workloads echo-16B-1,idle-10000] [-out results.md]
//	cd bench && go run ./driver -cluster [-quick] [-reps 3] [-buses nats,redis]
//	cd bench && go run ./driver -h2 [-quick] [-reps 3]
//
// It builds bench/server and bench/loadgen into a temporary directory,
// then for each workload and repetition runs each server in turn,
// starting from a different server each repetition so that a slow drift of
// the machine does not always land on the same one. The server runs
// pinned to CPU 0 and the load generator to CPU 1 (with taskset), so each
// has a core of its own and the Go runtime in each sets GOMAXPROCS to 1.
//
// The headline figure is the server's CPU time per message: utime+stime
// from /proc/PID/stat read when the load generator says "start" and again
// when it says "stop", divided by the messages it counted in between. On
// a small, noisy machine that is far steadier than throughput, which
// depends on what else got scheduled. The same two snapshots give the
// read and write system calls (/proc/PID/io) and, for idle connections,
// the growth of resident memory (/proc/PID/status). It needs Linux.
//
// With -cluster it runs the cluster comparison instead (cluster.go): a
// broadcast over three server processes that share it through NATS or
// Redis, against the same broadcast in one process. With -h2 it runs the
// HTTP/2 comparison instead (h2.go): this library's server over TLS, its
// WebSockets each a TLS connection upgraded over HTTP/1.1, or all of them
// streams of one HTTP/2 connection.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// servers lists every server bench/server knows, ours first.
var servers = []string{"rfc6455", "rfc6455-handler", "gorilla", "coder", "gobwas", "gws", "tcp"}

// zservers are the servers of the compression rows: LIB:z serves with
// permessage-deflate and context takeover, LIB:nct without context
// takeover, each library in the modes it offers (bench/server's
// deflateModes); ours first.
var zservers = []string{"rfc6455:z", "rfc6455:nct", "gorilla:nct", "coder:z", "coder:nct", "gws:z"}

// zours is ours in the compression rows: with context takeover, as
// browsers ask for it.
const zours = "rfc6455:z"

// ours is the library under test; tcp is the floor, not a library.
const (
	ours  = "rfc6455"
	floor = "tcp"
)

type config struct {
	reps     int
	duration time.Duration
	warmup   time.Duration
	quick    bool
	servers  []string
	zservers []string
	loads    []workload
	bin      string // directory with the server and loadgen binaries
	hz       float64
	pin      bool

	// The cluster comparison (-cluster).
	cluster     bool
	clusterSubs int      // subscribers in all
	clusterRate int      // messages published per second
	buses       []string // the clusters' buses

	// The HTTP/2 comparison (-h2); its rows are in loads.
	h2 bool
}

func main() {
	var (
		cfg       config
		workloads = flag.String("workloads", "", "comma-separated `names` of workloads to run (default all)")
		only      = flag.String("servers", "", "comma-separated `names` of servers to run (default all)")
		outFile   = flag.String("out", "", "also write the markdown to `file`")
		mask      = flag.Bool("mask", true, "also compare masking throughput with gobwas/ws's Cipher")
		maskOnly  = flag.Bool("maskonly", false, "compare masking throughput only, no workloads")
		buses     = flag.String("buses", strings.Join(clusterBuses, ","), "cluster: comma-separated `buses` to compare with the single process")
		h2Rates   = flag.String("h2-rates", fmt.Sprintf("%d,%d", defaultH2Rate1KiB, defaultH2Rate16KiB), "h2: the paced echo rows' `rates`, messages per second, 1 KiB's and 16 KiB's")
	)
	flag.BoolVar(&cfg.h2, "h2", false, "run the HTTP/2 comparison (this library over TLS, HTTP/1.1 against HTTP/2) instead of the libraries'")
	flag.BoolVar(&cfg.cluster, "cluster", false, "run the cluster comparison (a broadcast over three processes and a bus) instead of the libraries'")
	flag.IntVar(&cfg.clusterSubs, "cluster-subs", defaultClusterSubs, "cluster: subscribers in all, a third on each node")
	flag.IntVar(&cfg.clusterRate, "cluster-rate", defaultClusterRate, "cluster: messages published per second")
	flag.IntVar(&cfg.reps, "reps", 3, "repetitions of each workload and server")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "measurement window of each run")
	flag.DurationVar(&cfg.warmup, "warmup", time.Second, "traffic before each window")
	flag.BoolVar(&cfg.quick, "quick", false, "smoke test: one short repetition with fewer connections")
	flag.Parse()
	var err error
	if flag.NArg() > 0 {
		fatalf("unexpected arguments %q", flag.Args())
	}
	if cfg.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["reps"] {
			cfg.reps = 1
		}
		if !set["duration"] {
			cfg.duration = 200 * time.Millisecond
		}
		if !set["warmup"] {
			cfg.warmup = 50 * time.Millisecond
		}
		if !set["cluster-subs"] {
			cfg.clusterSubs /= 10
		}
	}
	all := allWorkloads(cfg.quick)
	if cfg.h2 {
		r1, r16, err := parseH2Rates(*h2Rates)
		if err != nil {
			fatalf("%v", err)
		}
		all = h2Workloads(cfg.quick, r1, r16)
	}
	if cfg.loads, err = selectWorkloads(all, *workloads); err != nil {
		fatalf("%v", err)
	}
	if cfg.servers, cfg.zservers, err = selectServers(*only); err != nil {
		fatalf("%v", err)
	}
	if cfg.reps < 1 {
		fatalf("-reps must be at least 1")
	}
	if cfg.cluster {
		if *workloads != "" || *only != "" || *maskOnly {
			fatalf("-cluster runs the cluster comparison alone: no -workloads, -servers or -maskonly")
		}
		if cfg.buses, err = selectBuses(*buses); err != nil {
			fatalf("%v", err)
		}
		if cfg.clusterSubs < clusterNodes || cfg.clusterSubs%clusterNodes != 0 || cfg.clusterRate < 1 {
			fatalf("-cluster-subs must be a positive multiple of %d, -cluster-rate at least 1", clusterNodes)
		}
		cfg.loads = nil
		*mask = false
	}
	if cfg.h2 {
		if cfg.cluster || *only != "" || *maskOnly {
			fatalf("-h2 runs the HTTP/2 comparison alone: no -cluster, -servers or -maskonly")
		}
		*mask = false
	}

	var md strings.Builder
	out := io.MultiWriter(os.Stdout, &md)
	fmt.Fprint(out, describe())
	if cfg.cluster || cfg.h2 {
		// Other work on the machine shows in the everything-else column
		// during each window; the load averages frame the whole run.
		fmt.Fprintf(out, "- commit: %s\n- load average at the start (/proc/loadavg): %s\n", commit(), loadavg())
	}

	cfg.hz = clockTicks()
	cfg.pin = canPin()
	if !cfg.pin {
		fmt.Fprintln(out, "\n**warning**: taskset or a second CPU is missing; processes run unpinned")
	}

	tmp, err := os.MkdirTemp("", "wsbench")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(tmp)
	cfg.bin = tmp
	progs := []string{"server", "loadgen"}
	if cfg.cluster {
		progs = append(progs, "natsd")
	}
	if err := build(tmp, progs...); err != nil {
		os.RemoveAll(tmp)
		fatalf("%v", err)
	}

	// Ctrl-C ends the run in progress (its processes are ended with it)
	// and prints the tables of what has been measured so far.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *maskOnly {
		cfg.loads = nil
		*mask = true
	}
	start := time.Now()
	var runs int
	if cfg.cluster {
		res := runClusters(ctx, cfg)
		runs = res.runs
		fmt.Fprint(out, clusterReport(cfg, res))
	} else {
		res := runAll(ctx, cfg)
		runs = res.runs
		switch {
		case cfg.h2:
			fmt.Fprint(out, h2Report(cfg, res))
		case !*maskOnly:
			fmt.Fprint(out, report(cfg, res))
		}
	}
	elapsed := time.Since(start)
	if cfg.cluster || cfg.h2 {
		fmt.Fprintf(out, "\nLoad average at the end (/proc/loadavg): %s\n", loadavg())
	}

	if *mask && ctx.Err() == nil {
		table, err := compareMask(tmp, 2*cfg.reps+1)
		if err != nil {
			fmt.Fprintf(out, "\nThe masking comparison failed: %v\n", err)
		}
		fmt.Fprint(out, table)
	}
	fmt.Fprintf(out, "\nTotal time of the runs: %s (%d runs, %.1f s each on average).\n",
		elapsed.Round(time.Second), runs, elapsed.Seconds()/float64(max(runs, 1)))
	if *outFile != "" {
		if err := os.WriteFile(*outFile, []byte(md.String()), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "driver: "+format+"\n", args...)
	os.Exit(1)
}

// selectServers returns the servers named in list, those of the plain
// rows and those of the compression rows apart; an empty list selects
// all.
func selectServers(list string) (plain, z []string, err error) {
	if list == "" {
		return servers, zservers, nil
	}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		switch {
		case slices.Contains(servers, name):
			plain = append(plain, name)
		case slices.Contains(zservers, name):
			z = append(z, name)
		default:
			return nil, nil, fmt.Errorf("unknown server %q (known: %s %s)", name, strings.Join(servers, " "), strings.Join(zservers, " "))
		}
	}
	return plain, z, nil
}

// selectBuses returns the buses named in list, in the order of
// clusterBuses.
func selectBuses(list string) ([]string, error) {
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if !slices.Contains(clusterBuses, name) {
			return nil, fmt.Errorf("unknown bus %q (known: %s)", name, strings.Join(clusterBuses, " "))
		}
		want[name] = true
	}
	var sel []string
	for _, b := range clusterBuses {
		if want[b] {
			sel = append(sel, b)
		}
	}
	return sel, nil
}

// build compiles the named programs of the bench module the driver is run
// in (server, loadgen, natsd) into dir.
func build(dir string, progs ...string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	for _, name := range progs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./"+name)
		cmd.Dir = root
		cmd.Stdout = os.Stderr
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s in %s: %w", name, root, err)
		}
	}
	return nil
}
