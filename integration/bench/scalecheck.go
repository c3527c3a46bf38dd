/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/apiproxy"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// NodeRoom is how many more pods a node admits.
type NodeRoom struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	// MaxPods is the node's allocatable pods (the kubelet's maxPods).
	MaxPods int `json:"max_pods"`
	// Used counts the pods bound to it that have not finished.
	Used int `json:"used"`
	Free int `json:"free"`
	// Taints are those that keep pods off the node (NoSchedule, NoExecute).
	Taints []string `json:"taints,omitempty"`
}

// nodeRoomsOf computes each node's room from the cluster's nodes and pods,
// sorted by name.
func nodeRoomsOf(nodes []corev1.Node, pods []corev1.Pod) []NodeRoom {
	used := map[string]int{}
	for _, p := range pods {
		if p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			used[p.Spec.NodeName]++
		}
	}
	var out []NodeRoom
	for _, n := range nodes {
		r := NodeRoom{Name: n.Name, MaxPods: int(n.Status.Allocatable.Pods().Value()), Used: used[n.Name]}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				r.Ready = true
			}
		}
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
				r.Taints = append(r.Taints, fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect))
			}
		}
		if r.Free = r.MaxPods - r.Used; r.Free < 0 {
			r.Free = 0
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// checkMainRoom fails unless the Ready, untainted nodes (where pods that
// tolerate nothing go: the chaincodes not pinned) have room for chaincodes
// chaincode pods and others more.
func checkMainRoom(rooms []NodeRoom, chaincodes, others int) error {
	free, max, used := 0, 0, 0
	var names []string
	for _, r := range rooms {
		if r.Ready && len(r.Taints) == 0 {
			free, max, used = free+r.Free, max+r.MaxPods, used+r.Used
			names = append(names, r.Name)
		}
	}
	need := chaincodes + others
	if len(names) == 0 {
		return fmt.Errorf("no Ready node without taints for the %d chaincode pods", chaincodes)
	}
	if free < need {
		return fmt.Errorf("node %s admits %d pods (kubelet maxPods) and %d are bound and not finished: %d free, too few for %d chaincode pods and %d others (kv1 on both peers, its build); "+
			"stop what else runs on the cluster or lower SCALE_CHAINCODES", strings.Join(names, ","), max, used, free, chaincodes, others)
	}
	return nil
}

// checkNodeRoom fails unless the named node exists, is Ready and has room
// for n pods.
func checkNodeRoom(rooms []NodeRoom, name string, n int) error {
	for _, r := range rooms {
		if r.Name != name {
			continue
		}
		if !r.Ready {
			return fmt.Errorf("node %s is not Ready", name)
		}
		if r.Free < n {
			return fmt.Errorf("node %s admits %d pods (kubelet maxPods) and %d are bound and not finished: %d free, too few for the %d chaincode pods pinned to it; lower SCALE_NODE2_CHAINCODES to at most %d",
				name, r.MaxPods, r.Used, r.Free, n, r.Free)
		}
		return nil
	}
	return fmt.Errorf("SCALE_NODES=2: there is no node %s (make cluster-up NODES=2, or integration/cluster/cluster.sh node-add)", name)
}

// DupGroup is one chaincode of one peer with more than one live pod.
type DupGroup struct {
	Peer          string   `json:"peer"`
	ChaincodeHash string   `json:"chaincode_hash"`
	CCID          string   `json:"ccid,omitempty"`
	Pods          []string `json:"pods"`
}

func (g DupGroup) key() string {
	return g.Peer + "/" + g.ChaincodeHash + "/" + strings.Join(g.Pods, ",")
}

// liveDuplicates groups the live chaincode pods (not being deleted, not
// finished) by peer and chaincode hash and returns the groups of more than
// one pod, sorted.
func liveDuplicates(pods []corev1.Pod) []DupGroup {
	groups := map[[2]string]*DupGroup{}
	for _, p := range network.LivePods(pods) {
		if !network.IsChaincodePod(&p) {
			continue
		}
		k := [2]string{p.Labels[network.LabelPeerID], p.Labels[network.LabelCCHash]}
		g := groups[k]
		if g == nil {
			g = &DupGroup{Peer: k[0], ChaincodeHash: k[1], CCID: p.Annotations[network.AnnotationCCID]}
			groups[k] = g
		}
		g.Pods = append(g.Pods, p.Name)
	}
	var out []DupGroup
	for _, g := range groups {
		if len(g.Pods) > 1 {
			sort.Strings(g.Pods)
			out = append(out, *g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// Duplicate is one group of live pods of one chaincode for one peer, over
// the consecutive samples that saw it.
type Duplicate struct {
	DupGroup
	Phase     string  `json:"phase"`
	FirstSeen float64 `json:"first_seen_s"`
	LastSeen  float64 `json:"last_seen_s"`
	Samples   int     `json:"samples"`
}

// DuplicateCheck is the outcome of polling the chaincode pods.
type DuplicateCheck struct {
	IntervalMillis int `json:"interval_ms"`
	Samples        int `json:"samples"`
	// MaxGapSeconds is the longest time between two successful samples.
	MaxGapSeconds float64 `json:"max_gap_s"`
	// MaxLive is the most live chaincode pods (both peers) in one sample.
	MaxLive    int         `json:"max_live_pods"`
	Errors     int         `json:"errors"`
	FirstError string      `json:"first_error,omitempty"`
	Violations []Duplicate `json:"violations"`
}

// dupTracker folds samples into a DuplicateCheck (pure: no clock of its own).
type dupTracker struct {
	check DuplicateCheck
	open  map[string]int // key → index in Violations, for those seen in the last sample
	last  time.Time
}

func (t *dupTracker) sample(at time.Time, sinceStart float64, phase string, pods []corev1.Pod) {
	t.check.Samples++
	if !t.last.IsZero() {
		if gap := at.Sub(t.last).Seconds(); gap > t.check.MaxGapSeconds {
			t.check.MaxGapSeconds = gap
		}
	}
	t.last = at
	if n := len(network.LivePods(pods)); n > t.check.MaxLive {
		t.check.MaxLive = n
	}
	open := map[string]int{}
	for _, g := range liveDuplicates(pods) {
		k := g.key()
		if i, ok := t.open[k]; ok {
			d := &t.check.Violations[i]
			d.LastSeen, d.Samples = sinceStart, d.Samples+1
			open[k] = i
			continue
		}
		t.check.Violations = append(t.check.Violations, Duplicate{DupGroup: g, Phase: phase, FirstSeen: sinceStart, LastSeen: sinceStart, Samples: 1})
		open[k] = len(t.check.Violations) - 1
	}
	t.open = open
}

func (t *dupTracker) failed(err error) {
	t.check.Errors++
	if t.check.FirstError == "" {
		t.check.FirstError = err.Error()
	}
}

// dupWatcher lists the namespace's chaincode pods every interval.
type dupWatcher struct {
	mu   sync.Mutex
	t    dupTracker
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// newProtoClient is a client of kubeconfig's cluster that reads protobuf:
// the watcher lists every pod of the namespace twice a second, on the
// machine it measures.
func newProtoClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 30 * time.Second
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cfg.QPS, cfg.Burst = 20, 40
	return kubernetes.NewForConfig(cfg)
}

func startDupWatcher(ctx context.Context, client kubernetes.Interface, ns string, interval time.Duration, phase func() string) *dupWatcher {
	w := &dupWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	w.t.check.IntervalMillis = int(interval / time.Millisecond)
	go func() {
		defer close(w.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			l, err := client.CoreV1().Pods(ns).List(lctx, metav1.ListOptions{LabelSelector: network.ChaincodeSelector})
			cancel()
			now := time.Now()
			w.mu.Lock()
			if err != nil {
				w.t.failed(err)
			} else {
				w.t.sample(now, now.Sub(startTime).Seconds(), phase(), l.Items)
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// Stop ends the polling and returns the check; it can be called again.
func (w *dupWatcher) Stop() DuplicateCheck {
	if w == nil {
		return DuplicateCheck{}
	}
	w.once.Do(func() { close(w.stop) })
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.t.check
	if c.Violations == nil {
		c.Violations = []Duplicate{}
	}
	return c
}

// countSample is the proxy's counts at one moment.
type countSample struct {
	T      time.Time
	Counts map[string]int64
}

func totalOf(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// deltaCounts is after - before by verb (verbs that did not grow left out).
func deltaCounts(before, after map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// rateSampler reads the counts of one proxy every interval.
type rateSampler struct {
	mu      sync.Mutex
	samples []countSample
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func startRateSampler(px *apiproxy.Proxy, interval time.Duration) *rateSampler {
	r := &rateSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			s := countSample{T: time.Now(), Counts: px.Counts()}
			r.mu.Lock()
			r.samples = append(r.samples, s)
			r.mu.Unlock()
			select {
			case <-r.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return r
}

// Samples is a copy of the samples so far.
func (r *rateSampler) Samples() []countSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]countSample(nil), r.samples...)
}

func (r *rateSampler) Stop() {
	if r == nil {
		return
	}
	r.once.Do(func() { close(r.stop) })
	<-r.done
}

// RatePoint is the request rate over one sample interval, at its end.
type RatePoint struct {
	T      float64 `json:"t_s"`
	PerSec float64 `json:"per_s"`
}

// APIWindow is what one peer asked the API server for during a window.
type APIWindow struct {
	Seconds  float64          `json:"seconds"`
	Requests map[string]int64 `json:"requests"`
	Total    int64            `json:"total"`
	// PeakPerSecond is the highest rate over one sample interval (at least
	// minRateGap long), PeakAt its end from the origin, PeakVerbs the
	// requests of that interval by verb.
	PeakPerSecond float64          `json:"peak_per_s"`
	PeakAt        float64          `json:"peak_at_s"`
	PeakVerbs     map[string]int64 `json:"peak_verbs,omitempty"`
	Rates         []RatePoint      `json:"rates,omitempty"`
}

// minRateGap is the shortest interval a rate is taken over: the window's own
// first and last readings may fall just before or after a sample.
const minRateGap = 500 * time.Millisecond

// apiWindow computes the window from..to out of the sampler's samples in
// between; times are reported from origin.
func apiWindow(all []countSample, from, to countSample, origin time.Time) APIWindow {
	w := APIWindow{Seconds: to.T.Sub(from.T).Seconds(), Requests: deltaCounts(from.Counts, to.Counts)}
	w.Total = totalOf(w.Requests)
	s := []countSample{from}
	for _, x := range all {
		if x.T.After(from.T) && x.T.Before(to.T) {
			s = append(s, x)
		}
	}
	s = append(s, to)
	for i := 0; i+1 < len(s); i++ {
		j := i + 1
		for j+1 < len(s) && s[j].T.Sub(s[i].T) < minRateGap {
			j++
		}
		dt := s[j].T.Sub(s[i].T).Seconds()
		if dt <= 0 {
			continue
		}
		rate := float64(totalOf(s[j].Counts)-totalOf(s[i].Counts)) / dt
		if j == i+1 {
			w.Rates = append(w.Rates, RatePoint{T: round3(s[j].T.Sub(origin).Seconds()), PerSec: round3(rate)})
		}
		if rate > w.PeakPerSecond {
			w.PeakPerSecond, w.PeakAt, w.PeakVerbs = rate, s[j].T.Sub(origin).Seconds(), deltaCounts(s[i].Counts, s[j].Counts)
		}
	}
	return w
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// Kinds of sweep lines.
const (
	sweepEarlier = "earlier_runs"
	sweepOrphans = "this_run"
	sweepFailed  = "failed"
)

// SweepLine is one line of the VM's sweep in a peer's log.
type SweepLine struct {
	Kind      string
	Namespace string
	Deleted   int
	// Time is the line's timestamp (zero when it has none).
	Time time.Time
	Text string
}

var (
	sweepRE   = regexp.MustCompile(`Sweep of namespace (\S+): (?:deleted (\d+) objects (left by earlier runs|of this run)|(.*))`)
	logTimeRE = regexp.MustCompile(`(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}) ([A-Z][A-Za-z0-9+-]*)`)
	ansiRE    = regexp.MustCompile("\x1b\\[[0-9;]*m")
	// createdRE is the VM's log line for each chaincode pod it creates.
	createdRE = regexp.MustCompile(`Chaincode (\S+): created pod (\S+) running`)
)

// parseSweepLog finds the sweep's lines in a peer log (nwo's format:
// "2006-01-02 15:04:05.000 MST [module] func -> INFO 001 message").
func parseSweepLog(log string) []SweepLine {
	var out []SweepLine
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "Sweep of namespace") {
			continue
		}
		line = strings.TrimSpace(ansiRE.ReplaceAllString(line, ""))
		m := sweepRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		l := SweepLine{Namespace: strings.TrimSuffix(m[1], ":"), Text: line}
		switch {
		case m[3] == "left by earlier runs":
			l.Kind = sweepEarlier
		case m[3] == "of this run":
			l.Kind = sweepOrphans
		default:
			l.Kind = sweepFailed
		}
		if m[2] != "" {
			l.Deleted, _ = strconv.Atoi(m[2])
		}
		if t := logTimeRE.FindStringSubmatch(line); t != nil {
			loc := time.Local
			if t[2] == "UTC" || t[2] == "GMT" {
				loc = time.UTC
			}
			if ts, err := time.ParseInLocation("2006-01-02 15:04:05.000", t[1], loc); err == nil {
				l.Time = ts
			}
		}
		out = append(out, l)
	}
	return out
}

// podsCreated counts, by package ID, the chaincode pods a peer run created,
// from its log ("Chaincode <ccid>: created pod <ns>/<name> running ...").
func podsCreated(log string) map[string]int {
	out := map[string]int{}
	for _, m := range createdRE.FindAllStringSubmatch(ansiRE.ReplaceAllString(log, ""), -1) {
		out[m[1]]++
	}
	return out
}
