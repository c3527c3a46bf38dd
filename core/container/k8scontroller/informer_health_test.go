/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/pkg/errors"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// refusedCache replaces vm's object cache by one whose informers are refused
// the listing of pods with err. It returns once the informer of pods has
// handled a refusal (its retry follows the error handler), so that the
// cause is recorded.
func refusedCache(t *testing.T, vm *testVM, err error) {
	t.Helper()
	lists := make(chan struct{}, 10)
	vm.client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		select {
		case lists <- struct{}{}:
		default:
		}
		return true, nil, err
	})
	vm.cache = newObjectCache(vm.client, vm.Config, vm.PeerID)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		vm.cache.shutdown()
	})
	require.NoError(t, vm.cache.start(ctx))
	for n := 0; n < 2; n++ {
		select {
		case <-lists:
		case <-time.After(10 * time.Second):
			t.Fatal("the informer of pods did not retry its list")
		}
	}
}

func forbiddenPods() error {
	return apierrors.NewForbidden(corev1.Resource("pods"), "",
		errors.New(`User "system:serviceaccount:fabric:peer" cannot list resource "pods" in API group "" in the namespace "fabric"`))
}

func TestHealthCheckNamesWhyCacheIsNotFilled(t *testing.T) {
	vm, _ := healthVM(t, testConfig())
	grantAllBut(vm, false)
	refusedCache(t, vm, forbiddenPods())

	err := vm.HealthCheck(context.Background())
	require.Error(t, err)
	require.Contains(t, err.Error(), "forbidden")
	require.Contains(t, err.Error(), "the cache of pods in namespace fabric is not filled: ")
	require.EqualError(t, err, "the cache of pods in namespace fabric is not filled: "+forbiddenPods().Error())
}

func TestCacheReadyNamesTheListError(t *testing.T) {
	vm := newTestVM(t, testConfig())
	refusedCache(t, vm, forbiddenPods())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := vm.cache.ready(ctx)
	require.EqualError(t, err, "the cache of pods in namespace fabric is not filled: "+forbiddenPods().Error())
}

func TestCacheReadyWithoutErrorNamesTheContext(t *testing.T) {
	vm := newTestVM(t, testConfig())
	blocked := make(chan struct{})
	vm.client.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-blocked // the first list never answers while the test runs
		return true, nil, errors.New("too late")
	})
	vm.cache = newObjectCache(vm.client, vm.Config, vm.PeerID)
	informers, stop := context.WithCancel(context.Background())
	defer func() {
		close(blocked)
		stop()
		vm.cache.shutdown()
	}()
	require.NoError(t, vm.cache.start(informers))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := vm.cache.ready(ctx)
	require.EqualError(t, err, "the cache of pods in namespace fabric is not filled: context canceled")
	require.NoError(t, vm.cache.fillError(), "a cache still being filled is no failure")
}

func TestHealthCheckIgnoresFilledCaches(t *testing.T) {
	vm, _ := healthVM(t, testConfig())
	grantAllBut(vm, false)
	// The watches open right after the lists; the caches count as filled
	// once the informers processed what they listed.
	_, err := vm.cache.ready(t.Context())
	require.NoError(t, err)
	// A watch that fails after the caches were filled does not make the
	// peer unhealthy: the informer retries, and its cache stays usable.
	vm.cache.informers[0].watchError(context.Background(), nil, errors.New("watch closed"))
	require.NoError(t, vm.HealthCheck(context.Background()))
}

func TestInformerErrorLoggedOncePerCause(t *testing.T) {
	var logged []string
	progress := "1"
	h := &informerHealth{
		resource:  "pods",
		namespace: "fabric",
		synced:    func() bool { return false },
		progress:  func() string { return progress },
		warn:      func(f string, args ...interface{}) { logged = append(logged, fmt.Sprintf(f, args...)) },
	}
	ctx := context.Background()
	forbidden := fmt.Errorf("failed to list *v1.Pod: %w", forbiddenPods())
	for n := 0; n < 3; n++ {
		h.watchError(ctx, nil, forbidden)
	}
	require.Equal(t, []string{"Kubernetes chaincode VM: cannot list or watch pods in namespace fabric, retrying: " + forbiddenPods().Error()}, logged)
	require.EqualError(t, h.fillError(), "the cache of pods in namespace fabric is not filled: "+forbiddenPods().Error())

	// A watch that ends normally, or asks for a new list, is no cause.
	h.watchError(ctx, nil, io.EOF)
	h.watchError(ctx, nil, apierrors.NewResourceExpired("too old resource version"))
	require.Len(t, logged, 1)

	h.watchError(ctx, nil, errors.New("connection refused"))
	h.watchError(ctx, nil, errors.New("connection refused"))
	require.Len(t, logged, 2, "a new cause is logged once")
	require.EqualError(t, h.fillError(), "the cache of pods in namespace fabric is not filled: connection refused")

	// After the informer made progress, the same cause is a new incident.
	progress = "2"
	h.watchError(ctx, nil, errors.New("connection refused"))
	require.Len(t, logged, 3)

	// Errors while the informer stops are not reported.
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	h.watchError(stopped, nil, errors.New("context canceled"))
	require.Len(t, logged, 3)
}
