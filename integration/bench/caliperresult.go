/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// CaliperResult is the Caliper phase of one VM.
type CaliperResult struct {
	// Caliper and Gateway are the versions of caliper-cli and
	// fabric-gateway; Install how they came to be installed.
	Caliper      string  `json:"caliper"`
	Gateway      string  `json:"fabric_gateway"`
	Install      string  `json:"install"`
	Workers      int     `json:"workers"`
	RoundSeconds float64 `json:"round_seconds"`
	// Dir holds the configuration, caliper.log, report.html and
	// summary.json, relative to the report.
	Dir     string         `json:"dir"`
	Rounds  []CaliperRound `json:"rounds"`
	Seconds float64        `json:"seconds"`
}

// CaliperRound is one round as the workload's records have it.
type CaliperRound struct {
	Label       string `json:"label"`
	Op          string `json:"op"`
	RateControl string `json:"rate_control"`
	// OK and Failed count the transactions whose TxStatus was success or
	// failed; Errors those whose request threw (the round then fails).
	OK     int `json:"ok"`
	Failed int `json:"failed"`
	Errors int `json:"errors,omitempty"`
	// Seconds is the round's span: first time_create to last time_final.
	Seconds float64 `json:"seconds"`
	// TPS is OK / Seconds; SendRate all transactions over the span of
	// their time_create.
	TPS      float64 `json:"tps"`
	SendRate float64 `json:"send_rate"`
	// LatencyMs is time_final - time_create of the successful transactions.
	LatencyMs *CaliperLatency `json:"latency_ms,omitempty"`
	// Summary is Caliper's own row for the round; CrossCheck "ok" or what
	// differs between it and the records.
	Summary    *CaliperSummary `json:"caliper_summary,omitempty"`
	CrossCheck string          `json:"cross_check"`
}

// CaliperLatency summarises latencies (ms). Percentiles interpolate linearly
// between order statistics, as Summary's do.
type CaliperLatency struct {
	N   int     `json:"n"`
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Avg float64 `json:"avg"`
	Max float64 `json:"max"`
}

func (l *CaliperLatency) p50() float64 {
	if l == nil {
		return 0
	}
	return l.P50
}

func (l *CaliperLatency) p95() float64 {
	if l == nil {
		return 0
	}
	return l.P95
}

// CaliperSummary is a row of Caliper's result table (seconds, TPS; its
// throughput counts failed transactions too).
type CaliperSummary struct {
	Succ       int     `json:"succ"`
	Fail       int     `json:"fail"`
	SendRate   float64 `json:"send_rate"`
	MaxLatency float64 `json:"max_latency_s"`
	MinLatency float64 `json:"min_latency_s"`
	AvgLatency float64 `json:"avg_latency_s"`
	Throughput float64 `json:"throughput"`
}

// caliperRecord is one line of a worker's record file (caliper/workload/kv.js).
type caliperRecord struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Status string `json:"status"`
	// Create and Final are the TxStatus's time_create and time_final, ms
	// since the epoch.
	Create int64  `json:"create"`
	Final  int64  `json:"final"`
	Error  string `json:"error,omitempty"`
}

// readCaliperRecords reads the records of round from dir (one file per
// worker); files is the number of files found.
func readCaliperRecords(dir, round string) (recs []caliperRecord, files int, err error) {
	paths, err := filepath.Glob(filepath.Join(dir, round+".w*.jsonl"))
	if err != nil {
		return nil, 0, err
	}
	sort.Strings(paths)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, 0, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			var r caliperRecord
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				f.Close()
				return nil, 0, fmt.Errorf("%s:%d: %w", p, n, err)
			}
			recs = append(recs, r)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", p, err)
		}
	}
	return recs, len(paths), nil
}

