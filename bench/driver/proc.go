package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// snapshot is what the driver reads of a process at each end of the
// window.
type snapshot struct {
	at     time.Time
	ticks  int64 // utime+stime, in clock ticks, all threads
	syscr  int64 // read system calls (read, readv, ...)
	syscw  int64 // write system calls (write, writev, ...)
	rssKiB int64
}

// readSnapshot reads /proc/PID/stat, io and status. The files are small
// and read whole; the three reads take some tens of microseconds.
func readSnapshot(pid int) (snapshot, error) {
	s := snapshot{at: time.Now()}
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	stat, err := os.ReadFile(dir + "stat")
	if err != nil {
		return s, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields from the last ')', which ends it. utime and stime are
	// fields 14 and 15 (proc(5)).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("malformed %sstat", dir)
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return s, fmt.Errorf("short %sstat", dir)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("malformed %sstat", dir)
	}
	s.ticks = utime + stime

	io, err := os.ReadFile(dir + "io")
	if err != nil {
		return s, err
	}
	s.syscr = field(io, "syscr:")
	s.syscw = field(io, "syscw:")
	status, err := os.ReadFile(dir + "status")
	if err != nil {
		return s, err
	}
	s.rssKiB = field(status, "VmRSS:")
	return s, nil
}

// field returns the number after the line that starts with name, or -1.
func field(b []byte, name string) int64 {
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			v := strings.Fields(rest)
			if len(v) > 0 {
				n, err := strconv.ParseInt(v[0], 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// machineIdle returns the time all CPUs together have spent idle or
// waiting for I/O, in clock ticks, from the first line of /proc/stat. With
// a tickless kernel these two columns are measured, not sampled, so busy
// time is better found as elapsed time minus them than by adding up the
// other columns, which come from sampling at each timer tick.
func machineIdle() (int64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, fmt.Errorf("malformed /proc/stat")
	}
	idle, err1 := strconv.ParseInt(f[4], 10, 64)
	iowait, err2 := strconv.ParseInt(f[5], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed /proc/stat")
	}
	return idle + iowait, nil
}

// clockTicks returns the unit of utime and stime: getconf CLK_TCK, which
// is 100 on Linux unless configured otherwise.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if hz, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && hz > 0 {
			return hz
		}
	}
	return 100
}

// canPin reports whether processes can be pinned to CPUs 0 and 1.
func canPin() bool {
	_, err := exec.LookPath("taskset")
	return err == nil && runtime.NumCPU() >= 2
}

// describe returns the header of the output: how it was run and on what.
func describe() string {
	var b strings.Builder
	b.WriteString("# WebSocket server comparison\n\n")
	args := []string{"go", "run", "./driver"}
	for _, a := range os.Args[1:] {
		args = append(args, quote(a))
	}
	fmt.Fprintf(&b, "- command: `%s`\n", strings.Join(args, " "))
	fmt.Fprintf(&b, "- date: %s\n", time.Now().Format(time.RFC3339))
	if v, err := exec.Command("go", "version").Output(); err == nil {
		fmt.Fprintf(&b, "- go: %s\n", strings.TrimSpace(string(v)))
	} else {
		fmt.Fprintf(&b, "- go: %s (driver)\n", runtime.Version())
	}
	fmt.Fprintf(&b, "- cpu: %s, %d logical CPUs\n", cpuModel(), runtime.NumCPU())
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		fmt.Fprintf(&b, "- kernel: Linux %s\n", strings.TrimSpace(string(k)))
	}
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// quote quotes a for a POSIX shell if it needs it.
func quote(a string) string {
	if a != "" && strings.IndexFunc(a, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=.,/:+", r))
	}) < 0 {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// loadavg returns the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// commit returns the repository's current commit, abbreviated, with
// "+changes" if the work tree differs from it.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += "+changes"
	}
	return c
}
