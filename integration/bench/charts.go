/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"image/color"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	colorK8s    = color.RGBA{R: 0x32, G: 0x6c, B: 0xe5, A: 0xff} // Kubernetes blue
	colorDocker = color.RGBA{R: 0xe5, G: 0x6b, B: 0x1f, A: 0xff}
	colorOther  = color.RGBA{R: 0x77, G: 0x77, B: 0x77, A: 0xff}
)

func vmStyle(vm string) (color.Color, draw.GlyphDrawer) {
	if vm == "k8s" {
		return colorK8s, draw.CircleGlyph{}
	}
	return colorDocker, draw.TriangleGlyph{}
}

// writeCharts writes PNG charts of the report to dir and returns their file
// names (those with nothing to show are left out).
func writeCharts(r *Report, dir string) ([]string, error) {
	var out []string
	for _, c := range []struct {
		file string
		make func(*Report) (*plot.Plot, error)
		w, h vg.Length
	}{
		{"launch.png", launchChart, 9 * vg.Inch, 4.5 * vg.Inch},
		{"rest_rss.png", restRSSChart, 7 * vg.Inch, 4 * vg.Inch},
		{"rest_requests.png", restRequestsChart, 7 * vg.Inch, 4 * vg.Inch},
		{"load_latency.png", latencyChart, 7 * vg.Inch, 4 * vg.Inch},
	} {
		p, err := c.make(r)
		if err != nil {
			return out, fmt.Errorf("%s: %w", c.file, err)
		}
		if p == nil {
			continue
		}
		if err := p.Save(c.w, c.h, filepath.Join(dir, c.file)); err != nil {
			return out, fmt.Errorf("%s: %w", c.file, err)
		}
		out = append(out, c.file)
	}
	return out, nil
}

// launchChart shows every launch and relaunch sample of both VMs side by
// side per figure (strip chart, p50 as a bar).
func launchChart(r *Report) (*plot.Plot, error) {
	cats := []struct{ key, label string }{
		{sFloor, "floor (bare pod /\ndocker run)"},
		{sFirstLaunchPeer, "first launch\n(commit → registered)"},
		{sRelaunchQuiet, "SIGKILL → registered,\nno traffic"},
		{sRelaunchRequest, "SIGKILL → answered,\nqueried"},
		{sLaunchMany, "launch at install\n(at-rest chaincodes)"},
	}
	p := plot.New()
	p.Title.Text = "Launch and relaunch (every sample; bar = p50)"
	p.Y.Label.Text = "seconds"
	var names []string
	any := false
	for i, c := range cats {
		names = append(names, c.label)
		for j, vm := range []string{"k8s", "docker"} {
			v := r.VMs[vm]
			if v == nil || len(v.Samples[c.key]) == 0 {
				continue
			}
			any = true
			off := -0.15
			if j == 1 {
				off = 0.15
			}
			xys := make(plotter.XYs, len(v.Samples[c.key]))
			for k, s := range v.Samples[c.key] {
				xys[k].X, xys[k].Y = float64(i)+off, s
			}
			sc, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, err
			}
			col, glyph := vmStyle(vm)
			sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = col, glyph, vg.Points(3)
			p.Add(sc)
			med := Summarize(v.Samples[c.key]).P50
			bar, err := plotter.NewLine(plotter.XYs{{X: float64(i) + off - 0.1, Y: med}, {X: float64(i) + off + 0.1, Y: med}})
			if err != nil {
				return nil, err
			}
			bar.LineStyle.Color, bar.LineStyle.Width = col, vg.Points(2)
			p.Add(bar)
			if i == 0 {
				p.Legend.Add(map[string]string{"k8s": "k8s VM", "docker": "DockerVM"}[vm], sc)
			}
		}
	}
	if !any {
		return nil, nil
	}
	p.NominalX(names...)
	p.Y.Min = 0
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p, nil
}

func restSeries(v *VMResult, f func(RestPoint) (float64, bool)) plotter.XYs {
	var xys plotter.XYs
	for _, pt := range v.Rest {
		if y, ok := f(pt); ok {
			xys = append(xys, plotter.XY{X: float64(pt.Chaincodes), Y: y})
		}
	}
	sort.Slice(xys, func(i, j int) bool { return xys[i].X < xys[j].X })
	return xys
}