// caliperRoundStats computes a round's counts, TPS and latencies from its
// records.
func caliperRoundStats(r caliperRound, recs []caliperRecord) CaliperRound {
	out := CaliperRound{Label: r.Label, Op: r.Op, RateControl: r.RateText()}
	var lat []float64
	var firstCreate, lastCreate, lastFinal int64
	seen := false
	for _, rec := range recs {
		switch rec.Status {
		case "success":
			out.OK++
			lat = append(lat, float64(rec.Final-rec.Create))
		case "failed":
			out.Failed++
		default:
			out.Errors++
			continue
		}
		if !seen || rec.Create < firstCreate {
			firstCreate = rec.Create
		}
		if !seen || rec.Create > lastCreate {
			lastCreate = rec.Create
		}
		if !seen || rec.Final > lastFinal {
			lastFinal = rec.Final
		}
		seen = true
	}
	if span := float64(lastFinal-firstCreate) / 1000; span > 0 {
		out.Seconds = span
		out.TPS = float64(out.OK) / span
	}
	if span := float64(lastCreate-firstCreate) / 1000; span > 0 {
		out.SendRate = float64(out.OK+out.Failed) / span
	}
	out.LatencyMs = caliperLatency(lat)
	return out
}

func caliperLatency(v []float64) *CaliperLatency {
	if len(v) == 0 {
		return nil
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return &CaliperLatency{N: len(s), Min: s[0], P50: Percentile(s, 0.5), P95: Percentile(s, 0.95), Avg: sum / float64(len(s)), Max: s[len(s)-1]}
}

// crossCheck compares a round's records with Caliper's row for it: the
// counts must be equal, the throughput and the average latency equal up to
// Caliper's rounding (0.1 TPS, 0.01 s).
func crossCheck(r CaliperRound, s *CaliperSummary) string {
	if s == nil {
		return "no row in Caliper's summary"
	}
	var bad []string
	if s.Succ != r.OK || s.Fail != r.Failed {
		bad = append(bad, fmt.Sprintf("Caliper counted %d ok and %d failed, the records %d and %d", s.Succ, s.Fail, r.OK, r.Failed))
	}
	if r.Seconds > 0 {
		if all := float64(r.OK+r.Failed) / r.Seconds; math.Abs(all-s.Throughput) > 0.051+0.001*all {
			bad = append(bad, fmt.Sprintf("throughput %.1f tx/s (Caliper) against %.2f (records)", s.Throughput, all))
		}
	}
	if r.LatencyMs != nil && s.Succ > 0 && math.Abs(r.LatencyMs.Avg/1000-s.AvgLatency) > 0.0051 {
		bad = append(bad, fmt.Sprintf("average latency %.2f s (Caliper) against %.4f s (records)", s.AvgLatency, r.LatencyMs.Avg/1000))
	}
	if len(bad) == 0 {
		return "ok"
	}
	return "mismatch: " + strings.Join(bad, "; ")
}

// caliperLog is what the bench reads from Caliper's output.
type caliperLog struct {
	Started  []string
	Finished map[string]bool
	// Failed holds the first line of each failed round's error.
	Failed map[string]string
	// Summary are the rows of Caliper's result tables by round (the last
	// table wins: "All test results").
	Summary map[string]*CaliperSummary
}

var (
	startedRE  = regexp.MustCompile(`Started round \d+ \((.+)\)\s*$`)
	finishedRE = regexp.MustCompile(`Finished round \d+ \((.+?)\) in `)
	failedRE   = regexp.MustCompile(`Failed round \d+ \((.+?)\): (.*)$`)
)

// parseCaliperLog reads the round markers and result tables of a manager's
// output.
func parseCaliperLog(s string) caliperLog {
	l := caliperLog{Finished: map[string]bool{}, Failed: map[string]string{}, Summary: map[string]*CaliperSummary{}}
	var header []string
	for _, line := range strings.Split(ansiRE.ReplaceAllString(s, ""), "\n") {
		line = strings.TrimRight(line, "\r ")
		if m := startedRE.FindStringSubmatch(line); m != nil {
			l.Started = append(l.Started, m[1])
			continue
		}
		if m := finishedRE.FindStringSubmatch(line); m != nil {
			l.Finished[m[1]] = true
			continue
		}
		if m := failedRE.FindStringSubmatch(line); m != nil {
			l.Failed[m[1]] = m[2]
			continue
		}
		t := strings.TrimSpace(line)
		if !strings.HasPrefix(t, "|") || !strings.HasSuffix(t, "|") || strings.HasPrefix(t, "|-") {
			continue
		}
		cells := strings.Split(strings.Trim(t, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cells[0] == "Name" {
			header = cells
			continue
		}
		if len(header) == len(cells) {
			if row, err := summaryRow(header, cells); err == nil {
				l.Summary[cells[0]] = row
			}
		}
	}
	return l
}

func summaryRow(header, cells []string) (*CaliperSummary, error) {
	row := &CaliperSummary{}
	ints := map[string]*int{"Succ": &row.Succ, "Fail": &row.Fail}
	floats := map[string]*float64{"Send Rate (TPS)": &row.SendRate, "Max Latency (s)": &row.MaxLatency,
		"Min Latency (s)": &row.MinLatency, "Avg Latency (s)": &row.AvgLatency, "Throughput (TPS)": &row.Throughput}
	for i, h := range header {
		c := cells[i]
		if p, ok := ints[h]; ok {
			n, err := strconv.Atoi(c)
			if err != nil {
				return nil, fmt.Errorf("%s: %q", h, c)
			}
			*p = n
		}
		if p, ok := floats[h]; ok && c != "-" && c != "N/A" {
			x, err := strconv.ParseFloat(c, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %q", h, c)
			}
			*p = x
		}
	}
	return row, nil
}

// Current is the round the manager was in: started, neither finished nor
// failed ("" when none).
func (l caliperLog) Current() string {
	for i := len(l.Started) - 1; i >= 0; i-- {
		r := l.Started[i]
		if !l.Finished[r] && l.Failed[r] == "" {
			return r
		}
	}
	return ""
}

// collectCaliper computes each round from its records and checks it against
// Caliper's log. The result holds every round that left records; the error
// names each round that failed, produced nothing, or disagrees with
// Caliper's summary, and the log.
func collectCaliper(rounds []caliperRound, recordsDir, logPath string) (*CaliperResult, error) {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return nil, fmt.Errorf("caliper's log: %w", err)
	}
	lg := parseCaliperLog(string(b))
	res := &CaliperResult{}
	var errs []error
	for _, r := range rounds {
		if msg, failed := lg.Failed[r.Label]; failed {
			errs = append(errs, fmt.Errorf("caliper round %s failed (log %s): %s", r.Label, logPath, msg))
		}
		recs, files, err := readCaliperRecords(recordsDir, r.Label)
		if err != nil {
			errs = append(errs, fmt.Errorf("caliper round %s: %w", r.Label, err))
			continue
		}
		if files == 0 {
			if _, failed := lg.Failed[r.Label]; !failed {
				errs = append(errs, fmt.Errorf("caliper round %s: no records in %s (log %s)", r.Label, recordsDir, logPath))
			}
			continue
		}
		cr := caliperRoundStats(r, recs)
		cr.Summary = lg.Summary[r.Label]
		cr.CrossCheck = crossCheck(cr, cr.Summary)
		res.Rounds = append(res.Rounds, cr)
		if _, failed := lg.Failed[r.Label]; failed {
			continue
		}
		switch {
		case cr.OK == 0:
			errs = append(errs, fmt.Errorf("caliper round %s: no successful transaction (%d failed; log %s)", r.Label, cr.Failed, logPath))
		case cr.CrossCheck != "ok":
			errs = append(errs, fmt.Errorf("caliper round %s: the records disagree with Caliper's summary: %s (log %s)", r.Label, cr.CrossCheck, logPath))
		}
	}
	return res, errors.Join(errs...)
}
