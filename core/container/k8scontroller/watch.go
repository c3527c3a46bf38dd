/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"time"

	"github.com/pkg/errors"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/clock"
)

// selector restricts a list+watch.
type selector struct {
	Field string
	Label string
}

func byName(name string) selector {
	return selector{Field: fields.OneTermEqualSelector("metadata.name", name).String()}
}

func (s selector) apply(o *metav1.ListOptions) {
	o.FieldSelector = s.Field
	o.LabelSelector = s.Label
}

// listWatchAPI is the List and Watch half of a typed namespaced client
// (EventInterface, JobInterface). The VM's own Pods and Jobs are read through
// its shared informers (informer.go); these per-object watches remain for
// rare, bounded waits on objects the informers do not see.
type listWatchAPI[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// newListWatch restricts api to sel. The client is passed to
// ToListWatcherWithWatchListSemantics so that clients without WatchList
// support (the fake clientset) fall back to list-then-watch.
func newListWatch[L runtime.Object](c kubernetes.Interface, api listWatchAPI[L], sel selector) cache.ListerWatcher {
	return cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			sel.apply(&o)
			return api.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			sel.apply(&o)
			return api.Watch(ctx, o)
		},
	}, c)
}

func eventListWatch(c kubernetes.Interface, ns string, sel selector) cache.ListerWatcher {
	return newListWatch(c, c.CoreV1().Events(ns), sel)
}

func jobListWatch(c kubernetes.Interface, ns string, sel selector) cache.ListerWatcher {
	return newListWatch(c, c.BatchV1().Jobs(ns), sel)
}

// absent is a precondition that is satisfied when the synced store holds no
// object called ns/name.
func absent(ns, name string) watchtools.PreconditionFunc {
	return func(store cache.Store) (bool, error) {
		_, exists, err := store.GetByKey(ns + "/" + name)
		return !exists, err
	}
}

// deletedEvent reports whether ev deletes the object called name.
func deletedEvent(ev watch.Event, name string) bool {
	if ev.Type != watch.Deleted {
		return false
	}
	m, err := meta.Accessor(ev.Object)
	return err == nil && m.GetName() == name
}

// waitJobGone waits until the Job is deleted. It is for Jobs of other peers
// (a build Job name is shared by every peer building the same image), which
// the VM's informers do not see; such collisions are rare, and the wait is
// bounded by the build's deadline.
func waitJobGone(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	_, err := watchtools.UntilWithSync(ctx, jobListWatch(c, ns, byName(name)), &batchv1.Job{}, absent(ns, name),
		func(ev watch.Event) (bool, error) { return deletedEvent(ev, name), nil })
	return err
}

// The VM's deletes carry the UID of the object they mean as a precondition:
// a name can be reused by another object (a Job of another peer, say) and
// the informer cache the UID was read from may lag. A precondition that
// fails means the object meant is gone already, like NotFound.

// deleteOptions are the options of a delete of the object with uid.
func deleteOptions(uid types.UID) metav1.DeleteOptions {
	return metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(uid))}
}

// gone reports whether a delete's error says the object meant no longer
// exists.
func gone(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsConflict(err)
}

// deletePod deletes the pod ns/name with uid, with a grace period.
func deletePod(ctx context.Context, c kubernetes.Interface, ns, name string, uid types.UID, gracePeriodSeconds int64) error {
	opts := deleteOptions(uid)
	opts.GracePeriodSeconds = &gracePeriodSeconds
	if err := c.CoreV1().Pods(ns).Delete(ctx, name, opts); err != nil && !gone(err) {
		return errors.Wrapf(err, "cannot delete pod %s/%s", ns, name)
	}
	return nil
}

// deleteSecret deletes the secret ns/name with uid.
func deleteSecret(ctx context.Context, c kubernetes.Interface, ns, name string, uid types.UID) error {
	if err := c.CoreV1().Secrets(ns).Delete(ctx, name, deleteOptions(uid)); err != nil && !gone(err) {
		return errors.Wrapf(err, "cannot delete secret %s/%s", ns, name)
	}
	return nil
}

// deleteJob deletes the Job ns/name with uid and, in the background, its
// pods.
func deleteJob(ctx context.Context, c kubernetes.Interface, ns, name string, uid types.UID) error {
	opts := deleteOptions(uid)
	policy := metav1.DeletePropagationBackground
	opts.PropagationPolicy = &policy
	if err := c.BatchV1().Jobs(ns).Delete(ctx, name, opts); err != nil && !gone(err) {
		return errors.Wrapf(err, "cannot delete job %s/%s", ns, name)
	}
	return nil
}

// jobFinished returns the Complete or Failed condition of a finished Job.
func jobFinished(job *batchv1.Job) (batchv1.JobConditionType, bool) {
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

// isFatalWaiting reports container waiting reasons that will not resolve on
// their own within a build or a chaincode launch.
func isFatalWaiting(reason string) bool {
	switch reason {
	case "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError":
		return true
	default:
		return false
	}
}

// isPullWaiting reports waiting reasons of an image pull that failed but is
// retried: a registry hiccup must not fail a launch.
func isPullWaiting(reason string) bool {
	return reason == "ErrImagePull" || reason == "ImagePullBackOff"
}

// isCreateWaiting reports the waiting reason of a container the runtime
// failed to create, which the kubelet retries: the cause is often
// short-lived (a container name still reserved in containerd after a
// restart, a runtime that was briefly unavailable), so it fails a launch
// only when it persists, like a failing pull.
func isCreateWaiting(reason string) bool {
	return reason == "CreateContainerError"
}

// pullGrace decides when a container whose image pull, or whose creation
// by the container runtime, keeps failing is stuck: after Timeout
// (vm.k8s.imagePullTimeout), counted from Start or, when Start is zero,
// from when the container's failure was first seen (the containers of a
// build pod pull one after another).
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
					cs.Name, pod.Namespace, pod.Name, containerImage(pod, cs.Name), w.Reason, w.Message)
			}
			pulling := isPullWaiting(w.Reason)
			if !pulling && !isCreateWaiting(w.Reason) {
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
					cs.Name, pod.Namespace, pod.Name, containerImage(pod, cs.Name), what, g.Timeout, w.Reason, w.Message)
			}
			if recheck.IsZero() || deadline.Before(recheck) {
				recheck = deadline
			}
		}
	}
	return recheck, nil
}

// containerImage is the image a container of pod runs.
func containerImage(pod *corev1.Pod, name string) string {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == name {
				return c.Image
			}
		}
	}
	return "(unknown)"
}

// recheckTimer is a timer that can be re-armed; its channel is nil while it
// is not armed.
type recheckTimer struct {
	clock clock.Clock
	timer clock.Timer
}

// arm (re)starts the timer to fire at t; a zero t stops it.
func (r *recheckTimer) arm(t time.Time) {
	r.stop()
	if !t.IsZero() {
		r.timer = r.clock.NewTimer(t.Sub(r.clock.Now()))
	}
}

func (r *recheckTimer) stop() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// C is the timer's channel, or nil.
func (r *recheckTimer) C() <-chan time.Time {
	if r.timer == nil {
		return nil
	}
	return r.timer.C()
}

// containerStatus finds a container's status among init and app containers.
func containerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}
