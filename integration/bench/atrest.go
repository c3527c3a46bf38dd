/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rest samples the idle state for one window: kube-apiserver request counts
// (k8s), the peer's memory, goroutines and descriptors, dockerd's memory.
func (v *vmRun) rest(count int) error {
	pt := RestPoint{Chaincodes: count, WindowSeconds: v.c.Rest.Seconds()}
	pt.LoadAvg1 = loadAvg1()
	var before []Sample
	var err error
	var proxyBefore map[string]map[string]int64
	if v.kube != nil {
		if before, err = v.apiserverMetrics(); err != nil {
			return err
		}
		proxyBefore = map[string]map[string]int64{}
		for id, p := range v.proxy {
			proxyBefore[id] = p.Counts()
		}
	}
	t0 := time.Now()
	time.Sleep(v.c.Rest)
	if v.kube != nil {
		win := time.Since(t0).Minutes()
		for id, p := range v.proxy {
			after := p.Counts()
			per := map[string]float64{}
			total := 0.0
			for verb, n := range after {
				if d := n - proxyBefore[id][verb]; d > 0 {
					per[verb] = float64(d) / win
					total += float64(d) / win
				}
			}
			if id == v.org1().ID() {
				pt.PeerAPIRequestsPerMin, pt.PeerAPIRequestsPerMinTotal = per, &total
			} else {
				pt.Org2APIRequestsPerMinTotal = &total
			}
		}
		after, err := v.apiserverMetrics()
		if err != nil {
			return err
		}
		b, a := sumBy(before, "apiserver_request_total", "verb"), sumBy(after, "apiserver_request_total", "verb")
		pt.APIRequestsPerMin = map[string]float64{}
		total := 0.0
		for verb, n := range a {
			if d := n - b[verb]; d > 0 {
				pt.APIRequestsPerMin[verb] = d / win
				total += d / win
			}
		}
		pt.APIRequestsPerMinTotal = &total
		other := v.otherNamespaces()
		pt.OtherNamespaces = &other
	}
	pid := v.h.PeerPID(v.org1())
	st, err := procStats(pid)
	if err != nil {
		return fmt.Errorf("peer %d: %w", pid, err)
	}
	pt.PeerRSSMiB, pt.PeerFDs, pt.PeerThreads = float64(st.RSSKiB)/1024, st.FDs, st.Threads
	if s, err := v.metrics(v.org1()); err == nil {
		pt.PeerGoroutines, _ = sumWhere(s, "go_goroutines", nil)
	} else {
		return err
	}
	if v.dock != nil {
		d, c := dockerdTreeRSS(v.dock)
		dm, cm := float64(d)/1024, float64(c)/1024
		pt.DockerdRSSMiB, pt.ContainerdMiB = &dm, &cm
	}
	v.r.Rest = append(v.r.Rest, pt)
	msg := fmt.Sprintf("%s: at rest with %d chaincodes: peer RSS %.1f MiB, %v goroutines, %d fds", v.vm, count, pt.PeerRSSMiB, pt.PeerGoroutines, pt.PeerFDs)
	if pt.APIRequestsPerMinTotal != nil {
		msg += fmt.Sprintf(", the peer's API requests %.1f/min, kube-apiserver %.1f requests/min (other test namespaces: %d)", *pt.PeerAPIRequestsPerMinTotal, *pt.APIRequestsPerMinTotal, *pt.OtherNamespaces)
	}
	if pt.DockerdRSSMiB != nil {
		msg += fmt.Sprintf(", dockerd %.1f MiB", *pt.DockerdRSSMiB)
	}
	step("%s", msg)
	return nil
}

func (v *vmRun) apiserverMetrics() ([]Sample, error) {
	ctx, cancel := context.WithTimeout(v.ctx, 30*time.Second)
	defer cancel()
	b, err := v.kube.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	return parseMetrics(strings.NewReader(string(b)))
}

// noteOtherNamespaces remembers test namespaces of other runs (k8s).
func (v *vmRun) noteOtherNamespaces() {
	if v.kube == nil {
		return
	}
	for _, ns := range v.otherNamespaceNames() {
		if v.seen == nil {
			v.seen = map[string]bool{}
		}
		if !v.seen[ns] {
			v.seen[ns] = true
			v.r.OtherNamespaces = append(v.r.OtherNamespaces, ns)
		}
	}
}

// loadAvg1 is the 1-minute load average.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// otherNamespaces counts namespaces other than ours that look like test runs
// of this project (their requests are in the API server's counters too).
func (v *vmRun) otherNamespaces() int {
	return len(v.otherNamespaceNames())
}

func (v *vmRun) otherNamespaceNames() []string {
	l, err := v.kube.Client.CoreV1().Namespaces().List(v.ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, ns := range l.Items {
		if ns.Name == v.ns {
			continue
		}
		if ns.Labels[network.TestNamespaceLabel] == "true" || strings.HasPrefix(ns.Name, "fpk-") || strings.HasPrefix(ns.Name, "fabric-") {
			out = append(out, ns.Name)
		}
	}
	return out
}
