/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

func prePullConfig(timeout time.Duration) *config.Config {
	cfg := testConfig()
	cfg.PrePull = config.PrePull{Enabled: true, Timeout: timeout, MaxConcurrent: 1}
	return cfg
}

// createdDaemonSets signals the name of every DaemonSet the client is asked
// to create.
func createdDaemonSets(vm *testVM) <-chan string {
	ch := make(chan string, 10)
	vm.client.PrependReactor("create", "daemonsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ch <- a.(k8stesting.CreateAction).GetObject().(*appsv1.DaemonSet).Name
		return false, nil, nil
	})
	return ch
}

// awaitDaemonSet returns the next DaemonSet created, once it is stored.
func awaitDaemonSet(t *testing.T, vm *testVM, ch <-chan string) *appsv1.DaemonSet {
	t.Helper()
	select {
	case name := <-ch:
		var ds *appsv1.DaemonSet
		require.Eventually(t, func() bool {
			var err error
			ds, err = vm.client.AppsV1().DaemonSets(testNamespace).Get(context.Background(), name, metav1.GetOptions{})
			return err == nil
		}, 5*time.Second, 10*time.Millisecond)
		return ds
	case <-time.After(5 * time.Second):
		t.Fatal("no daemonset created")
		return nil
	}
}

// daemonSetController does what the DaemonSet controller and the kubelets
// would: it reports the nodes the DaemonSet covers and a pod per node.
type daemonSetController struct {
	t  *testing.T
	vm *testVM
	ds *appsv1.DaemonSet
}

func (c daemonSetController) place(nodes int32) {
	ds := c.ds.DeepCopy()
	ds.Status.DesiredNumberScheduled = nodes
	ds.Status.ObservedGeneration = ds.Generation
	_, err := c.vm.client.AppsV1().DaemonSets(testNamespace).UpdateStatus(context.Background(), ds, metav1.UpdateOptions{})
	require.NoError(c.t, err)
}

// pod creates or updates the DaemonSet's pod on node with status cs.
func (c daemonSetController) pod(node string, cs corev1.ContainerStatus) {
	cs.Name = spec.PrePullContainer
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            c.ds.Name + "-" + node,
			Namespace:       testNamespace,
			Labels:          c.ds.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: c.ds.Name, UID: c.ds.UID}},
		},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{cs}},
	}
	pods := c.vm.client.CoreV1().Pods(testNamespace)
	if _, err := pods.Create(context.Background(), pod, metav1.CreateOptions{}); err == nil {
		return
	}
	_, err := pods.Update(context.Background(), pod, metav1.UpdateOptions{})
	require.NoError(c.t, err)
}

func waitingFor(reason, message string) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}}
}

func running() corev1.ContainerStatus {
	return corev1.ContainerStatus{ImageID: "sha256:abc", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

type prePullOutcome struct {
	progress *prePullProgress
	err      error
}

func startPrePull(vm *testVM, ctx context.Context) <-chan prePullOutcome {
	out := make(chan prePullOutcome, 1)
	go func() {
		p, err := vm.prePullOnce(ctx, testCCID, testImage)
		out <- prePullOutcome{p, err}
	}()
	return out
}

func awaitOutcome(t *testing.T, ch <-chan prePullOutcome) prePullOutcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(10 * time.Second):
		t.Fatal("the pre-pull did not end")
		return prePullOutcome{}
	}
}

