/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// The containers of the k8s VM's build pod, in the order they run
// (core/container/k8scontroller/internal/spec: ReceiveContainer,
// BuildContainer, KanikoContainer; TestBuildPodContainers checks the names
// against the build Job's golden file).
const (
	buildReceiveContainer = "receive"
	buildCompileContainer = "build"
	buildKanikoContainer  = "kaniko"
)

// watchTolerance is how far after the second of an API timestamp the
// bench's watch may see the object and still be taken for it.
const watchTolerance = 250 * time.Millisecond

// k8sLaunch is what the API shows of one launch's chaincode pod, with the
// launch as the bench measured it.
type k8sLaunch struct {
	Pod *corev1.Pod
	// Events of the pod (involvedObject.uid); others are ignored.
	Events []corev1.Event
	// FirstSeen is when the bench's watch first saw the pod (zero if it
	// was not watching).
	FirstSeen time.Time
	// Start and Registered are the launch as the peer measured it: the
	// bench observed the launch metric at Registered (polled every
	// PollRes) and Start is Registered less the launch's duration.
	Start, Registered time.Time
	PollRes           time.Duration
}

// phases: launch start → pod created → scheduled → image pull started →
// pulled → container started → registered.
func (l k8sLaunch) phases() Phases {
	pod := l.Pod
	events := eventsOf(l.Events, pod)
	container := ""
	if len(pod.Spec.Containers) > 0 {
		container = pod.Spec.Containers[0].Name
	}
	pullStart, pulled := pullMarks(events, containerFieldPath(false, container), phSandbox)
	marks := []Mark{
		{Name: "launch start", At: l.Start, Res: l.PollRes, Source: "launch metric observed less chaincode_launch_duration"},
		createdMark(pod, l.FirstSeen),
		scheduledMark(pod, events),
		pullStart,
		pulled,
		startedMark(pod, events, false, container, phStart),
		{Name: "registration", Ends: phRegister, At: l.Registered, Res: l.PollRes, Source: "launch metric first observed"},
	}
	return phasesOf(marks)
}

// k8sBuild is what the API showed of one build: the Job as first seen, its
// pod as last seen (the VM deletes both when the build ends), the pod's
// events, and the install as the bench timed it.
type k8sBuild struct {
	Job       *batchv1.Job // nil when not seen
	Pod       *corev1.Pod
	Events    []corev1.Event
	FirstSeen time.Time
	// Start and Returned bound the install CLI (this process' clock).
	Start, Returned time.Time
}

// phases: install → Job created → pod created → scheduled → builder image
// pull started → pulled → receive started → package received (receive
// finished) → compiled (build finished) → Kaniko started → Kaniko finished →
// install returned. Kaniko builds and pushes in one container: the push is
// not a boundary the API shows, nor is the Job's completion once the VM
// has deleted the Job.
func (b k8sBuild) phases() Phases {
	pod := b.Pod
	events := eventsOf(b.Events, pod)
	jobCreated := Mark{Name: "build Job created", Ends: phPrepare, Missing: "the Job was not seen"}
	if b.Job != nil {
		jobCreated = secondsMark("build Job created", phPrepare, "Job creationTimestamp", b.Job.CreationTimestamp.Time)
	}
	podCreated := createdMark(pod, b.FirstSeen)
	podCreated.Ends = phJob
	pullStart, pulled := pullMarks(events, containerFieldPath(true, buildReceiveContainer), phSandbox)
	receive := containerStatus(pod, true, buildReceiveContainer)
	compile := containerStatus(pod, true, buildCompileContainer)
	kaniko := containerStatus(pod, false, buildKanikoContainer)
	marks := []Mark{
		{Name: "install start", At: b.Start, Res: resClock, Source: "install CLI started"},
		jobCreated,
		podCreated,
		scheduledMark(pod, events),
		pullStart,
		pulled,
		startedMark(pod, events, true, buildReceiveContainer, phStart),
		finishedMark(receive, "package received ("+buildReceiveContainer+" finished)", phReceive),
		finishedMark(compile, "compile done ("+buildCompileContainer+" finished)", phCompile),
		startedMark(pod, events, false, buildKanikoContainer, phImageStart),
		finishedMark(kaniko, "image built and pushed ("+buildKanikoContainer+" finished)", phImage),
		{Name: "install returned", Ends: phReturn, At: b.Returned, Res: resClock, Source: "install CLI exited"},
	}
	ph := phasesOf(marks)
	if start, end := pullMarks(events, containerFieldPath(false, buildKanikoContainer), ""); !start.At.IsZero() && !end.At.IsZero() && end.At.After(start.At) {
		ph.Notes = append(ph.Notes, fmt.Sprintf("the node pulled the Kaniko image (%s), within phase %s", end.At.Sub(start.At).Round(time.Millisecond), phImageStart))
	}
	return ph
}

