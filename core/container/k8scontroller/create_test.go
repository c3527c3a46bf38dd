/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

// failCreates makes the first n creates of resource fail with err; with
// applied, each is stored before the answer is lost.
func failCreates(vm *testVM, resource string, n int32, applied bool, err error) *atomic.Int32 {
	var calls atomic.Int32
	vm.client.PrependReactor("create", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) > n {
			return false, nil, nil
		}
		if applied {
			obj := a.(k8stesting.CreateAction).GetObject()
			obj.(metav1.Object).SetUID("uid-lost-answer")
			if terr := vm.client.Tracker().Create(a.GetResource(), obj, a.GetNamespace()); terr != nil {
				return true, nil, terr
			}
		}
		return true, nil, err
	})
	return &calls
}

// A create whose answer was lost (the object was stored) is sent again; the
// second attempt finds the name taken and uses the stored object.
func TestCreateWhoseAnswerWasLostUsesTheStoredObject(t *testing.T) {
	for _, resource := range []string{"pods", "secrets"} {
		t.Run(resource, func(t *testing.T) {
			vm := newTestVM(t, testConfig())
			calls := failCreates(vm, resource, 1, true, errors.New("unexpected error when reading response body. Please retry. Original error: unexpected EOF"))
			inst := vm.newInstance(testCCID, "GOLANG", testImage)
			require.NoError(t, inst.Start(testTLS))
			require.EqualValues(t, 2, calls.Load())

			pods, secrets, _ := names(t, vm)
			require.Equal(t, []string{inst.PodName()}, pods)
			require.Equal(t, []string{inst.PodName()}, secrets)
			podUID, secretUID := inst.launch.uids()
			if resource == "pods" {
				require.EqualValues(t, "uid-lost-answer", podUID, "the launch follows the stored pod")
			} else {
				require.EqualValues(t, "uid-lost-answer", secretUID, "the launch owns the stored secret")
			}
		})
	}
}

// An overloaded API server (429) is asked again; what it refused is not.
func TestCreateRetriesOnlyWhatMaySucceed(t *testing.T) {
	vm := newTestVM(t, testConfig())
	busy := apierrors.NewTooManyRequests("slow down", 0)
	calls := failCreates(vm, "pods", 2, false, busy)
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	require.EqualValues(t, 3, calls.Load())

	vm = newTestVM(t, testConfig())
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New("quota exceeded"))
	calls = failCreates(vm, "pods", 1, false, forbidden)
	inst = vm.newInstance(testCCID, "GOLANG", testImage)
	err := inst.Start(testTLS)
	require.ErrorContains(t, err, "chaincode "+testCCID+": cannot create pod "+testNamespace+"/"+inst.PodName())
	require.True(t, apierrors.IsForbidden(errors.Unwrap(err)) || apierrors.IsForbidden(err))
	require.EqualValues(t, 1, calls.Load())
	pods, secrets, _ := names(t, vm)
	require.Empty(t, pods)
	require.Empty(t, secrets, "the secret of the failed launch is deleted")
}

// After createAttempts lost answers the launch fails, naming the pod.
func TestCreateGivesUp(t *testing.T) {
	vm := newTestVM(t, testConfig())
	calls := failCreates(vm, "pods", createAttempts, false, errors.New("connection reset by peer"))
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	err := inst.Start(testTLS)
	require.ErrorContains(t, err, "chaincode "+testCCID+": cannot create pod "+testNamespace+"/"+inst.PodName()+": connection reset by peer")
	require.EqualValues(t, createAttempts, calls.Load())
}

// A name taken at the first attempt is someone else's object: no adoption.
func TestCreateDoesNotAdoptAnObjectOfAnotherRun(t *testing.T) {
	vm := newTestVM(t, testConfig())
	_, err := createOwn(t.Context(), vm.VM, "pod", testNamespace, "taken",
		func(ctx context.Context) (*corev1.Pod, error) {
			return nil, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "pods"}, "taken")
		},
		func(ctx context.Context) (*corev1.Pod, error) {
			t.Fatal("no get after a first create that found the name taken")
			return nil, nil
		})
	require.ErrorContains(t, err, "cannot create pod "+testNamespace+"/taken")

	// A retry that finds an object of another run refuses it.
	attempts := 0
	_, err = createOwn(t.Context(), vm.VM, "pod", testNamespace, "taken",
		func(ctx context.Context) (*corev1.Pod, error) {
			attempts++
			if attempts == 1 {
				return nil, errors.New("unexpected EOF")
			}
			return nil, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "pods"}, "taken")
		},
		func(ctx context.Context) (*corev1.Pod, error) {
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "taken", Labels: map[string]string{labels.Run: "other"}}}, nil
		})
	require.ErrorContains(t, err, `pod `+testNamespace+`/taken exists but belongs to peer run "other", not to this one ("current")`)
}
