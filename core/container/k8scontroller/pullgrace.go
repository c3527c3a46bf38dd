/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/kube"
	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// pullGrace decides when a container whose image pull, or whose creation
// by the container runtime, keeps failing is stuck: after Timeout
// (vm.k8s.imagePullTimeout), counted from Start or, when Start is zero,
// from when the container's failure was first seen (the containers of a
// build pod pull one after another). A failing pull or creation is often
// short-lived (a registry hiccup, a container name still reserved after a
// restart of the runtime), so it fails a build or a launch only when it
// persists.
type pullGrace struct {
	Clock   clock.PassiveClock
	Timeout time.Duration
	Start   time.Time

	firstSeen map[string]time.Time
}

// check returns an error naming the container, its image and the reason
// when a container of pod cannot start, either at once or because its image
// was not pulled, or the container not created, within the grace.
// Otherwise, while a pull or a creation is failing, it returns when to
// check again.
func (g *pullGrace) check(pod *corev1.Pod) (recheck time.Time, err error) {
	now := g.Clock.Now()
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			if isFatalWaiting(w.Reason) {
				return time.Time{}, errors.Errorf("container %q of pod %s/%s cannot start: image %s: %s: %s",
					cs.Name, pod.Namespace, pod.Name, kube.ContainerImage(pod, cs.Name), w.Reason, w.Message)
			}
			pulling := kube.IsPullFailure(w.Reason)
			if !pulling && !kube.IsCreateFailure(w.Reason) {
				continue
			}
			start := g.Start
			if start.IsZero() {
				if g.firstSeen == nil {
					g.firstSeen = map[string]time.Time{}
				}
				if _, ok := g.firstSeen[cs.Name]; !ok {
					g.firstSeen[cs.Name] = now
				}
				start = g.firstSeen[cs.Name]
			}
			deadline := start.Add(g.Timeout)
			if !now.Before(deadline) {
				what := " was not pulled"
				if !pulling {
					what = ": the container was not created"
				}
				return time.Time{}, errors.Errorf("container %q of pod %s/%s cannot start: image %s%s within %s: %s: %s",
					cs.Name, pod.Namespace, pod.Name, kube.ContainerImage(pod, cs.Name), what, g.Timeout, w.Reason, w.Message)
			}
			if recheck.IsZero() || deadline.Before(recheck) {
				recheck = deadline
			}
		}
	}
	return recheck, nil
}
