/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	if Summarize(nil) != nil {
		t.Fatal("empty sample must give nil")
	}
	s := Summarize([]float64{4, 1, 3, 2})
	if s.N != 4 || s.Min != 1 || s.Max != 4 || s.P50 != 2.5 || math.Abs(s.P90-3.7) > 1e-9 {
		t.Fatalf("%+v", s)
	}
	s = Summarize([]float64{2, 1})
	if s.P50 != 1.5 || math.Abs(s.P90-1.9) > 1e-9 {
		t.Fatalf("%+v", s)
	}
	if s := Summarize([]float64{7}); s.Min != 7 || s.P50 != 7 || s.P90 != 7 {
		t.Fatalf("%+v", s)
	}
	if r := Ratio(&Summary{P50: 3}, &Summary{P50: 2}); r == nil || *r != 1.5 {
		t.Fatalf("ratio %v", r)
	}
	if Ratio(&Summary{P50: 3}, &Summary{}) != nil || Ratio(nil, &Summary{P50: 1}) != nil {
		t.Fatal("ratio of a missing or zero figure must be nil")
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP chaincode_launch_duration The time to launch a chaincode.
# TYPE chaincode_launch_duration histogram
chaincode_launch_duration_bucket{chaincode="kv_1:abc",success="true",le="0.005"} 0
chaincode_launch_duration_sum{chaincode="kv_1:abc",success="true"} 1.25
chaincode_launch_duration_count{chaincode="kv_1:abc",success="true"} 1
chaincode_launch_duration_count{chaincode="kv_1:abc",success="false"} 3
apiserver_request_total{code="200",verb="GET",resource="pods"} 10
apiserver_request_total{code="201",verb="POST",resource="pods",msg="a \"quoted\", value"} 2
apiserver_request_total{code="200",verb="GET",resource="secrets"} 5 1700000000000
go_goroutines 42
`
	s, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := sumWhere(s, "chaincode_launch_duration_count", map[string]string{"chaincode": "kv_1:abc", "success": "true"}); !ok || n != 1 {
		t.Fatalf("count %v %v", n, ok)
	}
	if n, _ := sumWhere(s, "chaincode_launch_duration_sum", map[string]string{"chaincode": "kv_1:abc"}); n != 1.25 {
		t.Fatalf("sum %v", n)
	}
	if n, _ := sumWhere(s, "go_goroutines", nil); n != 42 {
		t.Fatalf("goroutines %v", n)
	}
	by := sumBy(s, "apiserver_request_total", "verb")
	if by["GET"] != 15 || by["POST"] != 2 || len(by) != 2 {
		t.Fatalf("%v", by)
	}
	for _, bad := range []string{"x{a=\"1\"", "novalue", "x{a=1} 2"} {
		if _, err := parseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/tmp/a\040b`); got != "/tmp/a b" {
		t.Fatal(got)
	}
}

