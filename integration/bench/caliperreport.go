/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"strings"
)

// caliperRound returns the VM's result of the round with the label, or nil.
func (v *VMResult) caliperRound(label string) *CaliperRound {
	if v == nil || v.Caliper == nil {
		return nil
	}
	for i := range v.Caliper.Rounds {
		if v.Caliper.Rounds[i].Label == label {
			return &v.Caliper.Rounds[i]
		}
	}
	return nil
}

// caliperLabels are the rounds either VM ran, in the order they ran.
func caliperLabels(vms ...*VMResult) []string {
	var labels []string
	seen := map[string]bool{}
	for _, v := range vms {
		if v == nil || v.Caliper == nil {
			continue
		}
		for _, r := range v.Caliper.Rounds {
			if !seen[r.Label] {
				seen[r.Label] = true
				labels = append(labels, r.Label)
			}
		}
	}
	return labels
}

func caliperFigureKey(label, what string) string {
	return "caliper_" + strings.ReplaceAll(label, "-", "_") + "_" + what
}

// caliperFigures adds three figures per Caliper round: the throughput and
// the latency p50 and p95 of each VM, one value per VM (over the round).
func (r *Report) caliperFigures(k, d *VMResult) {
	single := func(x float64) *Summary { return &Summary{N: 1, Min: x, P50: x, P90: x, Max: x} }
	for _, label := range caliperLabels(k, d) {
		kr, dr := k.caliperRound(label), d.caliperRound(label)
		desc := ""
		for _, cr := range []*CaliperRound{kr, dr} {
			if cr != nil && desc == "" {
				desc = describeCaliperRound(cr)
			}
		}
		// What the figures are is in the Caliper section of the report.
		for _, m := range []struct {
			key, name, unit string
			value           func(*CaliperRound) (float64, bool)
		}{
			{"tps", "throughput", "tx/s", func(c *CaliperRound) (float64, bool) { return c.TPS, c.OK > 0 }},
			{"latency_p50", "latency p50", "ms", func(c *CaliperRound) (float64, bool) { return c.LatencyMs.p50(), c.LatencyMs != nil }},
			{"latency_p95", "latency p95", "ms", func(c *CaliperRound) (float64, bool) { return c.LatencyMs.p95(), c.LatencyMs != nil }},
		} {
			f := Figure{Key: caliperFigureKey(label, m.key), Name: fmt.Sprintf("Caliper %s (%s): %s", label, desc, m.name), Unit: m.unit}
			if kr != nil {
				if x, ok := m.value(kr); ok {
					f.K8s = single(x)
				}
			}
			if dr != nil {
				if x, ok := m.value(dr); ok {
					f.Docker = single(x)
				}
			}
			f.Ratio = Ratio(f.K8s, f.Docker)
			r.Figures = append(r.Figures, f)
		}
	}
}

// describeCaliperRound is what a round's label does not say: the operation
// and the rate or load.
func describeCaliperRound(c *CaliperRound) string {
	op := "put of new keys"
	if c.Op == "read" {
		op = "get of created keys"
	}
	_, rate, _ := strings.Cut(c.RateControl, ", ")
	return op + ", " + rate
}

