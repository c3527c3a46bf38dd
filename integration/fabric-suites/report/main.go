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
	durations := flag.String("durations", "", "file of '<suite> <seconds> <build Jobs> <chaincode Pods>' lines")
	out := flag.String("o", "report.md", "output")
	flag.Parse()

	doc, failed, err := report(*skipsFile, *durations, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, []byte(doc), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(doc)
	if failed {
		os.Exit(1)
	}
}

// suiteFacts reads the run script's "<suite> <seconds> [<build Jobs>
// <chaincode Pods>]" lines into a summary suffix per suite; a missing file
// gives none.
func suiteFacts(path string) (map[string]string, error) {
	facts := map[string]string{}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) || path == "" {
		return facts, nil
	}
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 2 && len(f) != 4 {
			return nil, fmt.Errorf("%s: bad line %q", path, l)
		}
		facts[f[0]] = ", wall time " + f[1] + "s"
		if len(f) == 4 {
			facts[f[0]] += fmt.Sprintf("; Kaniko build Jobs %s, chaincode Pods started %s", f[2], f[3])
			if f[3] == "0" {
				facts[f[0]] += " (**no chaincode ran in the cluster**)"
			}
		}
	}
	return facts, nil
}

// report renders the Markdown report of the Ginkgo JSON reports in files
// (one per suite, named <suite>.json) and says whether any spec or suite
// node failed.
func report(skipsFile, durations string, files []string) (doc string, failed bool, err error) {
	skips, err := readSkips(skipsFile)
	if err != nil {
		return "", false, err
	}
	facts, err := suiteFacts(durations)
	if err != nil {
		return "", false, err
	}

	var sb strings.Builder
	sb.WriteString("| suite | spec | result | time | note |\n|---|---|---|---|---|\n")
	var summary []string
	for _, file := range files {
		suite := strings.TrimSuffix(filepath.Base(file), ".json")
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, err
		}
		var reports []types.Report
		if err := json.Unmarshal(b, &reports); err != nil {
			return "", false, fmt.Errorf("%s: %v", file, err)
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
		summary = append(summary, fmt.Sprintf("- %s: %d passed, %d failed, %d skipped%s",
			suite, counts["passed"], counts["failed"]+counts["panicked"]+counts["timedout"]+counts["interrupted"], counts["skipped"], facts[suite]))
	}
	return "# Fabric integration suites against the k8s peer\n\n" + strings.Join(summary, "\n") + "\n\n" + sb.String(), failed, nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func esc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
