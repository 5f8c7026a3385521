package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The cluster comparison (-cluster): a broadcast that spans server
// processes against the same broadcast in one. In the cluster, three nodes
// (bench/server -mode cluster, a websocket.Hub each with a Bus) share
// their broadcasts over a bus that runs as a process of its own, NATS
// (bench/natsd) or Redis (redis-server); the load generator holds
// subscribers/3 subscribers on each node and publishes clusterRate
// messages a second, each through the next node in turn. The single
// process is one node without a bus, holding all the subscribers, with
// the same messages at the same rate. The nodes and the bus share CPU 0,
// as the one server does; the load generator has CPU 1.
//
// The headline is the CPU time per delivery of all the server-side
// processes together, the bus included, and its ratio cluster/single.

// clusterNodes is the number of nodes of the cluster.
const clusterNodes = 3

// clusterSizes are the payload sizes of the cluster rows.
var clusterSizes = []int{64, 1 << 10}

// clusterBuses are the buses the driver knows, and fanout: three nodes
// without a bus, to each of which the load generator publishes every
// message, as if over a bus that cost nothing. That row is not a cluster
// one would run; it tells what three processes sharing the core cost
// apart from what the bus does.
var clusterBuses = []string{"nats", "redis", "fanout"}

// noBus is the fanout row's pseudo-bus.
const noBus = "fanout"

// clusterTarget is the bound on the ratio cluster/single of CPU
// per delivery.
const clusterTarget = 1.5

// Defaults of the cluster comparison: 1,000 subscribers on each of three
// nodes, and a rate that keeps every configuration's server side well
// below its core (see README.md), so that each spends on a delivery what
// it needs rather than what a saturated core lets it.
const (
	defaultClusterSubs = 3000
	defaultClusterRate = 40
)

// clusterRow is one configuration of one size: single (bus "") or a
// cluster over a bus.
type clusterRow struct {
	size int
	bus  string
}

func (r clusterRow) config() string {
	if r.bus == "" {
		return "single"
	}
	return r.bus
}

func (r clusterRow) label(subs int) string {
	if r.bus == "" {
		return fmt.Sprintf("%s, 1 process, %d subscribers", sizeName(r.size), subs)
	}
	if r.bus == noBus {
		return fmt.Sprintf("%s, %d nodes × %d, no bus (published to each)", sizeName(r.size), clusterNodes, subs/clusterNodes)
	}
	return fmt.Sprintf("%s, %d nodes × %d over %s", sizeName(r.size), clusterNodes, subs/clusterNodes, busName(r.bus))
}

func busName(bus string) string {
	return map[string]string{"nats": "NATS", "redis": "Redis", noBus: "no bus"}[bus]
}

// clusterOutcome is the figures of one cluster run.
type clusterOutcome struct {
	ok      bool
	cpu     float64 // server side (nodes and bus) CPU µs per delivery
	nodes   float64 // of which the nodes'
	bus     float64 // of which the bus's
	lg      float64 // the load generator's, µs per delivery
	sys     float64 // server-side read+write system calls per delivery
	rate    float64 // deliveries per second
	p50     float64 // publish to the last subscriber's copy, µs
	p99     float64
	srvBusy float64 // server side CPU use in the window, % of one core
	lgBusy  float64 // load generator CPU use, % of one core
	other   float64 // the rest of the machine, % of one core
	late    int64   // times the publisher fell a period behind
	// Context switches of the server side's threads per message
	// (deliveries / subscribers), voluntary (a thread waited) and not (it
	// was preempted).
	vol, invol float64
}

// switches is the context switches of all the threads of a process.
type switches struct{ voluntary, involuntary int64 }

// readSwitches adds up the context switches of pid's threads, from
// /proc/PID/task/*/status. (/proc/PID/status has the main thread's only.)
// A thread that ends between the listing and the read is left out.
func readSwitches(pid int) (switches, error) {
	var s switches
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return s, err
	}
	for _, t := range tasks {
		b, err := os.ReadFile(dir + t.Name() + "/status")
		if err != nil {
			continue
		}
		s.voluntary += max(field(b, "voluntary_ctxt_switches:"), 0)
		s.involuntary += max(field(b, "nonvoluntary_ctxt_switches:"), 0)
	}
	return s, nil
}

