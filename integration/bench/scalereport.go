/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
)

// ScaleReport is the scale run's report.json.
type ScaleReport struct {
	Config    *scaleConfig `json:"config"`
	RunID     string       `json:"run_id"`
	Command   string       `json:"command"`
	Started   time.Time    `json:"started"`
	Finished  time.Time    `json:"finished"`
	Seconds   float64      `json:"seconds"`
	Machine   Machine      `json:"machine"`
	Namespace string       `json:"namespace,omitempty"`
	// Nodes is the nodes' pod room before anything was deployed.
	Nodes []NodeRoom `json:"nodes,omitempty"`
	// Image is the prebuilt image every chaincode runs.
	Image        string         `json:"image,omitempty"`
	Fill         *FillResult    `json:"fill,omitempty"`
	Restart      *RestartResult `json:"restart,omitempty"`
	Node2        *Node2Result   `json:"node2,omitempty"`
	Node2Skipped string         `json:"node2_skipped,omitempty"`
	Duplicates   DuplicateCheck `json:"duplicates"`
	// PeerAPIRequests are all API requests of Org1's peer over the run.
	PeerAPIRequests map[string]int64 `json:"peer_api_requests,omitempty"`
	// OtherNamespaces are test namespaces of other runs seen on the shared
	// cluster, LoadAvg the 1-minute load average at the start of each phase.
	OtherNamespaces []string  `json:"other_namespaces,omitempty"`
	LoadAvg         []float64 `json:"load_avg,omitempty"`
	Notes           []string  `json:"notes,omitempty"`
	Errors          []string  `json:"errors,omitempty"`
}

// FillResult is the installation of the chaincodes.
type FillResult struct {
	Chaincodes int         `json:"chaincodes"`
	Batches    []ManyBatch `json:"batches"`
	// Install is the CLI's install time per package, Launch the peer's
	// launch time per chaincode (chaincode_launch_duration).
	Install *Summary `json:"install_s,omitempty"`
	Launch  *Summary `json:"launch_s,omitempty"`
	Seconds float64  `json:"seconds"`
	// RunningPods are the chaincodes' running pods at the end, OnNode by node.
	RunningPods int            `json:"running_pods"`
	OnNode      map[string]int `json:"on_node,omitempty"`
	API         *APIWindow     `json:"api,omitempty"`
}

// LaunchStats are a peer's launches of the run's chaincodes.
type LaunchStats struct {
	// OK and Failed count Fabric's launch calls (chaincode_launch_duration):
	// a transaction that joins a launch in flight counts as one more.
	OK     int `json:"ok"`
	Failed int `json:"failed"`
	// PodsCreated counts the chaincode pods the peer run created (its log);
	// CreatedMoreThanOnce names the chaincodes that got more than one.
	PodsCreated         int            `json:"pods_created"`
	CreatedMoreThanOnce map[string]int `json:"created_more_than_once,omitempty"`
	Duration            *Summary       `json:"duration_s,omitempty"`
}

// RestartResult is the SIGKILL and restart of Org1's peer; seconds are
// from the restart (the peer process started again).
type RestartResult struct {
	Chaincodes    int     `json:"chaincodes"`
	PodsBefore    int     `json:"pods_before"`
	SecretsBefore int     `json:"secrets_before"`
	KillSeconds   float64 `json:"kill_s"`
	ReadySeconds  float64 `json:"ready_s"`
	// SweepLoggedSeconds is the timestamp of the sweep's "deleted N objects
	// left by earlier runs" line, SweepDeleted its N.
	SweepLoggedSeconds *float64 `json:"sweep_logged_s,omitempty"`
	SweepDeleted       int      `json:"sweep_deleted"`
	SweepLines         []string `json:"sweep_lines,omitempty"`
	// The killed run's pods: all being deleted, all gone; its secrets gone.
	OldPodsDeletingSeconds *float64 `json:"old_pods_deleting_s,omitempty"`
	OldPodsGoneSeconds     *float64 `json:"old_pods_gone_s,omitempty"`
	OldSecretsGoneSeconds  *float64 `json:"old_secrets_gone_s,omitempty"`
	OldPodsLeft            int      `json:"old_pods_left"`
	OldSecretsLeft         int      `json:"old_secrets_left"`
	// Serve is each chaincode's first answer to a query.
	Serve            *Summary     `json:"serve_s,omitempty"`
	Served           int          `json:"served"`
	AllServedSeconds *float64     `json:"all_served_s,omitempty"`
	Launches         *LaunchStats `json:"launches,omitempty"`
	RunningPodsAfter int          `json:"running_pods_after"`
	// API is from the restart until the sweep was done and every
	// chaincode had answered.
	API APIWindow `json:"api"`
}

