/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// PhaseSummary is one figure split into phases: the p50 of each phase over
// the samples of each VM.
type PhaseSummary struct {
	Key   string     `json:"key"`
	Title string     `json:"title"`
	Rows  []PhaseRow `json:"rows"`
	// Samples is the number of samples split into phases, per VM.
	Samples map[string]int `json:"samples"`
	// Notes are the samples' notes, grouped (see groupNotes), per VM.
	Notes map[string][]string `json:"notes,omitempty"`
}

// PhaseRow is one phase (or merged phases) of a figure.
type PhaseRow struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	// By VM; a VM without the phase has no entry.
	VMs map[string]*PhaseStat `json:"vms"`
}

// PhaseStat is one phase of one VM over the samples that have it.
type PhaseStat struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	// Resolution is the coarsest of the samples'.
	Resolution float64 `json:"resolution_seconds"`
	Clamped    int     `json:"clamped,omitempty"`
}

// phaseSummaries summarises the phases of each figure of phaseFigures that
// has any.
func (r *Report) phaseSummaries() []PhaseSummary {
	var out []PhaseSummary
	for _, pf := range phaseFigures() {
		s := PhaseSummary{Key: pf.key, Title: pf.title, Samples: map[string]int{}, Notes: map[string][]string{}}
		rows := map[string]*PhaseRow{}
		for _, vm := range []string{"k8s", "docker"} {
			v := r.VMs[vm]
			if v == nil || len(v.Phases[pf.key]) == 0 {
				continue
			}
			samples := v.Phases[pf.key]
			s.Samples[vm] = len(samples)
			values := map[string][]float64{}
			var notes []string
			for _, ph := range samples {
				notes = append(notes, ph.Notes...)
				for _, p := range ph.Phases {
					row := rows[p.Key]
					if row == nil {
						row = &PhaseRow{Key: p.Key, Label: phaseLabel(pf.defs, p.Key), VMs: map[string]*PhaseStat{}}
						rows[p.Key] = row
					}
					st := row.VMs[vm]
					if st == nil {
						st = &PhaseStat{}
						row.VMs[vm] = st
					}
					st.N++
					st.Resolution = max(st.Resolution, p.Resolution)
					if p.Clamped {
						st.Clamped++
					}
					values[p.Key] = append(values[p.Key], p.Seconds)
				}
			}
			for key, vs := range values {
				rows[key].VMs[vm].P50 = Summarize(vs).P50
			}
			if g := groupNotes(notes); len(g) > 0 {
				s.Notes[vm] = g
			}
		}
		if len(rows) == 0 {
			continue
		}
		for _, row := range rows {
			s.Rows = append(s.Rows, *row)
		}
		sort.Slice(s.Rows, func(i, j int) bool {
			a, b := s.Rows[i].Key, s.Rows[j].Key
			if oa, ob := phaseOrder(pf.defs, a), phaseOrder(pf.defs, b); oa != ob {
				return oa < ob
			}
			return a < b
		})
		out = append(out, s)
	}
	return out
}

// noteShape groups notes that differ only in numbers and times.
var noteShape = regexp.MustCompile(`[0-9][0-9.:]*(ns|µs|ms|s)?`)

// groupNotes lists distinct notes (numbers aside) once, the first of each
// with the number of samples that had it.
func groupNotes(notes []string) []string {
	var order []string
	count := map[string]int{}
	first := map[string]string{}
	for _, n := range notes {
		k := noteShape.ReplaceAllString(n, "#")
		if _, ok := count[k]; !ok {
			order = append(order, k)
			first[k] = n
		}
		count[k]++
	}
	var out []string
	for _, k := range order {
		n := first[k]
		if count[k] > 1 {
			n += fmt.Sprintf(" (%d times, e.g.)", count[k])
		}
		out = append(out, n)
	}
	return out
}

// phaseCell is a table cell of one phase of one VM.
func phaseCell(st *PhaseStat, samples int) string {
	if st == nil {
		return "—"
	}
	cell := fmtNum(st.P50)
	var extra []string
	if st.Resolution >= 0.1 {
		extra = append(extra, "res "+strconv.FormatFloat(st.Resolution, 'g', 2, 64)+" s")
	}
	if st.N < samples {
		extra = append(extra, fmt.Sprintf("n %d of %d", st.N, samples))
	}
	if st.Clamped > 0 {
		extra = append(extra, fmt.Sprintf("clamped %d", st.Clamped))
	}
	if len(extra) > 0 {
		cell += " (" + strings.Join(extra, ", ") + ")"
	}
	return cell
}

