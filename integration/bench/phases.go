/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"strings"
	"time"
)

// Phase is the time between two consecutive observed boundaries of one
// launch or build.
type Phase struct {
	// Key names the phase (phaseDefs); phases merged because a boundary
	// between them was not observed join their keys with "+".
	Key     string  `json:"key"`
	Seconds float64 `json:"seconds"`
	// Resolution is how finely the phase is known: the coarser resolution
	// of its two boundaries (1 s for an API timestamp in RFC 3339 seconds),
	// or, for boundaries derived from one observation, that of the offset.
	Resolution float64 `json:"resolution_seconds"`
	// Clamped: the end boundary came before the start one (truncated
	// timestamps or clocks that disagree); Seconds was set to 0.
	Clamped bool `json:"clamped,omitempty"`
}

// Phases is one sample of a figure split into its phases, in order.
type Phases struct {
	// Label is the chaincode package the sample belongs to.
	Label  string  `json:"label,omitempty"`
	Phases []Phase `json:"phases"`
	// Notes say which boundaries were not observed or were out of order.
	Notes []string `json:"notes,omitempty"`
}

// Seconds is the sum of the phases.
func (p Phases) Seconds() float64 {
	s := 0.0
	for _, ph := range p.Phases {
		s += ph.Seconds
	}
	return s
}

// Mark is one boundary between phases: when it happened and how finely its
// source knows it.
type Mark struct {
	// Name describes the boundary ("pod scheduled").
	Name string
	// Ends is the key of the phase that ends at this boundary (empty for
	// the first boundary).
	Ends string
	// At is zero when the boundary was not observed; Missing says why.
	At      time.Time
	Missing string
	Res     time.Duration
	Source  string
	// Marks derived from one observation (the start of an image pull and
	// that start plus the pull time the kubelet reports) share an Anchor:
	// between them the phase is known to OffsetRes, not to Res.
	Anchor    string
	OffsetRes time.Duration
	// Note is kept with the phases (e.g. why a more precise source was not
	// used).
	Note string
}

// Resolutions of the sources of boundaries.
const (
	// resAPISecond: metav1.Time (creationTimestamp, conditions, container
	// states, the kubelet's event timestamps) is serialized in RFC 3339
	// seconds.
	resAPISecond = time.Second
	// resMicro: metav1.MicroTime (an event's eventTime).
	resMicro = time.Microsecond
	// resClock: this process' own clock (the install CLI's start and end).
	resClock = time.Millisecond
	// resWatch: the bench's watch seeing an object (delivery latency on a
	// local cluster; an upper bound of the true time).
	resWatch = 10 * time.Millisecond
	// resDocker: Docker's timestamps (nanoseconds).
	resDocker = time.Microsecond
)

// secondsMark is a boundary from an API timestamp in whole seconds: the
// event happened within [t, t+1 s), so the mark stands at the middle of that
// second with a resolution of 1 s; that way a phase between it and a precise
// boundary is not biased by half a second on average.
func secondsMark(name, ends, source string, t time.Time) Mark {
	if t.IsZero() {
		return Mark{Name: name, Ends: ends, Missing: source + " not set"}
	}
	return Mark{Name: name, Ends: ends, At: t.Truncate(time.Second).Add(resAPISecond / 2), Res: resAPISecond, Source: source}
}

// refine returns precise in place of coarse, a mark of the same boundary in
// whole seconds, when precise falls within coarse's second (give or take
// tolerance for the sources' latency); otherwise coarse, noting why.
func refine(coarse, precise Mark, tolerance time.Duration) Mark {
	switch {
	case precise.At.IsZero():
		return coarse
	case coarse.At.IsZero():
		return precise
	}
	lo := coarse.At.Add(-coarse.Res / 2)
	hi := lo.Add(coarse.Res)
	if !precise.At.Before(lo.Add(-tolerance)) && precise.At.Before(hi.Add(tolerance)) {
		return precise
	}
	coarse.Note = fmt.Sprintf("%s: %s (%s) is outside %s's second (%s); the latter is used",
		coarse.Name, precise.Source, precise.At.UTC().Format("15:04:05.000"), coarse.Source, lo.UTC().Format("15:04:05"))
	return coarse
}

// phasesOf turns boundaries, in the order they happen, into phases: one
// between each two consecutive observed boundaries. A phase whose end
// boundary was not observed is merged into the next one (keys joined with
// "+"); phases before the first or after the last observed boundary are
// left out. Negative differences are clamped to 0 and flagged.
func phasesOf(marks []Mark) Phases {
	var out Phases
	prev := -1
	var keys []string // phases ending at marks since prev
	for i, m := range marks {
		if m.Note != "" {
			out.Notes = append(out.Notes, m.Note)
		}
		if i > 0 && m.Ends != "" {
			keys = append(keys, m.Ends)
		}
		if m.At.IsZero() {
			out.Notes = append(out.Notes, missingNote(marks, i, prev))
			continue
		}
		if prev < 0 {
			keys = nil
			prev = i
			continue
		}
		p := marks[prev]
		res := max(p.Res, m.Res)
		if p.Anchor != "" && p.Anchor == m.Anchor {
			res = max(p.OffsetRes, m.OffsetRes)
		}
		d := m.At.Sub(p.At)
		ph := Phase{Key: strings.Join(keys, "+"), Seconds: d.Seconds(), Resolution: res.Seconds()}
		if d < 0 {
			ph.Seconds, ph.Clamped = 0, true
			how := "within the resolution of " + res.String()
			if -d > res {
				how = "more than the resolution of " + res.String() + ": the sources' clocks disagree"
			}
			out.Notes = append(out.Notes, fmt.Sprintf("%s (%s) is %s before %s (%s), %s; phase %s clamped to 0",
				m.Name, m.Source, (-d).Round(time.Millisecond), p.Name, p.Source, how, ph.Key))
		}
		out.Phases = append(out.Phases, ph)
		keys, prev = nil, i
	}
	return out
}

// missingNote says that marks[i] was not observed and what follows for the
// phases around it.
func missingNote(marks []Mark, i, prev int) string {
	m := marks[i]
	why := m.Missing
	if why == "" {
		why = "not observed"
	}
	next := -1
	for j := i + 1; j < len(marks); j++ {
		if !marks[j].At.IsZero() {
			next = j
			break
		}
	}
	switch {
	case prev < 0 && i == 0:
		return fmt.Sprintf("%s not observed (%s): the phases before the first observed boundary are left out", m.Name, why)
	case prev < 0:
		return fmt.Sprintf("%s not observed (%s): phase %s left out", m.Name, why, m.Ends)
	case next < 0:
		return fmt.Sprintf("%s not observed (%s): the phases after the last observed boundary are left out", m.Name, why)
	default:
		return fmt.Sprintf("%s not observed (%s): phase %s merged into the next", m.Name, why, m.Ends)
	}
}
