/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"context"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// TrackedEvent is one change of a tracked object. The first event of every
// subscription is the cache's state when it subscribed: Added, or Deleted
// with a nil Object if the cache does not hold the object.
type TrackedEvent struct {
	Type   watch.EventType
	Object runtime.Object
}

// Tracker dispatches the events of one shared informer to the subscribers
// of single objects (by namespace/name) or of objects matching a predicate,
// so that many waits share the informer's one watch.
type Tracker struct {
	store cache.Store
	// get reads an object from the API server when the cache does not show
	// it: the cache may lag behind the caller's own writes.
	get func(ctx context.Context, name string) (runtime.Object, error)

	mu      sync.Mutex
	byKey   map[string]map[*Subscription]struct{}
	matches map[*Subscription]func(metav1.Object) bool
}

// NewTracker registers a Tracker on informer, which must not be started
// yet. get reads the object called name from the API server, in the
// namespace the informer lists (see ConfirmGone).
func NewTracker(informer cache.SharedIndexInformer, get func(ctx context.Context, name string) (runtime.Object, error)) *Tracker {
	t := &Tracker{
		store:   informer.GetStore(),
		get:     get,
		byKey:   map[string]map[*Subscription]struct{}{},
		matches: map[*Subscription]func(metav1.Object) bool{},
	}
	// Registering on an informer that is not started cannot fail.
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { t.dispatch(watch.Added, obj) },
		UpdateFunc: func(_, obj interface{}) { t.dispatch(watch.Modified, obj) },
		DeleteFunc: func(obj interface{}) { t.dispatch(watch.Deleted, obj) },
	})
	return t
}

func (t *Tracker) dispatch(typ watch.EventType, obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	o, ok := obj.(runtime.Object)
	if !ok {
		return
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	ev := TrackedEvent{Type: typ, Object: o}
	t.mu.Lock()
	defer t.mu.Unlock()
	for s := range t.byKey[m.GetNamespace()+"/"+m.GetName()] {
		s.push(ev)
	}
	for s, match := range t.matches {
		if match(m) {
			s.push(ev)
		}
	}
}

// Subscribe delivers the events of the object ns/name, starting with the
// cache's current state of it. Call cancel when done.
func (t *Tracker) Subscribe(ns, name string) (s *Subscription, cancel func()) {
	key := ns + "/" + name
	s = newSubscription()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byKey[key] == nil {
		t.byKey[key] = map[*Subscription]struct{}{}
	}
	t.byKey[key][s] = struct{}{}
	if obj, exists, err := t.store.GetByKey(key); err == nil && exists {
		s.push(TrackedEvent{Type: watch.Added, Object: obj.(runtime.Object)})
	} else {
		s.push(TrackedEvent{Type: watch.Deleted})
	}
	return s, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.byKey[key], s)
		if len(t.byKey[key]) == 0 {
			delete(t.byKey, key)
		}
	}
}

// SubscribeMatching delivers the events of every object for which match is
// true, starting with an Added event for each such object in the cache.
// Call cancel when done.
func (t *Tracker) SubscribeMatching(match func(metav1.Object) bool) (s *Subscription, cancel func()) {
	s = newSubscription()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.matches[s] = match
	for _, obj := range t.store.List() {
		if m, ok := obj.(metav1.Object); ok && match(m) {
			s.push(TrackedEvent{Type: watch.Added, Object: obj.(runtime.Object)})
		}
	}
	return s, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.matches, s)
	}
}

// ConfirmGone asks the API server whether the object called name, which the
// cache does not hold (with uid, if uid is set), is really gone. It returns
// the live object when it is not.
func (t *Tracker) ConfirmGone(ctx context.Context, name, uid string) (runtime.Object, bool, error) {
	obj, err := t.get(ctx, name)
	if apierrors.IsNotFound(err) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if uid != "" && objectUID(obj) != uid {
		return obj, true, nil
	}
	return obj, false, nil
}

// objectUID is the UID of a tracked object, or "" for none.
func objectUID(obj runtime.Object) string {
	if m, ok := obj.(metav1.Object); ok && obj != nil {
		return string(m.GetUID())
	}
	return ""
}

// Subscription queues the events for one waiter. Objects are the informer's
// cached objects: they must not be modified.
type Subscription struct {
	mu     sync.Mutex
	queue  []TrackedEvent
	signal chan struct{}
}

func newSubscription() *Subscription {
	return &Subscription{signal: make(chan struct{}, 1)}
}

func (s *Subscription) push(ev TrackedEvent) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Ready is signalled when events are queued.
func (s *Subscription) Ready() <-chan struct{} {
	return s.signal
}

// Drain returns the queued events, oldest first.
func (s *Subscription) Drain() []TrackedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}
