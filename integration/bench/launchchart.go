/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// launchPanels are the figures of launch.png, one panel each.
func launchPanels() []struct{ key, title string } {
	return []struct{ key, title string }{
		{sFloor, "floor: bare pod / docker run"},
		{sFloorVolumes, "floor: bare pod with\na Secret and an emptyDir"},
		{sFirstLaunchPeer, "first launch:\ncommit → registered"},
		{sRelaunchQuiet, "SIGKILL → registered,\nno traffic"},
		{sRelaunchRequest, "SIGKILL → answered,\nqueried"},
		{sLaunchMany, "launch at install\n(at-rest chaincodes)"},
	}
}

// vmNames are the VMs in the order the charts show them, with their names.
func vmNames() []struct{ key, label string } {
	return []struct{ key, label string }{{"k8s", "k8s VM"}, {"docker", "DockerVM"}}
}

// launchChart draws every launch and relaunch sample of both VMs, one panel
// per figure with an axis of its own, so that a one-second figure is not
// drawn on the scale of a slow one. Within a panel the axis ends at the
// largest sample that is not an outlier (outlierFence); outliers are
// written at the top of their column instead.
func launchChart(r *Report) (*picture, error) {
	var panels []*plot.Plot
	for _, lp := range launchPanels() {
		p, err := launchPanel(r, lp.key, lp.title)
		if err != nil {
			return nil, err
		}
		if p != nil {
			panels = append(panels, p)
		}
	}
	if len(panels) == 0 {
		return nil, nil
	}
	const cols = 3
	rows := (len(panels) + 1 + cols - 1) / cols // one tile for the key
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
	}
	for i, p := range panels {
		grid[i/cols][i%cols] = p
	}
	keyAt := len(panels)
	return &picture{w: 10 * vg.Inch, h: vg.Length(rows)*3.1*vg.Inch + 0.5*vg.Inch, draw: func(dc draw.Canvas) error {
		dc = drawTitle(dc, "Launch and relaunch: every sample (dot) and the p50 (bar) of each VM", 14)
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(18), PadY: vg.Points(14), PadTop: vg.Points(4), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(10)}
		// plot.Align lines up the axes of the tiles that hold a plot; the
		// key tile is left out of it.
		canvases := plot.Align(grid, tiles, dc)
		for i, row := range grid {
			for j, p := range row {
				if p != nil {
					p.Draw(canvases[i][j])
				}
			}
		}
		drawLaunchKey(tiles.At(dc, keyAt%cols, keyAt/cols))
		return nil
	}}, nil
}

// launchPanel is the panel of one figure, nil when neither VM has a sample.
func launchPanel(r *Report, key, title string) (*plot.Plot, error) {
	type column struct {
		kept, out []float64
		p50       float64
		text      string
		grey      bool // text says the figure was not taken
	}
	cols := make([]column, len(vmNames()))
	top, any := 0.0, false
	for i, vm := range vmNames() {
		v := r.VMs[vm.key]
		if v == nil || len(v.Samples[key]) == 0 {
			cols[i].text, cols[i].grey = "not measured", true
			if f := r.figure(key); f != nil {
				if t := map[string]string{"k8s": f.K8sText, "docker": f.DockerText}[vm.key]; t != "" {
					cols[i].text, cols[i].grey = t, false
				}
			}
			if v == nil {
				cols[i].text, cols[i].grey = "not run", true
			}
			continue
		}
		any = true
		s := v.Samples[key]
		cols[i].kept, cols[i].out = splitOutliers(s, outlierFence(s))
		cols[i].p50 = Summarize(s).P50
		for _, x := range cols[i].kept {
			top = math.Max(top, x)
		}
	}
	if !any {
		return nil, nil
	}
	if top <= 0 {
		top = 1
	}
	ymax := top * 1.3

	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.Text = "seconds"
	p.Y.Tick.Marker = cleanTicks{}
	p.Y.Min, p.Y.Max = 0, ymax
	var names []string
	for i, vm := range vmNames() {
		c := cols[i]
		name := vm.label
		if c.kept != nil || c.out != nil {
			name += "\np50 " + fmtSeconds(c.p50)
		}
		names = append(names, name)
		col, glyph := vmStyle(vm.key)
		x := float64(i)
		if c.text != "" {
			tc := col
			if c.grey {
				tc = colorOther
			}
			l, err := panelText(x, ymax/2, wrap(c.text, 14), tc)
			if err != nil {
				return nil, err
			}
			p.Add(l)
			continue
		}
		xys := make(plotter.XYs, len(c.kept))
		for k, s := range c.kept {
			// A deterministic spread (golden-ratio sequence) keeps equal
			// samples apart.
			xys[k].X, xys[k].Y = x+(math.Mod(float64(k)*0.618, 1)-0.5)*0.36, s
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Color, sc.GlyphStyle.Shape, sc.GlyphStyle.Radius = col, glyph, vg.Points(2.6)
		bar, err := plotter.NewLine(plotter.XYs{{X: x - 0.3, Y: c.p50}, {X: x + 0.3, Y: c.p50}})
		if err != nil {
			return nil, err
		}
		bar.LineStyle.Color, bar.LineStyle.Width = col, vg.Points(2.5)
		p.Add(sc, bar)
		for k, o := range c.out {
			l, err := panelText(x, top*1.12-float64(k)*top*0.08, "↑ "+fmtSeconds(o), col)
			if err != nil {
				return nil, err
			}
			p.Add(l)
		}
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, 1.6
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)
	return p, nil
}

// panelText is a centred label at (x, y) in data coordinates.
func panelText(x, y float64, s string, c color.Color) (*plotter.Labels, error) {
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: x, Y: y}}, Labels: []string{s}})
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i] = textStyle(10, c)
		l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
	}
	return l, nil
}

// drawLaunchKey explains the marks of launch.png in the tile after the
// last panel.
func drawLaunchKey(dc draw.Canvas) {
	dc = draw.Crop(dc, vg.Points(16), 0, 0, -vg.Points(12))
	var entries []legendEntry
	for _, vm := range vmNames() {
		col, glyph := vmStyle(vm.key)
		entries = append(entries, legendEntry{text: vm.label + ": one dot per sample", thumbs: []plot.Thumbnailer{glyphThumb{draw.GlyphStyle{Color: col, Shape: glyph, Radius: vg.Points(3)}}}})
	}
	bar, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 0}})
	bar.LineStyle.Width = vg.Points(2.5)
	entries = append(entries, legendEntry{text: "p50 (value under the column)", thumbs: []plot.Thumbnailer{bar}})
	for i, e := range entries {
		row := draw.Crop(dc, 0, 0, 0, -vg.Points(18)*vg.Length(i))
		drawLegendRow(draw.Canvas{Canvas: row.Canvas, Rectangle: vg.Rectangle{Min: vg.Point{X: row.Min.X, Y: row.Max.Y - vg.Points(18)}, Max: row.Max}}, []legendEntry{e}, 11, false)
	}
	below := draw.Crop(dc, vg.Points(4), 0, 0, -vg.Points(18)*vg.Length(len(entries))-vg.Points(8))
	drawTextBlock(below, []string{
		"↑ n s: a sample above the axis (an outlier),",
		"its value n written at the top of its column.",
		"Each panel's axis ends above its largest sample",
		"that is not an outlier: an outlier is above",
		"Q3 + 3 × IQR and above 3 × p50 of its VM.",
	}, 10, color.Gray{Y: 0x33})
}
