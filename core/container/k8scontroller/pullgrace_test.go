/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// waitingPod is a pod whose container c, running image, waits for reason.
func waitingPod(reason string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: "cc-pod"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: testImage}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name:  "c",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "it failed"}},
		}}},
	}
}

func TestGraceRetriesCreateContainerError(t *testing.T) {
	for _, start := range []string{"chaincode pod", "build pod"} {
		t.Run(start, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
			g := &pullGrace{Clock: clk, Timeout: time.Minute}
			if start == "chaincode pod" {
				g.Start = clk.Now() // the pod's creation
			}
			// A name conflict in containerd after a restart: the kubelet
			// retries, and the next attempt usually succeeds.
			pod := waitingPod("CreateContainerError")
			recheck, err := g.check(pod)
			require.NoError(t, err, "CreateContainerError is retried")
			require.Equal(t, clk.Now().Add(time.Minute), recheck)

			clk.SetTime(clk.Now().Add(time.Minute - time.Second))
			recheck, err = g.check(pod)
			require.NoError(t, err)
			require.Equal(t, clk.Now().Add(time.Second), recheck)

			clk.SetTime(recheck)
			_, err = g.check(pod)
			require.EqualError(t, err, `container "c" of pod fabric/cc-pod cannot start: image `+testImage+
				": the container was not created within 1m0s: CreateContainerError: it failed")
		})
	}
}

func TestGraceFatalWaitingReasons(t *testing.T) {
	for _, reason := range []string{"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError"} {
		clk := clocktesting.NewFakePassiveClock(time.Now())
		g := &pullGrace{Clock: clk, Timeout: time.Minute, Start: clk.Now()}
		_, err := g.check(waitingPod(reason))
		require.EqualError(t, err, `container "c" of pod fabric/cc-pod cannot start: image `+testImage+": "+reason+": it failed")
	}
	for _, reason := range []string{"ErrImagePull", "ImagePullBackOff", "CreateContainerError", "ContainerCreating"} {
		clk := clocktesting.NewFakePassiveClock(time.Now())
		g := &pullGrace{Clock: clk, Timeout: time.Minute, Start: clk.Now()}
		_, err := g.check(waitingPod(reason))
		require.NoError(t, err, reason)
	}
}
