/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"os"
	"path/filepath"
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

// phasesReport is a report whose first launches and cold builds are split
// into phases for both VMs.
func phasesReport() *Report {
	launchK8s := Phases{Phases: []Phase{
		{Key: phPrepare, Seconds: 0.15, Resolution: 0.04}, {Key: phSchedule, Seconds: 0.05, Resolution: 0.01},
		{Key: phSandbox, Seconds: 0.2, Resolution: 1}, {Key: phPull, Seconds: 0.31, Resolution: 0.001},
		{Key: phStart, Seconds: 0.19, Resolution: 1}, {Key: phRegister, Seconds: 0.3, Resolution: 1},
	}}
	launchDocker := Phases{Phases: []Phase{{Key: phPrepare, Seconds: 0.07, Resolution: 0.04}, {Key: phStart, Seconds: 0.08}, {Key: phRegister, Seconds: 0.1, Resolution: 0.04}}}
	buildK8s := Phases{Phases: []Phase{
		{Key: phPrepare, Seconds: 3.2, Resolution: 1}, {Key: phJob, Seconds: 0.1, Resolution: 1}, {Key: phSchedule, Seconds: 0.03, Resolution: 0.01},
		{Key: phSandbox, Seconds: 1.1, Resolution: 1}, {Key: phPull, Seconds: 0}, {Key: phStart, Seconds: 1, Resolution: 1},
		{Key: phReceive, Seconds: 2, Resolution: 1}, {Key: phCompile, Seconds: 26, Resolution: 1}, {Key: phImageStart, Seconds: 1, Resolution: 1},
		{Key: phImage, Seconds: 12, Resolution: 1}, {Key: phReturn, Seconds: 1.2, Resolution: 1},
	}}
	buildDocker := Phases{Phases: []Phase{
		{Key: phPrepare, Seconds: 0.6, Resolution: 0.001}, {Key: phReceive, Seconds: 0.5}, {Key: phCompile, Seconds: 19},
		{Key: phImage + "+" + phReturn, Seconds: 5.4, Resolution: 0.001},
	}}
	return &Report{Config: &config{Clients: 8}, VMs: map[string]*VMResult{
		"k8s": {VM: "k8s", Samples: map[string][]float64{sFirstLaunchPeer: {1.2}, sInstallBuild: {47.6}},
			Phases: map[string][]Phases{sFirstLaunchPeer: {launchK8s}, sInstallBuild: {buildK8s}}},
		"docker": {VM: "docker", Samples: map[string][]float64{sFirstLaunchPeer: {0.25}, sInstallBuild: {25.5}},
			Phases: map[string][]Phases{sFirstLaunchPeer: {launchDocker}, sInstallBuild: {buildDocker}}},
	}}
}

func TestPhaseCharts(t *testing.T) {
	dir := t.TempDir()
	files, err := writeCharts(phasesReport(), dir)
	require.NoError(t, err)
	require.Equal(t, []string{"launch.png", "launch_phases.png", "build_phases.png"}, files)
	for _, f := range files[1:] {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Greater(t, len(b), 1000, f)
		require.Equal(t, "\x89PNG", string(b[:4]), f)
	}

	r := phasesReport()
	delete(r.VMs["docker"].Phases, sInstallBuild)
	delete(r.VMs["k8s"].Phases, sInstallBuild)
	files, err = writeCharts(r, t.TempDir())
	require.NoError(t, err)
	require.NotContains(t, files, "build_phases.png", "a figure without phases has no chart")
	require.Contains(t, files, "launch_phases.png")
}
