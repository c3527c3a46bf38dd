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
)

// Report is report.json.
type Report struct {
	Config   *config              `json:"config"`
	Started  time.Time            `json:"started"`
	Finished time.Time            `json:"finished"`
	Machine  Machine              `json:"machine"`
	VMs      map[string]*VMResult `json:"vms"`
	Figures  []Figure             `json:"figures"`
	Targets  []Target             `json:"targets"`
	// Quiet says whether anything else used the machine during the run.
	Quiet *Quiet `json:"quiet,omitempty"`
	// Phases are the figures split into phases (phaseSummaries).
	Phases []PhaseSummary `json:"phases,omitempty"`
	Charts []string       `json:"charts,omitempty"`
	// ChartError says why charts are missing.
	ChartError string `json:"chart_error,omitempty"`
}

// Figure is one row of the side-by-side table.
type Figure struct {
	Key    string   `json:"key"`
	Name   string   `json:"name"`
	Unit   string   `json:"unit"`
	K8s    *Summary `json:"k8s,omitempty"`
	Docker *Summary `json:"docker,omitempty"`
	// Ratio is k8s p50 / docker p50.
	Ratio *float64 `json:"ratio_k8s_docker,omitempty"`
	// K8sText / DockerText replace a missing summary (e.g. "never within 10s").
	K8sText    string `json:"k8s_text,omitempty"`
	DockerText string `json:"docker_text,omitempty"`
	Note       string `json:"note,omitempty"`
}

// Target is one goal of the issue, judged on this run.
type Target struct {
	Name     string `json:"name"`
	Bound    string `json:"bound"`
	Measured string `json:"measured"`
	// Status: met, missed or unknown (not measured in this run).
	Status string `json:"status"`
}

func (r *Report) vm(name string) *VMResult {
	if v := r.VMs[name]; v != nil {
		return v
	}
	return &VMResult{Samples: map[string][]float64{}}
}

func scale(v []float64, f float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * f
	}
	return out
}

