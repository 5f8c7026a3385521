package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Time limits of one run, beyond the warmup and window themselves.
const (
	readyTimeout = 10 * time.Second // server start to "ready ADDR"
	stopTimeout  = 5 * time.Second  // SIGTERM to exit
	runSlack     = 2 * time.Minute  // connecting, stopping, idle handshakes
)

// outcome is the figures of one run.
type outcome struct {
	ok      bool
	cpu     float64 // server CPU µs per message (delivery, handshake)
	sys     float64 // server read+write system calls per message
	rate    float64 // messages (deliveries, handshakes) per second
	p50     float64 // µs
	p99     float64 // µs
	rss     float64 // server RSS growth per connection, KiB (idle)
	srvBusy float64 // server CPU use in the window, % of one core
	lgBusy  float64 // load generator CPU use in the window, % of one core
	other   float64 // the rest of the machine's CPU use in the window, % of one core
	allocs  float64 // load generator heap allocations per message
	wire    float64 // payload bytes the server sent per message (compression rows)
	lg      float64 // load generator CPU µs per message

	// The -h2 rows' idle connections, per connection: growth of the
	// server's Go heap in use and goroutine stacks (KiB, after a GC), and
	// of its goroutines.
	heap, stacks, goroutines float64
}

type cell struct{ workload, server string }

// results collects every run's outcome and the problems seen on the way.
type results struct {
	runs  int
	cells map[cell][]outcome
	notes []string
}

func (r *results) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// runAll runs every workload, repetition and server: per workload and
// repetition, every server in turn, from a different first server each
// repetition.
func runAll(ctx context.Context, cfg config) *results {
	res := &results{cells: map[cell][]outcome{}}
	total := 0
	for _, w := range cfg.loads {
		total += len(cfg.serversOf(w)) * cfg.reps
	}
	start := time.Now()
	for _, w := range cfg.loads {
		srvs := cfg.serversOf(w)
		if len(srvs) == 0 {
			continue
		}
		for rep := 0; rep < cfg.reps; rep++ {
			k := rep % len(srvs)
			order := append(append([]string{}, srvs[k:]...), srvs[:k]...)
			for _, s := range order {
				if ctx.Err() != nil {
					res.note("interrupted after %d of %d runs", res.runs, total)
					return res
				}
				o, problems := runOne(ctx, cfg, w, s)
				res.runs++
				res.cells[cell{w.label, s}] = append(res.cells[cell{w.label, s}], o)
				for _, p := range problems {
					res.note("%s, %s, repetition %d: %s", w.label, s, rep+1, p)
				}
				status := fmt.Sprintf("%.3g µs/%s, %.3g syscalls/%s, %.0f/s",
					o.cpu, w.unit(), o.sys, w.unit(), o.rate)
				if !o.ok {
					status = "FAILED"
				}
				fmt.Fprintf(os.Stderr, "[%d/%d %s] %s rep %d %s: %s\n", res.runs, total,
					time.Since(start).Round(time.Second), w.label, rep+1, s, status)
			}
		}
	}
	return res
}

// serversOf returns the servers of w's row.
func (cfg config) serversOf(w workload) []string {
	switch {
	case w.tls:
		return h2Protos
	case w.z:
		return cfg.zservers
	}
	return cfg.servers
}

