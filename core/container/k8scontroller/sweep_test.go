/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
)

// objMeta labels an object as created by peer in run ("" = no run label).
func objMeta(name, peer, run string) metav1.ObjectMeta {
	l := map[string]string{labels.ManagedBy: labels.ManagedByValue, labels.PeerID: spec.LabelValue(peer)}
	if run != "" {
		l[labels.Run] = run
	}
	return metav1.ObjectMeta{Name: name, Namespace: testNamespace, Labels: l, UID: types.UID("uid-" + name)}
}

func names(t *testing.T, vm *testVM) (pods, secrets, jobs []string) {
	t.Helper()
	ctx := context.Background()
	pl, err := vm.client.CoreV1().Pods(testNamespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, p := range pl.Items {
		pods = append(pods, p.Name)
	}
	sl, err := vm.client.CoreV1().Secrets(testNamespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, s := range sl.Items {
		secrets = append(secrets, s.Name)
	}
	jl, err := vm.client.BatchV1().Jobs(testNamespace).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, j := range jl.Items {
		jobs = append(jobs, j.Name)
	}
	sort.Strings(pods)
	sort.Strings(secrets)
	sort.Strings(jobs)
	return pods, secrets, jobs
}

func TestSweepEarlierRunsDeletesOnlyThisPeersOldObjects(t *testing.T) {
	me, other := testPeerID, "peer0.org2.example.com"
	objs := []runtime.Object{
		&corev1.Pod{ObjectMeta: objMeta("old-pod", me, "previous")},
		&corev1.Pod{ObjectMeta: objMeta("unlabelled-pod", me, "")},
		&corev1.Pod{ObjectMeta: objMeta("current-pod", me, "current")},
		&corev1.Pod{ObjectMeta: objMeta("other-peer-pod", other, "previous")},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "unrelated-pod", Namespace: testNamespace}},
		&corev1.Secret{ObjectMeta: objMeta("old-secret", me, "previous")},
		&corev1.Secret{ObjectMeta: objMeta("current-secret", me, "current")},
		&corev1.Secret{ObjectMeta: objMeta("other-peer-secret", other, "previous")},
		&batchv1.Job{ObjectMeta: objMeta("old-job", me, "previous")},
		&batchv1.Job{ObjectMeta: objMeta("other-peer-job", other, "previous")},
	}
	vm := newTestVM(t, testConfig(), objs...)

	n, err := vm.sweepEarlierRuns(context.Background(), true, nil)
	require.NoError(t, err)
	require.Equal(t, 4, n)

	pods, secrets, jobs := names(t, vm)
	require.Equal(t, []string{"current-pod", "other-peer-pod", "unrelated-pod"}, pods)
	require.Equal(t, []string{"current-secret", "other-peer-secret"}, secrets)
	require.Equal(t, []string{"other-peer-job"}, jobs)
}

func TestSweepEarlierRunsReportsAPIErrors(t *testing.T) {
	vm := newTestVM(t, testConfig(), &corev1.Pod{ObjectMeta: objMeta("old-pod", testPeerID, "previous")})
	vm.client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "old-pod", nil)
	})
	_, err := vm.sweepEarlierRuns(context.Background(), true, nil)
	require.ErrorContains(t, err, "earlier run: cannot delete pod fabric/old-pod")
}

func TestSweepDeletesCarryUIDPreconditions(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	vm := thisRunVM(t, now,
		&corev1.Pod{ObjectMeta: objMeta("old-pod", testPeerID, "previous")},
		&corev1.Secret{ObjectMeta: objMeta("old-secret", testPeerID, "previous")},
		&batchv1.Job{ObjectMeta: objMeta("old-job", testPeerID, "previous")})

	_, err := vm.sweepEarlierRuns(context.Background(), true, nil)
	require.NoError(t, err)
	_, err = vm.sweepThisRun(context.Background(), now)
	require.NoError(t, err)
	deletes := 0
	for _, a := range vm.client.Actions() {
		d, ok := a.(k8stesting.DeleteActionImpl)
		if !ok {
			continue
		}
		deletes++
		require.NotNil(t, d.DeleteOptions.Preconditions, "delete of %s %s", d.GetResource().Resource, d.GetName())
		require.Equal(t, "uid-"+d.GetName(), string(*d.DeleteOptions.Preconditions.UID), "delete of %s %s", d.GetResource().Resource, d.GetName())
	}
	require.Equal(t, 6, deletes)
}

