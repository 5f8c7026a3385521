package main

import "math/bits"

// hist is a log-linear histogram of durations in nanoseconds: exact below
// 64 ns, then 32 buckets per power of two, so a percentile read from it is
// within 2% of the true value. Adding to it does not allocate; each
// connection keeps its own and they are merged at the end.
type hist struct {
	counts [64 + 58*32]uint32
	n      int64
}

func bucket(v int64) int {
	if v < 64 {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 6 // leaves the top 6 bits: 32..63
	return 64 + (shift-1)*32 + int(v>>shift) - 32
}

// mid returns the middle of bucket i, in nanoseconds.
func mid(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	shift := (i-64)/32 + 1
	low := int64(32+(i-64)%32) << shift
	return float64(low) + float64(int64(1)<<shift)/2
}

func (h *hist) add(ns int64) {
	h.counts[bucket(ns)]++
	h.n++
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the q-quantile in microseconds, 0 if h is empty.
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	var seen int64
	for i, c := range h.counts {
		seen += int64(c)
		if seen >= rank {
			return mid(i) / 1000
		}
	}
	return mid(len(h.counts)-1) / 1000
}
