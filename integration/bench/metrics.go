/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
)

// Sample is one line of the Prometheus text format.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// parseMetrics reads the Prometheus text exposition format (comments and
// timestamps ignored).
func parseMetrics(r io.Reader) ([]Sample, error) {
	var out []Sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := Sample{Labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.Name = line[:i]
			j, err := parseLabels(line[i+1:], s.Labels)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", line, err)
			}
			rest = line[i+1+j:]
		} else if i >= 0 {
			s.Name, rest = line[:i], line[i:]
		} else {
			return nil, fmt.Errorf("%q: no value", line)
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("%q: no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		s.Value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseLabels parses `a="x",b="y"}` into m and returns the index after '}'.
func parseLabels(s string, m map[string]string) (int, error) {
	i := 0
	for {
		for i < len(s) && (s[i] == ',' || s[i] == ' ') {
			i++
		}
		if i < len(s) && s[i] == '}' {
			return i + 1, nil
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 || i+eq+1 >= len(s) || s[i+eq+1] != '"' {
			return 0, fmt.Errorf("bad label at %d", i)
		}
		name := s[i : i+eq]
		i += eq + 2
		var b strings.Builder
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
				continue
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return 0, fmt.Errorf("unterminated label value")
		}
		i++ // closing quote
		m[name] = b.String()
	}
}

// sumWhere adds up the samples named name whose labels include match.
func sumWhere(samples []Sample, name string, match map[string]string) (float64, bool) {
	total, found := 0.0, false
outer:
	for _, s := range samples {
		if s.Name != name {
			continue
		}
		for k, v := range match {
			if s.Labels[k] != v {
				continue outer
			}
		}
		total += s.Value
		found = true
	}
	return total, found
}

// sumBy adds up the samples named name grouped by one label.
func sumBy(samples []Sample, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range samples {
		if s.Name == name {
			out[s.Labels[label]] += s.Value
		}
	}
	return out
}

// scrape GETs url with client and parses the answer.
func scrape(ctx context.Context, client *http.Client, url string) ([]Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return parseMetrics(resp.Body)
}

// ProcStats are a process' resident memory, threads and open descriptors.
type ProcStats struct {
	RSSKiB  int64 `json:"rss_kib"`
	Threads int   `json:"threads"`
	FDs     int   `json:"fds"`
}

// procStats reads a process' RSS, threads and open descriptors from /proc.
func procStats(pid int) (ProcStats, error) {
	var st ProcStats
	rss, err := network.ProcRSS(pid)
	if err != nil {
		return st, err
	}
	st.RSSKiB = rss / 1024
	if st.Threads, err = network.ProcThreads(pid); err != nil {
		return st, err
	}
	st.FDs, err = network.ProcFDs(pid)
	return st, err
}
