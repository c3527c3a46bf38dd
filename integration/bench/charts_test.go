/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOutlierFence(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples []float64
		out     []float64
	}{
		{"empty", nil, nil},
		{"tight sample, no outlier", []float64{1.0, 1.1, 0.9, 1.2, 1.0}, nil},
		{"within 3 × p50 stays although far out by IQR", []float64{0.6, 0.6, 0.6, 0.61, 0.6, 1.6}, nil},
		{"one slow launch among fast ones", []float64{0.6, 0.58, 0.63, 0.7, 1.47, 1.63, 0.55, 60.18}, []float64{60.18}},
		{"all zero", []float64{0, 0, 0}, nil},
		{"spread sample, nothing clipped", []float64{39.3, 40.3, 43.2, 44.9, 45.2, 55.7, 59.5, 68.0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out := splitOutliers(tc.samples, outlierFence(tc.samples))
			require.Equal(t, tc.out, out)
		})
	}
}

func TestLaunchPanelAxisLeavesOutliersOut(t *testing.T) {
	many := []float64{0.63, 0.58, 0.56, 0.66, 0.55, 0.57, 0.56, 0.54, 0.66, 0.59, 1.47, 1.63, 60.18}
	r := &Report{Config: &config{}, VMs: map[string]*VMResult{
		"k8s":    {VM: "k8s", Samples: map[string][]float64{sLaunchMany: many}},
		"docker": {VM: "docker", Samples: map[string][]float64{sLaunchMany: {0.15, 0.17, 0.21}}},
	}}
	p, err := launchPanel(r, sLaunchMany, "launch at install")
	require.NoError(t, err)
	require.NotNil(t, p)
	require.Greater(t, p.Y.Max, 1.63, "the largest sample that is not an outlier is on the axis")
	require.Less(t, p.Y.Max, 3.0, "the outlier does not stretch the axis")

	p, err = launchPanel(r, sFloor, "floor")
	require.NoError(t, err)
	require.Nil(t, p, "a figure without samples has no panel")
}