// The pre-pull ends once every node the DaemonSet covers holds the image,
// a pod whose image lacks the command counting as well, and its DaemonSet
// is deleted by UID.
func TestPrePullWaitsForEveryNodeThenDeletes(t *testing.T) {
	vm := newTestVM(t, prePullConfig(time.Minute))
	rec := record.NewFakeRecorder(10)
	vm.Events = rec
	created := createdDaemonSets(vm)

	out := startPrePull(vm, t.Context())
	ds := awaitDaemonSet(t, vm, created)
	require.Equal(t, testImage, ds.Spec.Template.Spec.Containers[0].Image)
	c := daemonSetController{t: t, vm: vm, ds: ds}
	c.pod("node-a", running())
	c.pod("node-b", waitingFor("ErrImagePull", "registry unreachable"))
	c.place(2)
	select {
	case o := <-out:
		t.Fatalf("ended before node-b held the image: %+v", o)
	case <-time.After(300 * time.Millisecond):
	}
	c.pod("node-b", waitingFor("RunContainerError", `exec: "sh": executable file not found`))

	o := awaitOutcome(t, out)
	require.NoError(t, o.err)
	require.Equal(t, "2 of 2 nodes", o.progress.count())
	require.Contains(t, awaitEvent(t, rec), "Normal PrePulled Image "+testImage+" present on 2 of 2 nodes")

	var deletes []k8stesting.DeleteActionImpl
	for _, a := range vm.client.Actions() {
		if d, ok := a.(k8stesting.DeleteActionImpl); ok && a.GetResource().Resource == "daemonsets" {
			deletes = append(deletes, d)
		}
	}
	require.Len(t, deletes, 1)
	require.Equal(t, ds.Name, deletes[0].Name)
	require.NotEmpty(t, ds.UID)
	require.Equal(t, ds.UID, *deletes[0].DeleteOptions.Preconditions.UID)
	_, err := vm.client.AppsV1().DaemonSets(testNamespace).Get(t.Context(), ds.Name, metav1.GetOptions{})
	require.Error(t, err, "deleted")
}

// A node that does not get the image within the timeout is named with the
// reason its pod gives, and the DaemonSet is deleted all the same.
func TestPrePullTimesOutNamingTheNodes(t *testing.T) {
	vm := newTestVM(t, prePullConfig(time.Minute))
	created := createdDaemonSets(vm)
	ctx, cancel := context.WithTimeout(t.Context(), 700*time.Millisecond)
	defer cancel()

	out := startPrePull(vm, ctx)
	c := daemonSetController{t: t, vm: vm, ds: awaitDaemonSet(t, vm, created)}
	c.place(2)
	c.pod("node-a", running())
	c.pod("node-b", waitingFor("ImagePullBackOff", "Back-off pulling image"))

	o := awaitOutcome(t, out)
	require.ErrorContains(t, o.err, "image "+testImage+" pre-pulled on 1 of 2 nodes by daemonset fabric/"+c.ds.Name+
		"; node node-b: pod "+c.ds.Name+"-node-b ImagePullBackOff: Back-off pulling image: stopped waiting")
	l, err := vm.client.AppsV1().DaemonSets(testNamespace).List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, l.Items, "deleted after the timeout")
}

// No node for the chaincode (none matches its placement): nothing to wait
// for.
func TestPrePullOfNoNode(t *testing.T) {
	vm := newTestVM(t, prePullConfig(time.Minute))
	created := createdDaemonSets(vm)
	out := startPrePull(vm, t.Context())
	daemonSetController{t: t, vm: vm, ds: awaitDaemonSet(t, vm, created)}.place(0)
	o := awaitOutcome(t, out)
	require.NoError(t, o.err)
	require.Equal(t, "0 of 0 nodes", o.progress.count())
}

// A DaemonSet the cluster refuses is named in the error.
func TestPrePullCreateRefused(t *testing.T) {
	vm := newTestVM(t, prePullConfig(time.Minute))
	vm.client.PrependReactor("create", "daemonsets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(appsv1.Resource("daemonsets"), "", errors.New("no"))
	})
	_, err := vm.prePullOnce(t.Context(), testCCID, testImage)
	require.ErrorContains(t, err, "image "+testImage+" not pre-pulled: cannot create daemonset fabric/ccpull-peer0-org1-example-com-mycc-1-0-")
	require.ErrorContains(t, err, "forbidden")
}