// compute fills Figures and Targets from the VM results.
func (r *Report) compute() {
	k, d := r.vm("k8s"), r.vm("docker")
	r.Figures = nil
	fig := func(key, name, unit string, ks, ds []float64, note string) *Figure {
		f := Figure{Key: key, Name: name, Unit: unit, K8s: Summarize(ks), Docker: Summarize(ds), Note: note}
		f.Ratio = Ratio(f.K8s, f.Docker)
		r.Figures = append(r.Figures, f)
		return &r.Figures[len(r.Figures)-1]
	}
	fig(sFloor, "floor: bare pod create → Running (k8s) / `docker run -d --network host` (docker), baseos image cached", "s",
		k.Samples[sFloor], d.Samples[sFloor], "client-go create → watch sees Running; docker CLI until it returns")
	fig(sFloorVolumes, "floor with the chaincode pod's volumes: bare pod mounting a Secret and an emptyDir, create → Running (k8s)", "s",
		k.Samples[sFloorVolumes], nil, "the Secret created before the pod; the kubelet starts a pod with volumes once it has seen them mounted")
	fig(sFirstLaunchPeer, "first launch: definition committed → chaincode registered (peer's chaincode_launch_duration, Org1)", "s",
		k.Samples[sFirstLaunchPeer], d.Samples[sFirstLaunchPeer], "Fabric launches at commit where the package is installed")
	fig(sFirstLaunchPull, "… of which the node pulled the new image (kubelet's Pulled event)", "s",
		k.Samples[sFirstLaunchPull], d.Samples[sFirstLaunchPull], "k8s: built by a Job and pushed to the registry; DockerVM builds on its own daemon, nothing to pull")
	fig(sFirstLaunchQuery, "first launch as a client sees it: commit CLI started → first query answered (Org2)", "s",
		k.Samples[sFirstLaunchQuery], d.Samples[sFirstLaunchQuery], "includes ordering and validation of the commit")
	fig(sInstallBuild, "install with a build (kv chaincode, Org1, CLI wall time)", "s",
		k.Samples[sInstallBuild], d.Samples[sInstallBuild], "k8s: Kaniko Job; docker: ccenv container + docker build")
	fig(sRebuild, "rebuild: a package differing by one source line from the last one built, same dependencies (Org1, CLI wall time)", "s",
		k.Samples[sRebuild], d.Samples[sRebuild], "k8s: vm.k8s.build.cache warm, only the changed package compiled; docker: no build cache, builds from scratch")
	fig(sInstallSecond, "install of the same package on the second peer (Org2)", "s",
		k.Samples[sInstallSecond], d.Samples[sInstallSecond], "k8s: image found in the registry, no build; docker: builds again (image named after the peer)")
	f := fig(sRelaunchQuiet, "SIGKILL of the chaincode process, no traffic → registered again", "s",
		k.Samples[sRelaunchQuiet], d.Samples[sRelaunchQuiet], "")
	for _, x := range []struct {
		v    *VMResult
		text *string
		s    *Summary
	}{{k, &f.K8sText, f.K8s}, {d, &f.DockerText, f.Docker}} {
		if x.v.NoTrafficKilled > 0 && x.v.NoTrafficRelaunched < x.v.NoTrafficKilled {
			*x.text = fmt.Sprintf("%d of %d within %.0fs", x.v.NoTrafficRelaunched, x.v.NoTrafficKilled, x.v.NoTrafficBoundSeconds)
			if x.v.NoTrafficRelaunched == 0 {
				*x.text = fmt.Sprintf("never (0 of %d within %.0fs)", x.v.NoTrafficKilled, x.v.NoTrafficBoundSeconds)
			}
		}
	}
	f.Note = "k8s: the VM relaunches on its own; DockerVM leaves the chaincode down until a request arrives"
	fig(sRelaunchRequest, "SIGKILL of the chaincode process → a query answered again (queried from the kill on)", "s",
		k.Samples[sRelaunchRequest], d.Samples[sRelaunchRequest], "Org2; k8s: proactive relaunch or the request's launch, whichever first")
	load := func(key, name string, kl, dl *LoadResult) {
		lf := Figure{Key: key + "_latency", Name: name + " latency (" + fmt.Sprint(r.Config.Clients) + " clients, closed loop)", Unit: "ms"}
		if kl != nil {
			lf.K8s = kl.LatencyMs
		}
		if dl != nil {
			lf.Docker = dl.LatencyMs
		}
		lf.Ratio = Ratio(lf.K8s, lf.Docker)
		r.Figures = append(r.Figures, lf)
		tf := Figure{Key: key + "_throughput", Name: name + " throughput", Unit: "per s"}
		if kl != nil {
			tf.K8s = &Summary{N: 1, Min: kl.PerSecond, P50: kl.PerSecond, P90: kl.PerSecond, Max: kl.PerSecond}
		}
		if dl != nil {
			tf.Docker = &Summary{N: 1, Min: dl.PerSecond, P50: dl.PerSecond, P90: dl.PerSecond, Max: dl.PerSecond}
		}
		tf.Ratio = Ratio(tf.K8s, tf.Docker)
		tf.Note = "one figure over the whole load window"
		r.Figures = append(r.Figures, tf)
	}
	load("invoke", "invoke (endorse on Org1 via its gateway, order, commit)", k.Invoke, d.Invoke)
	load("query", "query (evaluate via Org1's gateway)", k.Query, d.Query)
	fig(sInstallMany, "install of a package whose image exists (at-rest chaincodes, Org1)", "s",
		k.Samples[sInstallMany], d.Samples[sInstallMany], "k8s: type k8s package (registry lookup); docker: image tagged beforehand")
	fig(sLaunchMany, "launch of the at-rest chaincodes (install → registered, peer-measured)", "s",
		k.Samples[sLaunchMany], d.Samples[sLaunchMany], "launched while the next packages are being installed")
	var kb, db []float64
	for _, b := range k.ManyBatches {
		kb = append(kb, b.AllRegisteredSeconds)
	}
	for _, b := range d.ManyBatches {
		db = append(db, b.AllRegisteredSeconds)
	}
	manyN := r.Config.Many
	if r.Config.ManyUsed > 0 {
		manyN = r.Config.ManyUsed
	}
	fig("many_all_registered", fmt.Sprintf("batch of chaincodes on one peer: first install → all registered (per batch, %d chaincodes in all)", manyN), "s",
		kb, db, "installs one after another with the CLI")
	r.caliperFigures(k, d)
	r.computeTargets(k, d)
	r.Phases = r.phaseSummaries()
}

