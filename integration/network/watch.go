/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// LabelRun is the per-peer-process label the VM stamps on every object
// (labels.Run).
const LabelRun = labels.Run

// EventLog keeps the latest version of every Kubernetes Event of a namespace
// (list+watch), so that tests can wait for the VM's events.
type EventLog struct {
	mu     sync.Mutex
	events map[types.UID]*corev1.Event
	seen   map[types.UID]time.Time // when this process first saw the event
	stop   chan struct{}
}

// WatchEvents starts an EventLog of k.Namespace; Stop ends it.
func (k *Kube) WatchEvents(ctx context.Context) (*EventLog, error) {
	l := &EventLog{events: map[types.UID]*corev1.Event{}, seen: map[types.UID]time.Time{}, stop: make(chan struct{})}
	put := func(obj interface{}) {
		e, ok := obj.(*corev1.Event)
		if !ok {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if _, ok := l.seen[e.UID]; !ok {
			l.seen[e.UID] = time.Now()
		}
		l.events[e.UID] = e.DeepCopy()
	}
	err := runInformer(ctx, k, "events", &corev1.Event{}, l.stop, cache.ResourceEventHandlerFuncs{
		AddFunc:    put,
		UpdateFunc: func(_, obj interface{}) { put(obj) },
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Stop ends the watch.
func (l *EventLog) Stop() { closeOnce(l.stop) }

// Find returns the events with reason (any when "") that match, oldest
// first.
func (l *EventLog) Find(reason string, match func(*corev1.Event) bool) []corev1.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []corev1.Event
	for _, e := range l.events {
		if (reason == "" || e.Reason == reason) && (match == nil || match(e)) {
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return l.seen[out[i].UID].Before(l.seen[out[j].UID]) })
	return out
}

// Count is the number of occurrences (Event.Count, aggregated events
// included) of the events Find returns.
func (l *EventLog) Count(reason string, match func(*corev1.Event) bool) int {
	n := 0
	for _, e := range l.Find(reason, match) {
		if e.Count > 1 {
			n += int(e.Count)
		} else {
			n++
		}
	}
	return n
}

// PodSeen is one chaincode Pod (one UID) as first and last seen.
type PodSeen struct {
	FirstSeen time.Time
	Pod       *corev1.Pod // latest version; DeletionTimestamp set when gone
	Gone      bool
	// Ended is when this process first saw the pod end: marked for
	// deletion, gone, or a container terminated (zero while it runs).
	Ended time.Time
}

// podEnding reports whether p is marked for deletion or has a terminated
// container.
func podEnding(p *corev1.Pod) bool {
	return p.DeletionTimestamp != nil || ContainerTerminated(p)
}

// ContainerTerminated reports whether a container of p has terminated.
func ContainerTerminated(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Terminated != nil {
			return true
		}
	}
	return false
}

// PodLog records every Pod (by UID) created in a namespace while it runs,
// with the time this process first saw it: launches can be counted even
// when the VM deletes pods again at once.
type PodLog struct {
	mu   sync.Mutex
	pods map[types.UID]*PodSeen
	stop chan struct{}
}

// WatchPods starts a PodLog of k.Namespace; Stop ends it.
func (k *Kube) WatchPods(ctx context.Context) (*PodLog, error) {
	l := &PodLog{pods: map[types.UID]*PodSeen{}, stop: make(chan struct{})}
	put := func(obj interface{}, gone bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		s, ok := l.pods[p.UID]
		if !ok {
			s = &PodSeen{FirstSeen: time.Now()}
			l.pods[p.UID] = s
		}
		s.Pod = p.DeepCopy()
		s.Gone = s.Gone || gone
		if s.Ended.IsZero() && (s.Gone || podEnding(p)) {
			s.Ended = time.Now()
		}
	}
	err := runInformer(ctx, k, "pods", &corev1.Pod{}, l.stop, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { put(obj, false) },
		UpdateFunc: func(_, obj interface{}) { put(obj, false) },
		DeleteFunc: func(obj interface{}) { put(obj, true) },
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Stop ends the watch.
func (l *PodLog) Stop() { closeOnce(l.stop) }

// Find returns the pods that match, in the order they were first seen.
func (l *PodLog) Find(match func(*corev1.Pod) bool) []PodSeen {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []PodSeen
	for _, s := range l.pods {
		if match == nil || match(s.Pod) {
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FirstSeen.Before(out[j].FirstSeen) })
	return out
}

// Seen returns the entry of one pod UID.
func (l *PodLog) Seen(uid types.UID) (PodSeen, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.pods[uid]
	if !ok {
		return PodSeen{}, false
	}
	return *s, true
}

func runInformer(ctx context.Context, k *Kube, resource string, obj runtime.Object, stop chan struct{}, h cache.ResourceEventHandler) error {
	lw := cache.NewListWatchFromClient(k.Client.CoreV1().RESTClient(), resource, k.Namespace, fields.Everything())
	inf := cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{})
	if _, err := inf.AddEventHandler(h); err != nil {
		return err
	}
	go func() {
		select {
		case <-ctx.Done():
			closeOnce(stop)
		case <-stop:
		}
	}()
	go inf.Run(stop)
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		closeOnce(stop)
		return fmt.Errorf("watching %s in namespace %s: cache did not sync", resource, k.Namespace)
	}
	return nil
}

var closeMu sync.Mutex

func closeOnce(c chan struct{}) {
	closeMu.Lock()
	defer closeMu.Unlock()
	select {
	case <-c:
	default:
		close(c)
	}
}
