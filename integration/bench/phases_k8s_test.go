/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// chaincodePod is a running chaincode pod created at 14:00:10 (its stamp),
// scheduled at 14:00:10 (condition) and started at 14:00:11.
func chaincodePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "cc-kv1", UID: "pod-uid", CreationTimestamp: metav1.NewTime(at(10))},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "chaincode"}}},
		Status: corev1.PodStatus{
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at(10))},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at(11))},
			},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name:  "chaincode",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(at(11))}},
			}},
		},
	}
}

// kubeletEvent is an event of the kubelet (whole seconds) about a container
// of pod-uid.
func kubeletEvent(reason, container, msg string, secs float64) corev1.Event {
	return corev1.Event{
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", UID: "pod-uid", FieldPath: "spec.containers{" + container + "}"},
		Reason:         reason, Message: msg, FirstTimestamp: metav1.NewTime(at(secs)), LastTimestamp: metav1.NewTime(at(secs)),
	}
}

// scheduledEvent is the scheduler's event (events.k8s.io: microseconds).
func scheduledEvent(secs float64) corev1.Event {
	return corev1.Event{
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", UID: "pod-uid"},
		Reason:         "Scheduled", EventTime: metav1.NewMicroTime(at(secs)),
	}
}

func TestK8sLaunchPhases(t *testing.T) {
	pulled := []corev1.Event{
		scheduledEvent(10.300123),
		kubeletEvent("Pulling", "chaincode", `Pulling image "r/kv:1"`, 10),
		kubeletEvent("Pulled", "chaincode", `Successfully pulled image "r/kv:1" in 310ms (312ms including waiting). Image size: 1 bytes.`, 11),
		kubeletEvent("Started", "chaincode", "Started container chaincode", 11),
		// Another pod's event is not this pod's.
		{InvolvedObject: corev1.ObjectReference{UID: "other"}, Reason: "Scheduled", EventTime: metav1.NewMicroTime(at(2))},
	}
	present := []corev1.Event{
		scheduledEvent(10.300123),
		kubeletEvent("Pulled", "chaincode", `Container image "r/kv:1" already present on machine`, 10),
	}
	restarted := chaincodePod()
	restarted.Status.ContainerStatuses[0].RestartCount = 1
	restarted.Status.ContainerStatuses[0].State.Running.StartedAt = metav1.NewTime(at(20))
	skewed := chaincodePod()
	skewed.Status.ContainerStatuses[0].State.Running.StartedAt = metav1.NewTime(at(14))

	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		events    []corev1.Event
		firstSeen time.Time
		want      []want
		notes     [][]string
	}{
		{
			name: "image pulled: the most precise source of each boundary",
			pod:  chaincodePod(), events: pulled, firstSeen: at(10.25),
			want: []want{
				{phPrepare, 0.15, 0.04, false},      // launch start 10.1 (metrics poll) → the watch saw the pod at 10.25
				{phSchedule, 0.050123, 0.01, false}, // → Scheduled eventTime 10.300123
				{phSandbox, 0.199877, 1, false},     // → Pulling at 10 s, standing for 10.5
				{phPull, 0.312, 0.001, false},       // the pull time including the wait, from the Pulled message
				{phStart, 0.688, 1, false},          // → startedAt 11 s (11.5)
				{phRegister, 0.4, 1, false},         // → launch metric observed at 11.9
			},
		},
		{
			name: "image already present: a pull of 0",
			pod:  chaincodePod(), events: present, firstSeen: at(10.25),
			want: []want{
				{phPrepare, 0.15, 0.04, false},
				{phSchedule, 0.050123, 0.01, false},
				{phSandbox, 0.199877, 1, false},
				{phPull, 0, 0, false},
				{phStart, 1, 1, false},
				{phRegister, 0.4, 1, false},
			},
		},
		{
			name: "no events, no watch: the stamps of the pod only, the pull merged",
			pod:  chaincodePod(),
			want: []want{
				{phPrepare, 0.4, 1, false},
				{phSchedule, 0, 1, false},
				{phSandbox + "+" + phPull + "+" + phStart, 1, 1, false},
				{phRegister, 0.4, 1, false},
			},
			notes: [][]string{
				{"image pull started not observed (no Pulling or Pulled event for spec.containers{chaincode})", "phase sandbox merged"},
				{"image pulled not observed", "phase pull merged"},
			},
		},
		{
			name: "the watch saw the pod long after its stamp: the stamp is used",
			pod:  chaincodePod(), events: present, firstSeen: at(13),
			want: []want{
				{phPrepare, 0.4, 1, false},
				{phSchedule, 0, 1, true},
				{phSandbox, 0.199877, 1, false},
				{phPull, 0, 0, false},
				{phStart, 1, 1, false},
				{phRegister, 0.4, 1, false},
			},
			notes: [][]string{
				{"pod created: the bench's watch first seeing the pod", "is outside pod creationTimestamp's second"},
				{"pod scheduled (event Scheduled eventTime) is 200ms before pod created", "within the resolution of 1s", "phase schedule clamped to 0"},
			},
		},
		{
			name: "the kubelet's clock ahead: start after registration, clamped and flagged",
			pod:  skewed, events: present, firstSeen: at(10.25),
			want: []want{
				{phPrepare, 0.15, 0.04, false},
				{phSchedule, 0.050123, 0.01, false},
				{phSandbox, 0.199877, 1, false},
				{phPull, 0, 0, false},
				{phStart, 4, 1, false},
				{phRegister, 0, 1, true},
			},
			notes: [][]string{{"registration (launch metric first observed) is 2.6s before chaincode started", "the sources' clocks disagree", "phase register clamped to 0"}},
		},
		{
			name: "a restarted container: the first Started event stands for the first start",
			pod:  restarted, events: pulled, firstSeen: at(10.25),
			want: []want{
				{phPrepare, 0.15, 0.04, false},
				{phSchedule, 0.050123, 0.01, false},
				{phSandbox, 0.199877, 1, false},
				{phPull, 0.312, 0.001, false},
				{phStart, 0.688, 1, false},
				{phRegister, 0.4, 1, false},
			},
			notes: [][]string{{"container chaincode restarted 1 times: its first Started event is used"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := k8sLaunch{Pod: tc.pod, Events: tc.events, FirstSeen: tc.firstSeen, Start: at(10.1), Registered: at(11.9), PollRes: 40 * time.Millisecond}.phases()
			requirePhases(t, got, tc.want...)
			if !anyClamped(got) {
				require.InDelta(t, 1.8, got.Seconds(), 1e-9, "the phases add up to the launch")
			}
			require.Len(t, got.Notes, len(tc.notes), "notes: %q", got.Notes)
			for _, n := range tc.notes {
				requireNote(t, got, n...)
			}
		})
	}
}