// runOne starts a fresh server and the load generator, takes the
// snapshots, ends both and turns what it saw into an outcome. problems
// lists anything odd, whether or not the run produced figures.
func runOne(ctx context.Context, cfg config, w workload, server string) (o outcome, problems []string) {
	srvArgs := []string{"-lib", server, "-addr", "127.0.0.1:0", "-mode", w.serverMode()}
	if lib, mode, ok := strings.Cut(server, ":"); ok {
		srvArgs[1] = lib
		srvArgs = append(srvArgs, "-deflate", map[string]string{"z": "takeover", "nct": "no-takeover"}[mode])
	}
	var lgTLS []string
	if w.tls {
		var srvTLS []string
		srvTLS, lgTLS = tlsArgs(server)
		srvArgs[1] = ours
		srvArgs = append(srvArgs, srvTLS...)
	}
	srv := command(ctx, cfg, 0, filepath.Join(cfg.bin, "server"), srvArgs...)
	if w.tls {
		srv.Env = xconnectEnv()
	}
	srvOut := &capture{first: make(chan string, 1)}
	srvErr := &capture{}
	srv.Stdout, srv.Stderr = srvOut, srvErr
	if err := srv.Start(); err != nil {
		return o, []string{fmt.Sprintf("start server: %v", err)}
	}
	defer func() {
		problems = append(problems, endServer(srv, srvOut, srvErr)...)
	}()
	var addr string
	select {
	case line := <-srvOut.first:
		var ok bool
		if addr, ok = strings.CutPrefix(line, "ready "); !ok {
			return o, []string{fmt.Sprintf("server said %q instead of ready ADDR", line)}
		}
	case <-time.After(readyTimeout):
		return o, []string{"server not ready after " + readyTimeout.String()}
	}

	args := []string{"-addr", addr, "-mode", w.mode, "-conns", strconv.Itoa(w.conns)}
	if w.mode != "idle" {
		args = append(args, "-size", strconv.Itoa(w.size),
			"-duration", cfg.duration.String(), "-warmup", cfg.warmup.String())
	}
	if w.mode == "broadcast" {
		args = append(args, "-window", strconv.Itoa(w.window))
	}
	if w.rate > 0 {
		args = append(args, "-rate", strconv.Itoa(w.rate))
	}
	args = append(args, lgTLS...)
	if w.z {
		// Offered as browsers offer it; each server decides whether
		// to keep context.
		args = append(args, "-deflate", "takeover")
		if w.mode == "idle" {
			args = append(args, "-size", strconv.Itoa(w.size))
		}
	}
	// The -h2 idle rows read the server's goroutines and Go memory too,
	// before the load generator starts, which opens its connections as
	// soon as it says "start" (the request costs the server a TLS
	// handshake and a garbage collection, outside the window), and after
	// the window.
	stats := w.tls && w.mode == "idle"
	var st0 srvStats
	if stats {
		var err error
		if st0, err = readStats(addr); err != nil {
			return o, []string{err.Error()}
		}
	}
	lctx, cancel := context.WithTimeout(ctx, cfg.warmup+cfg.duration+runSlack)
	defer cancel()
	lg := command(lctx, cfg, 1, filepath.Join(cfg.bin, "loadgen"), args...)
	lgErr := &capture{}
	lg.Stderr = lgErr
	stdin, err1 := lg.StdinPipe()
	stdout, err2 := lg.StdoutPipe()
	if err := errors.Join(err1, err2); err != nil {
		return o, []string{err.Error()}
	}
	if err := lg.Start(); err != nil {
		return o, []string{fmt.Sprintf("start loadgen: %v", err)}
	}

	var (
		err3           error
		s0, s1, l0, l1 snapshot
		m0, m1         int64 // machineIdle
		st1            srvStats
		started        int
		stopped        bool
		r              lgResult
		gotResult      bool
		snapErr        error
	)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "start":
			// The server first: it is what the figures are about.
			s0, err1 = readSnapshot(srv.Process.Pid)
			l0, err2 = readSnapshot(lg.Process.Pid)
			m0, err3 = machineIdle()
			snapErr = errors.Join(snapErr, err1, err2, err3)
			started++
		case line == "stop":
			s1, err1 = readSnapshot(srv.Process.Pid)
			l1, err2 = readSnapshot(lg.Process.Pid)
			m1, err3 = machineIdle()
			snapErr = errors.Join(snapErr, err1, err2, err3)
			if stats {
				st1, err1 = readStats(addr)
				snapErr = errors.Join(snapErr, err1)
			}
			stopped = true
		case line == "held":
			stdin.Close()
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
	stdin.Close()
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
	if snapErr != nil {
		problems = append(problems, fmt.Sprintf("reading /proc: %v", snapErr))
	}
	if started != 1 || !stopped || !gotResult || snapErr != nil || waitErr != nil || r.Errors > 0 {
		return o, problems
	}

	units := float64(r.Messages)
	seconds := r.Seconds
	switch w.mode {
	case "broadcast":
		units = float64(r.Deliveries)
	case "idle":
		units = float64(r.Conns)
		seconds = r.HandshakeSeconds
	}
	if units == 0 {
		return o, append(problems, "no messages in the window")
	}
	cpu := float64(s1.ticks-s0.ticks) / cfg.hz
	lgCPU := float64(l1.ticks-l0.ticks) / cfg.hz
	wall := s1.at.Sub(s0.at).Seconds()
	o = outcome{
		ok:      true,
		cpu:     cpu * 1e6 / units,
		sys:     float64(s1.syscr-s0.syscr+s1.syscw-s0.syscw) / units,
		rate:    units / seconds,
		p50:     r.P50us,
		p99:     r.P99us,
		srvBusy: 100 * cpu / wall,
		lgBusy:  100 * lgCPU / wall,
		other:   100 * (float64(runtime.NumCPU())*wall - float64(m1-m0)/cfg.hz - cpu - lgCPU) / wall,
		allocs:  float64(r.Allocs) / units,
		wire:    float64(r.WireBytes) / units,
		lg:      lgCPU * 1e6 / units,
	}
	if w.mode == "idle" {
		o.rss = float64(s1.rssKiB-s0.rssKiB) / units
		o.p50, o.p99 = math.NaN(), math.NaN() // no round trips
		o.wire = math.NaN()                   // no messages in a window
	}
	if stats {
		o.heap = (float64(st1.HeapInuse) - float64(st0.HeapInuse)) / 1024 / units
		o.stacks = (float64(st1.StackInuse) - float64(st0.StackInuse)) / 1024 / units
		o.goroutines = float64(st1.Goroutines-st0.Goroutines) / units
	}
	// An allocation per message would show as 1 or more. A few hundred in
	// a window are the runtime's own (a new thread when a goroutine sits
	// in a long write), which matter only when messages are few. Over TLS
	// the load generator's crypto/tls and x/net/http2 allocate as they
	// go: the -h2 report shows it instead.
	if o.allocs >= 0.5 && !w.tls {
		problems = append(problems, fmt.Sprintf("loadgen made %.3f allocations per %s", o.allocs, w.unit()))
	}
	// A paced -h2 row that fell behind its rate measured another load.
	if w.tls && w.rate > 0 && o.rate < keptUp*float64(w.rate) {
		problems = append(problems, fmt.Sprintf("%s: %.0f messages/s of the %d paced", notKeptUp, o.rate, w.rate))
	}
	return o, problems
}

