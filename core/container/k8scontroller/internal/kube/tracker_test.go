/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

const testNamespace = "ns"

func pod(name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name, UID: types.UID("uid-" + name), Labels: labels}}
}

// startTracker tracks the pods of a fake clientset holding objs, through
// a started informer whose cache is filled.
func startTracker(t *testing.T, objs ...runtime.Object) (*Tracker, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(testNamespace))
	informer := factory.Core().V1().Pods().Informer()
	tr := NewTracker(informer, func(ctx context.Context, name string) (runtime.Object, error) {
		return client.CoreV1().Pods(testNamespace).Get(ctx, name, metav1.GetOptions{})
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	factory.Start(ctx.Done())
	require.True(t, cache.WaitForCacheSync(ctx.Done(), informer.HasSynced))
	return tr, client
}

// next returns the next event queued on s, keeping those after it in
// pending.
func next(t *testing.T, s *Subscription, pending *[]TrackedEvent) TrackedEvent {
	t.Helper()
	for len(*pending) == 0 {
		select {
		case <-s.Ready():
			*pending = s.Drain()
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
	}
	ev := (*pending)[0]
	*pending = (*pending)[1:]
	return ev
}

func TestSubscribeStartsWithTheCachedState(t *testing.T) {
	tr, _ := startTracker(t, pod("a", nil))

	var q []TrackedEvent
	s, cancel := tr.Subscribe(testNamespace, "a")
	defer cancel()
	ev := next(t, s, &q)
	require.Equal(t, watch.Added, ev.Type)
	require.Equal(t, "a", ev.Object.(*corev1.Pod).Name)

	require.Empty(t, q)
	s, cancel = tr.Subscribe(testNamespace, "b")
	defer cancel()
	require.Equal(t, TrackedEvent{Type: watch.Deleted}, next(t, s, &q), "not cached: Deleted, no object")
}

func TestSubscribeFollowsOneObject(t *testing.T) {
	tr, client := startTracker(t)
	var q []TrackedEvent
	s, cancel := tr.Subscribe(testNamespace, "a")
	require.Equal(t, watch.Deleted, next(t, s, &q).Type)

	pods := client.CoreV1().Pods(testNamespace)
	_, err := pods.Create(t.Context(), pod("other", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = pods.Create(t.Context(), pod("a", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	ev := next(t, s, &q)
	require.Equal(t, watch.Added, ev.Type)
	require.Equal(t, "a", ev.Object.(*corev1.Pod).Name, "only the object subscribed to")

	require.NoError(t, pods.Delete(t.Context(), "a", metav1.DeleteOptions{}))
	ev = next(t, s, &q)
	require.Equal(t, watch.Deleted, ev.Type)
	require.Equal(t, "a", ev.Object.(*corev1.Pod).Name)

	// An object whose final state the informer missed is delivered too.
	tr.dispatch(watch.Deleted, cache.DeletedFinalStateUnknown{Key: testNamespace + "/a", Obj: pod("a", nil)})
	ev = next(t, s, &q)
	require.Equal(t, watch.Deleted, ev.Type)
	require.Equal(t, "a", ev.Object.(*corev1.Pod).Name)

	cancel()
	tr.dispatch(watch.Added, pod("a", nil))
	require.Empty(t, q)
	require.Empty(t, s.Drain(), "no event after cancel")
	require.Empty(t, tr.byKey)
}

func TestSubscribeMatching(t *testing.T) {
	ours := map[string]string{"app": "x"}
	tr, client := startTracker(t, pod("a", ours), pod("b", nil))
	var q []TrackedEvent
	s, cancel := tr.SubscribeMatching(func(o metav1.Object) bool { return o.GetLabels()["app"] == "x" })
	defer cancel()
	ev := next(t, s, &q)
	require.Equal(t, watch.Added, ev.Type)
	require.Equal(t, "a", ev.Object.(*corev1.Pod).Name, "the matching objects in the cache")

	pods := client.CoreV1().Pods(testNamespace)
	_, err := pods.Create(t.Context(), pod("c", nil), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = pods.Create(t.Context(), pod("d", ours), metav1.CreateOptions{})
	require.NoError(t, err)
	ev = next(t, s, &q)
	require.Equal(t, watch.Added, ev.Type)
	require.Equal(t, "d", ev.Object.(*corev1.Pod).Name)
}

func TestConfirmGone(t *testing.T) {
	tr, _ := startTracker(t, pod("a", nil))

	obj, gone, err := tr.ConfirmGone(t.Context(), "a", "uid-a")
	require.NoError(t, err)
	require.False(t, gone)
	require.Equal(t, "a", obj.(*corev1.Pod).Name)

	obj, gone, err = tr.ConfirmGone(t.Context(), "a", "uid-earlier")
	require.NoError(t, err)
	require.True(t, gone, "another object of the name")
	require.NotNil(t, obj)

	_, gone, err = tr.ConfirmGone(t.Context(), "a", "")
	require.NoError(t, err)
	require.False(t, gone, "any object of the name, without uid")

	obj, gone, err = tr.ConfirmGone(t.Context(), "b", "")
	require.NoError(t, err)
	require.True(t, gone)
	require.Nil(t, obj)

	tr.get = func(context.Context, string) (runtime.Object, error) {
		return nil, apierrors.NewForbidden(corev1.Resource("pods"), "a", errors.New("no"))
	}
	_, gone, err = tr.ConfirmGone(t.Context(), "a", "uid-a")
	require.True(t, apierrors.IsForbidden(err))
	require.False(t, gone)
}