func anyClamped(ph Phases) bool {
	for _, p := range ph.Phases {
		if p.Clamped {
			return true
		}
	}
	return false
}

func readYAML(t *testing.T, file string, into interface{}) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(b, into))
}

func TestK8sBuildPhases(t *testing.T) {
	pod := &corev1.Pod{}
	readYAML(t, "build-pod.yaml", pod)
	job := &batchv1.Job{}
	readYAML(t, "build-job.yaml", job)
	events := &corev1.EventList{}
	readYAML(t, "build-events.yaml", events)

	running := pod.DeepCopy()
	running.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(at(32))}}
	failed := pod.DeepCopy()
	failed.Status.InitContainerStatuses[1].State.Terminated.ExitCode = 1

	full := []want{
		{phPrepare, 3.2, 1, false},          // install 13:59:58.3 → Job stamp 14:00:01
		{phJob, 0, 1, true},                 // the watch saw the pod at 01.38, before the middle of the Job's second
		{phSchedule, 0.032345, 0.01, false}, // → Scheduled eventTime 01.412345
		{phSandbox, 1.087655, 1, false},     // → the builder image found on the node at 02 s
		{phPull, 0, 0, false},
		{phStart, 1, 1, false},    // → receive started 03 s
		{phReceive, 2, 1, false},  // → receive finished 05 s
		{phCompile, 26, 1, false}, // → build finished 31 s
		{phImageStart, 1, 1, false},
		{phImage, 12, 1, false},   // Kaniko 32 s → 44 s
		{phReturn, 1.2, 1, false}, // → install returned 45.7
	}
	for _, tc := range []struct {
		name  string
		job   *batchv1.Job
		pod   *corev1.Pod
		want  []want
		notes [][]string
	}{
		{
			name: "every boundary observed", job: job, pod: pod, want: full,
			notes: [][]string{
				{"pod created (the bench's watch first seeing the pod) is 120ms before build Job created", "within the resolution", "phase job clamped"},
				{"the node pulled the Kaniko image (820ms), within phase image_start"},
			},
		},
		{
			name: "the Job not seen: install → pod created in one phase", pod: pod,
			want: append([]want{{phPrepare + "+" + phJob, 3.08, 0.01, false}}, full[2:]...),
			notes: [][]string{
				{"build Job created not observed (the Job was not seen): phase prepare merged into the next"},
				{"the node pulled the Kaniko image"},
			},
		},
		{
			name: "Kaniko still running in the last state seen: image and return merged", job: job, pod: running,
			want: append(append([]want(nil), full[:8]...), want{phImageStart, 1, 1, false}, want{phImage + "+" + phReturn, 13.2, 1, false}),
			notes: [][]string{
				{"phase job clamped"},
				{"image built and pushed (kaniko finished) not observed (container kaniko has not terminated in the last state seen): phase image merged into the next"},
				{"the node pulled the Kaniko image"},
			},
		},
		{
			name: "a failed compile is not a boundary: compile and the Kaniko start merged", job: job, pod: failed,
			want: append(append([]want(nil), full[:7]...), want{phCompile + "+" + phImageStart, 27, 1, false}, full[9], full[10]),
			notes: [][]string{
				{"phase job clamped"},
				{"compile done (build finished) not observed (container build exited 1): phase compile merged into the next"},
				{"the node pulled the Kaniko image"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := k8sBuild{Job: tc.job, Pod: tc.pod, Events: events.Items, FirstSeen: at(1.38), Start: at(-1.7), Returned: at(45.7)}.phases()
			requirePhases(t, got, tc.want...)
			require.Len(t, got.Notes, len(tc.notes), "notes: %q", got.Notes)
			for _, n := range tc.notes {
				requireNote(t, got, n...)
			}
		})
	}
}

// TestBuildPodContainers checks the build pod's container names the phases
// read against the VM's golden build Job.
func TestBuildPodContainers(t *testing.T) {
	job := &batchv1.Job{}
	b, err := os.ReadFile(filepath.Join("..", "..", "core", "container", "k8scontroller", "internal", "spec", "testdata", "build-job.golden.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, job))
	var init, main []string
	for _, c := range job.Spec.Template.Spec.InitContainers {
		init = append(init, c.Name)
	}
	for _, c := range job.Spec.Template.Spec.Containers {
		main = append(main, c.Name)
	}
	require.Equal(t, []string{buildReceiveContainer, buildCompileContainer}, init)
	require.Equal(t, []string{buildKanikoContainer}, main)
}