func addSeries(p *plot.Plot, name string, xys plotter.XYs, col color.Color, glyph draw.GlyphDrawer, dashed bool) error {
	if len(xys) == 0 {
		return nil
	}
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.LineStyle.Color, l.LineStyle.Width = col, vg.Points(1.5)
	if dashed {
		l.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	pts.Color, pts.Shape, pts.Radius = col, glyph, vg.Points(3)
	p.Add(l, pts)
	p.Legend.Add(name, l, pts)
	return nil
}

// roomForLegend raises the y axis so that a legend at the top does not
// cover the data.
func roomForLegend(p *plot.Plot) {
	if p.Y.Max > 0 {
		p.Y.Max *= 1.35
	} else {
		p.Y.Max = 1
	}
}

// restRSSChart: peer RSS (and dockerd's) against the number of chaincodes
// running on the peer.
func restRSSChart(r *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Memory at rest vs chaincodes on the peer"
	p.X.Label.Text = "chaincodes running on Org1's peer"
	p.Y.Label.Text = "RSS MiB"
	n := 0
	for _, vm := range []string{"k8s", "docker"} {
		v := r.VMs[vm]
		if v == nil {
			continue
		}
		col, glyph := vmStyle(vm)
		xys := restSeries(v, func(pt RestPoint) (float64, bool) { return pt.PeerRSSMiB, pt.PeerRSSMiB > 0 })
		n += len(xys)
		if err := addSeries(p, map[string]string{"k8s": "peer (k8s VM)", "docker": "peer (DockerVM)"}[vm], xys, col, glyph, false); err != nil {
			return nil, err
		}
		if vm == "docker" {
			d := restSeries(v, func(pt RestPoint) (float64, bool) {
				if pt.DockerdRSSMiB == nil {
					return 0, false
				}
				return *pt.DockerdRSSMiB, true
			})
			if err := addSeries(p, "dockerd", d, col, draw.BoxGlyph{}, true); err != nil {
				return nil, err
			}
		}
	}
	if n == 0 {
		return nil, nil
	}
	p.Y.Min, p.X.Min = 0, 0
	roomForLegend(p)
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p, nil
}

// restRequestsChart: API requests per minute at rest against chaincodes.
func restRequestsChart(r *Report) (*plot.Plot, error) {
	v := r.VMs["k8s"]
	if v == nil {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "Kubernetes API requests at rest vs chaincodes (k8s VM)"
	p.X.Label.Text = "chaincodes running on Org1's peer"
	p.Y.Label.Text = "requests per minute"
	peer := restSeries(v, func(pt RestPoint) (float64, bool) {
		if pt.PeerAPIRequestsPerMinTotal == nil {
			return 0, false
		}
		return *pt.PeerAPIRequestsPerMinTotal, true
	})
	all := restSeries(v, func(pt RestPoint) (float64, bool) {
		if pt.APIRequestsPerMinTotal == nil {
			return 0, false
		}
		return *pt.APIRequestsPerMinTotal, true
	})
	if len(peer)+len(all) == 0 {
		return nil, nil
	}
	if err := addSeries(p, "Org1's peer (counted by the bench's proxy)", peer, colorK8s, draw.CircleGlyph{}, false); err != nil {
		return nil, err
	}
	if err := addSeries(p, "whole kube-apiserver (shared with other runs)", all, colorOther, draw.BoxGlyph{}, true); err != nil {
		return nil, err
	}
	p.Y.Min, p.X.Min = 0, 0
	roomForLegend(p)
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p, nil
}

// latencyChart: latency distributions (CDF) of the load phases.
func latencyChart(r *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Latency under load (%d clients, closed loop)", r.Config.Clients)
	p.X.Label.Text = "latency ms (log scale)"
	p.Y.Label.Text = "fraction of operations ≤ x"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	n := 0
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
			p.Legend.Add(fmt.Sprintf("%s %s", map[string]string{"k8s": "k8s VM", "docker": "DockerVM"}[vm], l.name), line)
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p, nil
}
