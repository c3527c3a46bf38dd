/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCleanTicksLabelsWithoutNoise(t *testing.T) {
	for _, hi := range []float64{0.65, 1.3, 1.25, 0.07, 620} {
		var labels []string
		for _, tk := range (cleanTicks{}).Ticks(0, hi) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		require.NotEmpty(t, labels, "0..%g", hi)
		for _, l := range labels {
			require.LessOrEqual(t, len(l), 5, "0..%g: label %q", hi, l)
		}
	}
}
