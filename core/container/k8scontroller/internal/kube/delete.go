/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"context"

	"github.com/pkg/errors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// The deletes here carry the UID of the object they mean as a precondition:
// a name can be reused by another object, and the cache the UID was read
// from may lag. A precondition that fails means the object meant is gone
// already, like NotFound, and is no error.

// deleteOptions are the options of a delete of the object with uid.
func deleteOptions(uid types.UID) metav1.DeleteOptions {
	return metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(uid))}
}

// alreadyGone reports whether a delete's error says the object meant no
// longer exists.
func alreadyGone(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsConflict(err)
}

// DeletePod deletes the pod ns/name with uid, with a grace period.
func DeletePod(ctx context.Context, c kubernetes.Interface, ns, name string, uid types.UID, gracePeriodSeconds int64) error {
	opts := deleteOptions(uid)
	opts.GracePeriodSeconds = &gracePeriodSeconds
	if err := c.CoreV1().Pods(ns).Delete(ctx, name, opts); err != nil && !alreadyGone(err) {
		return errors.Wrapf(err, "cannot delete pod %s/%s", ns, name)
	}
	return nil
}

// DeleteSecret deletes the secret ns/name with uid.
func DeleteSecret(ctx context.Context, c kubernetes.Interface, ns, name string, uid types.UID) error {
	if err := c.CoreV1().Secrets(ns).Delete(ctx, name, deleteOptions(uid)); err != nil && !alreadyGone(err) {
		return errors.Wrapf(err, "cannot delete secret %s/%s", ns, name)
	}
	return nil
}

// DeleteJob deletes the Job ns/name with uid and, in the background, its
// pods.
func DeleteJob(ctx context.Context, c kubernetes.Interface, ns, name string, uid types.UID) error {
	opts := deleteOptions(uid)
	policy := metav1.DeletePropagationBackground
	opts.PropagationPolicy = &policy
	if err := c.BatchV1().Jobs(ns).Delete(ctx, name, opts); err != nil && !alreadyGone(err) {
		return errors.Wrapf(err, "cannot delete job %s/%s", ns, name)
	}
	return nil
}

// DeleteDaemonSet deletes the DaemonSet ns/name with uid and, in the
// background, its pods.
func DeleteDaemonSet(ctx context.Context, c kubernetes.Interface, ns, name string, uid types.UID) error {
	opts := deleteOptions(uid)
	policy := metav1.DeletePropagationBackground
	opts.PropagationPolicy = &policy
	if err := c.AppsV1().DaemonSets(ns).Delete(ctx, name, opts); err != nil && !alreadyGone(err) {
		return errors.Wrapf(err, "cannot delete daemonset %s/%s", ns, name)
	}
	return nil
}
