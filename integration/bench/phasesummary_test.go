/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPhaseSummariesAndMarkdown(t *testing.T) {
	launch := func(label string, prepare, schedule float64, note string) Phases {
		ph := Phases{Label: label, Phases: []Phase{
			{Key: phPrepare, Seconds: prepare, Resolution: 0.04},
			{Key: phSchedule, Seconds: schedule, Resolution: 0.01},
			{Key: phSandbox + "+" + phPull + "+" + phStart, Seconds: 1, Resolution: 1},
			{Key: phRegister, Seconds: 0.2, Resolution: 1, Clamped: schedule == 0},
		}}
		if note != "" {
			ph.Notes = []string{note}
		}
		return ph
	}
	r := &Report{
		Config: &config{N: 3, Clients: 8, Load: time.Second, Rest: time.Second},
		VMs: map[string]*VMResult{
			"k8s": {VM: "k8s", Samples: map[string][]float64{sFirstLaunchPeer: {1.3, 1.5, 1.4}}, Phases: map[string][]Phases{sFirstLaunchPeer: {
				launch("kv1", 0.1, 0.05, "image pull started not observed (no Pulling event): phase sandbox merged into the next"),
				launch("kv2", 0.3, 0, "image pull started not observed (no Pulling event): phase sandbox merged into the next"),
				{Label: "kv3", Phases: []Phase{{Key: phPrepare, Seconds: 0.2, Resolution: 0.04}, {Key: phSchedule, Seconds: 0.07, Resolution: 0.01}}},
			}}},
			"docker": {VM: "docker", Samples: map[string][]float64{sFirstLaunchPeer: {0.25}}, Phases: map[string][]Phases{sFirstLaunchPeer: {
				{Label: "kv1", Phases: []Phase{{Key: phPrepare, Seconds: 0.07, Resolution: 0.04}, {Key: phStart, Seconds: 0.08, Resolution: 1e-6}, {Key: phRegister, Seconds: 0.1, Resolution: 0.04}}},
			}}},
		},
	}
	sums := r.phaseSummaries()
	require.Len(t, sums, 1, "only the launch has phases")
	s := sums[0]
	require.Equal(t, map[string]int{"k8s": 3, "docker": 1}, s.Samples)
	var keys []string
	for _, row := range s.Rows {
		keys = append(keys, row.Key)
	}
	require.Equal(t, []string{phPrepare, phSchedule, phSandbox + "+" + phPull + "+" + phStart, phStart, phRegister}, keys, "in the order of the phases, merged ones at their first phase")
	require.Equal(t, &PhaseStat{N: 3, P50: 0.2, Resolution: 0.04}, s.Rows[0].VMs["k8s"])
	require.Equal(t, &PhaseStat{N: 2, P50: 0.2, Resolution: 1, Clamped: 1}, s.Rows[4].VMs["k8s"])
	require.Nil(t, s.Rows[1].VMs["docker"], "DockerVM has no scheduling")
	require.Equal(t, []string{"image pull started not observed (no Pulling event): phase sandbox merged into the next (2 times, e.g.)"}, s.Notes["k8s"])

	md := r.Markdown()
	for _, w := range []string{
		"## Where the time goes",
		"| phase | k8s VM (3 samples) | DockerVM (1 sample) |",
		"| launch start → pod / container created | 0.200 | 0.070 |",
		"| pod sandbox (until the image pull starts) + image pull + container started | 1.00 (res 1 s, n 2 of 3) | — |",
		"| started → registered with the peer | 0.200 (res 1 s, n 2 of 3, clamped 1) | 0.100 |",
		"| *p50 of the figure (side by side)* | 1.40 | 0.250 |",
		"phase sandbox merged into the next (2 times, e.g.)",
	} {
		require.Contains(t, md, w)
	}
}
