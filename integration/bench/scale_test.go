/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadScaleConfig(t *testing.T) {
	sc, err := loadScaleConfig(envOf(nil), "/repo", "/repo/.cluster")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Chaincodes != 100 || sc.Nodes != 1 || sc.Node2Chaincodes != 0 || sc.Node2Name != "" || sc.Bound != 15*time.Minute || sc.PollMillis != 500 || sc.SampleMillis != 1000 {
		t.Fatalf("defaults: %+v", sc)
	}
	if sc.ClusterSh != "/repo/integration/cluster/cluster.sh" {
		t.Fatal(sc.ClusterSh)
	}
	sc, err = loadScaleConfig(envOf(map[string]string{"SCALE_NODES": "2", "SCALE_CHAINCODES": "60", "SCALE_BOUND_SECONDS": "30", "SCALE_NODE2_NAME": "n2"}), "/r", "/c")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Nodes != 2 || sc.Chaincodes != 60 || sc.Node2Chaincodes != 50 || sc.Node2Name != "n2" || sc.Node2PeerHost != "10.243.255.1" ||
		sc.Node2Registry != "registry.fabric-peer-k8s.test:5050" || sc.Bound != 30*time.Second || sc.BoundSeconds != 30 {
		t.Fatalf("two nodes: %+v", sc)
	}
	for _, env := range []map[string]string{
		{"SCALE_NODES": "3"},
		{"SCALE_CHAINCODES": "0"},
		{"SCALE_CHAINCODES": "x"},
		{"SCALE_NODES": "2", "SCALE_CHAINCODES": "10"}, // 50 pinned of 10
		{"SCALE_BOUND_SECONDS": "-1"},
	} {
		if _, err := loadScaleConfig(envOf(env), "/r", "/c"); err == nil {
			t.Errorf("%v: no error", env)
		}
	}
}

func TestManyBatchSizes(t *testing.T) {
	for n, want := range map[int][]int{100: {50, 50}, 15: {7, 8}, 10: {5, 5}, 9: {9}, 1: {1}} {
		if got := manyBatchSizes(n); !reflect.DeepEqual(got, want) {
			t.Errorf("%d: %v, want %v", n, got, want)
		}
	}
}

func node(name string, maxPods int64, ready bool, taints ...corev1.Taint) corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(maxPods, resource.DecimalSI)},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}},
		},
	}
}

func podOn(nodeName string, phase corev1.PodPhase) corev1.Pod {
	return corev1.Pod{Spec: corev1.PodSpec{NodeName: nodeName}, Status: corev1.PodStatus{Phase: phase}}
}

func TestNodeRooms(t *testing.T) {
	second := corev1.Taint{Key: "fabric-peer-k8s.io/node", Value: "second", Effect: corev1.TaintEffectNoSchedule}
	nodes := []corev1.Node{node("n2", 30, true, second), node("n1", 110, true)}
	var pods []corev1.Pod
	for i := 0; i < 8; i++ {
		pods = append(pods, podOn("n1", corev1.PodRunning))
	}
	pods = append(pods, podOn("n1", corev1.PodSucceeded), podOn("n1", corev1.PodFailed), podOn("", corev1.PodPending), podOn("n2", corev1.PodPending))
	rooms := nodeRoomsOf(nodes, pods)
	want := []NodeRoom{
		{Name: "n1", Ready: true, MaxPods: 110, Used: 8, Free: 102},
		{Name: "n2", Ready: true, MaxPods: 30, Used: 1, Free: 29, Taints: []string{"fabric-peer-k8s.io/node=second:NoSchedule"}},
	}
	if !reflect.DeepEqual(rooms, want) {
		t.Fatalf("%+v", rooms)
	}
	if err := checkMainRoom(rooms, 100, 2); err != nil {
		t.Fatal(err)
	}
	err := checkMainRoom(rooms, 100, 3)
	if err == nil || !strings.Contains(err.Error(), "node n1 admits 110 pods (kubelet maxPods) and 8 are bound") || !strings.Contains(err.Error(), "102 free") {
		t.Fatalf("%v", err)
	}
	// The second node's room does not count for chaincodes that tolerate nothing.
	if err := checkMainRoom(rooms[1:], 1, 0); err == nil {
		t.Fatal("a tainted node only: no error")
	}
	if err := checkNodeRoom(rooms, "n2", 29); err != nil {
		t.Fatal(err)
	}
	if err := checkNodeRoom(rooms, "n2", 50); err == nil || !strings.Contains(err.Error(), "at most 29") {
		t.Fatalf("%v", err)
	}
	if err := checkNodeRoom(rooms, "fpk-node2", 1); err == nil || !strings.Contains(err.Error(), "node-add") {
		t.Fatalf("%v", err)
	}
	rooms = nodeRoomsOf([]corev1.Node{node("n2", 30, false)}, nil)
	if err := checkNodeRoom(rooms, "n2", 1); err == nil || !strings.Contains(err.Error(), "not Ready") {
		t.Fatalf("%v", err)
	}
}

