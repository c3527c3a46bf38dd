/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import "strings"

// Phase keys. Each VM has the phases it can observe, in this order.
const (
	phPrepare    = "prepare"     // the peer until its pod, container or build Job exists
	phJob        = "job"         // build Job created → its pod created (Job controller)
	phSchedule   = "schedule"    // pod created → scheduled
	phSandbox    = "sandbox"     // scheduled → the kubelet turns to the image (sandbox, volumes)
	phPull       = "pull"        // image pull (0 when the image was on the node)
	phStart      = "start"       // image there → container started
	phReceive    = "receive"     // the package streamed into the build container
	phCompile    = "compile"     // the platform's build
	phImageStart = "image_start" // compile done → Kaniko started
	phImage      = "image"       // the image built (Kaniko: and pushed)
	phRegister   = "register"    // container started → chaincode registered with the peer
	phReturn     = "return"      // image done → the install CLI returned
)

// phaseDef names one phase of a figure.
type phaseDef struct {
	key, label string
}

// phaseFigure is a figure split into phases: the sample key, its chart and
// the phases in order.
type phaseFigure struct {
	key, file, title string
	defs             []phaseDef
}

// phaseFigures are the figures the bench splits into phases.
func phaseFigures() []phaseFigure {
	return []phaseFigure{
		{key: sFirstLaunchPeer, file: "launch_phases.png", title: "First launch (commit → registered, Org1): where the time goes", defs: []phaseDef{
			{phPrepare, "launch start → pod / container created"},
			{phSchedule, "pod scheduled"},
			{phSandbox, "pod sandbox (until the image pull starts)"},
			{phPull, "image pull"},
			{phStart, "container started"},
			{phRegister, "started → registered with the peer"},
		}},
		{key: sInstallBuild, file: "build_phases.png", title: "Install with a build (Org1): where the time goes", defs: []phaseDef{
			{phPrepare, "install → build Job / compile container created"},
			{phJob, "Job → its pod created"},
			{phSchedule, "pod scheduled"},
			{phSandbox, "pod sandbox (until the builder image pull starts)"},
			{phPull, "builder image pull"},
			{phStart, "receive container started"},
			{phReceive, "package received in the build container"},
			{phCompile, "compile"},
			{phImageStart, "Kaniko started (with its image pull, if any)"},
			{phImage, "image built (Kaniko: and pushed)"},
			{phReturn, "image done → install returned"},
		}},
	}
}

// phaseLabel names a phase key of defs; merged keys join their labels.
func phaseLabel(defs []phaseDef, key string) string {
	var parts []string
	for _, k := range strings.Split(key, "+") {
		l := k
		for _, d := range defs {
			if d.key == k {
				l = d.label
			}
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, " + ")
}

// phaseOrder is the position of a key's first phase in defs (len(defs) for
// an unknown key), for sorting.
func phaseOrder(defs []phaseDef, key string) int {
	first, _, _ := strings.Cut(key, "+")
	for i, d := range defs {
		if d.key == first {
			return i
		}
	}
	return len(defs)
}
