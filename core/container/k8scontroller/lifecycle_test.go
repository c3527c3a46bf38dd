/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"errors"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/relaunch"
	relaunchmock "github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/relaunch/mock"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// startedVM is a test VM started with a fake clock; sweeps receives the
// name of every pod a sweep deletes.
func startedVM(t *testing.T) (*testVM, *clocktesting.FakeClock, chan string) {
	t.Helper()
	vm := newTestVM(t, testConfig())
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	vm.Clock = clock
	sweeps := make(chan string, 10)
	vm.client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sweeps <- a.(k8stesting.DeleteAction).GetName()
		return false, nil, nil
	})
	require.NoError(t, vm.Start(t.Context()))
	t.Cleanup(vm.Shutdown)
	return vm, clock, sweeps
}

// earlierRunPod creates a pod of an earlier run of this peer, which the next
// sweep deletes, and waits until the VM's cache holds it.
func earlierRunPod(t *testing.T, vm *testVM, name string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace, Labels: map[string]string{
		labels.ManagedBy: labels.ManagedByValue, labels.PeerID: spec.LabelValue(vm.PeerID), labels.Run: "earlier",
	}}}
	_, err := vm.client.CoreV1().Pods(testNamespace).Create(t.Context(), pod, metav1.CreateOptions{})
	require.NoError(t, err)
	// The sweep reads the informer's cache; nothing signals when it caught up.
	require.Eventually(t, func() bool {
		_, err := vm.cache.podLister[testNamespace].Pods(testNamespace).Get(name)
		return err == nil
	}, 5*time.Second, time.Millisecond)
}

func awaitSweep(t *testing.T, sweeps chan string, name string) {
	t.Helper()
	select {
	case got := <-sweeps:
		require.Equal(t, name, got)
	case <-time.After(5 * time.Second):
		t.Fatal("no sweep")
	}
}

func TestShutdownStopsSweeper(t *testing.T) {
	vm, clock, sweeps := startedVM(t)
	require.Eventually(t, clock.HasWaiters, 5*time.Second, time.Millisecond, "the sweeper has no ticker")
	earlierRunPod(t, vm, "old-1")
	clock.Step(vm.Config.SweepInterval)
	awaitSweep(t, sweeps, "old-1") // first tick

	earlierRunPod(t, vm, "old-2")
	require.True(t, vm.shutdown(5*time.Second), "the VM's goroutines did not end")
	// The sweeper has returned: a tick cannot sweep any more.
	clock.Step(vm.Config.SweepInterval)
	select {
	case name := <-sweeps:
		t.Fatalf("swept %s after shutdown", name)
	default:
	}
	require.Error(t, vm.Start(t.Context()), "a VM starts once")
}

func TestShutdownFlushesEvents(t *testing.T) {
	vm, _, _ := startedVM(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cc-1", Namespace: testNamespace, UID: "pod-uid"}}
	vm.event(pod, corev1.EventTypeNormal, reasonLaunched, "Launched chaincode")
	require.True(t, vm.shutdown(5*time.Second))

	events, err := vm.client.CoreV1().Events("").List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, events.Items, 1, "the flush marker is not written")
	require.Equal(t, reasonLaunched, events.Items[0].Reason)
}

func TestWaitReturnsWhenTheVMShutsDown(t *testing.T) {
	vm, _, _ := startedVM(t)
	_, results := startedInstance(t, vm)
	vm.Shutdown()
	select {
	case r := <-results:
		require.Equal(t, -1, r.code)
		require.ErrorContains(t, r.err, "the VM shut down")
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after Shutdown")
	}

	// Launches after Shutdown fail at once.
	require.ErrorContains(t, vm.newInstance(testCCID, "GOLANG", testImage).Start(testTLS), "the Kubernetes chaincode VM is shut down")
}

func TestShutdownEndsRelaunchLoopInBackoff(t *testing.T) {
	vm := newTestVM(t, testConfig())
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	vm.Clock = clock
	reporter := &relaunchmock.Reporter{}
	vm.supervisor = relaunch.New(testPolicy(), clock, reporter)
	launches := make(chan string, 10)
	vm.EnableRelaunch(func(ccid string) error {
		launches <- ccid
		return errors.New("registry unavailable")
	})
	vm.Config.SweepInterval = 0 // no ticker: the clock's only waiter is the backoff
	require.NoError(t, vm.Start(t.Context()))
	t.Cleanup(vm.Shutdown)

	generation := vm.supervisor.Started(testCCID)
	clock.Step(time.Minute) // a stable run: relaunched at once
	vm.supervisor.Exited(testCCID, generation)
	select {
	case <-launches: // the first relaunch fails: the loop backs off
	case <-time.After(5 * time.Second):
		t.Fatal("no relaunch")
	}
	require.Eventually(t, clock.HasWaiters, 5*time.Second, time.Millisecond, "the relaunch loop is not backing off")

	require.True(t, vm.shutdown(5*time.Second), "the VM's goroutines did not end")
	require.Empty(t, launches, "relaunched during shutdown")
	require.Equal(t, 1, reporter.RelaunchFailedCallCount())
	require.Zero(t, reporter.CrashLoopCallCount())
	require.Zero(t, reporter.RelaunchedCallCount())

	// No loop starts after shutdown.
	vm.supervisor.Exited(testCCID, vm.supervisor.Started(testCCID))
	require.False(t, vm.supervisor.Looping(testCCID))
}
