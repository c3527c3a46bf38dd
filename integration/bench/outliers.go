/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import "sort"

// outlierFence is the value above which a sample of v is drawn as an
// outlier (clipped at the top of its chart, its value written) instead of
// stretching the axis: above Tukey's far-out fence Q3 + 3 × IQR and above
// 3 × p50. The second condition keeps samples within a small multiple of the
// median on the axis when the sample is so tight that its IQR is tiny.
func outlierFence(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	q1, q3 := Percentile(s, 0.25), Percentile(s, 0.75)
	return max(q3+3*(q3-q1), 3*Percentile(s, 0.5))
}

// splitOutliers returns the samples at or below fence and those above it.
func splitOutliers(v []float64, fence float64) (kept, out []float64) {
	for _, x := range v {
		if x > fence {
			out = append(out, x)
		} else {
			kept = append(kept, x)
		}
	}
	return kept, out
}
