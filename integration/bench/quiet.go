/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A run is quiet when nothing but the bench and what it measures used the
// machine: the bench's own processes (the peers, the orderer, the CLI, the
// Docker daemon it starts and its containers, Caliper), the local cluster's
// daemons (the pid files of CLUSTER_DIR/run and their children) and the pods
// of the cluster (kubepods cgroups, which hold the Kaniko builds and the
// chaincode). Every other process's CPU time
// is "foreign". The monitor samples /proc every quietInterval; the report
// calls the run quiet only when the foreign CPU stayed below the bounds
// below at every sample and no other test namespace appeared.
const (
	quietInterval = 10 * time.Second
	// quietMaxShare bounds the foreign CPU of one interval, in cores.
	quietMaxShare = 0.25
	// quietMeanShare bounds the foreign CPU over the whole run, in cores.
	quietMeanShare = 0.05
)

// Quiet is the report's verdict on the machine during the run.
type Quiet struct {
	Quiet bool `json:"quiet"`
	// Reason says why the run is not quiet ("" when it is).
	Reason string `json:"reason,omitempty"`
	// Samples is the number of intervals observed.
	Samples int `json:"samples"`
	// MeanCores and MaxCores are the foreign CPU, in cores, over the run
	// and in its busiest interval; MaxAt is when that interval ended.
	MeanCores float64   `json:"mean_foreign_cores"`
	MaxCores  float64   `json:"max_foreign_cores"`
	MaxAt     time.Time `json:"max_at,omitzero"`
	// Top names the foreign processes that used the most CPU, with seconds.
	Top []string `json:"top,omitempty"`
	// MaxLoad1 is the highest 1-minute load average seen.
	MaxLoad1 float64 `json:"max_load1"`
	// OtherNamespaces are test namespaces of other runs seen on the
	// cluster (from the at-rest samples).
	OtherNamespaces []string `json:"other_namespaces,omitempty"`
}

// procSample is one process's CPU time.
type procSample struct {
	comm  string
	ticks uint64
}

// quietMonitor samples the foreign CPU time until stopped.
type quietMonitor struct {
	self       int
	clusterDir string // where cluster.sh keeps its pid files (run/)
	hz         float64

	mu       sync.Mutex
	last     map[int]procSample
	lastAt   time.Time
	q        Quiet
	total    float64            // foreign CPU seconds
	byComm   map[string]float64 // foreign CPU seconds by command
	elapsed  float64
	stop     chan struct{}
	finished chan struct{}
}

// startQuietMonitor starts sampling; Stop returns the verdict.
func startQuietMonitor(clusterDir string) *quietMonitor {
	m := &quietMonitor{
		self: os.Getpid(), clusterDir: clusterDir, hz: 100,
		byComm: map[string]float64{}, stop: make(chan struct{}), finished: make(chan struct{}),
	}
	m.last, m.lastAt = m.snapshot(), time.Now()
	go func() {
		defer close(m.finished)
		t := time.NewTicker(quietInterval)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				m.sample()
				return
			case <-t.C:
				m.sample()
			}
		}
	}()
	return m
}

// Stop ends the sampling and returns the verdict, other namespaces not yet
// considered.
func (m *quietMonitor) Stop() Quiet {
	close(m.stop)
	<-m.finished
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.q
	if m.elapsed > 0 {
		q.MeanCores = m.total / m.elapsed
	}
	type kv struct {
		comm string
		secs float64
	}
	var top []kv
	for c, s := range m.byComm {
		top = append(top, kv{c, s})
	}
	sort.Slice(top, func(i, j int) bool { return top[i].secs > top[j].secs })
	for i := 0; i < len(top) && i < 5; i++ {
		q.Top = append(q.Top, fmt.Sprintf("%s %.1fs", top[i].comm, top[i].secs))
	}
	q.judge()
	return q
}

// judge sets Quiet and Reason from the figures.
func (q *Quiet) judge() {
	var why []string
	if q.Samples == 0 {
		why = append(why, "no sample of the machine was taken")
	}
	if q.MaxCores > quietMaxShare {
		why = append(why, fmt.Sprintf("other processes used %.2f cores in the %s up to %s (bound %.2f)",
			q.MaxCores, quietInterval, q.MaxAt.UTC().Format("15:04:05"), quietMaxShare))
	}
	if q.MeanCores > quietMeanShare {
		why = append(why, fmt.Sprintf("other processes used %.3f cores on average (bound %.2f)", q.MeanCores, quietMeanShare))
	}
	if len(q.OtherNamespaces) > 0 {
		why = append(why, "other test namespaces on the cluster: "+strings.Join(q.OtherNamespaces, ", "))
	}
	q.Quiet, q.Reason = len(why) == 0, strings.Join(why, "; ")
}