// clusterResults collects the cluster runs.
type clusterResults struct {
	runs  int
	cells map[clusterRow][]clusterOutcome
	notes []string
}

// runClusters runs every size, repetition and configuration: per size and
// repetition, every configuration in turn, from a different first one
// each repetition.
func runClusters(ctx context.Context, cfg config) *clusterResults {
	res := &clusterResults{cells: map[clusterRow][]clusterOutcome{}}
	configs := append([]string{""}, cfg.buses...)
	total := len(clusterSizes) * cfg.reps * len(configs)
	start := time.Now()
	for _, size := range clusterSizes {
		for rep := 0; rep < cfg.reps; rep++ {
			k := rep % len(configs)
			order := append(append([]string{}, configs[k:]...), configs[:k]...)
			for _, bus := range order {
				row := clusterRow{size, bus}
				if ctx.Err() != nil {
					res.notes = append(res.notes, fmt.Sprintf("interrupted after %d of %d runs", res.runs, total))
					return res
				}
				o, problems := runClusterOne(ctx, cfg, row)
				res.runs++
				res.cells[row] = append(res.cells[row], o)
				for _, p := range problems {
					res.notes = append(res.notes, fmt.Sprintf("%s, repetition %d: %s", row.label(cfg.clusterSubs), rep+1, p))
				}
				status := fmt.Sprintf("%.3g µs/delivery (nodes %.3g, bus %.3g), %.0f deliveries/s, p99 %.1f ms",
					o.cpu, o.nodes, o.bus, o.rate, o.p99/1000)
				if !o.ok {
					status = "FAILED"
				}
				fmt.Fprintf(os.Stderr, "[%d/%d %s] %s rep %d: %s\n", res.runs, total,
					time.Since(start).Round(time.Second), row.label(cfg.clusterSubs), rep+1, status)
			}
		}
	}
	return res
}

// proc is a server-side process of a cluster run: a node or the bus.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout *capture
	stderr *capture
	// quiet: what it writes to stdout is its log, not a problem
	// (redis-server's).
	quiet bool
}

// end stops p as endServer stops a server and reports anything odd.
func (p *proc) end() []string {
	out := p.stdout
	if p.quiet {
		out = &capture{}
	}
	var problems []string
	for _, s := range endServer(p.cmd, out, p.stderr) {
		problems = append(problems, p.name+": "+s)
	}
	return problems
}

// startReady starts a program that prints "ready ADDR" first, pinned to
// cpu, and returns it and ADDR.
func startReady(ctx context.Context, cfg config, name string, cpu int, path string, args ...string) (*proc, string, error) {
	p := &proc{name: name, stdout: &capture{first: make(chan string, 1)}, stderr: &capture{}}
	p.cmd = command(ctx, cfg, cpu, path, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %v", name, err)
	}
	select {
	case line := <-p.stdout.first:
		addr, ok := strings.CutPrefix(line, "ready ")
		if !ok {
			return p, "", fmt.Errorf("%s said %q instead of ready ADDR", name, line)
		}
		return p, addr, nil
	case <-time.After(readyTimeout):
		return p, "", fmt.Errorf("%s not ready after %s", name, readyTimeout)
	}
}

// startRedis starts redis-server on a free loopback port, pinned to cpu,
// without persistence, and waits until it answers a PING.
func startRedis(ctx context.Context, cfg config, cpu int) (*proc, string, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", fmt.Errorf("redis-server: %w", err)
	}
	var last error
	// The port is free when asked for, and another process may take it
	// before redis-server does: then it exits, and another port is tried.
	for try := 0; try < 3; try++ {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p := &proc{name: "redis-server", stdout: &capture{}, stderr: &capture{}, quiet: true}
		p.cmd = command(ctx, cfg, cpu, path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
		p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
		if err := p.cmd.Start(); err != nil {
			return nil, "", fmt.Errorf("start redis-server: %v", err)
		}
		pid := p.cmd.Process.Pid
		exited := func() bool {
			// A child that has exited and not been waited for is a zombie.
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			return err != nil || strings.Contains(string(b), ") Z ")
		}
		if last = waitPong(addr, exited); last == nil {
			return p, addr, nil
		}
		p.end()
		last = fmt.Errorf("redis-server on %s: %w (its output: %s)", addr, last, p.stdout)
	}
	return nil, "", last
}