func TestSweepSparesAnObjectRecreatedUnderItsName(t *testing.T) {
	vm := newTestVM(t, testConfig(), &corev1.Pod{ObjectMeta: objMeta("old-pod", testPeerID, "previous")})
	// The API server holds a new pod of that name that the cache has not
	// seen yet: the sweep's delete, which names the cached UID, fails its
	// precondition and leaves it alone.
	fresh := &corev1.Pod{ObjectMeta: objMeta("old-pod", testPeerID, "current")}
	fresh.UID = "uid-fresh"
	vm.client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteActionImpl)
		if *d.DeleteOptions.Preconditions.UID != fresh.UID {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, d.GetName(), errors.New("UID mismatch"))
		}
		return false, nil, nil
	})
	n, err := vm.sweepEarlierRuns(context.Background(), true, nil)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	pods, _, _ := names(t, vm)
	require.Equal(t, []string{"old-pod"}, pods)
}

// thisRunVM is a VM of run "current" holding thisRunFixture(now) and extra,
// with the launches of live-pod and current-unadopted current.
func thisRunVM(t *testing.T, now time.Time, extra ...runtime.Object) *testVM {
	vm := newTestVM(t, testConfig(), append(thisRunFixture(now), extra...)...)
	vm.launches.begin(&launch{ccid: "a", name: "live-pod"})          //nolint:errcheck // a fixture
	vm.launches.begin(&launch{ccid: "b", name: "current-unadopted"}) //nolint:errcheck // a fixture
	return vm
}

// thisRunFixture is this run's objects: the pod of a current launch with its
// secret, a pod of a superseded launch and one being deleted, a pod too
// young to be swept, secrets whose pod is gone or that were never adopted,
// the unadopted secret of a current launch and a secret too young to be
// swept.
func thisRunFixture(now time.Time) []runtime.Object {
	old := metav1.NewTime(now.Add(-2 * orphanGrace))
	young := metav1.NewTime(now.Add(-orphanGrace / 2))
	meta := func(name, component string, created metav1.Time) metav1.ObjectMeta {
		m := objMeta(name, testPeerID, "current")
		m.Labels[labels.Component] = component
		m.CreationTimestamp = created
		return m
	}
	secret := func(name, owner string, created metav1.Time) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: meta(name, labels.ComponentChaincode, created)}
		if owner != "" {
			s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: owner, UID: types.UID("uid-" + owner)}}
		}
		return s
	}
	pod := func(name string, created metav1.Time) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: meta(name, labels.ComponentChaincode, created)}
	}
	terminating := pod("terminating-pod", old)
	terminating.DeletionTimestamp = &old
	terminating.Finalizers = []string{"example.com/hold"}
	return []runtime.Object{
		// A build pod of this run, in the chaincode namespace, is a build
		// in flight: never swept.
		&corev1.Pod{ObjectMeta: meta("ccbuild-running", "build", old)},
		pod("live-pod", old),
		pod("superseded-pod", old),
		pod("young-pod", young),
		terminating,
		secret("live-pod", "live-pod", old),
		secret("with-terminating-pod", "terminating-pod", old),
		secret("pod-gone", "gone-pod", old),
		secret("never-adopted", "", old),
		secret("current-unadopted", "", old),
		secret("just-created", "", young),
	}
}

func TestSweepThisRun(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	vm := thisRunVM(t, now)

	n, err := vm.sweepThisRun(context.Background(), now)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	pods, secrets, _ := names(t, vm)
	require.Equal(t, []string{"ccbuild-running", "live-pod", "terminating-pod", "young-pod"}, pods)
	require.Equal(t, []string{"current-unadopted", "just-created", "live-pod", "with-terminating-pod"}, secrets)
}

func TestSweepReadsTheCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	vm := thisRunVM(t, now)

	_, err := vm.sweepThisRun(context.Background(), now)
	require.NoError(t, err)
	_, err = vm.sweepEarlierRuns(context.Background(), true, nil)
	require.NoError(t, err)
	for _, a := range vm.client.Actions() {
		require.Equal(t, "delete", a.GetVerb(), "the sweep reads from the informers, it sends no %s %s", a.GetVerb(), a.GetResource().Resource)
	}
	require.Len(t, vm.client.Actions(), 3, "the superseded pod and the two orphaned secrets")
}

