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

// The cluster's daemons, named by the pid files of cluster.sh ("<pid> <start
// time>"), and their children are the cluster's.
func TestQuietMonitorRootsFromPidFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "run"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run", "etcd.pid"), []byte("4242 123456\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run", "bad.pid"), []byte("x\n"), 0o644))
	m := &quietMonitor{self: 1000, clusterDir: dir}
	roots := m.roots()
	require.Equal(t, map[int]bool{1000: true, 4242: true}, roots)
	require.True(t, m.own(4343, map[int]int{4343: 4242, 4242: 1}, roots, "etcd-child"), "a child of a daemon")
}
