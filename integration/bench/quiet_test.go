/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	comm, ppid, ticks, ok := parseStat("1234 (go (test) x) R 99 1 1 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 1 0 0")
	require.True(t, ok)
	require.Equal(t, "go (test) x", comm)
	require.Equal(t, 99, ppid)
	require.Equal(t, uint64(300), ticks)
	_, _, _, ok = parseStat("garbage")
	require.False(t, ok)
}

func TestQuietJudge(t *testing.T) {
	q := Quiet{Samples: 10, MeanCores: 0.01, MaxCores: 0.1}
	q.judge()
	require.True(t, q.Quiet)
	require.Contains(t, q.sentence(), "Quiet: **yes**")

	q = Quiet{Samples: 10, MeanCores: 0.2, MaxCores: 1.5, OtherNamespaces: []string{"fpk-e2e-1"}}
	q.judge()
	require.False(t, q.Quiet)
	require.Contains(t, q.Reason, "other processes used 1.50 cores in the 10s up to")
	require.Contains(t, q.Reason, "0.200 cores on average")
	require.Contains(t, q.Reason, "other test namespaces on the cluster: fpk-e2e-1")
	require.Contains(t, q.sentence(), "Quiet: **no**")

	q = Quiet{}
	q.judge()
	require.False(t, q.Quiet, "no sample, no verdict of quiet")
	require.Contains(t, (*Quiet)(nil).sentence(), "not checked")
}

// The monitor counts this test's own CPU as the bench's.
func TestQuietMonitorExcludesItsOwnProcess(t *testing.T) {
	m := startQuietMonitor("")
	spin := 0
	for i := 0; i < 50_000_000; i++ {
		spin += i
	}
	_ = spin
	q := m.Stop()
	require.Equal(t, 1, q.Samples)
	for _, top := range q.Top {
		require.NotContains(t, top, "bench.test", "this process is the bench's")
	}
}
