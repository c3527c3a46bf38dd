/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func job(name string) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: name}}
}

func TestListWatchesApplyTheSelector(t *testing.T) {
	client := fake.NewClientset()
	var restrictions []k8stesting.ListRestrictions
	record := func(a k8stesting.Action) (bool, runtime.Object, error) {
		restrictions = append(restrictions, a.(k8stesting.ListAction).GetListRestrictions())
		return false, nil, nil
	}
	client.PrependReactor("list", "*", record)

	_, err := JobListWatch(client, testNamespace, ByName("j")).List(metav1.ListOptions{})
	require.NoError(t, err)
	_, err = EventListWatch(client, testNamespace, ListSelector{Field: "reason=Failed", Label: "app=x"}).List(metav1.ListOptions{})
	require.NoError(t, err)

	require.Len(t, restrictions, 2)
	require.Equal(t, "metadata.name=j", restrictions[0].Fields.String())
	require.True(t, restrictions[0].Labels.Empty())
	require.Equal(t, "reason=Failed", restrictions[1].Fields.String())
	require.Equal(t, "app=x", restrictions[1].Labels.String())
}

func TestGonePrecondition(t *testing.T) {
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	require.NoError(t, store.Add(job("j")))
	ok, err := GonePrecondition(testNamespace, "j")(store)
	require.NoError(t, err)
	require.False(t, ok)
	ok, err = GonePrecondition(testNamespace, "k")(store)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestDeletesObject(t *testing.T) {
	require.True(t, DeletesObject(watch.Event{Type: watch.Deleted, Object: job("j")}, "j"))
	require.False(t, DeletesObject(watch.Event{Type: watch.Deleted, Object: job("k")}, "j"))
	require.False(t, DeletesObject(watch.Event{Type: watch.Modified, Object: job("j")}, "j"))
	require.False(t, DeletesObject(watch.Event{Type: watch.Deleted, Object: &metav1.Status{}}, "j"))
}

func TestWaitJobGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := fake.NewClientset(job("j"))
	require.NoError(t, WaitJobGone(ctx, client, testNamespace, "absent"), "no such Job: at once")

	done := make(chan error, 1)
	watching := make(chan struct{})
	var once sync.Once
	client.PrependWatchReactor("jobs", func(k8stesting.Action) (bool, watch.Interface, error) {
		once.Do(func() { close(watching) })
		return false, nil, nil
	})
	go func() { done <- WaitJobGone(ctx, client, testNamespace, "j") }()
	<-watching
	select {
	case err := <-done:
		t.Fatalf("returned while the Job exists: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, client.BatchV1().Jobs(testNamespace).Delete(ctx, "j", metav1.DeleteOptions{}))
	require.NoError(t, <-done)

	expired, cancelExpired := context.WithCancel(ctx)
	cancelExpired()
	_, err := client.BatchV1().Jobs(testNamespace).Create(ctx, job("j"), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Error(t, WaitJobGone(expired, client, testNamespace, "j"), "until ctx ends")
}
