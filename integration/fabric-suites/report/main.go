/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Command report turns Ginkgo JSON reports of Fabric's integration suites into
// a Markdown table: suite × spec → passed / failed / skipped (with the reason
// from skips.txt).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

type skip struct {
	suite, reason string
	re            *regexp.Regexp
}

func readSkips(path string) ([]skip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []skip
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s: bad line %q", path, line)
		}
		re, err := regexp.Compile(parts[1])
		if err != nil {
			return nil, err
		}
		out = append(out, skip{suite: parts[0], re: re, reason: parts[2]})
	}
	return out, sc.Err()
}

func main() {
	skipsFile := flag.String("skips", "", "skips.txt")
	durations := flag.String("durations", "", "file of '<suite> <seconds>' lines")
	out := flag.String("o", "report.md", "output")
	flag.Parse()

	skips, err := readSkips(*skipsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wall := map[string]string{}
	if b, err := os.ReadFile(*durations); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				wall[f[0]] = f[1] + "s"
			}
		}
	}

	var sb strings.Builder
	sb.WriteString("| suite | spec | result | time | note |\n|---|---|---|---|---|\n")
	var summary []string
	failed := false
	for _, file := range flag.Args() {
		suite := strings.TrimSuffix(filepath.Base(file), ".json")
		b, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var reports []types.Report
		if err := json.Unmarshal(b, &reports); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
			os.Exit(1)
		}
		counts := map[string]int{}
		for _, r := range reports {
			for _, s := range r.SpecReports {
				if s.LeafNodeType != types.NodeTypeIt {
					if s.State.Is(types.SpecStateFailureStates) {
						failed = true
						fmt.Fprintf(&sb, "| %s | %s | **failed** | | %s |\n", suite, s.LeafNodeType, esc(oneLine(s.Failure.Message)))
					}
					continue
				}
				text := s.FullText()
				result, note := s.State.String(), ""
				switch {
				case s.State == types.SpecStateSkipped:
					note = "not selected (focus)"
					for _, k := range skips {
						if k.suite == suite && k.re.MatchString(text) {
							note = k.reason
							break
						}
					}
				case s.State.Is(types.SpecStateFailureStates):
					failed = true
					result = "**" + result + "**"
					note = oneLine(s.Failure.Message)
				}
				counts[s.State.String()]++
				d := ""
				if s.RunTime > 0 {
					d = s.RunTime.Round(time.Second).String()
				}
				fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |\n", suite, esc(text), result, d, esc(note))
			}
		}
		summary = append(summary, fmt.Sprintf("- %s: %d passed, %d failed, %d skipped, wall time %s",
			suite, counts["passed"], counts["failed"]+counts["panicked"]+counts["timedout"]+counts["interrupted"], counts["skipped"], wall[suite]))
	}
	doc := "# Fabric integration suites against the k8s peer\n\n" + strings.Join(summary, "\n") + "\n\n" + sb.String()
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(doc)
	if failed {
		os.Exit(1)
	}
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
