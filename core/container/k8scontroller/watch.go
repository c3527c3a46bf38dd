/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"

	"github.com/pkg/errors"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
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
// (PodInterface, EventInterface, JobInterface).
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

func podListWatch(c kubernetes.Interface, ns string, sel selector) cache.ListerWatcher {
	return newListWatch(c, c.CoreV1().Pods(ns), sel)
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

// waitPodGone waits until the pod is deleted (re-listing on watch expiry).
func waitPodGone(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	_, err := watchtools.UntilWithSync(ctx, podListWatch(c, ns, byName(name)), &corev1.Pod{}, absent(ns, name),
		func(ev watch.Event) (bool, error) { return deletedEvent(ev, name), nil })
	return err
}

// waitJobGone waits until the Job is deleted.
func waitJobGone(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	_, err := watchtools.UntilWithSync(ctx, jobListWatch(c, ns, byName(name)), &batchv1.Job{}, absent(ns, name),
		func(ev watch.Event) (bool, error) { return deletedEvent(ev, name), nil })
	return err
}

// deletePodAndWait deletes a pod and waits until it is gone; a missing pod is
// success.
func deletePodAndWait(ctx context.Context, c kubernetes.Interface, ns, name string, gracePeriodSeconds int64) error {
	err := c.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &gracePeriodSeconds})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return errors.Wrapf(err, "cannot delete pod %s/%s", ns, name)
	}
	if err := waitPodGone(ctx, c, ns, name); err != nil {
		return errors.Wrapf(err, "pod %s/%s was not removed", ns, name)
	}
	return nil
}

// deleteSecret deletes a secret; a missing secret is success.
func deleteSecret(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	err := c.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return errors.Wrapf(err, "cannot delete secret %s/%s", ns, name)
	}
	return nil
}

// deleteJob deletes a Job and, in the background, its pods.
func deleteJob(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	policy := metav1.DeletePropagationBackground
	err := c.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) {
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
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
		"CreateContainerConfigError", "CreateContainerError":
		return true
	default:
		return false
	}
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

// stuckContainer returns an error when any container of pod waits for a
// reason that will not resolve on its own.
func stuckContainer(pod *corev1.Pod) error {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if w := cs.State.Waiting; w != nil && isFatalWaiting(w.Reason) {
				return errors.Errorf("container %q of pod %s/%s cannot start: %s: %s", cs.Name, pod.Namespace, pod.Name, w.Reason, w.Message)
			}
		}
	}
	return nil
}
