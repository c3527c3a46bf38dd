/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/relaunch"
	relaunchmock "github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/relaunch/mock"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	metricsfakes "github.com/hyperledger/fabric-lib-go/common/metrics/metricsfakes"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
)

// Tests of what an instance reports when its chaincode container ends, and
// of the relaunch that follows.

// supervisedVM arms the VM's supervisor with a launch function that records
// relaunches, and records events.
func supervisedVM(t *testing.T) (*testVM, *record.FakeRecorder, chan string) {
	vm := newTestVM(t, testConfig())
	rec := record.NewFakeRecorder(100)
	vm.Events = rec
	relaunched := make(chan string, 10)
	vm.supervisor = relaunch.New(testPolicy(), clock.RealClock{}, relaunchReport{VM: vm.VM})
	relaunches, crashLoops, duration := &metricsfakes.Counter{}, &metricsfakes.Counter{}, &metricsfakes.Histogram{}
	relaunches.WithReturns(relaunches)
	crashLoops.WithReturns(crashLoops)
	duration.WithReturns(duration)
	vm.Metrics.Relaunches, vm.Metrics.CrashLoops, vm.Metrics.RelaunchDuration = relaunches, crashLoops, duration
	vm.EnableRelaunch(func(ccid string) error {
		relaunched <- ccid
		return nil
	})
	return vm, rec, relaunched
}

func TestCrashedPodIsRelaunched(t *testing.T) {
	vm, rec, relaunched := supervisedVM(t)
	inst, results := startedInstance(t, vm)
	require.Contains(t, <-rec.Events, "Normal Launched Launched chaincode "+testCCID)

	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}})
	r := <-results
	require.Equal(t, 137, r.code)
	requireRelaunched(t, relaunched)
}

func requireRelaunched(t *testing.T, relaunched chan string) {
	t.Helper()
	select {
	case ccid := <-relaunched:
		require.Equal(t, testCCID, ccid)
	case <-time.After(5 * time.Second):
		t.Fatal("the crashed chaincode was not relaunched")
	}
}

// requireExits checks that the chaincode exits counter was incremented once
// for each of reasons, in order.
func requireExits(t *testing.T, vm *testVM, reasons ...string) {
	t.Helper()
	exits := vm.metrics.exits
	require.Equal(t, len(reasons), exits.WithCallCount(), "one count per terminated container")
	require.Equal(t, len(reasons), exits.AddCallCount())
	for k, reason := range reasons {
		require.Equal(t, []string{"chaincode", testCCLabel, "reason", reason}, exits.WithArgsForCall(k))
		require.Equal(t, 1.0, exits.AddArgsForCall(k))
	}
}

// recordedEvents returns the events recorded so far.
func recordedEvents(rec *record.FakeRecorder) []string {
	var events []string
	for {
		select {
		case e := <-rec.Events:
			events = append(events, e)
		default:
			return events
		}
	}
}

// eventsWithReason returns the events of events with reason.
func eventsWithReason(events []string, reason string) []string {
	var found []string
	for _, e := range events {
		if f := strings.Fields(e); len(f) > 1 && f[1] == reason {
			found = append(found, e)
		}
	}
	return found
}

func TestOOMKilledChaincodeIsReported(t *testing.T) {
	vm, rec, relaunched := supervisedVM(t)
	vm.Config.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	inst, results := startedInstance(t, vm)
	require.Contains(t, <-rec.Events, "Normal Launched Launched chaincode "+testCCID)

	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	setContainerState(t, vm, inst.PodName(), running)
	setContainerState(t, vm, inst.PodName(), running)
	oom := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}
	setContainerState(t, vm, inst.PodName(), oom)
	setContainerState(t, vm, inst.PodName(), oom) // the same termination seen again
	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, 137, r.code)

	// Wait reports the termination before it returns.
	events := recordedEvents(rec)
	oomEvents := eventsWithReason(events, reasonOOMKilled)
	require.Len(t, oomEvents, 1, "events: %q", events)
	require.True(t, strings.HasPrefix(oomEvents[0], "Warning "), oomEvents[0])
	require.Contains(t, oomEvents[0], testCCID)
	require.Contains(t, oomEvents[0], testNamespace+"/"+inst.PodName())
	require.Contains(t, oomEvents[0], "64Mi")
	require.Equal(t, "Warning OOMKilled Chaincode "+testCCID+": container chaincode of pod "+testNamespace+"/"+inst.PodName()+
		" was killed for exceeding its memory limit 64Mi", oomEvents[0])
	requireExits(t, vm, "OOMKilled")

	requireRelaunched(t, relaunched)
	require.Empty(t, eventsWithReason(recordedEvents(rec), reasonOOMKilled), "reported once")
	requireExits(t, vm, "OOMKilled")
}

func TestOOMKilledWithoutMemoryLimit(t *testing.T) {
	vm, rec, _ := supervisedVM(t)
	inst, results := startedInstance(t, vm)
	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}})
	r := <-results
	require.Equal(t, 137, r.code)
	oomEvents := eventsWithReason(recordedEvents(rec), reasonOOMKilled)
	require.Len(t, oomEvents, 1)
	require.Contains(t, oomEvents[0], testNamespace+"/"+inst.PodName())
	require.Contains(t, oomEvents[0], "no memory limit")
	requireExits(t, vm, "OOMKilled")
}

