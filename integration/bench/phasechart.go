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
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// phaseColor is the colour of a phase key in every chart (Okabe and Ito's
// palette, which colour-blind readers tell apart, then Tol's); merged
// phases are light grey.
func phaseColor(key string) color.Color {
	switch key {
	case phPrepare:
		return color.RGBA{0xe6, 0x9f, 0x00, 0xff}
	case phJob:
		return color.RGBA{0x56, 0xb4, 0xe9, 0xff}
	case phSchedule:
		return color.RGBA{0x00, 0x9e, 0x73, 0xff}
	case phSandbox:
		return color.RGBA{0xf0, 0xe4, 0x42, 0xff}
	case phPull:
		return color.RGBA{0x00, 0x72, 0xb2, 0xff}
	case phStart:
		return color.RGBA{0xd5, 0x5e, 0x00, 0xff}
	case phReceive:
		return color.RGBA{0xcc, 0x79, 0xa7, 0xff}
	case phCompile:
		return color.RGBA{0x44, 0xaa, 0x99, 0xff}
	case phImageStart:
		return color.RGBA{0x99, 0x99, 0x33, 0xff}
	case phImage:
		return color.RGBA{0x33, 0x22, 0x88, 0xff}
	case phRegister:
		return color.RGBA{0x88, 0x22, 0x55, 0xff}
	case phReturn:
		return color.RGBA{0x66, 0x66, 0x66, 0xff}
	}
	return color.RGBA{0xcc, 0xcc, 0xcc, 0xff}
}

func launchPhasesChart(r *Report) (*picture, error) { return phasesChart(r, sFirstLaunchPeer) }
func buildPhasesChart(r *Report) (*picture, error)  { return phasesChart(r, sInstallBuild) }

// phasesChart is a horizontal bar per VM made of the p50s of the figure's
// phases, in order, with the sum and the figure's own p50 at its end.
func phasesChart(r *Report, key string) (*picture, error) {
	var sum *PhaseSummary
	for _, s := range r.phaseSummaries() {
		if s.Key == key {
			s := s
			sum = &s
		}
	}
	var pf phaseFigure
	for _, f := range phaseFigures() {
		if f.key == key {
			pf = f
		}
	}
	if sum == nil {
		return nil, nil
	}
	// Bottom to top: DockerVM, k8s VM.
	vms := []string{"docker", "k8s"}
	p := plot.New()
	p.Title.Text = pf.title + "\np50 of each phase; a k8s VM phase between two whole-second API timestamps is known to ±1 s (report.md)"
	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	p.Add(grid)
	p.X.Label.Text = "seconds (p50 of each phase over the samples)"
	p.X.Tick.Marker = cleanTicks{}
	var names []string
	for _, vm := range vms {
		names = append(names, vmLabel(vm))
	}
	p.NominalY(names...)
	var entries []legendEntry
	var below *plotter.BarChart // the bars stack on the previous phase's
	cum := make([]float64, len(vms))
	type segment struct {
		at    plotter.XY
		value float64
		fill  color.Color
	}
	var segments []segment
	for _, row := range sum.Rows {
		vals := make(plotter.Values, len(vms))
		for i, vm := range vms {
			if st := row.VMs[vm]; st != nil {
				vals[i] = st.P50
			}
		}
		bars, err := plotter.NewBarChart(vals, vg.Points(34))
		if err != nil {
			return nil, err
		}
		bars.Horizontal = true
		bars.Color = phaseColor(row.Key)
		bars.LineStyle.Color, bars.LineStyle.Width = color.White, vg.Points(0.8)
		if below != nil {
			bars.StackOn(below)
		}
		below = bars
		p.Add(bars)
		entries = append(entries, legendEntry{text: row.Label, thumbs: []plot.Thumbnailer{boxThumb{bars.Color}}})
		for i := range vms {
			if vals[i] > 0 {
				segments = append(segments, segment{plotter.XY{X: cum[i] + vals[i]/2, Y: float64(i)}, vals[i], bars.Color})
			}
			cum[i] += vals[i]
		}
	}
	var sums plotter.XYLabels
	top := 0.0
	for i, vm := range vms {
		if sum.Samples[vm] == 0 {
			continue
		}
		end := cum[i]
		text := "Σ " + fmtSeconds(cum[i])
		if v := r.VMs[vm]; v != nil {
			if s := Summarize(v.Samples[key]); s != nil {
				text += "\nwhole: p50 " + fmtSeconds(s.P50)
				end = math.Max(end, s.P50)
			}
		}
		top = math.Max(top, end)
		sums.XYs = append(sums.XYs, plotter.XY{X: cum[i], Y: float64(i)})
		sums.Labels = append(sums.Labels, text)
	}
	if top <= 0 {
		top = 1
	}
	p.X.Min, p.X.Max = 0, top*1.3
	p.Y.Min, p.Y.Max = -0.7, 1.7
	// Segment values where the segment is wide enough for them (a
	// twelfth of the axis and more; the table of report.md has them all),
	// the sums after the bars.
	var values plotter.XYLabels
	var ink []color.Color
	for _, sg := range segments {
		if sg.value >= p.X.Max/12 {
			values.XYs = append(values.XYs, sg.at)
			values.Labels = append(values.Labels, fmtNum(sg.value))
			ink = append(ink, inkOn(sg.fill))
		}
	}
	for _, l := range []struct {
		labels plotter.XYLabels
		align  text.XAlignment
		dx     float64
		ink    []color.Color
	}{{values, draw.XCenter, 0, ink}, {sums, draw.XLeft, p.X.Max / 150, nil}} {
		if len(l.labels.Labels) == 0 {
			continue
		}
		for i := range l.labels.XYs {
			l.labels.XYs[i].X += l.dx
		}
		lab, err := plotter.NewLabels(l.labels)
		if err != nil {
			return nil, err
		}
		for i := range lab.TextStyle {
			c := color.Color(color.Black)
			if l.ink != nil {
				c = l.ink[i]
			}
			lab.TextStyle[i] = textStyle(10, c)
			lab.TextStyle[i].XAlign, lab.TextStyle[i].YAlign = l.align, draw.YCenter
		}
		p.Add(lab)
	}
	return withLegendBelow(p, entries, 10*vg.Inch, 4.2*vg.Inch), nil
}

// inkOn is black or white, whichever reads on fill.
func inkOn(fill color.Color) color.Color {
	r, g, b, _ := fill.RGBA()
	if 0.299*float64(r)+0.587*float64(g)+0.114*float64(b) < 0.5*0xffff {
		return color.White
	}
	return color.Black
}
