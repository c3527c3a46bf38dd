/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"math"
	"sort"
)

// Summary is min/p50/p90/max of a sample. Percentiles interpolate linearly
// between order statistics (p50 of 2 values is their mean).
type Summary struct {
	N   int     `json:"n"`
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	Max float64 `json:"max"`
}

// Summarize returns nil for an empty sample.
func Summarize(v []float64) *Summary {
	if len(v) == 0 {
		return nil
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return &Summary{N: len(s), Min: s[0], P50: Percentile(s, 0.5), P90: Percentile(s, 0.9), Max: s[len(s)-1]}
}

// Percentile of a sorted sample, q in [0,1].
func Percentile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	pos := q * float64(n-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	if lo == hi {
		return sorted[lo]
	}
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

// Ratio is a/b of two p50s, or nil when either is missing or b is 0.
func Ratio(a, b *Summary) *float64 {
	if a == nil || b == nil || b.P50 == 0 {
		return nil
	}
	r := a.P50 / b.P50
	return &r
}

// fmtNum formats a figure with a precision that suits its size.
func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