func TestErrorExitIsCounted(t *testing.T) {
	vm, rec, relaunched := supervisedVM(t)
	inst, results := startedInstance(t, vm)
	require.Contains(t, <-rec.Events, "Normal Launched Launched chaincode "+testCCID)

	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}})
	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, 2, r.code)

	events := recordedEvents(rec)
	require.Empty(t, eventsWithReason(events, reasonOOMKilled))
	exited := eventsWithReason(events, reasonExited)
	require.Len(t, exited, 1, "events: %q", events)
	require.Equal(t, "Warning "+reasonExited+" Chaincode "+testCCID+": container chaincode of pod "+
		testNamespace+"/"+inst.PodName()+" exited with code 2 (Error)", exited[0])
	requireExits(t, vm, "Error")
	requireRelaunched(t, relaunched)
}

func TestExitOfDeletedPodIsCountedOnly(t *testing.T) {
	vm := newTestVM(t, testConfig())
	rec := record.NewFakeRecorder(100)
	vm.Events = rec
	inst, results := startedInstance(t, vm)
	require.Contains(t, <-rec.Events, "Normal Launched Launched chaincode "+testCCID)

	// The pod is being deleted (by Stop, or by someone else): its container
	// ends on SIGTERM.
	pod, err := getPod(t, vm, inst.PodName())
	require.NoError(t, err)
	now := metav1.Now()
	pod.DeletionTimestamp = &now
	_, err = vm.client.CoreV1().Pods(testNamespace).Update(context.Background(), pod, metav1.UpdateOptions{})
	require.NoError(t, err)
	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, Reason: "Error"}})
	r := <-results
	require.Equal(t, 143, r.code)

	require.Empty(t, recordedEvents(rec), "no warning for a container ended by the deletion of its pod")
	requireExits(t, vm, "Error")
}

func TestStoppedPodIsNotRelaunched(t *testing.T) {
	vm, _, relaunched := supervisedVM(t)
	inst, results := startedInstance(t, vm)
	require.NoError(t, inst.Stop())
	r := <-results
	require.Equal(t, -1, r.code)
	requireNoRelaunch(t, vm, relaunched)
}

// requireNoRelaunch checks, once Wait has returned, that the supervisor
// started no relaunch: it decides before Wait returns.
func requireNoRelaunch(t *testing.T, vm *testVM, relaunched chan string) {
	t.Helper()
	require.False(t, vm.supervisor.Looping(testCCID), "no relaunch loop started")
	require.Empty(t, relaunched)
}

func TestReplacedPodIsNotRelaunched(t *testing.T) {
	vm, _, relaunched := supervisedVM(t)
	inst, results := startedInstance(t, vm)
	// The peer launches again (for example on demand): the new launch has
	// a pod of its own, the earlier one is deleted, and the earlier Wait
	// ends without its exit counting as a crash.
	next := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, next.Start(testTLS))
	require.NotEqual(t, inst.PodName(), next.PodName())
	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, -1, r.code)
	requireNoRelaunch(t, vm, relaunched)
	pod, err := getPod(t, vm, next.PodName())
	require.NoError(t, err)
	require.Nil(t, pod.DeletionTimestamp, "the new pod is left alone")
}

func TestUnschedulablePodIsReportedOnce(t *testing.T) {
	vm, rec, _ := supervisedVM(t)
	inst, results := startedInstance(t, vm)
	require.Contains(t, <-rec.Events, "Normal Launched Launched chaincode "+testCCID)

	pod, err := getPod(t, vm, inst.PodName())
	require.NoError(t, err)
	pod.Status.Conditions = []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: "0/1 nodes are available: 1 Too many pods.",
	}}
	for range 2 { // the same condition seen again is not reported again
		updatePodStatus(t, vm, pod)
	}
	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}})
	<-results

	unschedulable := eventsWithReason(recordedEvents(rec), reasonUnschedulable)
	require.Equal(t, []string{"Warning " + reasonUnschedulable + " Chaincode " + testCCID + ": pod " + testNamespace + "/" + inst.PodName() +
		" cannot be scheduled yet (the launch waits for it until chaincode.startuptimeout): 0/1 nodes are available: 1 Too many pods."}, unschedulable)
}

