/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"image/color"
	"path/filepath"

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

// vmLabel is how the charts name a VM.
func vmLabel(vm string) string {
	for _, v := range vmNames() {
		if v.key == vm {
			return v.label
		}
	}
	return vm
}

// writeCharts writes PNG charts of the report to dir and returns their file
// names (those with nothing to show are left out).
func writeCharts(r *Report, dir string) ([]string, error) {
	var out []string
	for _, c := range []struct {
		file string
		make func(*Report) (*picture, error)
	}{
		{"launch.png", launchChart},
		{"launch_phases.png", launchPhasesChart},
		{"build_phases.png", buildPhasesChart},
		{"rest_rss.png", restRSSChart},
		{"rest_requests.png", restRequestsChart},
		{"load_latency.png", latencyChart},
	} {
		pic, err := c.make(r)
		if err != nil {
			return out, fmt.Errorf("%s: %w", c.file, err)
		}
		if pic == nil {
			continue
		}
		if err := savePNG(filepath.Join(dir, c.file), pic); err != nil {
			return out, fmt.Errorf("%s: %w", c.file, err)
		}
		out = append(out, c.file)
	}
	return out, nil
}