// phasesMarkdown renders the phase tables of report.md.
func (r *Report) phasesMarkdown(b *strings.Builder) {
	sums := r.phaseSummaries()
	if len(sums) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Where the time goes\n\n")
	fmt.Fprintf(b, "Each sample split into phases at boundaries read from the Kubernetes API (k8s VM) or from Docker (DockerVM); the p50 of each phase over the samples, in seconds. The p50s of the phases need not add up to the p50 of the whole. *res*: the resolution of the phase's coarser boundary, when 0.1 s or more (API timestamps are whole seconds); *clamped*: samples whose boundaries were out of order, counted as 0. A phase missing for a VM is one it does not have or could not observe; phases joined with + were merged because the boundary between them was not observed.\n")
	fmt.Fprintf(b, "\nWhere each boundary comes from:\n\n")
	for _, l := range phaseSources() {
		fmt.Fprintf(b, "* %s\n", l)
	}
	for _, s := range sums {
		fmt.Fprintf(b, "\n### %s\n\n| phase | k8s VM (%s) | DockerVM (%s) |\n|---|---|---|\n", s.Title, samples(s.Samples["k8s"]), samples(s.Samples["docker"]))
		total := map[string]float64{}
		for _, row := range s.Rows {
			fmt.Fprintf(b, "| %s | %s | %s |\n", row.Label, phaseCell(row.VMs["k8s"], s.Samples["k8s"]), phaseCell(row.VMs["docker"], s.Samples["docker"]))
			for vm, st := range row.VMs {
				total[vm] += st.P50
			}
		}
		cells := map[string]string{"k8s": "—", "docker": "—"}
		whole := map[string]string{"k8s": "—", "docker": "—"}
		for vm := range cells {
			if s.Samples[vm] > 0 {
				cells[vm] = fmtNum(total[vm])
			}
			if v := r.VMs[vm]; v != nil {
				if sum := Summarize(v.Samples[s.Key]); sum != nil {
					whole[vm] = fmtNum(sum.P50)
				}
			}
		}
		fmt.Fprintf(b, "| *sum of the phases' p50s* | %s | %s |\n| *p50 of the figure (side by side)* | %s | %s |\n", cells["k8s"], cells["docker"], whole["k8s"], whole["docker"])
		for _, vm := range []string{"k8s", "docker"} {
			if len(s.Notes[vm]) > 0 {
				fmt.Fprintf(b, "\n%s, notes of the samples:\n\n", vmLabel(vm))
				for _, n := range s.Notes[vm] {
					fmt.Fprintf(b, "* %s\n", n)
				}
			}
		}
	}
}

// samples is "1 sample", "3 samples".
func samples(n int) string {
	if n == 1 {
		return "1 sample"
	}
	return fmt.Sprintf("%d samples", n)
}

// phaseSources says where each boundary of the phases comes from.
func phaseSources() []string {
	return []string{
		"Launch start and registration (both VMs): the bench polls the peer's `chaincode_launch_duration` every 40 ms from the start of the commit; registration is when it first sees the launch there, and the start is that time less the launch's duration as the peer measured it (both late by up to one poll, alike).",
		"k8s VM, pod created: the bench's watch of the namespace first seeing the pod, when that falls within the second of its `creationTimestamp` (or 250 ms after); else `creationTimestamp`. Scheduled: the scheduler's `Scheduled` event (`eventTime`, microseconds) when within a second of the `PodScheduled` condition; else the condition. Image pull: from the kubelet's `Pulling` event (whole seconds) for the pull time, including the wait for the kubelet's pull queue, that its `Pulled` message gives (milliseconds); 0 when the message says the image was already present. Container started: `state.running.startedAt` (the first `Started` event if the container restarted).",
		"k8s VM build: install start and return are the CLI's, on the bench's clock. Job created: the Job's `creationTimestamp` as the bench first saw it. Pod, scheduling and builder image pull as for a launch, for the `receive` init container. Package received: the `receive` init container's run, which holds the peer noticing it, attaching and streaming the package, and its extraction. Compile: until the `build` init container finished. Kaniko started and finished: the `kaniko` container's `startedAt` and `finishedAt`; Kaniko builds and pushes in one container, so the push is not a boundary of its own, and the Job's completion is not one either (the VM deletes the Job): the last phase holds the Job's completion, the peer reading the digest, the Job's deletion and the CLI's exit.",
		"API timestamps in whole seconds stand for the middle of their second (resolution 1 s); a phase between two of them is known to ±1 s, and its p50 over a few samples is coarse. Phases out of order (a truncated timestamp against a precise one, or clocks that disagree) count as 0 and are flagged.",
		"DockerVM launch: `docker inspect` `Created` and `State.StartedAt` (nanoseconds); the start phase holds the copy of the TLS files into the container. DockerVM build: the daemon's events (`docker events`): the builder container's `create`, `start` (the package was uploaded into it in between) and `die` (compiled), then the image's `tag` (the binaries copied out and `docker build`). DockerVM has no scheduling, pod sandbox nor pull.",
	}
}
