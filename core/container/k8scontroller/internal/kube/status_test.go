/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestContainerStatusAndImage(t *testing.T) {
	p := &corev1.Pod{
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "init:1"}},
			Containers:     []corev1.Container{{Name: "app", Image: "app:1"}},
		},
		Status: corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", RestartCount: 1}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", RestartCount: 2}},
		},
	}
	require.EqualValues(t, 1, ContainerStatus(p, "init").RestartCount)
	require.EqualValues(t, 2, ContainerStatus(p, "app").RestartCount)
	require.Nil(t, ContainerStatus(p, "other"))
	ContainerStatus(p, "app").RestartCount = 3
	require.EqualValues(t, 3, p.Status.ContainerStatuses[0].RestartCount, "the pod's own status")

	require.Equal(t, "init:1", ContainerImage(p, "init"))
	require.Equal(t, "app:1", ContainerImage(p, "app"))
	require.Equal(t, "(unknown)", ContainerImage(p, "other"))
}

func TestWaitingReasons(t *testing.T) {
	for reason, want := range map[string][2]bool{
		"ErrImagePull":               {true, false},
		"ImagePullBackOff":           {true, false},
		"CreateContainerError":       {false, true},
		"CreateContainerConfigError": {false, false},
		"ContainerCreating":          {false, false},
	} {
		require.Equal(t, want, [2]bool{IsPullFailure(reason), IsCreateFailure(reason)}, reason)
	}
}

func TestImagePresent(t *testing.T) {
	pod := func(cs ...corev1.ContainerStatus) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: cs}}
	}
	waiting := func(reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "pull", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	for name, tc := range map[string]struct {
		pod  *corev1.Pod
		want bool
	}{
		"no status yet":         {pod(), false},
		"another container":     {pod(corev1.ContainerStatus{Name: "other", ImageID: "x"}), false},
		"being created":         {pod(waiting("ContainerCreating")), false},
		"pull failed":           {pod(waiting("ErrImagePull")), false},
		"pull backing off":      {pod(waiting("ImagePullBackOff")), false},
		"bad name":              {pod(waiting("InvalidImageName")), false},
		"no command in image":   {pod(waiting("RunContainerError")), true},
		"cannot create":         {pod(waiting("CreateContainerError")), true},
		"restarting":            {pod(waiting("CrashLoopBackOff")), true},
		"image ID reported":     {pod(corev1.ContainerStatus{Name: "pull", ImageID: "sha256:x"}), true},
		"running":               {pod(corev1.ContainerStatus{Name: "pull", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}), true},
		"ended":                 {pod(corev1.ContainerStatus{Name: "pull", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}}), true},
		"ran before, waits now": {pod(corev1.ContainerStatus{Name: "pull", LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}}), true},
	} {
		require.Equal(t, tc.want, ImagePresent(tc.pod, "pull"), name)
	}
}

func TestJobFinished(t *testing.T) {
	cond := func(typ batchv1.JobConditionType, status corev1.ConditionStatus) batchv1.JobCondition {
		return batchv1.JobCondition{Type: typ, Status: status}
	}
	for _, tc := range []struct {
		name       string
		conditions []batchv1.JobCondition
		want       batchv1.JobConditionType
	}{
		{"running", nil, ""},
		{"suspended", []batchv1.JobCondition{cond(batchv1.JobSuspended, corev1.ConditionTrue)}, ""},
		{"not yet failed", []batchv1.JobCondition{cond(batchv1.JobFailed, corev1.ConditionFalse)}, ""},
		{"complete", []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue), cond(batchv1.JobComplete, corev1.ConditionTrue)}, batchv1.JobComplete},
		{"failed", []batchv1.JobCondition{cond(batchv1.JobFailureTarget, corev1.ConditionTrue), cond(batchv1.JobFailed, corev1.ConditionTrue)}, batchv1.JobFailed},
	} {
		j := job("j")
		j.Status.Conditions = tc.conditions
		got, done := JobFinished(j)
		require.Equal(t, tc.want, got, tc.name)
		require.Equal(t, tc.want != "", done, tc.name)
	}
}