// eventsOf keeps the events about pod.
func eventsOf(events []corev1.Event, pod *corev1.Pod) []corev1.Event {
	var out []corev1.Event
	for _, e := range events {
		if e.InvolvedObject.UID == pod.UID {
			out = append(out, e)
		}
	}
	return out
}

// containerFieldPath is how the kubelet's events name a container.
func containerFieldPath(init bool, name string) string {
	if init {
		return "spec.initContainers{" + name + "}"
	}
	return "spec.containers{" + name + "}"
}

// eventMark is the time of an event: eventTime (microseconds) when set,
// else firstTimestamp (seconds; the kubelet's events have only these).
func eventMark(e corev1.Event, name, ends string) Mark {
	src := "event " + e.Reason
	if !e.EventTime.IsZero() {
		return Mark{Name: name, Ends: ends, At: e.EventTime.Time, Res: resMicro, Source: src + " eventTime"}
	}
	if !e.FirstTimestamp.IsZero() {
		return secondsMark(name, ends, src+" firstTimestamp", e.FirstTimestamp.Time)
	}
	return secondsMark(name, ends, src+" creationTimestamp", e.CreationTimestamp.Time)
}

// firstEvent is the earliest event with reason about fieldPath ("" = the
// pod itself or any part of it).
func firstEvent(events []corev1.Event, reason, fieldPath string) *corev1.Event {
	var found []corev1.Event
	for _, e := range events {
		if e.Reason == reason && (fieldPath == "" || e.InvolvedObject.FieldPath == fieldPath) {
			found = append(found, e)
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.SliceStable(found, func(i, j int) bool {
		return eventMark(found[i], "", "").At.Before(eventMark(found[j], "", "").At)
	})
	return &found[0]
}

// createdMark: the pod's creationTimestamp, or the bench's watch seeing it
// when that falls within the same second.
func createdMark(pod *corev1.Pod, firstSeen time.Time) Mark {
	m := secondsMark("pod created", phPrepare, "pod creationTimestamp", pod.CreationTimestamp.Time)
	if firstSeen.IsZero() {
		return m
	}
	seen := Mark{Name: m.Name, Ends: m.Ends, At: firstSeen, Res: resWatch, Source: "the bench's watch first seeing the pod"}
	return refine(m, seen, watchTolerance)
}

// scheduledMark: the scheduler's Scheduled event (microseconds) or the
// PodScheduled condition (seconds).
func scheduledMark(pod *corev1.Pod, events []corev1.Event) Mark {
	m := Mark{Name: "pod scheduled", Ends: phSchedule, Missing: "no PodScheduled condition nor Scheduled event"}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
			m = secondsMark("pod scheduled", phSchedule, "PodScheduled lastTransitionTime", c.LastTransitionTime.Time)
		}
	}
	if e := firstEvent(events, "Scheduled", ""); e != nil {
		// The scheduler writes its event after the binding, which is
		// when the condition is set: allow a second either way.
		return refine(m, eventMark(*e, "pod scheduled", phSchedule), time.Second)
	}
	return m
}

// pullTimeRE reads the kubelet's pull time ("Successfully pulled image "x" in
// 1.02s (1.5s including waiting). Image size: ..."): the time including the
// wait for the kubelet's pull queue runs from its Pulling event.
var pullTimeRE = regexp.MustCompile(`Successfully pulled image .* in ((?:[0-9.]+(?:ns|us|µs|ms|h|m|s))+)(?: \(((?:[0-9.]+(?:ns|us|µs|ms|h|m|s))+) including waiting\))?`)

// pullDuration is the pull time of a Pulled event from its Pulling event,
// and whether the message says that the image was already on the node.
func pullDuration(msg string) (d time.Duration, present, ok bool) {
	if strings.Contains(msg, "already present") {
		return 0, true, true
	}
	m := pullTimeRE.FindStringSubmatch(msg)
	if m == nil {
		return 0, false, false
	}
	s := m[1]
	if m[2] != "" {
		s = m[2]
	}
	d, err := time.ParseDuration(s)
	return d, false, err == nil
}