// waitWithFailingGets starts Wait on a started instance whose pod was removed behind the
// informer's back, so that Wait has to ask the API server, and makes GET
// pods fail failures times. It returns Wait's result and the number of GETs.
func waitWithFailingGets(t *testing.T, vm *testVM, failures int) (*Instance, chan waitResult, func() int) {
	t.Helper()
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	// The informer updates its store before it notifies the tracker: Wait
	// starts once the tracker has passed the deletion on, or it would see it
	// and never ask the API server.
	sub, unsubscribe := vm.cache.pods[testNamespace].Subscribe(testNamespace, inst.PodName())
	defer unsubscribe()
	require.NoError(t, vm.client.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), testNamespace, inst.PodName()))
	require.Eventually(t, func() bool {
		for _, ev := range sub.Drain() {
			if ev.Type == watch.Deleted && ev.Object != nil {
				return true
			}
		}
		return false
	}, 10*time.Second, time.Millisecond)
	var mu sync.Mutex
	gets := 0
	vm.client.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		gets++
		if gets <= failures {
			return true, nil, apierrors.NewServiceUnavailable("the API server is restarting")
		}
		return false, nil, nil
	})
	results := make(chan waitResult, 1)
	go func() {
		code, err := inst.Wait()
		results <- waitResult{code, err}
	}()
	return inst, results, func() int {
		mu.Lock()
		defer mu.Unlock()
		return gets
	}
}

// A failed read of the pod does not end supervision: Wait retries with a
// backoff and reports the end of the pod to the supervisor.
func TestWaitRetriesAFailedRead(t *testing.T) {
	vm, _, relaunched := supervisedVM(t)
	fc := pullClock(vm)
	_, results, gets := waitWithFailingGets(t, vm, 2)
	for step := 1; step <= 2; step++ {
		awaitPullTimer(t, fc)
		require.Equal(t, step, gets())
		fc.Step(waitRetryMax)
	}
	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, -1, r.code)
	require.Equal(t, 3, gets())
	requireRelaunched(t, relaunched)
}

// When the API server cannot be read for long, Wait gives up with the cause
// and still tells the supervisor, which relaunches the chaincode.
func TestWaitGivesUpButKeepsSupervising(t *testing.T) {
	vm, _, relaunched := supervisedVM(t)
	fc := pullClock(vm)
	_, results, gets := waitWithFailingGets(t, vm, 1000)
	for range waitRetries {
		awaitPullTimer(t, fc)
		fc.Step(waitRetryMax)
	}
	r := <-results
	require.ErrorContains(t, r.err, "chaincode "+testCCID+": watching pod fabric/")
	require.ErrorContains(t, r.err, "the API server is restarting")
	require.Equal(t, waitRetries+1, gets())
	requireRelaunched(t, relaunched)
}

// The end of a pod deleted or evicted by someone else is no failure of the
// chaincode: with a crash-loop threshold of 0, an exit of the chaincode is
// reported as a crash loop at once, a removal is relaunched.
func TestPodRemovalIsNoFailure(t *testing.T) {
	terminated := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}
	for name, tc := range map[string]struct {
		end     func(t *testing.T, vm *testVM, pod *corev1.Pod)
		removed bool
	}{
		"pod deleted": {
			end: func(t *testing.T, vm *testVM, pod *corev1.Pod) {
				require.NoError(t, vm.client.CoreV1().Pods(testNamespace).Delete(t.Context(), pod.Name, metav1.DeleteOptions{}))
			},
			removed: true,
		},
		"container ended while its pod is deleted": {
			end: func(t *testing.T, vm *testVM, pod *corev1.Pod) {
				now := metav1.Now()
				pod.DeletionTimestamp = &now
				pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: spec.ChaincodeContainer, State: terminated}}
				_, err := vm.client.CoreV1().Pods(testNamespace).Update(t.Context(), pod, metav1.UpdateOptions{})
				require.NoError(t, err)
			},
			removed: true,
		},
		"evicted by the kubelet": {
			end: func(t *testing.T, vm *testVM, pod *corev1.Pod) {
				pod.Status.Phase, pod.Status.Reason = corev1.PodFailed, reasonEvicted
				updatePodStatus(t, vm, pod)
			},
			removed: true,
		},
		"preempted": {
			end: func(t *testing.T, vm *testVM, pod *corev1.Pod) {
				pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler"}}
				pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: spec.ChaincodeContainer, State: terminated}}
				updatePodStatus(t, vm, pod)
			},
			removed: true,
		},
		"chaincode exited": {
			end: func(t *testing.T, vm *testVM, pod *corev1.Pod) {
				pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: spec.ChaincodeContainer, State: terminated}}
				updatePodStatus(t, vm, pod)
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			vm := newTestVM(t, testConfig())
			policy := testPolicy()
			policy.CrashLoopThreshold, policy.InitialBackoff = 0, time.Millisecond
			reporter := &relaunchmock.Reporter{}
			vm.supervisor = relaunch.New(policy, clock.RealClock{}, reporter)
			relaunched := make(chan string, 10)
			vm.EnableRelaunch(func(ccid string) error {
				vm.supervisor.Started(ccid) // a new pod, as Start records
				relaunched <- ccid
				return nil
			})
			inst, results := startedInstance(t, vm)
			pod, err := getPod(t, vm, inst.PodName())
			require.NoError(t, err)

			tc.end(t, vm, pod)
			<-results
			if tc.removed {
				requireRelaunched(t, relaunched)
				require.Zero(t, reporter.CrashLoopCallCount())
				return
			}
			require.Equal(t, 1, reporter.CrashLoopCallCount())
			requireNoRelaunch(t, vm, relaunched)
		})
	}
}
