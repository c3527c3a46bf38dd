/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// answerDeletes makes every delete of client fail with err (nil: succeed)
// and returns the options of the deletes asked for.
func answerDeletes(client *fake.Clientset, err error) *[]metav1.DeleteOptions {
	var seen []metav1.DeleteOptions
	client.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		seen = append(seen, a.(k8stesting.DeleteActionImpl).DeleteOptions)
		return true, nil, err
	})
	return &seen
}

func TestDeletesNameTheUID(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	seen := answerDeletes(client, nil)

	require.NoError(t, DeletePod(ctx, client, testNamespace, "p", "uid-p", 7))
	require.NoError(t, DeleteSecret(ctx, client, testNamespace, "s", "uid-s"))
	require.NoError(t, DeleteJob(ctx, client, testNamespace, "j", "uid-j"))
	require.NoError(t, DeleteDaemonSet(ctx, client, testNamespace, "d", "uid-d"))

	require.Len(t, *seen, 4)
	grace, background := int64(7), metav1.DeletePropagationBackground
	require.Equal(t, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions("uid-p"), GracePeriodSeconds: &grace}, (*seen)[0])
	require.Equal(t, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions("uid-s")}, (*seen)[1])
	require.Equal(t, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions("uid-j"), PropagationPolicy: &background}, (*seen)[2])
	require.Equal(t, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions("uid-d"), PropagationPolicy: &background}, (*seen)[3])
}

func TestDeletesOfObjectsGoneAlready(t *testing.T) {
	for name, err := range map[string]error{
		"not found":             apierrors.NewNotFound(corev1.Resource("pods"), "x"),
		"precondition conflict": apierrors.NewConflict(corev1.Resource("pods"), "x", errors.New("the UID in the precondition does not match")),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			client := fake.NewClientset()
			answerDeletes(client, err)
			require.NoError(t, DeletePod(ctx, client, testNamespace, "x", "uid", 0))
			require.NoError(t, DeleteSecret(ctx, client, testNamespace, "x", "uid"))
			require.NoError(t, DeleteJob(ctx, client, testNamespace, "x", "uid"))
			require.NoError(t, DeleteDaemonSet(ctx, client, testNamespace, "x", "uid"))
		})
	}
}

func TestDeleteFailures(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	answerDeletes(client, apierrors.NewForbidden(batchv1.Resource("jobs"), "x", errors.New("no")))
	deletes := map[string]func(types.UID) error{
		"pod":       func(uid types.UID) error { return DeletePod(ctx, client, testNamespace, "x", uid, 0) },
		"secret":    func(uid types.UID) error { return DeleteSecret(ctx, client, testNamespace, "x", uid) },
		"job":       func(uid types.UID) error { return DeleteJob(ctx, client, testNamespace, "x", uid) },
		"daemonset": func(uid types.UID) error { return DeleteDaemonSet(ctx, client, testNamespace, "x", uid) },
	}
	for kind, del := range deletes {
		err := del("uid")
		require.ErrorContains(t, err, "cannot delete "+kind+" ns/x: ")
		require.True(t, apierrors.IsForbidden(err), kind)
	}
}
