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

func TestDockerLaunchPhases(t *testing.T) {
	for _, tc := range []struct {
		name    string
		inspect string
		want    []want
		notes   [][]string
		err     string
	}{
		{
			name:    "created and started from docker inspect",
			inspect: `[{"Created":"2026-12-03T14:00:10.123456789Z","State":{"Status":"running","StartedAt":"2026-12-03T14:00:10.201Z"}}]`,
			want:    []want{{phPrepare, 0.073457, 0.04, false}, {phStart, 0.077543, 1e-6, false}, {phRegister, 0.099, 0.04, false}},
		},
		{
			name:    "never started: start and registration merged",
			inspect: `[{"Created":"2026-12-03T14:00:10.123456789Z","State":{"StartedAt":"0001-01-01T00:00:00Z"}}]`,
			want:    []want{{phPrepare, 0.073457, 0.04, false}, {phStart + "+" + phRegister, 0.176543, 0.04, false}},
			notes:   [][]string{{"container started not observed (docker inspect .State.StartedAt not set)"}},
		},
		{name: "not JSON", inspect: `Error: No such object`, err: "reading docker inspect"},
		{name: "no container", inspect: `[]`, err: "0 containers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dockerLaunch{Inspect: []byte(tc.inspect), Start: at(10.05), Registered: at(10.3), PollRes: 40 * time.Millisecond}.phases()
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			requirePhases(t, got, tc.want...)
			require.Len(t, got.Notes, len(tc.notes), "notes: %q", got.Notes)
			for _, n := range tc.notes {
				requireNote(t, got, n...)
			}
		})
	}
}

// dockerEventLine is one line of `docker events --format '{{json .}}'`.
func dockerEventLine(typ, action, id string, attrs map[string]string, secs float64) string {
	var a []string
	for k, v := range attrs {
		a = append(a, fmt.Sprintf("%q:%q", k, v))
	}
	ns := at(secs).UnixNano()
	return fmt.Sprintf(`{"status":%q,"id":%q,"Type":%q,"Action":%q,"Actor":{"ID":%q,"Attributes":{%s}},"scope":"local","time":%d,"timeNano":%d}`,
		action, id, typ, action, id, strings.Join(a, ","), ns/1e9, ns)
}

func TestDockerBuildPhases(t *testing.T) {
	const builder, image = "localhost:5000/fabric-peer-k8s/ccenv:3.1", "net1-peer0.org1.example.com-benchkv_1-3a5f-8c1d"
	lines := []string{
		// Another container (e.g. a chaincode of an earlier package).
		dockerEventLine("container", "create", "other", map[string]string{"image": "localhost:5000/fabric-peer-k8s/baseos:3.1", "name": "x"}, 0.1),
		dockerEventLine("container", "create", "c1", map[string]string{"image": builder, "name": "brave_hopper"}, 0.4),
		dockerEventLine("container", "attach", "c1", map[string]string{"image": builder}, 0.5),
		dockerEventLine("container", "start", "c1", map[string]string{"image": builder}, 0.9),
		dockerEventLine("container", "die", "c1", map[string]string{"image": builder, "exitCode": "0"}, 19.9),
		dockerEventLine("container", "destroy", "c1", map[string]string{"image": builder}, 20.3),
		// The image build's own containers (classic builder).
		dockerEventLine("container", "create", "b1", map[string]string{"image": "sha256:1f2e"}, 20.5),
		dockerEventLine("container", "destroy", "b1", map[string]string{"image": "sha256:1f2e"}, 21.5),
		dockerEventLine("image", "tag", "sha256:9a8b", map[string]string{"name": image + ":latest"}, 23.0),
	}
	for _, tc := range []struct {
		name  string
		lines []string
		want  []want
		notes [][]string
	}{
		{
			name:  "every boundary observed",
			lines: lines,
			want: []want{
				{phPrepare, 0.6, 0.001, false}, // install at -0.2 → the compile container created
				{phReceive, 0.5, 1e-6, false},  // the package uploaded before the start
				{phCompile, 19, 1e-6, false},   // start → die
				{phImage, 3.1, 1e-6, false},    // die → image tagged
				{phReturn, 0.4, 0.001, false},  // → install returned at 23.4
			},
		},
		{
			name:  "no tag event: the image build and the return merged",
			lines: lines[:8],
			want:  []want{{phPrepare, 0.6, 0.001, false}, {phReceive, 0.5, 1e-6, false}, {phCompile, 19, 1e-6, false}, {phImage + "+" + phReturn, 3.5, 0.001, false}},
			notes: [][]string{{"image tagged not observed (no tag event of " + image + ")", "phase image merged into the next"}},
		},
		{
			name:  "no event at all: one phase",
			lines: nil,
			want:  []want{{strings.Join([]string{phPrepare, phReceive, phCompile, phImage, phReturn}, "+"), 23.6, 0.001, false}},
			notes: [][]string{{"compile container created not observed"}, {"compile container started not observed"}, {"compile container exited not observed"}, {"image tagged not observed"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := parseDockerEvents([]byte(strings.Join(tc.lines, "\n") + "\n"))
			require.NoError(t, err)
			got := dockerBuild{Events: evs, Builder: builder, Image: image, Start: at(-0.2), Returned: at(23.4)}.phases()
			requirePhases(t, got, tc.want...)
			require.Len(t, got.Notes, len(tc.notes), "notes: %q", got.Notes)
			for _, n := range tc.notes {
				requireNote(t, got, n...)
			}
		})
	}
	_, err := parseDockerEvents([]byte("{\"Type\":\n"))
	require.Error(t, err)
}