// The sweep, run in a tight loop while chaincode is launched again and
// again, never deletes the Pod or Secret of a current launch. (The fake
// clientset sets no creation time: every object looks old enough to sweep,
// only the record of current launches protects them.)
func TestSweepRacingLaunches(t *testing.T) {
	vm := newTestVM(t, testConfig())
	var mu sync.Mutex
	var wrong []string
	vm.client.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := a.(k8stesting.DeleteAction).GetName()
		if vm.launches.names()[name] {
			mu.Lock()
			wrong = append(wrong, a.GetResource().Resource+"/"+name)
			mu.Unlock()
		}
		return false, nil, nil
	})
	stop := make(chan struct{})
	swept := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				swept <- n
				return
			default:
			}
			_, _ = vm.sweepThisRun(context.Background(), time.Now().Add(time.Hour))
			n++
		}
	}()
	ccids := []string{testCCID, "other_1.0:" + strings.Repeat("ab", 32)}
	for i := range 100 {
		inst := vm.newInstance(ccids[i%2], "GOLANG", testImage)
		require.NoError(t, inst.Start(testTLS))
		if i%7 == 0 {
			require.NoError(t, inst.Stop())
		}
	}
	close(stop)
	require.Positive(t, <-swept)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, wrong, "objects of current launches deleted")
	for name := range vm.launches.names() {
		_, err := getPod(t, vm, name)
		require.NoError(t, err)
		_, err = getSecret(t, vm, name)
		require.NoError(t, err)
	}
}

// After a restart the first launches wait until the sweep of earlier runs
// is over: no chaincode pod of this run is created next to the killed run's.
func TestLaunchesWaitForTheSweepOfEarlierRuns(t *testing.T) {
	vm := newTestVM(t, testConfig())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	swept := make(chan struct{})
	vm.life.ctx, vm.life.earlierSwept = ctx, swept

	podCreates := func() int {
		n := 0
		for _, a := range vm.client.Actions() {
			if a.Matches("create", "pods") {
				n++
			}
		}
		return n
	}
	started := make(chan error, 1)
	go func() { started <- vm.newInstance(testCCID, "GOLANG", testImage).Start(testTLS) }()
	require.Never(t, func() bool { return podCreates() > 0 || len(started) > 0 }, 200*time.Millisecond, 10*time.Millisecond,
		"a pod was created before the sweep of earlier runs ended")
	close(swept)
	select {
	case err := <-started:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not go on once the sweep ended")
	}
	require.Equal(t, 1, podCreates())

	// A launch waiting for the sweep when the VM shuts down fails.
	vm.life.earlierSwept = make(chan struct{})
	go func() { started <- vm.newInstance(testCCID, "GOLANG", testImage).Start(testTLS) }()
	cancel()
	select {
	case err := <-started:
		require.ErrorContains(t, err, "chaincode "+testCCID+": cannot launch: the Kubernetes chaincode VM is shut down")
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return at shutdown")
	}
}

// The first sweep deletes the objects of earlier runs, all of them even when
// one delete fails, and then lets launches go on.
func TestFirstSweepDeletesEarlierRunsThenOpensLaunches(t *testing.T) {
	var objs []runtime.Object
	for i := range 20 {
		objs = append(objs, &corev1.Pod{ObjectMeta: objMeta(fmt.Sprintf("old-pod-%02d", i), testPeerID, "previous")})
		objs = append(objs, &corev1.Secret{ObjectMeta: objMeta(fmt.Sprintf("old-pod-%02d", i), testPeerID, "previous")})
	}
	vm := newTestVM(t, testConfig(), objs...)
	vm.client.PrependReactor("delete", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.DeleteAction).GetName() == "old-pod-07" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "old-pod-07", nil)
		}
		return false, nil, nil
	})
	swept := make(chan struct{})
	vm.sweep(t.Context(), swept)
	select {
	case <-swept:
	default:
		t.Fatal("the first sweep did not let launches go on")
	}
	pods, secrets, _ := names(t, vm)
	require.Empty(t, pods)
	require.Equal(t, []string{"old-pod-07"}, secrets, "only the delete that failed is left")
}

// Launches go on once the Pods of earlier runs are deleted: the Secrets and
// Jobs are deleted after that.
func TestFirstSweepOpensLaunchesOnceThePodsAreDeleted(t *testing.T) {
	vm := newTestVM(t, testConfig(),
		&corev1.Pod{ObjectMeta: objMeta("old-pod", testPeerID, "previous")},
		&corev1.Secret{ObjectMeta: objMeta("old-pod", testPeerID, "previous")},
		&batchv1.Job{ObjectMeta: objMeta("old-job", testPeerID, "previous")})
	swept := make(chan struct{})
	var openAtPodDelete, openAtOthers []bool
	open := func() bool {
		select {
		case <-swept:
			return true
		default:
			return false
		}
	}
	vm.client.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetResource().Resource == "pods" {
			openAtPodDelete = append(openAtPodDelete, open())
		} else {
			openAtOthers = append(openAtOthers, open())
		}
		return false, nil, nil
	})
	vm.sweep(t.Context(), swept)
	require.Equal(t, []bool{false}, openAtPodDelete, "launches wait for the pod's delete")
	require.Equal(t, []bool{true, true}, openAtOthers, "the secret and the job are deleted after launches went on")
}