// caliperTargets judges the Caliper rounds: throughput within 5 % and
// latency (p50 and p95) within 10 % of DockerVM in every round.
func (r *Report) caliperTargets(k, d *VMResult) {
	const (
		tpsName = "Caliper throughput within 5 % of DockerVM, every round"
		tpsBnd  = "k8s ≥ 0.95 × docker"
		latName = "Caliper latency p50 and p95 within 10 % of DockerVM, every round"
		latBnd  = "k8s ≤ 1.1 × docker"
	)
	var tpsParts, latParts, missing []string
	tpsOK, latOK := true, true
	labels := caliperLabels(k, d)
	for _, label := range labels {
		kr, dr := k.caliperRound(label), d.caliperRound(label)
		if kr == nil || dr == nil || kr.LatencyMs == nil || dr.LatencyMs == nil || dr.TPS == 0 || dr.LatencyMs.P50 == 0 || dr.LatencyMs.P95 == 0 {
			missing = append(missing, label)
			continue
		}
		t := kr.TPS / dr.TPS
		tpsOK = tpsOK && t >= 0.95
		tpsParts = append(tpsParts, fmt.Sprintf("%s %s vs %s tx/s (×%.2f)", label, fmtNum(kr.TPS), fmtNum(dr.TPS), t))
		p50, p95 := kr.LatencyMs.P50/dr.LatencyMs.P50, kr.LatencyMs.P95/dr.LatencyMs.P95
		latOK = latOK && p50 <= 1.1 && p95 <= 1.1
		latParts = append(latParts, fmt.Sprintf("%s p50 %s vs %s ms (×%.2f), p95 %s vs %s ms (×%.2f)", label,
			fmtNum(kr.LatencyMs.P50), fmtNum(dr.LatencyMs.P50), p50, fmtNum(kr.LatencyMs.P95), fmtNum(dr.LatencyMs.P95), p95))
	}
	judge := func(name, bound string, parts []string, ok bool) {
		t := Target{Name: name, Bound: bound, Status: "unknown", Measured: "not measured"}
		if len(parts) > 0 {
			t.Measured = strings.Join(parts, "; ")
			if len(missing) > 0 {
				t.Measured += "; not measured: " + strings.Join(missing, ", ")
			}
			switch {
			case !ok:
				t.Status = "missed"
			case len(missing) == 0:
				t.Status = "met"
			}
		}
		r.Targets = append(r.Targets, t)
	}
	judge(tpsName, tpsBnd, tpsParts, tpsOK)
	judge(latName, latBnd, latParts, latOK)
}

// caliperMarkdown writes the Caliper section of report.md: each VM's rounds
// as the records have them, beside Caliper's own summary.
func (r *Report) caliperMarkdown(b *strings.Builder) {
	var vms []*VMResult
	for _, vm := range []string{"k8s", "docker"} {
		if v := r.VMs[vm]; v != nil && v.Caliper != nil {
			vms = append(vms, v)
		}
	}
	if len(vms) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Caliper\n\n")
	fmt.Fprintf(b, "Hyperledger Caliper drove kv1 through Org1's Fabric Gateway (caliper-fabric's Gateway connector) after the load phase: create rounds put new keys (a small JSON asset each: endorse, order, commit status), read rounds get keys the create rounds wrote; fixed-rate rounds send a constant rate over all workers, fixed-load rounds keep a constant number of transactions outstanding. Throughput is the successful transactions over the round's span (first time_create to last time_final); latency is time_final − time_create of each successful transaction, from the TxStatus Caliper's connector returns (ms resolution: the read rounds' few-ms percentiles are coarse). Both come from the workload's record of every transaction; Caliper's own summary (succ / fail, throughput counting failures too, average latency) is beside them, and the counts must agree (cross-check).\n\n")
	fmt.Fprintf(b, "| VM | round | rate control | ok | failed | send rate /s | throughput tx/s | latency ms min / p50 / p95 / avg / max | Caliper: succ / fail, tx/s, avg s | cross-check |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, v := range vms {
		for _, c := range v.Caliper.Rounds {
			lat := "—"
			if l := c.LatencyMs; l != nil {
				lat = fmt.Sprintf("%s / %s / %s / %s / %s", fmtNum(l.Min), fmtNum(l.P50), fmtNum(l.P95), fmtNum(l.Avg), fmtNum(l.Max))
			}
			sum := "—"
			if s := c.Summary; s != nil {
				sum = fmt.Sprintf("%d / %d, %s, %s", s.Succ, s.Fail, fmtNum(s.Throughput), fmtNum(s.AvgLatency))
			}
			failed := fmt.Sprint(c.Failed)
			if c.Errors > 0 {
				failed += fmt.Sprintf(" (+%d errors)", c.Errors)
			}
			fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", v.VM, c.Label, c.RateControl, c.OK, failed,
				fmtNum(c.SendRate), fmtNum(c.TPS), lat, sum, c.CrossCheck)
		}
	}
	fmt.Fprintf(b, "\n")
	for _, v := range vms {
		c := v.Caliper
		fmt.Fprintf(b, "* %s: Caliper %s, fabric-gateway %s (%s); %d workers, %g s rounds; [report.html](%s/report.html), `%s/caliper.log`, the configuration and `summary.json` in `%s/`.\n",
			v.VM, c.Caliper, c.Gateway, c.Install, c.Workers, c.RoundSeconds, c.Dir, c.Dir, c.Dir)
	}
}