// lgResult is the load generator's JSON line.
type lgResult struct {
	Conns            int     `json:"conns"`
	Messages         int64   `json:"messages"`
	Deliveries       int64   `json:"deliveries"`
	Seconds          float64 `json:"seconds"`
	P50us            float64 `json:"p50_us"`
	P99us            float64 `json:"p99_us"`
	HandshakeSeconds float64 `json:"handshake_seconds"`
	Allocs           uint64  `json:"allocs"`
	WireBytes        int64   `json:"wire_bytes"`
	Published        int64   `json:"published"`
	PublishedWindow  int64   `json:"published_window"`
	Lost             int64   `json:"lost"`
	Late             int64   `json:"late"`
	Errors           int     `json:"errors"`
}

// command returns a command for path pinned to cpu, if pinning is
// possible. taskset execs path, so the pid is the program's own.
func command(ctx context.Context, cfg config, cpu int, path string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if cfg.pin {
		cmd = exec.CommandContext(ctx, "taskset", append([]string{"-c", strconv.Itoa(cpu), path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.WaitDelay = stopTimeout
	// Should the driver die, its children go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// endServer stops the server with SIGTERM, kills it if it does not exit
// in time, and reports anything odd: an exit status other than 0, output
// on stderr or beyond the ready line.
func endServer(srv *exec.Cmd, stdout, stderr *capture) []string {
	var problems []string
	srv.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(stopTimeout):
		srv.Process.Kill()
		err = <-done
		problems = append(problems, "server ignored SIGTERM for "+stopTimeout.String()+"; killed")
	}
	if err != nil {
		problems = append(problems, fmt.Sprintf("server exit: %v", err))
	}
	if s := stdout.rest(); s != "" {
		problems = append(problems, "server stdout after ready: "+s)
	}
	if s := stderr.String(); s != "" {
		problems = append(problems, "server stderr: "+s)
	}
	return problems
}

// capture keeps what a process writes, up to a limit, and hands its
// first line to a channel if it has one.
type capture struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lost  int
	first chan string
}

const captureLimit = 64 << 10

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := captureLimit - c.buf.Len(); len(p) > room {
		c.lost += len(p) - room
		c.buf.Write(p[:room])
	} else {
		c.buf.Write(p)
	}
	if c.first != nil {
		if line, _, ok := bytes.Cut(c.buf.Bytes(), []byte("\n")); ok {
			c.first <- string(line)
			c.first = nil
		}
	}
	return len(p), nil
}

// String summarizes the captured output: its line count and first lines.
func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return summarize(c.buf.String(), c.lost)
}

// rest summarizes what came after the first line.
func (c *capture) rest() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, after, _ := strings.Cut(c.buf.String(), "\n")
	return summarize(after, c.lost)
}

func summarize(s string, lost int) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	const show = 3
	sum := fmt.Sprintf("%d line(s)", len(lines))
	if lost > 0 {
		sum += fmt.Sprintf(" (and %d bytes more)", lost)
	}
	if len(lines) > show {
		lines = lines[:show]
		lines = append(lines, "…")
	}
	return sum + ": " + strings.Join(lines, " ⏎ ")
}
