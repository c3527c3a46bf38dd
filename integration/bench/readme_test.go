/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The README's table is the committed run's: `make bench-readme` after a
// new run of results/.
func TestReadmeTableIsTheCommittedRun(t *testing.T) {
	r, err := readReport("results")
	require.NoError(t, err)
	path := filepath.Join("..", "..", "README.md")
	readme, err := os.ReadFile(path)
	require.NoError(t, err)
	want, err := withReadmeTable(string(readme), r)
	require.NoError(t, err)
	require.Equal(t, want, string(readme), "README.md's table is not results/report.json's: run make bench-readme")
}

func TestWithReadmeTable(t *testing.T) {
	r := &Report{Targets: []Target{{Name: "first launch", Bound: "≤ 1 s", Measured: "0.5 s", Status: "met"}}}
	got, err := withReadmeTable("intro\n"+readmeBegin+"\nold table\n"+readmeEnd+"\nrest\n", r)
	require.NoError(t, err)
	require.Contains(t, got, "intro\n"+readmeBegin+"\nCommitted full run of")
	require.Contains(t, got, "| first launch | ≤ 1 s | 0.5 s | **met** |\n"+readmeEnd+"\nrest\n")
	require.NotContains(t, got, "old table")
	_, err = withReadmeTable("no markers", r)
	require.ErrorContains(t, err, "the README has no")
}
