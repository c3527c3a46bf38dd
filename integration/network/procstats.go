/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/hyperledger/fabric/integration/nwo"
)

// Stats is a sample of a running peer process' resources: what the kernel
// reports (resident memory, open file descriptors) and what the Go runtime
// exports on the operations endpoint's /metrics.
type Stats struct {
	PID int
	// RSSBytes is VmRSS of /proc/<pid>/status.
	RSSBytes int64
	// FDs is the number of entries of /proc/<pid>/fd.
	FDs int
	// Goroutines is go_goroutines, HeapInuseBytes go_memstats_heap_inuse_bytes.
	Goroutines     int
	HeapInuseBytes int64
}

func (s Stats) String() string {
	return fmt.Sprintf("pid=%d rss_mib=%.1f fds=%d goroutines=%d heap_inuse_mib=%.1f",
		s.PID, float64(s.RSSBytes)/(1<<20), s.FDs, s.Goroutines, float64(s.HeapInuseBytes)/(1<<20))
}

// Metric names PeerStats reads from /metrics.
const (
	metricGoroutines = "go_goroutines"
	metricHeapInuse  = "go_memstats_heap_inuse_bytes"
)

// PeerStats samples p's running process: VmRSS and open file descriptors
// from /proc (the peers are processes of this host), goroutines and heap in
// use from the peer's operations endpoint (Prometheus text format; the
// endpoint requires a TLS client certificate, nwo's authenticated
// operations client has one).
func (h *Harness) PeerStats(ctx context.Context, p *nwo.Peer) (Stats, error) {
	pid := h.PeerPID(p)
	if pid == 0 {
		return Stats{}, fmt.Errorf("%s is not running", p.ID())
	}
	st := Stats{PID: pid}
	var err error
	if st.RSSBytes, err = ProcRSS(pid); err != nil {
		return st, err
	}
	if st.FDs, err = ProcFDs(pid); err != nil {
		return st, err
	}

	text, err := h.PeerMetrics(ctx, p)
	if err != nil {
		return st, err
	}
	m, err := ParseMetrics(strings.NewReader(text), metricGoroutines, metricHeapInuse)
	if err != nil {
		return st, fmt.Errorf("%s /metrics: %w", p.ID(), err)
	}
	st.Goroutines = int(m[metricGoroutines])
	st.HeapInuseBytes = int64(m[metricHeapInuse])
	return st, nil
}

// PeerMetrics is what p's operations endpoint serves on /metrics
// (Prometheus text format; the endpoint requires a TLS client certificate,
// nwo's authenticated operations client has one).
func (h *Harness) PeerMetrics(ctx context.Context, p *nwo.Peer) (string, error) {
	authClient, _ := nwo.PeerOperationalClients(h.Network, p)
	defer authClient.CloseIdleConnections()
	url := "https://" + h.Network.PeerAddress(p, nwo.OperationsPort) + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	// One connection per sample, closed afterwards: the sampling itself
	// must not hold descriptors open in the peer.
	req.Close = true
	resp, err := authClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s /metrics: %w", p.ID(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return "", fmt.Errorf("%s /metrics: %s: %s", p.ID(), resp.Status, strings.TrimSpace(string(b)))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("%s /metrics: %w", p.ID(), err)
	}
	return string(b), nil
}

// ParseMetrics reads the unlabelled samples named names from Prometheus
// text exposition format; it fails when one of them is missing.
func ParseMetrics(r io.Reader, names ...string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// name value [timestamp]; labelled samples have name{...}.
		fields := strings.Fields(line)
		if len(fields) < 2 || !want[fields[0]] {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", fields[0], err)
		}
		out[fields[0]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("metric %s not found", n)
		}
	}
	return out, nil
}

// ProcRSS is VmRSS of process pid, in bytes.
func ProcRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return ParseVmRSS(f)
}

// ParseVmRSS reads VmRSS (in bytes) from the text of /proc/<pid>/status.
func ParseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != "VmRSS" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmRSS line (a kernel thread or a zombie)")
}

// ProcThreads is the number of threads of process pid (Threads in
// /proc/<pid>/status).
func ProcThreads(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, rest, ok := strings.Cut(line, ":"); ok && name == "Threads" {
			return strconv.Atoi(strings.TrimSpace(rest))
		}
	}
	return 0, fmt.Errorf("no Threads line in /proc/%d/status", pid)
}

// ProcFDs counts the open file descriptors of process pid.
func ProcFDs(pid int) (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(entries), nil
}