func (r *Report) figure(key string) *Figure {
	for i := range r.Figures {
		if r.Figures[i].Key == key {
			return &r.Figures[i]
		}
	}
	return nil
}

func (r *Report) computeTargets(k, d *VMResult) {
	r.Targets = nil
	add := func(name, bound, measured string, met *bool) {
		st := "unknown"
		if met != nil {
			st = map[bool]string{true: "met", false: "missed"}[*met]
		}
		r.Targets = append(r.Targets, Target{Name: name, Bound: bound, Measured: measured, Status: st})
	}
	b := func(v bool) *bool { return &v }

	floor, launch := r.figure(sFloor).K8s, r.figure(sFirstLaunchPeer).K8s
	if floor != nil && launch != nil {
		bound := 1.2*floor.P50 + 0.2
		m := fmt.Sprintf("%ss (bound %ss from a bare pod p50 of %ss)", fmtNum(launch.P50), fmtNum(bound), fmtNum(floor.P50))
		if pull := r.figure(sFirstLaunchPull).K8s; pull != nil && len(k.Samples[sFirstLaunchPull]) == len(k.Samples[sFirstLaunchPeer]) {
			var rest []float64
			for i, l := range k.Samples[sFirstLaunchPeer] {
				if i < len(k.Samples[sFirstLaunchPull]) {
					rest = append(rest, l-k.Samples[sFirstLaunchPull][i])
				}
			}
			m += fmt.Sprintf("; the node pulled the new image for %ss of it (p50), launch less the pull %ss", fmtNum(pull.P50), fmtNum(Summarize(rest).P50))
		}
		if vol := r.figure(sFloorVolumes).K8s; vol != nil {
			m += fmt.Sprintf("; a bare pod with the chaincode pod's volumes (its TLS Secret, an emptyDir) starts in %ss p50, %ss more than without: "+
				"the kubelet checks every 300 ms whether a pod's volumes are mounted before it starts the pod (against that floor the bound is %ss)",
				fmtNum(vol.P50), fmtNum(vol.P50-floor.P50), fmtNum(1.2*vol.P50+0.2))
		}
		add("first launch (commit → registered), p50", "≤ 1.2 × bare pod start + 200 ms", m, b(launch.P50 <= bound))
	} else {
		add("first launch (commit → registered), p50", "≤ 1.2 × bare pod start + 200 ms", "not measured", nil)
	}
	if s := r.figure(sRelaunchQuiet).K8s; s != nil {
		add("relaunch after SIGKILL (no traffic), p50", "≤ 3 s", fmt.Sprintf("%ss (max %ss)", fmtNum(s.P50), fmtNum(s.Max)), b(s.P50 <= 3))
	} else {
		add("relaunch after SIGKILL (no traffic), p50", "≤ 3 s", "not measured", nil)
	}
	if f := r.figure(sInstallBuild); f != nil && f.K8s != nil && f.Docker != nil {
		add("cold build, p50", "k8s ≤ 1.3 × DockerVM's build of the same package",
			fmt.Sprintf("%ss vs %ss (×%.2f)", fmtNum(f.K8s.P50), fmtNum(f.Docker.P50), *f.Ratio), b(*f.Ratio <= 1.3))
	} else {
		add("cold build, p50", "k8s ≤ 1.3 × DockerVM's build of the same package", "not measured", nil)
	}
	if cold, re := r.figure(sInstallBuild).K8s, r.figure(sRebuild).K8s; cold != nil && re != nil && cold.P50 > 0 {
		ratio := re.P50 / cold.P50
		add("rebuild (one line changed) with vm.k8s.build.cache, p50", "≤ 0.3 × the cold build",
			fmt.Sprintf("%ss vs %ss cold (×%.2f)", fmtNum(re.P50), fmtNum(cold.P50), ratio), b(ratio <= 0.3))
	} else {
		add("rebuild (one line changed) with vm.k8s.build.cache, p50", "≤ 0.3 × the cold build", "not measured", nil)
	}
	inst := r.figure(sInstallSecond).K8s
	instMany := r.figure(sInstallMany).K8s
	switch {
	case inst != nil:
		m := fmt.Sprintf("%ss (second peer, image in the registry)", fmtNum(inst.P50))
		ok := inst.P50 <= 1
		if instMany != nil {
			m += fmt.Sprintf("; %ss (type k8s packages)", fmtNum(instMany.P50))
			ok = ok && instMany.P50 <= 1
		}
		add("install of an already-built image, p50", "≤ 1 s", m, b(ok))
	default:
		add("install of an already-built image, p50", "≤ 1 s", "not measured", nil)
	}
	if f := r.figure("invoke_latency"); f != nil && f.K8s != nil && f.Docker != nil {
		add("invoke latency p50 within 10 % of DockerVM", "k8s ≤ 1.1 × docker",
			fmt.Sprintf("%s ms vs %s ms (×%.2f)", fmtNum(f.K8s.P50), fmtNum(f.Docker.P50), *f.Ratio), b(*f.Ratio <= 1.1))
	} else {
		add("invoke latency p50 within 10 % of DockerVM", "k8s ≤ 1.1 × docker", "not measured", nil)
	}
	if f := r.figure("invoke_throughput"); f != nil && f.K8s != nil && f.Docker != nil {
		add("invoke throughput within 10 % of DockerVM", "k8s ≥ 0.9 × docker",
			fmt.Sprintf("%s tx/s vs %s tx/s (×%.2f)", fmtNum(f.K8s.P50), fmtNum(f.Docker.P50), *f.Ratio), b(*f.Ratio >= 0.9))
	} else {
		add("invoke throughput within 10 % of DockerVM", "k8s ≥ 0.9 × docker", "not measured", nil)
	}
	for _, q := range []struct{ key, name, bound string }{
		{"query_latency", "query latency p50 within 10 % of DockerVM", "k8s ≤ 1.1 × docker"},
		{"query_throughput", "query throughput within 10 % of DockerVM", "k8s ≥ 0.9 × docker"},
	} {
		if f := r.figure(q.key); f != nil && f.Ratio != nil {
			ok := *f.Ratio <= 1.1
			if strings.HasSuffix(q.key, "throughput") {
				ok = *f.Ratio >= 0.9
			}
			add(q.name, q.bound, fmt.Sprintf("%s vs %s %s (×%.2f)", fmtNum(f.K8s.P50), fmtNum(f.Docker.P50), f.Unit, *f.Ratio), b(ok))
		}
	}

	// At rest: compare the first point after the kv chaincodes with the
	// last one (most chaincodes). The peer's own requests (counted by the
	// bench's proxy) decide; the whole API server's rate is shown beside.
	first, last := restSpan(k.Rest)
	reqName := "API requests/min of the peer at rest do not grow with chaincode count"
	if first != nil && last != nil && first.PeerAPIRequestsPerMinTotal != nil && last.PeerAPIRequestsPerMinTotal != nil && last.Chaincodes > first.Chaincodes {
		a, z := *first.PeerAPIRequestsPerMinTotal, *last.PeerAPIRequestsPerMinTotal
		m := fmt.Sprintf("%s → %s requests/min with %d → %d chaincodes", fmtNum(a), fmtNum(z), first.Chaincodes, last.Chaincodes)
		if first.APIRequestsPerMinTotal != nil && last.APIRequestsPerMinTotal != nil {
			m += fmt.Sprintf(" (whole kube-apiserver: %s → %s, shared with other runs)", fmtNum(*first.APIRequestsPerMinTotal), fmtNum(*last.APIRequestsPerMinTotal))
		}
		// Within 10 % plus one request per 10 s counts as flat (a sweep or
		// a watch renewal may fall into one window and not the other).
		add(reqName, "at most 1.1 × + 6/min", m, b(z <= 1.1*a+6))
	} else {
		add(reqName, "at most 1.1 × + 6/min", "not measured", nil)
	}
	if first != nil && last != nil && last.Chaincodes > first.Chaincodes {
		per := (last.PeerRSSMiB - first.PeerRSSMiB) / float64(last.Chaincodes-first.Chaincodes)
		m := fmt.Sprintf("%s MiB per chaincode (%s → %s MiB, %d → %d chaincodes)", fmtNum(per), fmtNum(first.PeerRSSMiB), fmtNum(last.PeerRSSMiB), first.Chaincodes, last.Chaincodes)
		if df, dl := restSpan(d.Rest); df != nil && dl != nil && dl.Chaincodes > df.Chaincodes {
			m += fmt.Sprintf("; DockerVM peer %s MiB per chaincode", fmtNum((dl.PeerRSSMiB-df.PeerRSSMiB)/float64(dl.Chaincodes-df.Chaincodes)))
		}
		add("peer RSS per chaincode at rest (k8s)", "≤ 1 MiB", m, b(per <= 1))
	} else {
		add("peer RSS per chaincode at rest (k8s)", "≤ 1 MiB", "not measured", nil)
	}
	r.caliperTargets(k, d)
}

