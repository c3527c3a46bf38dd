/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/pkg/errors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A create whose outcome is unknown is sent up to createAttempts times, the
// first retry after createRetryInitial, doubling.
const (
	createAttempts     = 4
	createRetryInitial = 250 * time.Millisecond
)

// outcomeUnknown tells whether a failed create may have been applied or may
// succeed when sent again: the connection broke before the answer came (no
// API status: "unexpected EOF", a reset), or the API server timed out, was
// overloaded or unavailable.
func outcomeUnknown(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err)
}

// createOwn creates kind ns/name, an object named for one launch alone, and
// sends the create again while its outcome is unknown. A create that then
// finds the name taken gets the object: only an earlier attempt of this
// launch can have created it (it must carry this run's label).
func createOwn[T metav1.Object](ctx context.Context, vm *VM, kind, ns, name string,
	create func(context.Context) (T, error), get func(context.Context) (T, error),
) (T, error) {
	var zero T
	delay := createRetryInitial
	for attempt := 1; ; attempt++ {
		obj, err := create(ctx)
		switch {
		case err == nil:
			return obj, nil
		case attempt > 1 && apierrors.IsAlreadyExists(err):
			obj, err := get(ctx)
			if err != nil {
				return zero, errors.Wrapf(err, "cannot get %s %s/%s, created by an earlier attempt", kind, ns, name)
			}
			if run := obj.GetLabels()[labels.Run]; run != vm.RunID {
				return zero, errors.Errorf("%s %s/%s exists but belongs to peer run %q, not to this one (%q)", kind, ns, name, run, vm.RunID)
			}
			return obj, nil
		case attempt == createAttempts || !outcomeUnknown(err) || ctx.Err() != nil:
			return zero, errors.Wrapf(err, "cannot create %s %s/%s", kind, ns, name)
		}
		retryingCreate(kind, ns, name, err, attempt+1)
		select {
		case <-vm.Clock.After(delay):
		case <-ctx.Done():
			return zero, errors.Wrapf(err, "cannot create %s %s/%s", kind, ns, name)
		}
		delay *= 2
	}
}

// retryingCreate logs that a create is sent again (from a function of its
// own: the logger names the caller, which a generic function blurs).
func retryingCreate(kind, ns, name string, err error, attempt int) {
	logger.Warningf("Creating %s %s/%s: %s; sending it again (attempt %d of %d)", kind, ns, name, err, attempt, createAttempts)
}
