/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"sort"
	"testing"
	"time"

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
	l := map[string]string{labelManagedBy: fieldManager, labelPeerID: labelValue(peer)}
	if run != "" {
		l[labelRun] = run
	}
	return metav1.ObjectMeta{Name: name, Namespace: testNamespace, Labels: l}
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
	vm.RunID = "current"

	n, err := vm.sweepEarlierRuns(context.Background())
	require.NoError(t, err)
	require.Equal(t, 4, n)

	pods, secrets, jobs := names(t, vm)
	require.Equal(t, []string{"current-pod", "other-peer-pod", "unrelated-pod"}, pods)
	require.Equal(t, []string{"current-secret", "other-peer-secret"}, secrets)
	require.Equal(t, []string{"other-peer-job"}, jobs)
}

func TestSweepEarlierRunsReportsAPIErrors(t *testing.T) {
	vm := newTestVM(t, testConfig(), &corev1.Pod{ObjectMeta: objMeta("old-pod", testPeerID, "previous")})
	vm.RunID = "current"
	vm.client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "old-pod", nil)
	})
	_, err := vm.sweepEarlierRuns(context.Background())
	require.ErrorContains(t, err, "cannot delete pod fabric/old-pod of an earlier run")
}

// orphanFixture is a live pod with its secret, secrets whose pod is gone or
// that were never adopted, and a secret too young to be swept.
func orphanFixture(now time.Time) []runtime.Object {
	old := metav1.NewTime(now.Add(-2 * orphanGrace))
	young := metav1.NewTime(now.Add(-orphanGrace / 2))
	secret := func(name, owner string, created metav1.Time) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: objMeta(name, testPeerID, "current")}
		s.CreationTimestamp = created
		if owner != "" {
			s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: owner, UID: types.UID("uid-" + owner)}}
		}
		return s
	}
	return []runtime.Object{
		&corev1.Pod{ObjectMeta: objMeta("live-pod", testPeerID, "current")},
		secret("with-live-pod", "live-pod", old),
		secret("pod-gone", "gone-pod", old),
		secret("never-adopted", "", old),
		secret("just-created", "", young),
	}
}

func TestSweepOrphanSecrets(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	vm := newTestVM(t, testConfig(), orphanFixture(now)...)
	vm.RunID = "current"

	n, err := vm.sweepOrphanSecrets(context.Background(), now)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	_, secrets, _ := names(t, vm)
	require.Equal(t, []string{"just-created", "with-live-pod"}, secrets)
}

func TestSweepReadsTheCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	vm := newTestVM(t, testConfig(), orphanFixture(now)...)
	vm.RunID = "current"

	_, err := vm.sweepOrphanSecrets(context.Background(), now)
	require.NoError(t, err)
	_, err = vm.sweepEarlierRuns(context.Background())
	require.NoError(t, err)
	for _, a := range vm.client.Actions() {
		require.Equal(t, "delete", a.GetVerb(), "the sweep reads from the informers, it sends no %s %s", a.GetVerb(), a.GetResource().Resource)
	}
	require.Len(t, vm.client.Actions(), 2, "the two orphaned secrets")
}