// sample adds the foreign CPU time since the last sample.
func (m *quietMonitor) sample() {
	now, snap := time.Now(), m.snapshot()
	m.mu.Lock()
	defer m.mu.Unlock()
	secs := now.Sub(m.lastAt).Seconds()
	var used float64
	for pid, s := range snap {
		prev, ok := m.last[pid]
		d := s.ticks
		if ok && prev.comm == s.comm {
			d -= min(prev.ticks, s.ticks)
		}
		if d == 0 {
			continue
		}
		c := float64(d) / m.hz
		used += c
		m.byComm[s.comm] += c
	}
	m.total += used
	m.elapsed += secs
	m.q.Samples++
	if cores := used / secs; secs > 0 && cores > m.q.MaxCores {
		m.q.MaxCores, m.q.MaxAt = cores, now
	}
	m.q.MaxLoad1 = max(m.q.MaxLoad1, loadAvg1())
	m.last, m.lastAt = snap, now
}

// snapshot reads the CPU time of every foreign process.
func (m *quietMonitor) snapshot() map[int]procSample {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parents := map[int]int{}
	stats := map[int]procSample{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ppid, ticks, ok := readStat(pid)
		if !ok {
			continue
		}
		parents[pid] = ppid
		stats[pid] = procSample{comm: comm, ticks: ticks}
	}
	out := map[int]procSample{}
	roots := m.roots()
	for pid, s := range stats {
		if m.own(pid, parents, roots, s.comm) {
			continue
		}
		out[pid] = s
	}
	return out
}

// roots are the bench's own process and the cluster's daemons (the pid
// files cluster.sh keeps in CLUSTER_DIR/run).
func (m *quietMonitor) roots() map[int]bool {
	r := map[int]bool{m.self: true}
	if m.clusterDir == "" {
		return r
	}
	files, _ := filepath.Glob(filepath.Join(m.clusterDir, "run", "*.pid"))
	for _, f := range files {
		// "<pid> <start time>"
		if b, err := os.ReadFile(f); err == nil {
			if fields := strings.Fields(string(b)); len(fields) > 0 {
				if pid, err := strconv.Atoi(fields[0]); err == nil {
					r[pid] = true
				}
			}
		}
	}
	return r
}

// own reports whether pid is the bench's or the cluster's (a descendant of
// a root, a container of a pod or of the bench's Docker daemon, or a
// container shim) or a kernel thread.
func (m *quietMonitor) own(pid int, parents map[int]int, roots map[int]bool, comm string) bool {
	for p, n := pid, 0; p > 1 && n < 64; p, n = parents[p], n+1 {
		if roots[p] {
			return true
		}
	}
	if strings.HasPrefix(comm, "containerd-shim") {
		return true
	}
	if _, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe")); err != nil {
		return true // a kernel thread, or gone
	}
	// Pods of the cluster, and containers of the Docker daemon the bench
	// runs (their shims are re-parented to init).
	cg, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	return err == nil && (strings.Contains(string(cg), "kubepods") || strings.Contains(string(cg), "/docker/"))
}

// readStat reads a process's command, parent and CPU ticks (user+system).
func readStat(pid int) (string, int, uint64, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, 0, false
	}
	return parseStat(string(b))
}

// parseStat parses /proc/<pid>/stat: "pid (comm) state ppid ... utime stime".
func parseStat(s string) (string, int, uint64, bool) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, 0, false
	}
	f := strings.Fields(s[end+1:])
	// f[0] state, f[1] ppid, ..., f[11] utime, f[12] stime
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", 0, 0, false
	}
	return s[open+1 : end], ppid, ut + st, true
}

// sentence states the verdict for the report.
func (q *Quiet) sentence() string {
	if q == nil {
		return "Quiet: not checked (a run from before the check existed)."
	}
	figures := fmt.Sprintf("other processes used %.3f cores on average and %.2f at most over %d samples of %s, load average at most %.2f",
		q.MeanCores, q.MaxCores, q.Samples, quietInterval, q.MaxLoad1)
	if len(q.Top) > 0 {
		figures += " (most: " + strings.Join(q.Top, ", ") + ")"
	}
	if q.Quiet {
		return "Quiet: **yes** — nothing but the bench and the local cluster used the machine: " + figures + "."
	}
	return "Quiet: **no** — " + q.Reason + "; " + figures + ". Take the ratios as indicative."
}