func TestReportTargetsAndMarkdown(t *testing.T) {
	total := func(v float64) *float64 { return &v }
	zero := 0
	r := &Report{
		Config:  &config{N: 2, Many: 5, Clients: 8, Load: 15 * time.Second, Rest: 20 * time.Second, RunID: "abc", Quick: true},
		Started: time.Now(), Finished: time.Now(),
		VMs: map[string]*VMResult{
			"k8s": {VM: "k8s", Samples: map[string][]float64{
				sFloor: {1.0, 1.2}, sFloorVolumes: {1.3, 1.5}, sFirstLaunchPeer: {1.3, 1.5}, sRelaunchQuiet: {1.8, 2.0},
				sInstallSecond: {0.4, 0.5}, sInstallMany: {0.3, 0.3, 0.4},
				sInstallBuild: {30, 34}, sRebuild: {12, 14},
			}, NoTrafficKilled: 2, NoTrafficRelaunched: 2,
				Invoke: &LoadResult{PerSecond: 20, LatencyMs: &Summary{N: 10, P50: 105}},
				Rest: []RestPoint{
					{Chaincodes: 0, PeerRSSMiB: 80, APIRequestsPerMinTotal: total(30), PeerAPIRequestsPerMinTotal: total(1), OtherNamespaces: &zero},
					{Chaincodes: 2, PeerRSSMiB: 90, APIRequestsPerMinTotal: total(400), PeerAPIRequestsPerMinTotal: total(3), OtherNamespaces: &zero},
					{Chaincodes: 7, PeerRSSMiB: 93, APIRequestsPerMinTotal: total(41), PeerAPIRequestsPerMinTotal: total(3), OtherNamespaces: &zero},
				}},
			"docker": {VM: "docker", Samples: map[string][]float64{sFloor: {0.1, 0.1}, sFirstLaunchPeer: {0.8, 0.9}, sInstallBuild: {25, 27}},
				NoTrafficKilled: 2, NoTrafficBoundSeconds: 10,
				Invoke: &LoadResult{PerSecond: 21, LatencyMs: &Summary{N: 10, P50: 100}}},
		},
	}
	r.compute()
	status := map[string]string{}
	for _, tg := range r.Targets {
		status[strings.SplitN(tg.Name, " (", 2)[0]] = tg.Status
	}
	for name, want := range map[string]string{
		"first launch":                                                          "met", // 1.4 <= 1.2*1.1+0.2 = 1.52
		"relaunch after SIGKILL":                                                "met",
		"install of an already-built image, p50":                                "met",
		"invoke latency p50 within 10 % of DockerVM":                            "met",
		"invoke throughput within 10 % of DockerVM":                             "met",
		"API requests/min of the peer at rest do not grow with chaincode count": "met",
		"peer RSS per chaincode at rest":                                        "met",
		"cold build, p50":                                                       "met",    // 32 <= 1.3*26
		"rebuild":                                                               "missed", // 13/32 > 0.3
	} {
		if status[name] != want {
			t.Errorf("target %q: %q, want %q (all: %v)", name, status[name], want, status)
		}
	}
	md := r.Markdown()
	for _, want := range []string{"| k8s VM | DockerVM |", "never (0 of 2 within 10s)", "1.30 / 1.40 / 1.48 / 1.50", "**met**",
		"a bare pod with the chaincode pod's volumes (its TLS Secret, an emptyDir) starts in 1.40s p50, 0.300s more than without", "against that floor the bound is 1.88s"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestCharts(t *testing.T) {
	total := func(v float64) *float64 { return &v }
	dm := 85.0
	r := &Report{
		Config: &config{Clients: 8},
		VMs: map[string]*VMResult{
			"k8s": {VM: "k8s", Samples: map[string][]float64{sFloor: {1.0, 1.2}, sFirstLaunchPeer: {1.3, 1.5}, sRelaunchQuiet: {1.8, 2.0}},
				Invoke: &LoadResult{latencies: []float64{30, 40, 50, 100}},
				Rest: []RestPoint{
					{Chaincodes: 0, PeerRSSMiB: 80, PeerAPIRequestsPerMinTotal: total(1), APIRequestsPerMinTotal: total(30)},
					{Chaincodes: 7, PeerRSSMiB: 93, PeerAPIRequestsPerMinTotal: total(3), APIRequestsPerMinTotal: total(41)},
				}},
			"docker": {VM: "docker", Samples: map[string][]float64{sFloor: {0.1, 0.1}},
				Query: &LoadResult{latencies: []float64{1, 2, 3}},
				Rest:  []RestPoint{{Chaincodes: 0, PeerRSSMiB: 70, DockerdRSSMiB: &dm}, {Chaincodes: 7, PeerRSSMiB: 75, DockerdRSSMiB: &dm}}},
		},
	}
	dir := t.TempDir()
	files, err := writeCharts(r, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("charts %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
			t.Errorf("%s: not a PNG (%d bytes, %v)", f, len(b), err)
		}
	}
	if files, err := writeCharts(&Report{Config: &config{}, VMs: map[string]*VMResult{}}, dir); err != nil || len(files) != 0 {
		t.Errorf("an empty report gives charts %v, %v", files, err)
	}
}