// pullMarks are the start and end of a container's image pull, from the
// kubelet's Pulling and Pulled events: the start is the Pulling event (or,
// when the image was on the node, the Pulled event saying so, with a pull of
// 0), the end the start plus the pull time in the Pulled message, both
// anchored to the start (the pull is known to the millisecond, its place in
// time to the second).
func pullMarks(events []corev1.Event, fieldPath, startEnds string) (start, end Mark) {
	const startName, endName = "image pull started", "image pulled"
	start = Mark{Name: startName, Ends: startEnds, Missing: "no Pulling or Pulled event for " + fieldPath}
	end = Mark{Name: endName, Ends: phPull, Missing: start.Missing}
	pulledEv := firstEvent(events, "Pulled", fieldPath)
	pullingEv := firstEvent(events, "Pulling", fieldPath)
	anchor := "pull " + fieldPath
	if pulledEv != nil {
		d, present, ok := pullDuration(pulledEv.Message)
		switch {
		case present:
			start = eventMark(*pulledEv, startName, startEnds)
			start.Source += " (image already present)"
			end = start
			end.Name, end.Ends = endName, phPull
			start.Anchor, end.Anchor = anchor, anchor
			return start, end
		case ok && pullingEv != nil:
			start = eventMark(*pullingEv, startName, startEnds)
			end = start
			end.Name, end.Ends, end.At = endName, phPull, start.At.Add(d)
			end.Source = "Pulling event + the pull time in the Pulled message"
			start.Anchor, end.Anchor, end.OffsetRes = anchor, anchor, time.Millisecond
			return start, end
		default:
			end = eventMark(*pulledEv, endName, phPull)
		}
	}
	if pullingEv != nil {
		start = eventMark(*pullingEv, startName, startEnds)
	} else if pulledEv != nil {
		start.Missing = "no Pulling event for " + fieldPath
	}
	if !start.At.IsZero() && end.At.IsZero() {
		end.Missing = "no Pulled event for " + fieldPath
	}
	return start, end
}

// containerStatus is the status of a container of pod (nil if none).
func containerStatus(pod *corev1.Pod, init bool, name string) *corev1.ContainerStatus {
	list := pod.Status.ContainerStatuses
	if init {
		list = pod.Status.InitContainerStatuses
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

// startedMark: when a container started, from its state's startedAt; when
// it has restarted, that is the latest run's, and the kubelet's first
// Started event stands for the first.
func startedMark(pod *corev1.Pod, events []corev1.Event, init bool, name, ends string) Mark {
	mname := name + " started"
	cs := containerStatus(pod, init, name)
	if cs == nil {
		return Mark{Name: mname, Ends: ends, Missing: "no status of container " + name}
	}
	if cs.RestartCount > 0 {
		if e := firstEvent(events, "Started", containerFieldPath(init, name)); e != nil {
			m := eventMark(*e, mname, ends)
			m.Note = fmt.Sprintf("container %s restarted %d times: its first Started event is used", name, cs.RestartCount)
			return m
		}
		return Mark{Name: mname, Ends: ends, Missing: fmt.Sprintf("container %s restarted %d times and its first Started event is gone", name, cs.RestartCount)}
	}
	switch {
	case cs.State.Running != nil:
		return secondsMark(mname, ends, name+" state.running.startedAt", cs.State.Running.StartedAt.Time)
	case cs.State.Terminated != nil:
		return secondsMark(mname, ends, name+" state.terminated.startedAt", cs.State.Terminated.StartedAt.Time)
	}
	return Mark{Name: mname, Ends: ends, Missing: "container " + name + " has not started"}
}

// finishedMark: when a container ended, from its terminated state.
func finishedMark(cs *corev1.ContainerStatus, name, ends string) Mark {
	switch {
	case cs == nil:
		return Mark{Name: name, Ends: ends, Missing: "no container status"}
	case cs.State.Terminated == nil:
		return Mark{Name: name, Ends: ends, Missing: "container " + cs.Name + " has not terminated in the last state seen"}
	case cs.State.Terminated.ExitCode != 0:
		return Mark{Name: name, Ends: ends, Missing: fmt.Sprintf("container %s exited %d", cs.Name, cs.State.Terminated.ExitCode)}
	}
	return secondsMark(name, ends, cs.Name+" state.terminated.finishedAt", cs.State.Terminated.FinishedAt.Time)
}
