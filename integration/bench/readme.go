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
	"strings"
)

// The README's performance table is the Targets table of the committed run
// (integration/bench/results/report.json), written between these markers
// by `make bench-readme` (BENCH_README=<results dir>); a unit test keeps it
// equal to that report.
const (
	readmeBegin = "<!-- bench-targets: written by `make bench-readme` from integration/bench/results/report.json -->"
	readmeEnd   = "<!-- end of bench-targets -->"
)

// readmeTable is the README's summary of a run: when and how it ran, whether
// the machine was quiet, and its targets.
func readmeTable(r *Report) string {
	var b strings.Builder
	mode := "full run"
	if r.Config != nil && r.Config.Quick {
		mode = "quick run"
	}
	fmt.Fprintf(&b, "Committed %s of %s (%s, %d CPUs): %s\n\n", mode, r.Started.UTC().Format("2006-01-02"),
		r.Finished.Sub(r.Started).Round(1e9), r.Machine.CPUs, r.Quiet.sentence())
	writeTargets(&b, r.Targets)
	return b.String()
}

// withReadmeTable replaces what lies between the markers in readme.
func withReadmeTable(readme string, r *Report) (string, error) {
	i, j := strings.Index(readme, readmeBegin), strings.Index(readme, readmeEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("the README has no %q ... %q block", readmeBegin, readmeEnd)
	}
	return readme[:i+len(readmeBegin)] + "\n" + readmeTable(r) + readme[j:], nil
}

// readReport reads dir/report.json.
func readReport(dir string) (*Report, error) {
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return nil, err
	}
	r := &Report{}
	return r, json.Unmarshal(b, r)
}

// writeReadme rewrites the table of readmePath from dir/report.json.
func writeReadme(dir, readmePath string) error {
	r, err := readReport(dir)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	updated, err := withReadmeTable(string(old), r)
	if err != nil {
		return err
	}
	return os.WriteFile(readmePath, []byte(updated), 0o644)
}