func TestNode2Settings(t *testing.T) {
	n := node("fpk-node2", 30, true,
		corev1.Taint{Key: "fabric-peer-k8s.io/node", Value: "second", Effect: corev1.TaintEffectNoSchedule},
		corev1.Taint{Key: "example.com/dedicated", Effect: corev1.TaintEffectNoExecute},
		corev1.Taint{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute})
	entry := node2Settings(&n)
	// The entry parses as the VM's per-chaincode settings do.
	var s struct {
		NodeSelector map[string]string   `json:"nodeSelector"`
		Tolerations  []corev1.Toleration `json:"tolerations"`
	}
	if err := yaml.UnmarshalStrict([]byte(entry), &s); err != nil {
		t.Fatalf("%v\n%s", err, entry)
	}
	if s.NodeSelector["kubernetes.io/hostname"] != "fpk-node2" || len(s.NodeSelector) != 1 {
		t.Fatalf("%+v", s.NodeSelector)
	}
	want := []corev1.Toleration{
		{Key: "fabric-peer-k8s.io/node", Operator: corev1.TolerationOpEqual, Value: "second", Effect: corev1.TaintEffectNoSchedule},
		{Key: "example.com/dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	}
	if !reflect.DeepEqual(s.Tolerations, want) {
		t.Fatalf("%+v\n%s", s.Tolerations, entry)
	}
}

func ccPod(name, peer, hash string, phase corev1.PodPhase, deleting bool) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{
			network.LabelManagedBy: network.ManagedByValue, network.LabelComponent: "chaincode",
			network.LabelPeerID: peer, network.LabelCCHash: hash,
		}, Annotations: map[string]string{network.AnnotationCCID: "cc-" + hash}},
		Status: corev1.PodStatus{Phase: phase},
	}
	if deleting {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func TestLiveDuplicates(t *testing.T) {
	pods := []corev1.Pod{
		ccPod("a1", "Org1.peer0", "h1", corev1.PodRunning, false),
		ccPod("a2", "Org1.peer0", "h1", corev1.PodPending, false),   // duplicate of a1
		ccPod("a3", "Org1.peer0", "h1", corev1.PodRunning, true),    // terminating: not counted
		ccPod("b1", "Org1.peer0", "h2", corev1.PodRunning, false),   // alone
		ccPod("b2", "Org1.peer0", "h2", corev1.PodFailed, false),    // finished
		ccPod("b3", "Org1.peer0", "h2", corev1.PodSucceeded, false), // finished
		ccPod("c1", "Org2.peer0", "h1", corev1.PodRunning, false),   // the other peer's
	}
	// A build pod with the same labels is not a chaincode pod.
	build := ccPod("j1", "Org1.peer0", "h2", corev1.PodRunning, false)
	build.Labels[network.LabelComponent] = "build"
	pods = append(pods, build)
	got := liveDuplicates(pods)
	want := []DupGroup{{Peer: "Org1.peer0", ChaincodeHash: "h1", CCID: "cc-h1", Pods: []string{"a1", "a2"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%+v", got)
	}
	if d := liveDuplicates(pods[2:]); len(d) != 0 {
		t.Fatalf("%+v", d)
	}
}

func TestDupTracker(t *testing.T) {
	var tr dupTracker
	t0 := time.Unix(1000, 0)
	ok := []corev1.Pod{ccPod("a1", "p", "h1", corev1.PodRunning, false)}
	dup := append(ok, ccPod("a2", "p", "h1", corev1.PodPending, false))
	tr.sample(t0, 1, "fill", ok)
	tr.sample(t0.Add(500*time.Millisecond), 1.5, "restart", dup)
	tr.sample(t0.Add(time.Second), 2, "restart", dup)
	tr.failed(os.ErrDeadlineExceeded)
	tr.sample(t0.Add(3*time.Second), 4, "restart", ok)
	tr.sample(t0.Add(3500*time.Millisecond), 4.5, "node2", dup) // seen again: a new violation
	c := tr.check
	if c.Samples != 5 || c.Errors != 1 || c.FirstError == "" || c.MaxLive != 2 || c.MaxGapSeconds != 2 {
		t.Fatalf("%+v", c)
	}
	if len(c.Violations) != 2 {
		t.Fatalf("%+v", c.Violations)
	}
	v := c.Violations[0]
	if v.Phase != "restart" || v.FirstSeen != 1.5 || v.LastSeen != 2 || v.Samples != 2 || !reflect.DeepEqual(v.Pods, []string{"a1", "a2"}) {
		t.Fatalf("%+v", v)
	}
	if v := c.Violations[1]; v.Phase != "node2" || v.Samples != 1 {
		t.Fatalf("%+v", v)
	}
}

func TestAPIWindow(t *testing.T) {
	t0 := time.Unix(5000, 0)
	at := func(ms int, get, del int64) countSample {
		return countSample{T: t0.Add(time.Duration(ms) * time.Millisecond), Counts: map[string]int64{"GET": get, "DELETE": del, "WATCH": 3}}
	}
	all := []countSample{
		at(-1000, 5, 0), // before the window
		at(100, 12, 0),  // 0.1 s after its start: merged with the next interval
		at(1100, 20, 100),
		at(2100, 30, 250),
		at(3100, 31, 250),
		at(9000, 99, 999), // after the window
	}
	from, to := at(0, 10, 0), at(3500, 35, 252)
	w := apiWindow(all, from, to, t0)
	if w.Seconds != 3.5 || w.Total != 25+252 || !reflect.DeepEqual(w.Requests, map[string]int64{"GET": 25, "DELETE": 252}) {
		t.Fatalf("%+v", w)
	}
	// Peak: 1.1 → 2.1 s, 10 GETs and 150 DELETEs in 1 s.
	if math.Abs(w.PeakPerSecond-160) > 1e-6 || math.Abs(w.PeakAt-2.1) > 1e-9 || !reflect.DeepEqual(w.PeakVerbs, map[string]int64{"GET": 10, "DELETE": 150}) {
		t.Fatalf("peak %v at %v: %v", w.PeakPerSecond, w.PeakAt, w.PeakVerbs)
	}
	// The 0 → 0.1 s interval is too short to be a rate of its own.
	if len(w.Rates) != 4 || w.Rates[0].T != 1.1 || w.Rates[len(w.Rates)-1].T != 3.5 {
		t.Fatalf("%+v", w.Rates)
	}
	if math.Abs(w.Rates[3].PerSec-(6/0.4)) > 1e-3 {
		t.Fatalf("%+v", w.Rates[3])
	}
	// No request at all.
	w = apiWindow(nil, at(0, 1, 1), at(2000, 1, 1), t0)
	if w.Total != 0 || w.PeakPerSecond != 0 || len(w.Requests) != 0 {
		t.Fatalf("%+v", w)
	}
}

func TestParseSweepLog(t *testing.T) {
	log := strings.Join([]string{
		"2026-12-03 10:00:01.000 UTC 0001 INFO [peer] start -> Starting peer",
		"\x1b[34m2026-12-03 10:00:02.250 UTC 0042 INFO\x1b[0m [vm.k8s] sweep -> Sweep of namespace fpk-bench-abc: deleted 202 objects left by earlier runs of peer Org1.peer0",
		"2026-12-03 10:00:02.300 UTC [vm.k8s] sweep -> INFO 05a Sweep of namespace fpk-bench-abc: deleted 3 objects of this run that belong to no current launch",
		"2026-12-03 10:00:09.000 UTC [vm.k8s] sweep -> WARN 05b Sweep of namespace fpk-bench-abc: earlier run: cannot delete pod fpk-bench-abc/x: boom",
		"Sweep of namespace ns2: deleted 1 objects left by earlier runs of peer p",
	}, "\n")
	got := parseSweepLog(log)
	if len(got) != 4 {
		t.Fatalf("%+v", got)
	}
	e := got[0]
	if e.Kind != sweepEarlier || e.Namespace != "fpk-bench-abc" || e.Deleted != 202 || !e.Time.Equal(time.Date(2026, 12, 3, 10, 0, 2, 250e6, time.UTC)) || strings.Contains(e.Text, "\x1b") {
		t.Fatalf("%+v", e)
	}
	if o := got[1]; o.Kind != sweepOrphans || o.Deleted != 3 {
		t.Fatalf("%+v", o)
	}
	if f := got[2]; f.Kind != sweepFailed || f.Deleted != 0 || !strings.Contains(f.Text, "boom") {
		t.Fatalf("%+v", f)
	}
	if n := got[3]; n.Kind != sweepEarlier || n.Namespace != "ns2" || !n.Time.IsZero() {
		t.Fatalf("%+v", n)
	}
}

func TestScaleReport(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	r := &ScaleReport{
		Config:  &scaleConfig{Chaincodes: 100, Nodes: 1},
		RunID:   "abc123",
		Command: "make scale",
		Started: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), Finished: time.Date(2026, 12, 3, 10, 40, 0, 0, time.UTC), Seconds: 2400,
		Machine: Machine{CPUs: 2},
		Nodes:   []NodeRoom{{Name: "n1", Ready: true, MaxPods: 110, Used: 3, Free: 107}},
		Fill: &FillResult{Chaincodes: 100, Batches: []ManyBatch{{Chaincodes: 50, AllRegisteredSeconds: 61}, {Chaincodes: 50, RunningBefore: 50, AllRegisteredSeconds: 70}},
			RunningPods: 100, OnNode: map[string]int{"n1": 100}, Launch: Summarize([]float64{1, 2, 3})},
		Restart: &RestartResult{Chaincodes: 100, PodsBefore: 101, SecretsBefore: 101, ReadySeconds: 3.2, SweepLoggedSeconds: f(4.5), SweepDeleted: 202,
			OldPodsGoneSeconds: f(6.25), OldSecretsGoneSeconds: f(5), Serve: Summarize([]float64{8, 9, 30}), Served: 100, AllServedSeconds: f(30),
			API: APIWindow{Seconds: 31, Total: 600, Requests: map[string]int64{"DELETE": 202, "CREATE": 398}, PeakPerSecond: 150, PeakAt: 4}},
		Node2Skipped: "not run: SCALE_NODES=1",
		Duplicates:   DuplicateCheck{IntervalMillis: 500, Samples: 4000, Violations: []Duplicate{}},
	}
	md := r.Markdown()
	for _, want := range []string{
		"# Scale run: 100 chaincodes on one peer",
		"Command: `make scale`",
		"| n1 | true | 110 | 3 | 107 |",
		"| restart → sweep logged \"deleted N objects left by earlier runs\" | 4.50 s (N = 202) |",
		"| restart → every killed-run pod gone | 6.25 s (left: 0) |",
		"| restart → all 100 chaincodes answer | 30.0 s (100 answered) |",
		"| API requests of the peer (31.0 s window) | 600: CREATE 398, DELETE 202 |",
		"| peak API request rate (1 s samples) | 150/s at 4.00 s",
		"not run: SCALE_NODES=1",
		"**No sample saw two live",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	r.Duplicates.Violations = []Duplicate{{DupGroup: DupGroup{Peer: "Org1.peer0", CCID: "scale1:abc", Pods: []string{"a", "b"}}, Phase: "restart", FirstSeen: 10, LastSeen: 11, Samples: 3}}
	r.Errors = []string{"boom\nsecond line"}
	md = r.Markdown()
	if !strings.Contains(md, "| Org1.peer0 | scale1:abc | a, b | restart | 10.0–11.0 | 3 |") || !strings.Contains(md, "- boom second line") {
		t.Fatal(md)
	}
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back ScaleReport
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Restart.SweepDeleted != 202 || *back.Restart.AllServedSeconds != 30 || back.Config.Chaincodes != 100 || len(back.Duplicates.Violations) != 1 {
		t.Fatalf("%+v", back)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.md")); err != nil {
		t.Fatal(err)
	}
}

func TestPodsCreated(t *testing.T) {
	log := "\x1b[34m2026-12-07 02:17:23.408 UTC 0146 INFO\x1b[0m [k8scontroller] \x1b[34;1mStart\x1b[0m -> Chaincode a_1:h1: created pod ns/cc-a-1 running img\n" +
		"2026-12-07 02:17:24.000 UTC 0147 INFO [k8scontroller] Start -> Chaincode b_1:h2: created pod ns/cc-b-1 running img\n" +
		"2026-12-07 02:17:25.000 UTC 0148 INFO [k8scontroller] Start -> Chaincode a_1:h1: created pod ns/cc-a-2 running img\n" +
		"2026-12-07 02:17:25.000 UTC 0149 WARN [k8scontroller] Start -> Chaincode c_1:h3: cannot create pod ns/cc-c-1\n"
	got := podsCreated(log)
	want := map[string]int{"a_1:h1": 2, "b_1:h2": 1}
	if len(got) != len(want) || got["a_1:h1"] != 2 || got["b_1:h2"] != 1 {
		t.Fatalf("podsCreated = %v, want %v", got, want)
	}
}
