/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package testkit

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DeletePod deletes pod with its own grace period, as `kubectl delete pod`
// does, and fails the spec when the API server refuses.
func DeletePod(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod) {
	deletePod(ctx, c, pod, 2)
}

// WaitPodGone waits, polling every interval for up to timeout, until pod is
// gone: not found, or its name taken by a pod with another UID. It fails
// the spec when the pod is still there.
func WaitPodGone(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, timeout, interval time.Duration) {
	waitPodGone(ctx, c, pod, timeout, interval, 2)
}

// DeletePodAndWait is DeletePod, then WaitPodGone polling every 200ms: a
// chaincode asked for while its old pod is still shutting down (its grace
// period) fails with "chaincode stream terminated", as it would with any
// runtime.
func DeletePodAndWait(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, timeout time.Duration) {
	deletePod(ctx, c, pod, 2)
	waitPodGone(ctx, c, pod, timeout, 200*time.Millisecond, 2)
}

// deletePod is DeletePod, its failure reported offset frames up.
func deletePod(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, offset int) {
	ExpectWithOffset(offset, c.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(pod.UID))})).To(Succeed(), "delete pod %s", pod.Name)
}

// waitPodGone is WaitPodGone, its failure reported offset frames up.
func waitPodGone(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, timeout, interval time.Duration, offset int) {
	EventuallyWithOffset(offset, func() bool {
		cur, err := c.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err) || (err == nil && cur.UID != pod.UID)
	}, timeout, interval).Should(BeTrue(), "pod %s is not gone", pod.Name)
}

// EventFinder finds the Events seen so far with a reason ("" for any) that
// match; *network.EventLog is one.
type EventFinder interface {
	Find(reason string, match func(*corev1.Event) bool) []corev1.Event
}

// WaitForCrashLoop waits, for up to two minutes, until events holds a
// CrashLoop Event naming the chaincode packageID, and returns the CrashLoop
// Events naming it.
func WaitForCrashLoop(events EventFinder, packageID string) []corev1.Event {
	var crash []corev1.Event
	EventuallyWithOffset(1, func() []corev1.Event {
		crash = events.Find("CrashLoop", func(e *corev1.Event) bool { return strings.Contains(e.Message, packageID) })
		return crash
	}, 2*time.Minute, 100*time.Millisecond).ShouldNot(BeEmpty(), "no CrashLoop Event for %s", packageID)
	return crash
}
