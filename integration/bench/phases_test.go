/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)

// at is t0 plus seconds.
func at(secs float64) time.Time { return t0.Add(time.Duration(secs * float64(time.Second))) }

// want is a phase as the tests expect it.
type want struct {
	key     string
	seconds float64
	res     float64
	clamped bool
}

func requirePhases(t *testing.T, got Phases, phases ...want) {
	t.Helper()
	var g []string
	for _, p := range got.Phases {
		g = append(g, fmt.Sprintf("%s=%.6f/res %.6g/clamped %v", p.Key, p.Seconds, p.Resolution, p.Clamped))
	}
	var w []string
	for _, p := range phases {
		w = append(w, fmt.Sprintf("%s=%.6f/res %.6g/clamped %v", p.key, p.seconds, p.res, p.clamped))
	}
	require.Equal(t, w, g, "notes: %v", got.Notes)
}

// requireNote fails unless a note contains each of parts.
func requireNote(t *testing.T, ph Phases, parts ...string) {
	t.Helper()
	for _, n := range ph.Notes {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(n, p)
		}
		if ok {
			return
		}
	}
	require.Failf(t, "no such note", "want a note with %q; notes: %q", parts, ph.Notes)
}

func TestPhasesOf(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		marks []Mark
		want  []want
		notes [][]string
	}{
		{
			name: "consecutive differences, resolution of the coarser boundary",
			marks: []Mark{
				{Name: "a", At: at(0), Res: ms},
				{Name: "b", Ends: "x", At: at(0.25), Res: time.Second},
				{Name: "c", Ends: "y", At: at(1), Res: 10 * ms},
			},
			want: []want{{"x", 0.25, 1, false}, {"y", 0.75, 1, false}},
		},
		{
			name: "a boundary not observed merges its phase into the next",
			marks: []Mark{
				{Name: "a", At: at(0), Res: ms},
				{Name: "b", Ends: "x", Missing: "no event"},
				{Name: "c", Ends: "y", At: at(1), Res: ms},
				{Name: "d", Ends: "z", At: at(1.5), Res: ms},
			},
			want:  []want{{"x+y", 1, 0.001, false}, {"z", 0.5, 0.001, false}},
			notes: [][]string{{"b not observed (no event)", "phase x merged into the next"}},
		},
		{
			name: "phases before the first and after the last observed boundary are left out",
			marks: []Mark{
				{Name: "a", Missing: "not measured"},
				{Name: "b", Ends: "x", At: at(0), Res: ms},
				{Name: "c", Ends: "y", At: at(1), Res: ms},
				{Name: "d", Ends: "z", Missing: "gone"},
			},
			want:  []want{{"y", 1, 0.001, false}},
			notes: [][]string{{"a not observed", "before the first observed"}, {"d not observed", "after the last observed"}},
		},
		{
			name: "out of order within the resolution: clamped to 0 and flagged",
			marks: []Mark{
				{Name: "a", At: at(1.38), Res: 10 * ms, Source: "watch"},
				{Name: "b", Ends: "x", At: at(1.5), Res: time.Second, Source: "stamp"},
				{Name: "c", Ends: "y", At: at(1.2), Res: time.Second, Source: "stamp"},
			},
			want:  []want{{"x", 0.12, 1, false}, {"y", 0, 1, true}},
			notes: [][]string{{"c (stamp) is 300ms before b (stamp)", "within the resolution of 1s", "phase y clamped to 0"}},
		},
		{
			name: "out of order by more than the resolution: clocks disagree",
			marks: []Mark{
				{Name: "a", At: at(5), Res: ms},
				{Name: "b", Ends: "x", At: at(2.5), Res: time.Second},
			},
			want:  []want{{"x", 0, 1, true}},
			notes: [][]string{{"2.5s before", "the sources' clocks disagree"}},
		},
		{
			name: "boundaries of one observation: the offset's resolution",
			marks: []Mark{
				{Name: "a", At: at(0), Res: ms},
				{Name: "pull started", Ends: "sandbox", At: at(0.5), Res: time.Second, Anchor: "pull"},
				{Name: "pulled", Ends: "pull", At: at(0.812), Res: time.Second, Anchor: "pull", OffsetRes: ms},
				{Name: "started", Ends: "start", At: at(1.5), Res: time.Second},
			},
			want: []want{{"sandbox", 0.5, 1, false}, {"pull", 0.312, 0.001, false}, {"start", 0.688, 1, false}},
		},
		{
			name: "a mark's note is kept",
			marks: []Mark{
				{Name: "a", At: at(0), Res: ms, Note: "a came from elsewhere"},
				{Name: "b", Ends: "x", At: at(1), Res: ms},
			},
			want:  []want{{"x", 1, 0.001, false}},
			notes: [][]string{{"a came from elsewhere"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := phasesOf(tc.marks)
			requirePhases(t, got, tc.want...)
			require.Len(t, got.Notes, len(tc.notes), "notes: %q", got.Notes)
			for _, n := range tc.notes {
				requireNote(t, got, n...)
			}
		})
	}
}

func TestSecondsMarkAndRefine(t *testing.T) {
	m := secondsMark("created", "x", "creationTimestamp", at(10.7))
	require.Equal(t, at(10.5), m.At, "a whole-second stamp stands for the middle of its second")
	require.Equal(t, time.Second, m.Res)
	require.Equal(t, "creationTimestamp not set", secondsMark("created", "x", "creationTimestamp", time.Time{}).Missing)

	seen := Mark{Name: "created", At: at(10.93), Res: resWatch, Source: "watch"}
	require.Equal(t, seen.At, refine(m, seen, 250*time.Millisecond).At, "within the stamp's second")
	late := Mark{Name: "created", At: at(11.2), Res: resWatch, Source: "watch"}
	require.Equal(t, seen.At, refine(m, Mark{At: seen.At}, 0).At)
	require.Equal(t, late.At, refine(m, late, 250*time.Millisecond).At, "within the tolerance after the second")
	skewed := Mark{Name: "created", At: at(9.2), Res: resWatch, Source: "watch"}
	got := refine(m, skewed, 250*time.Millisecond)
	require.Equal(t, m.At, got.At, "a precise time outside the stamp's second is not taken")
	require.Contains(t, got.Note, "outside creationTimestamp's second")
	require.Equal(t, m.At, refine(m, Mark{}, 0).At)
	require.Equal(t, seen.At, refine(Mark{}, seen, 0).At)
}

func TestPullDuration(t *testing.T) {
	for _, tc := range []struct {
		msg     string
		d       time.Duration
		present bool
		ok      bool
	}{
		{`Successfully pulled image "r/kv:1" in 803ms (820ms including waiting). Image size: 29834112 bytes.`, 820 * time.Millisecond, false, true},
		{`Successfully pulled image "r/kv:1" in 1.02s (1.5s including waiting)`, 1500 * time.Millisecond, false, true},
		{`Successfully pulled image "r/kv:1" in 1m2.5s`, 62500 * time.Millisecond, false, true},
		{`Successfully pulled image "r/kv:1" in 350.5µs (351µs including waiting)`, 351 * time.Microsecond, false, true},
		{`Container image "r/kv:1" already present on machine`, 0, true, true},
		{`Pulling image "r/kv:1"`, 0, false, false},
	} {
		t.Run(tc.msg, func(t *testing.T) {
			d, present, ok := pullDuration(tc.msg)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.present, present)
			require.Equal(t, tc.d, d)
		})
	}
}
