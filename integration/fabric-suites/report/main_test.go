/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.md")

func spec(texts []string, leaf string, state types.SpecState, d time.Duration, failure string) types.SpecReport {
	return types.SpecReport{
		ContainerHierarchyTexts: texts,
		LeafNodeType:            types.NodeTypeIt,
		LeafNodeText:            leaf,
		State:                   state,
		RunTime:                 d,
		Failure:                 types.Failure{Message: failure},
	}
}

func writeSuite(t *testing.T, dir, suite string, specs ...types.SpecReport) string {
	t.Helper()
	b, err := json.Marshal([]types.Report{{SuiteDescription: suite, SpecReports: specs}})
	require.NoError(t, err)
	path := filepath.Join(dir, suite+".json")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	skips := writeFile(t, dir, "skips.txt", "# suite|regex|reason\ne2e|CouchDB health|CouchDB needs Docker\nlifecycle|CouchDB health|other suite\n")
	facts := writeFile(t, dir, "durations", "e2e 471 7 42\nlifecycle 270 0 0\n")
	e2e := writeSuite(t, dir, "e2e",
		spec([]string{"EndToEnd", "basic network"}, "executes | pipes", types.SpecStatePassed, 26*time.Second+400*time.Millisecond, ""),
		spec([]string{"Health"}, "CouchDB health checks", types.SpecStateSkipped, 0, ""),
		spec([]string{"SignalHandling"}, "handles signals", types.SpecStateSkipped, 0, ""),
	)
	failing := spec([]string{"Lifecycle"}, "deploys", types.SpecStateFailed, time.Minute,
		"Timed out after 300s.\n  Expected\n      <int>: 1\n  to equal\n      <int>: 0")
	setup := types.SpecReport{LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStatePassed}
	lifecycle := writeSuite(t, dir, "lifecycle", setup, failing)

	doc, failed, err := report(skips, facts, []string{e2e, lifecycle})
	require.NoError(t, err)
	require.True(t, failed, "a failed spec fails the report")

	golden := filepath.Join("testdata", "report.golden.md")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(doc), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), doc)
}

func TestReportFailedSuiteNode(t *testing.T) {
	dir := t.TempDir()
	skips := writeFile(t, dir, "skips.txt", "")
	suite := writeSuite(t, dir, "sbe", types.SpecReport{
		LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStateFailed,
		Failure: types.Failure{Message: "no cluster"},
	})
	doc, failed, err := report(skips, "", []string{suite})
	require.NoError(t, err)
	require.True(t, failed)
	require.Contains(t, doc, "| sbe | BeforeSuite | **failed** | | no cluster |")
	require.Contains(t, doc, "- sbe: 0 passed, 0 failed, 0 skipped\n")
}

func TestReportAllPassed(t *testing.T) {
	dir := t.TempDir()
	skips := writeFile(t, dir, "skips.txt", "")
	suite := writeSuite(t, dir, "pvtdata", spec([]string{"PrivateData"}, "disseminates", types.SpecStatePassed, time.Second, ""))
	_, failed, err := report(skips, writeFile(t, dir, "d", "pvtdata 724 1 60\n"), []string{suite})
	require.NoError(t, err)
	require.False(t, failed)
}

func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "skips.txt", "")
	suite := writeSuite(t, dir, "e2e")
	for name, tc := range map[string]struct {
		skips, facts string
		files        []string
		want         string
	}{
		"skip line without reason": {writeFile(t, dir, "s1", "e2e|regex\n"), "", []string{suite}, `bad line "e2e|regex"`},
		"skip regex":               {writeFile(t, dir, "s2", "e2e|(|reason\n"), "", []string{suite}, "missing closing )"},
		"facts line":               {good, writeFile(t, dir, "f1", "e2e 10 3\n"), []string{suite}, `bad line "e2e 10 3"`},
		"report file":              {good, "", []string{filepath.Join(dir, "missing.json")}, "missing.json"},
		"report JSON":              {good, "", []string{writeFile(t, dir, "bad.json", "{")}, "bad.json"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := report(tc.skips, tc.facts, tc.files)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