// Node2Result is the outage of the second node; seconds are from its start
// unless named otherwise.
type Node2Result struct {
	Node                string  `json:"node"`
	Chaincodes          int     `json:"chaincodes"`
	RunningOnNodeBefore int     `json:"running_on_node_before"`
	StopSeconds         float64 `json:"stop_s"`
	// NotReadySeconds is from the stop, DownSeconds the stop until the start.
	NotReadySeconds    float64   `json:"not_ready_after_stop_s"`
	DownSeconds        float64   `json:"down_s"`
	StartSeconds       float64   `json:"start_s"`
	ReadySeconds       *float64  `json:"ready_s,omitempty"`
	Serve              *Summary  `json:"serve_s,omitempty"`
	Served             int       `json:"served"`
	AllServedSeconds   *float64  `json:"all_served_s,omitempty"`
	RunningOnNodeAfter int       `json:"running_on_node_after"`
	DownAPI            APIWindow `json:"down_api"`
	RecoveryAPI        APIWindow `json:"recovery_api"`
}

// Write writes report.json and report.md to dir.
func (r *ScaleReport) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.Markdown()), 0o644)
}

func optSecs(d *float64) string {
	if d == nil {
		return "—"
	}
	return fmtNum(*d) + " s"
}

func sumText(s *Summary) string {
	if s == nil {
		return "—"
	}
	return fmt.Sprintf("%s / %s / %s / %s (n=%d)", fmtNum(s.Min), fmtNum(s.P50), fmtNum(s.P90), fmtNum(s.Max), s.N)
}

