/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// latencyChart: latency distributions (CDF) of the load phases, the legend
// under the plot. It needs the samples of the run (not in report.json).
func latencyChart(r *Report) (*picture, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Latency under load (%d clients, closed loop)", r.Config.Clients)
	p.X.Label.Text = "latency ms (log scale)"
	p.Y.Label.Text = "fraction of operations ≤ x"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	var entries []legendEntry
	for _, vm := range []string{"k8s", "docker"} {
		v := r.VMs[vm]
		if v == nil {
			continue
		}
		col, _ := vmStyle(vm)
		for _, l := range []struct {
			name   string
			r      *LoadResult
			dashed bool
		}{{"invoke", v.Invoke, false}, {"query", v.Query, true}} {
			if l.r == nil || len(l.r.latencies) == 0 {
				continue
			}
			s := append([]float64(nil), l.r.latencies...)
			sort.Float64s(s)
			step := len(s)/400 + 1
			var xys plotter.XYs
			for i := 0; i < len(s); i += step {
				if s[i] > 0 {
					xys = append(xys, plotter.XY{X: s[i], Y: float64(i+1) / float64(len(s))})
				}
			}
			xys = append(xys, plotter.XY{X: s[len(s)-1], Y: 1})
			line, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			line.LineStyle.Color, line.LineStyle.Width = col, vg.Points(1.5)
			if l.dashed {
				line.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(line)
			entries = append(entries, legendEntry{
				text:   fmt.Sprintf("%s %s (p50 %s ms)", vmLabel(vm), l.name, fmtNum(Percentile(s, 0.5))),
				thumbs: []plot.Thumbnailer{line},
			})
		}
	}
	if len(entries) == 0 {
		return nil, nil
	}
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	return withLegendBelow(p, entries, 7*vg.Inch, 4.4*vg.Inch), nil
}
