/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

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

// addSeries adds a line with points to p and returns its legend entry (nil
// for an empty series).
func addSeries(p *plot.Plot, name string, xys plotter.XYs, col color.Color, glyph draw.GlyphDrawer, dashed bool) (*legendEntry, error) {
	if len(xys) == 0 {
		return nil, nil
	}
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return nil, err
	}
	l.LineStyle.Color, l.LineStyle.Width = col, vg.Points(1.5)
	if dashed {
		l.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	pts.Color, pts.Shape, pts.Radius = col, glyph, vg.Points(3)
	p.Add(l, pts)
	return &legendEntry{text: name, thumbs: []plot.Thumbnailer{l, pts}}, nil
}

// valueLabels writes each point's value above it.
func valueLabels(xys plotter.XYs, col color.Color) (*plotter.Labels, error) {
	var labels []string
	for _, xy := range xys {
		labels = append(labels, fmtNum(xy.Y))
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i] = textStyle(9, col)
		l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = draw.XCenter, draw.YBottom
	}
	l.Offset = vg.Point{Y: vg.Points(5)}
	return l, nil
}

// seriesMax is the largest y of the series.
func seriesMax(series ...plotter.XYs) float64 {
	m := 0.0
	for _, s := range series {
		for _, xy := range s {
			m = math.Max(m, xy.Y)
		}
	}
	return m
}

// restRSSChart: peer RSS (and dockerd's) against the number of chaincodes
// running on the peer; the legend sits under the plot.
func restRSSChart(r *Report) (*picture, error) {
	p := plot.New()
	p.Title.Text = "Memory at rest vs chaincodes on the peer"
	p.X.Label.Text = "chaincodes running on Org1's peer"
	p.Y.Label.Text = "RSS MiB"
	p.Y.Tick.Marker = cleanTicks{}
	var entries []legendEntry
	var all []plotter.XYs
	for _, vm := range []string{"k8s", "docker"} {
		v := r.VMs[vm]
		if v == nil {
			continue
		}
		col, glyph := vmStyle(vm)
		xys := restSeries(v, func(pt RestPoint) (float64, bool) { return pt.PeerRSSMiB, pt.PeerRSSMiB > 0 })
		series := []struct {
			name   string
			xys    plotter.XYs
			glyph  draw.GlyphDrawer
			dashed bool
		}{{"peer (" + vmLabel(vm) + ")", xys, glyph, false}}
		if vm == "docker" {
			d := restSeries(v, func(pt RestPoint) (float64, bool) {
				if pt.DockerdRSSMiB == nil {
					return 0, false
				}
				return *pt.DockerdRSSMiB, true
			})
			series = append(series, struct {
				name   string
				xys    plotter.XYs
				glyph  draw.GlyphDrawer
				dashed bool
			}{"dockerd (DockerVM)", d, draw.BoxGlyph{}, true})
		}
		for _, s := range series {
			e, err := addSeries(p, s.name, s.xys, col, s.glyph, s.dashed)
			if err != nil {
				return nil, err
			}
			if e == nil {
				continue
			}
			entries = append(entries, *e)
			all = append(all, s.xys)
			// The last point's value only: the first points of the series
			// lie on top of each other.
			l, err := valueLabels(s.xys[len(s.xys)-1:], col)
			if err != nil {
				return nil, err
			}
			p.Add(l)
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	p.Y.Min, p.X.Min = 0, 0
	p.Y.Max = seriesMax(all...) * 1.15
	p.Add(plotter.NewGrid())
	return withLegendBelow(p, entries, 7*vg.Inch, 4.4*vg.Inch), nil
}

// restRequestsChart: API requests per minute at rest against chaincodes, in
// two panels with axes of their own: the peer's (a handful at most) would
// sit on the zero line on the scale of the whole API server's.
func restRequestsChart(r *Report) (*picture, error) {
	v := r.VMs["k8s"]
	if v == nil {
		return nil, nil
	}
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
	var panels []*plot.Plot
	for _, s := range []struct {
		title string
		xys   plotter.XYs
		col   color.Color
		glyph draw.GlyphDrawer
		floor float64 // the least y axis, so that a line of zeros shows as one
	}{
		{"Org1's peer, counted by the bench's proxy in front of the API server", peer, colorK8s, draw.CircleGlyph{}, 10},
		{"the whole kube-apiserver (shared with other test runs)", all, colorOther, draw.BoxGlyph{}, 0},
	} {
		if len(s.xys) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = s.title
		p.Title.TextStyle.Font.Size = vg.Points(11)
		p.X.Label.Text = "chaincodes running on Org1's peer"
		p.Y.Label.Text = "requests / min"
		p.Y.Tick.Marker = cleanTicks{}
		if _, err := addSeries(p, s.title, s.xys, s.col, s.glyph, false); err != nil {
			return nil, err
		}
		l, err := valueLabels(s.xys, s.col)
		if err != nil {
			return nil, err
		}
		p.Add(l, plotter.NewGrid())
		p.X.Min, p.Y.Min = 0, 0
		p.Y.Max = math.Max(seriesMax(s.xys)*1.25, s.floor)
		panels = append(panels, p)
	}
	return &picture{w: 7 * vg.Inch, h: vg.Length(len(panels))*2.6*vg.Inch + 0.4*vg.Inch, draw: func(dc draw.Canvas) error {
		dc = drawTitle(dc, "Kubernetes API requests per minute at rest (k8s VM)", 13)
		grid := make([][]*plot.Plot, len(panels))
		for i, p := range panels {
			grid[i] = []*plot.Plot{p}
		}
		tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Points(16), PadTop: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(12), PadBottom: vg.Points(4)}
		canvases := plot.Align(grid, tiles, dc)
		for i, p := range panels {
			p.Draw(canvases[i][0])
		}
		return nil
	}}, nil
}
