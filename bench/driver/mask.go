package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The masking comparison: the root module's BenchmarkMask (this library's
// masking) against bench/mask's BenchmarkMask (gobwas/ws's Cipher), with
// the same names and sizes. Each is compiled once into a test binary, and
// the two binaries take turns, reps times, so that a noisy moment hurts
// both alike; the table has the medians.

var maskSizes = []int{1 << 10, 16 << 10, 1 << 20}

var benchLine = regexp.MustCompile(`^BenchmarkMask/(\d+)-\d+\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) MB/s`)

// compareMask runs the comparison and returns its markdown.
func compareMask(dir string, reps int) (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	benchRoot := filepath.Dir(strings.TrimSpace(string(gomod)))
	sides := []struct{ name, dir, pkg string }{
		{"rfc6455", filepath.Dir(benchRoot), "."}, // the library's module
		{"gobwas Cipher", benchRoot, "./mask"},
	}
	bins := make([]string, len(sides))
	for i, s := range sides {
		bins[i] = filepath.Join(dir, fmt.Sprintf("mask%d.test", i))
		cmd := exec.Command("go", "test", "-c", "-o", bins[i], s.pkg)
		cmd.Dir = s.dir
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("go test -c %s in %s: %w", s.pkg, s.dir, err)
		}
	}
	var names []string
	for _, n := range maskSizes {
		names = append(names, strconv.Itoa(n))
	}
	filter := "^BenchmarkMask$/^(" + strings.Join(names, "|") + ")$"
	got := make([]map[int][]float64, len(sides)) // MB/s by size
	for i := range got {
		got[i] = map[int][]float64{}
	}
	for rep := 0; rep < reps; rep++ {
		for i, bin := range bins {
			out, err := exec.Command(bin, "-test.run", "^$", "-test.bench", filter, "-test.benchtime", "0.3s").Output()
			if err != nil {
				return "", fmt.Errorf("%s: %w", sides[i].name, err)
			}
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				if m := benchLine.FindStringSubmatch(sc.Text()); m != nil {
					size, _ := strconv.Atoi(m[1])
					mbs, _ := strconv.ParseFloat(m[2], 64)
					got[i][size] = append(got[i][size], mbs)
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Masking throughput, GB/s (go test -bench '^BenchmarkMask$', medians of %d alternating runs). Higher is better.\n\n", reps)
	b.WriteString("| size | rfc6455 | gobwas Cipher | ours / gobwas |\n|---|---:|---:|---:|\n")
	for _, n := range maskSizes {
		o, okO := medianOf(got[0][n])
		g, okG := medianOf(got[1][n])
		if !okO || !okG {
			return "", fmt.Errorf("no result for %d bytes", n)
		}
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.2f× |\n", sizeName(n), o/1000, g/1000, o/g)
	}
	return b.String(), nil
}

func medianOf(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}
