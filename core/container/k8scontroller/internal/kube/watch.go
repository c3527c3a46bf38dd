/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// ListSelector restricts a list+watch by field and by label; an empty
// selector restricts nothing.
type ListSelector struct {
	Field string // a field selector, such as metadata.name=x
	Label string // a label selector, such as app=x
}

// ByName selects the object called name.
func ByName(name string) ListSelector {
	return ListSelector{Field: fields.OneTermEqualSelector("metadata.name", name).String()}
}

func (s ListSelector) apply(o *metav1.ListOptions) {
	o.FieldSelector = s.Field
	o.LabelSelector = s.Label
}

// listWatchAPI is the List and Watch half of a typed namespaced client
// (EventInterface, JobInterface).
type listWatchAPI[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// newListWatch restricts api to sel. The client is passed to
// ToListWatcherWithWatchListSemantics so that clients without WatchList
// support (the fake clientset) fall back to list-then-watch.
func newListWatch[L runtime.Object](c kubernetes.Interface, api listWatchAPI[L], sel ListSelector) cache.ListerWatcher {
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

// EventListWatch lists and watches the Events in namespace ns that sel
// selects.
func EventListWatch(c kubernetes.Interface, ns string, sel ListSelector) cache.ListerWatcher {
	return newListWatch(c, c.CoreV1().Events(ns), sel)
}

// JobListWatch lists and watches the Jobs in namespace ns that sel selects.
func JobListWatch(c kubernetes.Interface, ns string, sel ListSelector) cache.ListerWatcher {
	return newListWatch(c, c.BatchV1().Jobs(ns), sel)
}

// GonePrecondition is a precondition of watchtools.UntilWithSync that is
// satisfied when the synced store holds no object called ns/name: the wait
// for the object to be gone is over before it starts.
func GonePrecondition(ns, name string) watchtools.PreconditionFunc {
	return func(store cache.Store) (bool, error) {
		_, exists, err := store.GetByKey(ns + "/" + name)
		return !exists, err
	}
}

// DeletesObject reports whether ev deletes the object called name.
func DeletesObject(ev watch.Event, name string) bool {
	if ev.Type != watch.Deleted {
		return false
	}
	m, err := meta.Accessor(ev.Object)
	return err == nil && m.GetName() == name
}

// WaitJobGone waits, at most until ctx ends, until no Job called ns/name
// exists. It opens a watch of its own, restricted to that name, so it also
// sees Jobs that the caller's informers do not.
func WaitJobGone(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	_, err := watchtools.UntilWithSync(ctx, JobListWatch(c, ns, ByName(name)), &batchv1.Job{}, GonePrecondition(ns, name),
		func(ev watch.Event) (bool, error) { return DeletesObject(ev, name), nil })
	return err
}