// prePull runs in the background of a started VM, once per image at a
// time, and not at all when disabled; Shutdown deletes what is in flight.
func TestPrePullInTheBackground(t *testing.T) {
	vm := newTestVM(t, prePullConfig(time.Minute))
	created := createdDaemonSets(vm)
	vm.prePull(testCCID, testImage)
	select {
	case <-created:
		t.Fatal("a VM that is not started pre-pulls nothing")
	case <-time.After(200 * time.Millisecond):
	}

	require.NoError(t, vm.Start(t.Context()))
	vm.prePull(testCCID, testImage)
	ds := awaitDaemonSet(t, vm, created)
	vm.prePull(testCCID, testImage)
	select {
	case <-created:
		t.Fatal("the same image is pre-pulled once at a time")
	case <-time.After(200 * time.Millisecond):
	}

	vm.Shutdown()
	l, err := vm.client.AppsV1().DaemonSets(testNamespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, l.Items, "Shutdown deleted %s", ds.Name)

	off := newTestVM(t, testConfig())
	offCreated := createdDaemonSets(off)
	require.NoError(t, off.Start(t.Context()))
	t.Cleanup(off.Shutdown)
	off.prePull(testCCID, testImage)
	select {
	case <-offCreated:
		t.Fatal("vm.k8s.prePull.enabled false pre-pulls nothing")
	case <-time.After(200 * time.Millisecond):
	}
}

// The sweep of earlier runs deletes their pre-pull DaemonSets, not their
// pods (which go with them).
func TestSweepEarlierRunsDeletesPrePulls(t *testing.T) {
	old := objMeta("old-prepull", testPeerID, "previous")
	old.Labels[labels.Component] = labels.ComponentPrePull
	oldPod := objMeta("old-prepull-node-a", testPeerID, "previous")
	oldPod.Labels[labels.Component] = labels.ComponentPrePull
	vm := newTestVM(t, prePullConfig(time.Minute),
		&appsv1.DaemonSet{ObjectMeta: old},
		&appsv1.DaemonSet{ObjectMeta: objMeta("current-prepull", testPeerID, "current")},
		&appsv1.DaemonSet{ObjectMeta: objMeta("other-prepull", "peer0.org2.example.com", "previous")},
		&corev1.Pod{ObjectMeta: oldPod},
	)
	n, err := vm.sweepEarlierRuns(t.Context(), true, nil)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	l, err := vm.client.AppsV1().DaemonSets(testNamespace).List(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	var left []string
	for _, d := range l.Items {
		left = append(left, d.Name)
	}
	require.ElementsMatch(t, []string{"current-prepull", "other-prepull"}, left)
	pods, _, _ := names(t, vm)
	require.Equal(t, []string{"old-prepull-node-a"}, pods, "left to the garbage collector")
}

// Only the first sweep waits for the DaemonSet cache, and not at the expense
// of the sweep of this run: with a cache that never fills (the daemonsets
// rule missing), the first pass still sweeps this run's leftovers after the
// wait and a later pass does not wait at all.
func TestSweepWaitsForDaemonSetsOnTheFirstPassOnly(t *testing.T) {
	cfg := prePullConfig(time.Minute)
	cfg.StopTimeout = 300 * time.Millisecond
	vm := newTestVM(t, cfg, thisRunFixture(time.Now())...)
	vm.launches.begin(&launch{ccid: "a", name: "live-pod"})          //nolint:errcheck // a fixture
	vm.launches.begin(&launch{ccid: "b", name: "current-unadopted"}) //nolint:errcheck // a fixture
	vm.cache.daemonSetsHealth.synced = func() bool { return false }

	vm.sweep(t.Context(), make(chan struct{}))
	pods, secrets, _ := names(t, vm)
	require.Equal(t, []string{"ccbuild-running", "live-pod", "terminating-pod", "young-pod"}, pods)
	require.Equal(t, []string{"current-unadopted", "just-created", "live-pod", "with-terminating-pod"}, secrets)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := vm.sweepEarlierRuns(ctx, false, nil)
	require.NoError(t, err)
	require.NoError(t, ctx.Err(), "a later pass does not wait for the DaemonSet cache")
}