func verbsText(m map[string]int64) string {
	if len(m) == 0 {
		return "—"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func apiRows(b *strings.Builder, w APIWindow) {
	fmt.Fprintf(b, "| API requests of the peer (%s s window) | %d: %s |\n", fmtNum(w.Seconds), w.Total, verbsText(w.Requests))
	fmt.Fprintf(b, "| peak API request rate (1 s samples) | %s/s at %s s (%s) |\n", fmtNum(w.PeakPerSecond), fmtNum(w.PeakAt), verbsText(w.PeakVerbs))
}

// Markdown is report.md.
func (r *ScaleReport) Markdown() string {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "# Scale run: %d chaincodes on one peer\n\n", c.Chaincodes)
	fmt.Fprintf(&b, "Run %s, %s → %s (%s min) on %d CPUs (%s), %d MiB, kernel %s, %s.\n\n", r.RunID,
		r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Finished.UTC().Format("15:04 MST"), fmtNum(r.Seconds/60),
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.MemoryMiB, r.Machine.Kernel, r.Machine.GoVersion)
	fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	b.WriteString("Org1's peer (vm.type k8s, on the host) runs the chaincodes, packages of type k8s that all name one prebuilt image " +
		"(kv1's image with an entrypoint: nothing is built), installed in the bench's batches; its Kubernetes API requests are " +
		"counted by a proxy in front of the API server and sampled every second. Seconds below are min / p50 / p90 / max where " +
		"several.\n\n")
	if r.Image != "" {
		fmt.Fprintf(&b, "Image: `%s`. Namespace: `%s`.\n\n", r.Image, r.Namespace)
	}
	if len(r.Errors) > 0 {
		b.WriteString("## Errors\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(e, "\n", " "))
		}
		b.WriteString("\n")
	}
	if len(r.Nodes) > 0 {
		b.WriteString("## Nodes at the start\n\n| node | ready | maxPods | pods bound | free | taints |\n|---|---|---|---|---|---|\n")
		for _, n := range r.Nodes {
			fmt.Fprintf(&b, "| %s | %v | %d | %d | %d | %s |\n", n.Name, n.Ready, n.MaxPods, n.Used, n.Free, strings.Join(n.Taints, ", "))
		}
		b.WriteString("\n")
	}
	if f := r.Fill; f != nil {
		fmt.Fprintf(&b, "## %d chaincodes brought up\n\n| figure | value |\n|---|---|\n", f.Chaincodes)
		for i, mb := range f.Batches {
			fmt.Fprintf(&b, "| batch %d: %d chaincodes (%d running before) | installs %s s, all registered %s s after the first install |\n",
				i+1, mb.Chaincodes, mb.RunningBefore, fmtNum(mb.InstallsSeconds), fmtNum(mb.AllRegisteredSeconds))
		}
		fmt.Fprintf(&b, "| install (CLI, per package) | %s s |\n", sumText(f.Install))
		fmt.Fprintf(&b, "| launch (peer, per chaincode) | %s s |\n", sumText(f.Launch))
		var on []string
		for n, k := range f.OnNode {
			on = append(on, fmt.Sprintf("%s %d", n, k))
		}
		sort.Strings(on)
		fmt.Fprintf(&b, "| running chaincode pods at the end | %d (%s) |\n", f.RunningPods, strings.Join(on, ", "))
		if f.API != nil {
			apiRows(&b, *f.API)
		}
		b.WriteString("\n")
	}
	if x := r.Restart; x != nil {
		fmt.Fprintf(&b, "## SIGKILL of the peer with %d chaincodes, and restart\n\n", x.Chaincodes)
		fmt.Fprintf(&b, "The peer's own chaincode pods and secrets before the kill: %d and %d (the %d chaincodes and kv1). "+
			"Seconds from the restart (the peer process started again).\n\n| figure | value |\n|---|---|\n", x.PodsBefore, x.SecretsBefore, x.Chaincodes)
		fmt.Fprintf(&b, "| SIGKILL → process gone | %s s |\n", fmtNum(x.KillSeconds))
		fmt.Fprintf(&b, "| restart → peer ready | %s s |\n", fmtNum(x.ReadySeconds))
		fmt.Fprintf(&b, "| restart → sweep logged \"deleted N objects left by earlier runs\" | %s (N = %d) |\n", optSecs(x.SweepLoggedSeconds), x.SweepDeleted)
		fmt.Fprintf(&b, "| restart → every killed-run pod being deleted | %s |\n", optSecs(x.OldPodsDeletingSeconds))
		fmt.Fprintf(&b, "| restart → every killed-run pod gone | %s (left: %d) |\n", optSecs(x.OldPodsGoneSeconds), x.OldPodsLeft)
		fmt.Fprintf(&b, "| restart → every killed-run secret gone | %s (left: %d) |\n", optSecs(x.OldSecretsGoneSeconds), x.OldSecretsLeft)
		fmt.Fprintf(&b, "| restart → first answer of each chaincode | %s s |\n", sumText(x.Serve))
		fmt.Fprintf(&b, "| restart → all %d chaincodes answer | %s (%d answered) |\n", x.Chaincodes, optSecs(x.AllServedSeconds), x.Served)
		if l := x.Launches; l != nil {
			fmt.Fprintf(&b, "| Fabric launch calls after the restart (peer metrics; joins of a launch in flight included) | %d ok, %d failed; launch %s s |\n", l.OK, l.Failed, sumText(l.Duration))
			fmt.Fprintf(&b, "| chaincode pods the restarted peer created (its log) | %d for %d chaincodes; more than one: %s |\n", l.PodsCreated, x.Chaincodes, createdText(l.CreatedMoreThanOnce))
		}
		fmt.Fprintf(&b, "| running chaincode pods after | %d |\n", x.RunningPodsAfter)
		apiRows(&b, x.API)
		b.WriteString("\n")
		for _, l := range x.SweepLines {
			fmt.Fprintf(&b, "    %s\n", l)
		}
		if len(x.SweepLines) > 0 {
			b.WriteString("\n")
		}
	}
	b.WriteString("## Second node\n\n")
	if n := r.Node2; n != nil {
		fmt.Fprintf(&b, "%d chaincodes pinned to %s from their first launch (per-chaincode settings); %d ran there before the outage. "+
			"Seconds from the node's start unless named otherwise.\n\n| figure | value |\n|---|---|\n", n.Chaincodes, n.Node, n.RunningOnNodeBefore)
		fmt.Fprintf(&b, "| `cluster.sh stop node2` | %s s; NotReady %s s after the stop; down %s s |\n", fmtNum(n.StopSeconds), fmtNum(n.NotReadySeconds), fmtNum(n.DownSeconds))
		fmt.Fprintf(&b, "| `cluster.sh start node2` | %s s; Ready %s |\n", fmtNum(n.StartSeconds), optSecs(n.ReadySeconds))
		fmt.Fprintf(&b, "| start → first answer of each pinned chaincode | %s s |\n", sumText(n.Serve))
		fmt.Fprintf(&b, "| start → all %d answer | %s (%d answered) |\n", n.Chaincodes, optSecs(n.AllServedSeconds), n.Served)
		fmt.Fprintf(&b, "| running on %s after | %d |\n", n.Node, n.RunningOnNodeAfter)
		b.WriteString("| **while down** | |\n")
		apiRows(&b, n.DownAPI)
		b.WriteString("| **from the start** | |\n")
		apiRows(&b, n.RecoveryAPI)
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, "%s\n\n", testkit.FirstNonEmpty(r.Node2Skipped, "not run"))
	}
	d := r.Duplicates
	b.WriteString("## Duplicates\n\n")
	fmt.Fprintf(&b, "The namespace's chaincode pods were listed every %d ms through the run: %d samples (longest gap %s s, %d failed lists), at most %d live pods at once. ",
		d.IntervalMillis, d.Samples, fmtNum(d.MaxGapSeconds), d.Errors, d.MaxLive)
	if len(d.Violations) == 0 {
		b.WriteString("**No sample saw two live (not terminating, not finished) pods of one chaincode for one peer.**\n\n")
	} else {
		fmt.Fprintf(&b, "**%d times two or more live pods of one chaincode for one peer:**\n\n| peer | chaincode | pods | phase | seen (s of the run) | samples |\n|---|---|---|---|---|---|\n", len(d.Violations))
		for _, v := range d.Violations {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s–%s | %d |\n", v.Peer, testkit.FirstNonEmpty(v.CCID, v.ChaincodeHash), strings.Join(v.Pods, ", "), v.Phase, fmtNum(v.FirstSeen), fmtNum(v.LastSeen), v.Samples)
		}
		b.WriteString("\n")
	}
	if len(r.PeerAPIRequests) > 0 {
		fmt.Fprintf(&b, "API requests of Org1's peer over the whole run: %d (%s).\n\n", totalOf(r.PeerAPIRequests), verbsText(r.PeerAPIRequests))
	}
	if len(r.LoadAvg) > 0 || len(r.OtherNamespaces) > 0 {
		fmt.Fprintf(&b, "Load average (1 min) at the start of each phase: %s. Test namespaces of other runs seen on the cluster: %s.\n\n",
			joinNums(r.LoadAvg), testkit.FirstNonEmpty(strings.Join(r.OtherNamespaces, ", "), "none"))
	}
	if len(r.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// createdText lists the chaincodes that got more than one pod, or "none".
func createdText(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var out []string
	for ccid, n := range m {
		out = append(out, fmt.Sprintf("%s (%d)", ccid, n))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
