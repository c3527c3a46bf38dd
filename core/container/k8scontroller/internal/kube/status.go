/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// ContainerStatus finds the status of the container called name among the
// init and app containers of pod; nil when pod reports none.
func ContainerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// ContainerImage is the image the container called name of pod runs, or
// "(unknown)".
func ContainerImage(pod *corev1.Pod, name string) string {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == name {
				return c.Image
			}
		}
	}
	return "(unknown)"
}

// IsPullFailure reports the waiting reasons of a container whose image pull
// failed; the kubelet retries the pull, with a backoff.
func IsPullFailure(reason string) bool {
	return reason == "ErrImagePull" || reason == "ImagePullBackOff"
}

// imageNotPulledYet are waiting reasons, besides the pull failures of
// IsPullFailure, of a container whose image the kubelet has not pulled (yet):
// the kubelet pulls an image before it creates the container, and these
// reasons come before or with the pull.
var imageNotPulledYet = map[string]bool{
	"":                  true,
	"ContainerCreating": true,
	"PodInitializing":   true,
	"ErrImageNeverPull": true,
	"InvalidImageName":  true,
	"ImageInspectError": true,
}

// ImagePresent reports whether the node of pod holds the image of its
// container called name: the container was created (it has an image ID, runs
// or ran) or waits for a reason that comes after the pull (such as
// CrashLoopBackOff or RunContainerError, for an image without the command).
func ImagePresent(pod *corev1.Pod, name string) bool {
	cs := ContainerStatus(pod, name)
	switch {
	case cs == nil:
		return false
	case cs.ImageID != "", cs.State.Running != nil, cs.State.Terminated != nil, cs.LastTerminationState.Terminated != nil:
		return true
	case cs.State.Waiting != nil:
		reason := cs.State.Waiting.Reason
		return !imageNotPulledYet[reason] && !IsPullFailure(reason)
	}
	return false
}

// IsCreateFailure reports the waiting reason of a container the runtime
// failed to create, which the kubelet retries: the cause is often
// short-lived (a container name still reserved in containerd after a
// restart, a runtime that was briefly unavailable).
func IsCreateFailure(reason string) bool {
	return reason == "CreateContainerError"
}

// JobFinished returns the Complete or Failed condition of a finished Job;
// false while the Job runs.
func JobFinished(job *batchv1.Job) (batchv1.JobConditionType, bool) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		if c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed {
			return c.Type, true
		}
	}
	return "", false
}