// waitPong waits until a Redis at addr answers PING, or exited says its
// process is gone, or readyTimeout has passed.
func waitPong(addr string, exited func() bool) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			_, err = c.Write([]byte("PING\r\n"))
			if err == nil {
				var line string
				line, err = bufio.NewReader(c).ReadString('\n')
				if err == nil && line != "+PONG\r\n" {
					err = fmt.Errorf("PING answered %q", line)
				}
			}
			c.Close()
			if err == nil {
				return nil
			}
		}
		if exited() {
			return errors.New("exited")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING after %s: %v", readyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// runClusterOne starts the bus (for a cluster), the nodes and the load
// generator, takes the snapshots, ends them all and turns what it saw into
// an outcome. problems lists anything odd.
func runClusterOne(ctx context.Context, cfg config, row clusterRow) (o clusterOutcome, problems []string) {
	var procs []*proc // the server side: the bus first, then the nodes
	defer func() {
		// The nodes first, so that the bus does not see them lose it.
		for i := len(procs) - 1; i >= 0; i-- {
			problems = append(problems, procs[i].end()...)
		}
	}()

	nodes, busKind, busAddr := 1, "none", ""
	if row.bus == noBus {
		nodes = clusterNodes
	} else if row.bus != "" {
		nodes, busKind = clusterNodes, row.bus
		var (
			p   *proc
			err error
		)
		switch row.bus {
		case "nats":
			p, busAddr, err = startReady(ctx, cfg, "natsd", 0, filepath.Join(cfg.bin, "natsd"), "-addr", "127.0.0.1:0")
		case "redis":
			p, busAddr, err = startRedis(ctx, cfg, 0)
		default:
			err = fmt.Errorf("unknown bus %q", row.bus)
		}
		if p != nil {
			procs = append(procs, p)
		}
		if err != nil {
			return o, []string{err.Error()}
		}
	}
	var addrs []string
	for i := range nodes {
		p, addr, err := startReady(ctx, cfg, fmt.Sprintf("node %d", i+1), 0, filepath.Join(cfg.bin, "server"),
			"-mode", "cluster", "-bus", busKind, "-bus-addr", busAddr, "-addr", "127.0.0.1:0")
		if p != nil {
			procs = append(procs, p)
		}
		if err != nil {
			return o, []string{err.Error()}
		}
		addrs = append(addrs, addr)
	}

	args := []string{"-mode", "cluster", "-addr", strings.Join(addrs, ","),
		"-conns", strconv.Itoa(cfg.clusterSubs / nodes), "-size", strconv.Itoa(row.size),
		"-rate", strconv.Itoa(cfg.clusterRate),
		"-duration", cfg.duration.String(), "-warmup", cfg.warmup.String()}
	if row.bus == noBus {
		args = append(args, "-fanout")
	}
	lctx, cancel := context.WithTimeout(ctx, cfg.warmup+cfg.duration+runSlack)
	defer cancel()
	lg := command(lctx, cfg, 1, filepath.Join(cfg.bin, "loadgen"), args...)
	lgErr := &capture{}
	lg.Stderr = lgErr
	stdout, err := lg.StdoutPipe()
	if err != nil {
		return o, []string{err.Error()}
	}
	if err := lg.Start(); err != nil {
		return o, []string{fmt.Sprintf("start loadgen: %v", err)}
	}

	// snap reads every process, the server side first: it is what the
	// figures are about.
	type snaps struct {
		procs  []snapshot
		ctx    []switches
		lg     snapshot
		idle   int64
		failed error
	}
	snap := func() (s snaps) {
		var errs []error
		for _, p := range procs {
			ps, err := readSnapshot(p.cmd.Process.Pid)
			s.procs = append(s.procs, ps)
			errs = append(errs, err)
			cs, err := readSwitches(p.cmd.Process.Pid)
			s.ctx = append(s.ctx, cs)
			errs = append(errs, err)
		}
		var err1, err2 error
		s.lg, err1 = readSnapshot(lg.Process.Pid)
		s.idle, err2 = machineIdle()
		s.failed = errors.Join(append(errs, err1, err2)...)
		return s
	}
	var (
		s0, s1    snaps
		started   int
		stopped   bool
		r         lgResult
		gotResult bool
	)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "start":
			s0 = snap()
			started++
		case line == "stop":
			s1 = snap()
			stopped = true
		case strings.HasPrefix(line, "{"):
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				problems = append(problems, fmt.Sprintf("loadgen result %q: %v", line, err))
			} else {
				gotResult = true
			}
		default:
			problems = append(problems, fmt.Sprintf("loadgen said %q", line))
		}
	}
	waitErr := lg.Wait()
	if lctx.Err() == context.DeadlineExceeded {
		problems = append(problems, "loadgen killed after "+(cfg.warmup+cfg.duration+runSlack).String())
	}
	if waitErr != nil {
		problems = append(problems, fmt.Sprintf("loadgen: %v", waitErr))
	}
	if s := lgErr.String(); s != "" {
		problems = append(problems, "loadgen stderr: "+s)
	}
	snapErr := errors.Join(s0.failed, s1.failed)
	if snapErr != nil {
		problems = append(problems, fmt.Sprintf("reading /proc: %v", snapErr))
	}
	if started != 1 || !stopped || !gotResult || snapErr != nil || waitErr != nil || r.Errors > 0 {
		return o, problems
	}
	if r.Deliveries == 0 {
		return o, append(problems, "no deliveries in the window")
	}

	units := float64(r.Deliveries)
	var nodeTicks, busTicks, sys, vol, invol int64
	for i, p := range procs {
		vol += s1.ctx[i].voluntary - s0.ctx[i].voluntary
		invol += s1.ctx[i].involuntary - s0.ctx[i].involuntary
		d := s1.procs[i].ticks - s0.procs[i].ticks
		if strings.HasPrefix(p.name, "node") {
			nodeTicks += d
		} else {
			busTicks += d
		}
		sys += s1.procs[i].syscr - s0.procs[i].syscr + s1.procs[i].syscw - s0.procs[i].syscw
	}
	srvCPU := float64(nodeTicks+busTicks) / cfg.hz
	lgCPU := float64(s1.lg.ticks-s0.lg.ticks) / cfg.hz
	wall := s1.lg.at.Sub(s0.lg.at).Seconds()
	o = clusterOutcome{
		ok:      true,
		cpu:     srvCPU * 1e6 / units,
		nodes:   float64(nodeTicks) / cfg.hz * 1e6 / units,
		bus:     float64(busTicks) / cfg.hz * 1e6 / units,
		lg:      lgCPU * 1e6 / units,
		sys:     float64(sys) / units,
		rate:    units / r.Seconds,
		p50:     r.P50us,
		p99:     r.P99us,
		srvBusy: 100 * srvCPU / wall,
		lgBusy:  100 * lgCPU / wall,
		other:   100 * (float64(runtime.NumCPU())*wall - float64(s1.idle-s0.idle)/cfg.hz - srvCPU - lgCPU) / wall,
		late:    r.Late,
	}
	messages := units / float64(cfg.clusterSubs)
	o.vol, o.invol = float64(vol)/messages, float64(invol)/messages
	// Paced: every configuration should deliver in the window about what
	// was published in it. A window of few messages cannot tell (one
	// message more or less is a large part), so only one of 40 or more
	// is checked.
	want := r.PublishedWindow * int64(cfg.clusterSubs)
	if r.PublishedWindow >= 40 && float64(r.Deliveries) < 0.95*float64(want) {
		problems = append(problems, fmt.Sprintf("did not keep up: %d deliveries in the window of the %d its messages were due",
			r.Deliveries, want))
	}
	// The load generator's timer overslept a whole period: it did not get
	// its core, a sign of other work on the machine. The messages it
	// skipped are fewer deliveries, not a slower server.
	if r.Late > 0 {
		problems = append(problems, fmt.Sprintf("the publisher fell a whole period behind %d time(s), so fewer messages went out",
			r.Late))
	}
	if a := float64(r.Allocs) / units; a >= 0.5 {
		problems = append(problems, fmt.Sprintf("loadgen made %.3f allocations per delivery", a))
	}
	return o, problems
}
