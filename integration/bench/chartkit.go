/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// picture is a chart ready to be drawn on a canvas of its size: one plot, or
// panels, titles and legends laid out by hand.
type picture struct {
	w, h vg.Length
	draw func(dc draw.Canvas) error
}

// savePNG draws pic into a PNG file.
func savePNG(file string, pic *picture) (err error) {
	img := vgimg.New(pic.w, pic.h)
	if err := pic.draw(draw.New(img)); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(f)
	return err
}

// textStyle is the plain text style of the charts at size pt.
func textStyle(pt float64, c color.Color) text.Style {
	return text.Style{Color: c, Font: font.From(plot.DefaultFont, font.Length(pt)), Handler: plot.DefaultTextHandler}
}

// drawTitle writes a centred title (lines separated by \n) at the top of
// dc and returns the canvas below it.
func drawTitle(dc draw.Canvas, title string, pt float64) draw.Canvas {
	sty := textStyle(pt, color.Black)
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
	pad := vg.Points(4)
	dc.FillText(sty, vg.Point{X: dc.Center().X, Y: dc.Max.Y - pad}, title)
	return draw.Crop(dc, 0, 0, 0, -(sty.Height(title) + 2*pad))
}

// legendEntry is one entry of a legend drawn outside the data area.
type legendEntry struct {
	text   string
	thumbs []plot.Thumbnailer
}

// legendHeight is the height legendRow needs for entries in width w.
func legendHeight(entries []legendEntry, w vg.Length, pt float64) vg.Length {
	_, rows := legendLayout(entries, w, pt)
	sty := textStyle(pt, color.Black)
	return vg.Length(rows)*(sty.Height("Xg")+vg.Points(4)) + vg.Points(4)
}

// legendLayout places entries left to right in columns of equal width,
// wrapping to new rows: it returns each entry's row (Y) and x offset, and
// the number of rows.
func legendLayout(entries []legendEntry, w vg.Length, pt float64) ([]vg.Point, int) {
	sty := textStyle(pt, color.Black)
	colW := vg.Length(0)
	for _, e := range entries {
		colW = max(colW, legendThumb+vg.Points(4)+sty.Width(e.text)+vg.Points(14))
	}
	cols := max(1, int(w/colW))
	var out []vg.Point
	for i := range entries {
		out = append(out, vg.Point{X: vg.Length(i%cols) * colW, Y: vg.Length(i / cols)})
	}
	return out, (len(entries) + cols - 1) / cols
}

// legendThumb is the width of a legend's thumbnails.
const legendThumb = vg.Length(18)

// drawLegendRow draws entries as rows of "thumbnail text" pairs from the
// top of dc; with center, the rows are centred as a block.
func drawLegendRow(dc draw.Canvas, entries []legendEntry, pt float64, center bool) {
	if len(entries) == 0 {
		return
	}
	sty := textStyle(pt, color.Black)
	sty.YAlign = draw.YCenter
	thumb := legendThumb
	lineH := sty.Height("Xg") + vg.Points(4)
	pos, _ := legendLayout(entries, dc.Size().X, pt)
	left := dc.Min.X
	if center {
		used := vg.Length(0)
		for i, e := range entries {
			used = max(used, pos[i].X+thumb+vg.Points(4)+sty.Width(e.text))
		}
		left += (dc.Size().X - used) / 2
	}
	for i, e := range entries {
		y := dc.Max.Y - vg.Points(4) - pos[i].Y*lineH - lineH/2
		x := left + pos[i].X
		tc := draw.Canvas{Canvas: dc.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x, Y: y - lineH/2 + vg.Points(2)},
			Max: vg.Point{X: x + thumb, Y: y + lineH/2 - vg.Points(2)},
		}}
		for _, t := range e.thumbs {
			t.Thumbnail(&tc)
		}
		dc.FillText(sty, vg.Point{X: x + thumb + vg.Points(4), Y: y}, e.text)
	}
}

// withLegendBelow lays out a titled plot with its legend in a row of its
// own under the plot, clear of the data.
func withLegendBelow(p *plot.Plot, entries []legendEntry, w, h vg.Length) *picture {
	return &picture{w: w, h: h, draw: func(dc draw.Canvas) error {
		lh := legendHeight(entries, dc.Size().X-vg.Points(20), 11)
		drawLegendRow(draw.Crop(dc, vg.Points(10), -vg.Points(10), 0, -(dc.Size().Y-lh)), entries, 11, true)
		p.Draw(draw.Crop(dc, vg.Points(6), -vg.Points(6), lh, -vg.Points(6)))
		return nil
	}}
}

// boxThumb is a filled box in a legend.
type boxThumb struct{ c color.Color }

func (b boxThumb) Thumbnail(c *draw.Canvas) {
	c.SetColor(b.c)
	c.Fill(c.Rectangle.Path())
}

// glyphThumb is one glyph in a legend.
type glyphThumb struct{ sty draw.GlyphStyle }

func (g glyphThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(g.sty, c.Center())
}

// drawTextBlock writes lines from the top left of dc, one style each, and
// wraps none: callers keep lines short.
func drawTextBlock(dc draw.Canvas, lines []string, pt float64, c color.Color) {
	sty := textStyle(pt, c)
	sty.YAlign = draw.YTop
	y := dc.Max.Y
	for _, l := range lines {
		dc.FillText(sty, vg.Point{X: dc.Min.X, Y: y}, l)
		y -= sty.Height(l) + vg.Points(3)
	}
}

// wrap breaks s into lines of at most n characters at spaces.
func wrap(s string, n int) string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			if line != "" && len([]rune(line))+1+len([]rune(w)) > n {
				lines = append(lines, line)
				line = w
				continue
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// fmtSeconds is a duration for a chart label.
func fmtSeconds(v float64) string {
	return fmt.Sprintf("%s s", fmtNum(v))
}

// cleanTicks are gonum's default ticks labelled without trailing zeros
// ("500", not "500.00") or floating-point noise ("0.6", not
// "0.6000000000000001").
type cleanTicks struct{}

func (cleanTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(math.Round(ticks[i].Value*1e9)/1e9, 'f', -1, 64)
		}
	}
	return ticks
}