// restSpan returns the at-rest point with the fewest chaincodes above zero and
// the one with the most.
func restSpan(pts []RestPoint) (first, last *RestPoint) {
	for i := range pts {
		p := &pts[i]
		if p.Chaincodes == 0 {
			continue
		}
		if first == nil || p.Chaincodes < first.Chaincodes {
			first = p
		}
		if last == nil || p.Chaincodes > last.Chaincodes {
			last = p
		}
	}
	return first, last
}

// Write writes report.json, report.md and the charts to dir.
func (r *Report) Write(dir string) error {
	r.compute()
	r.Charts, r.ChartError = nil, ""
	if charts, err := writeCharts(r, dir); err != nil {
		r.ChartError = err.Error()
	} else {
		r.Charts = charts
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

func joinNums(v []float64) string {
	var parts []string
	for _, x := range v {
		parts = append(parts, fmtNum(x))
	}
	return strings.Join(parts, ", ")
}

func summaryCell(s *Summary, text string) string {
	if text != "" {
		if s != nil {
			return fmt.Sprintf("%s; %s / %s / %s / %s", text, fmtNum(s.Min), fmtNum(s.P50), fmtNum(s.P90), fmtNum(s.Max))
		}
		return text
	}
	if s == nil {
		return "—"
	}
	if s.N == 1 {
		return fmtNum(s.P50)
	}
	return fmt.Sprintf("%s / %s / %s / %s", fmtNum(s.Min), fmtNum(s.P50), fmtNum(s.P90), fmtNum(s.Max))
}

func nOf(a, b *Summary) string {
	var ns []string
	for _, s := range []*Summary{a, b} {
		if s != nil {
			ns = append(ns, fmt.Sprint(s.N))
		} else {
			ns = append(ns, "–")
		}
	}
	if ns[0] == ns[1] {
		return ns[0]
	}
	return ns[0] + " / " + ns[1]
}

func byVerb(total float64, per map[string]float64) string {
	var verbs []string
	for verb := range per {
		verbs = append(verbs, verb)
	}
	sort.Strings(verbs)
	var parts []string
	for _, verb := range verbs {
		parts = append(parts, fmt.Sprintf("%s %s", verb, fmtNum(per[verb])))
	}
	if len(parts) == 0 {
		return fmtNum(total)
	}
	return fmt.Sprintf("%s (%s)", fmtNum(total), strings.Join(parts, ", "))
}

// Markdown renders report.md.
func (r *Report) Markdown() string {
	var b strings.Builder
	c := r.Config
	mode := "full"
	if c.Quick {
		mode = "quick (BENCH_QUICK=1)"
	}
	fmt.Fprintf(&b, "# fabric-peer-k8s: the k8s VM against the stock DockerVM\n\n")
	many := fmt.Sprint(c.Many)
	if c.ManyUsed > 0 && c.ManyUsed != c.Many {
		many = fmt.Sprintf("%d (of %d asked; see the notes)", c.ManyUsed, c.Many)
	}
	fmt.Fprintf(&b, "Run %s, %s, %s → %s (%s). N = %d repetitions per figure, %s chaincodes at rest, %d load clients for %s per load phase, %s at-rest windows.\n\n",
		c.RunID, mode, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Finished.UTC().Format("15:04 UTC"), r.Finished.Sub(r.Started).Round(time.Second),
		c.N, many, c.Clients, c.Load, c.Rest)
	m := r.Machine
	fmt.Fprintf(&b, "Machine: %d CPUs (`nproc`)%s, %.1f GiB memory, Linux %s, %s. Both networks ran on it one after the other (same bin/peer, orderer and CLI); the Kubernetes control plane, kubelet, containerd and registry of the local cluster were running throughout.\n\n",
		m.CPUs, map[bool]string{true: " " + m.CPUModel, false: ""}[m.CPUModel != ""], float64(m.MemoryMiB)/1024, m.Kernel, m.GoVersion)
	fmt.Fprintf(&b, "%s\n\n", r.Quiet.sentence())

	fmt.Fprintf(&b, "## Side by side\n\nmin / p50 / p90 / max over N; ratio = k8s p50 / docker p50.\n\n")
	fmt.Fprintf(&b, "| figure | unit | N | k8s VM | DockerVM | k8s/docker |\n|---|---|---|---|---|---|\n")
	for _, f := range r.Figures {
		ratio := "—"
		if f.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *f.Ratio)
		}
		name := f.Name
		if f.Note != "" {
			name += " — " + f.Note
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", name, f.Unit, nOf(f.K8s, f.Docker), summaryCell(f.K8s, f.K8sText), summaryCell(f.Docker, f.DockerText), ratio)
	}

	fmt.Fprintf(&b, "\n## Targets\n\n")
	writeTargets(&b, r.Targets)

	r.phasesMarkdown(&b)

	fmt.Fprintf(&b, "\n## At rest\n\nOrg1's peer after each step, sampled over one window with no traffic. The peer's API requests are counted by a proxy between each peer and the API server (Org2's peer, which runs only the kv chaincodes, in brackets); kube-apiserver requests are `apiserver_request_total` of the whole API server, which other test runs share.\n\n")
	fmt.Fprintf(&b, "| VM | chaincodes | peer RSS MiB | goroutines | open fds | threads | the peer's API req/min (by verb) [Org2] | kube-apiserver req/min (by verb) | other test namespaces | load avg | dockerd / its containerd RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, vm := range []string{"k8s", "docker"} {
		v := r.VMs[vm]
		if v == nil {
			continue
		}
		for _, p := range v.Rest {
			api, peerAPI, other, dock := "—", "—", "—", "—"
			if p.APIRequestsPerMinTotal != nil {
				api = byVerb(*p.APIRequestsPerMinTotal, p.APIRequestsPerMin)
			}
			if p.PeerAPIRequestsPerMinTotal != nil {
				peerAPI = byVerb(*p.PeerAPIRequestsPerMinTotal, p.PeerAPIRequestsPerMin)
				if p.Org2APIRequestsPerMinTotal != nil {
					peerAPI += fmt.Sprintf(" [%s]", fmtNum(*p.Org2APIRequestsPerMinTotal))
				}
			}
			if p.OtherNamespaces != nil {
				other = fmt.Sprint(*p.OtherNamespaces)
			}
			if p.DockerdRSSMiB != nil {
				dock = fmt.Sprintf("%s / %s", fmtNum(*p.DockerdRSSMiB), fmtNum(*p.ContainerdMiB))
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %d | %d | %s | %s | %s | %s | %s |\n", vm, p.Chaincodes, fmtNum(p.PeerRSSMiB), fmtNum(p.PeerGoroutines), p.PeerFDs, p.PeerThreads, peerAPI, api, other, fmtNum(p.LoadAvg1), dock)
		}
	}

	if v := r.VMs["k8s"]; v != nil && len(v.PeerAPIRequests) > 0 {
		var ids []string
		for id := range v.PeerAPIRequests {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		fmt.Fprintf(&b, "\nKubernetes API requests of each k8s-mode peer over its whole run (builds, launches, relaunches, at rest, load):")
		for _, id := range ids {
			per := map[string]float64{}
			total := 0.0
			for verb, n := range v.PeerAPIRequests[id] {
				per[verb] = float64(n)
				total += float64(n)
			}
			fmt.Fprintf(&b, " %s %s;", id, byVerb(total, per))
		}
		fmt.Fprintf(&b, "\n")
	}

	fmt.Fprintf(&b, "\n## Load\n\n| VM | phase | ok | errors | per s | latency ms min / p50 / p90 / max |\n|---|---|---|---|---|---|\n")
	for _, vm := range []string{"k8s", "docker"} {
		v := r.VMs[vm]
		if v == nil {
			continue
		}
		for _, l := range []struct {
			name string
			r    *LoadResult
		}{{"invoke", v.Invoke}, {"query", v.Query}} {
			if l.r == nil {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s |\n", vm, l.name, l.r.OK, l.r.Errors, fmtNum(l.r.PerSecond), summaryCell(l.r.LatencyMs, ""))
		}
	}

	r.caliperMarkdown(&b)

	if len(r.Charts) > 0 {
		fmt.Fprintf(&b, "\n## Charts\n\n")
		for _, ch := range r.Charts {
			fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(ch, ".png"), ch)
		}
	} else if r.ChartError != "" {
		fmt.Fprintf(&b, "\nCharts: not written (%s).\n", r.ChartError)
	}

	fmt.Fprintf(&b, "\n## How it was measured\n\n")
	fmt.Fprintf(&b, "* Both VMs run the same two-org network of `integration/network` (one orderer, one peer per org, TLS, peers as host processes); the k8s VM on the local cluster with host-network chaincode pods, DockerVM against a Docker daemon started by the bench with host-network containers. The builder and runtime images are the same (`chaincode.builder`, `chaincode.golang.runtime`).\n")
	fmt.Fprintf(&b, "* Launch and relaunch times come from the peer's own `chaincode_launch_duration` histogram (operations `/metrics`, polled every 40 ms): one observation per launch, from Fabric's start of the launch to the chaincode's registration.\n")
	fmt.Fprintf(&b, "* SIGKILL: `ctr tasks kill -s SIGKILL` on the chaincode container (k8s), `docker kill -s KILL` (docker). Without traffic the bench waits for a new successful launch of the chaincode on the peer.\n")
	fmt.Fprintf(&b, "* Load: %d goroutines, each in a closed loop through the Fabric Gateway gRPC service of Org1's peer (proposal signed by the client, endorsement, ordering, commit status), on kv1.\n", c.Clients)
	fmt.Fprintf(&b, "* Percentiles interpolate linearly between order statistics; with N = 2 the p50 is the mean of the two samples.\n")
	for _, vm := range []string{"k8s", "docker"} {
		if v := r.VMs[vm]; v != nil {
			for _, n := range v.Notes {
				fmt.Fprintf(&b, "* %s: %s.\n", vm, n)
			}
			fmt.Fprintf(&b, "* %s: the whole run on this VM took %s; 1-minute load average at the start of each phase: %s.\n", vm,
				time.Duration(v.Seconds*float64(time.Second)).Round(time.Second), joinNums(v.LoadAvg))
			if len(v.OtherNamespaces) > 0 {
				fmt.Fprintf(&b, "* %s: other test runs used the cluster meanwhile (namespaces %s); their load is in these figures.\n", vm, strings.Join(v.OtherNamespaces, ", "))
			}
		}
	}
	var errs []string
	for _, vm := range []string{"k8s", "docker"} {
		if v := r.VMs[vm]; v != nil {
			for _, e := range v.Errors {
				errs = append(errs, fmt.Sprintf("* %s: %s", vm, strings.ReplaceAll(e, "\n", "\n  ")))
			}
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(&b, "\n## Errors\n\n%s\n", strings.Join(errs, "\n"))
	}
	return b.String()
}

// writeTargets writes the table of targets (report.md, the README).
func writeTargets(b *strings.Builder, targets []Target) {
	fmt.Fprintf(b, "| target | bound | measured | status |\n|---|---|---|---|\n")
	for _, t := range targets {
		fmt.Fprintf(b, "| %s | %s | %s | **%s** |\n", t.Name, t.Bound, t.Measured, t.Status)
	}
}
