/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"io"
	"sync"

	"github.com/pkg/errors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
)

// informerHealth keeps why one of the VM's shared informers last failed to
// list or watch. client-go retries such failures forever, with backoff,
// and tells only the informer's watch error handler why; without it a
// cache that cannot be filled shows as a bare "context deadline exceeded"
// in every wait. The cause goes into the errors of objectCache.ready and
// into HealthCheck, and it is logged once per distinct cause rather than
// at every retry.
type informerHealth struct {
	resource  string // as in RBAC rules: "pods", "jobs.batch"
	namespace string
	synced    cache.InformerSynced
	// progress is the informer's last synced resource version: when it
	// moved since a cause was logged, the same cause is logged again.
	progress func() string
	warn     func(template string, args ...interface{})

	mu       sync.Mutex
	err      error  // the last error; nil until one happens
	logged   string // the message last logged
	loggedAt string // progress when it was logged
}

// watchInformer records the list and watch errors of informer, which lists
// resource in namespace. It must run before the informer starts. The
// handler replaces client-go's default one, which logs every retry.
func watchInformer(resource, namespace string, informer cache.SharedIndexInformer) *informerHealth {
	h := &informerHealth{
		resource:  resource,
		namespace: namespace,
		synced:    informer.HasSynced,
		progress:  informer.LastSyncResourceVersion,
		warn:      logger.Warningf,
	}
	// Setting the handler of an informer that is not started cannot fail.
	_ = informer.SetWatchErrorHandlerWithContext(h.watchError)
	return h
}

// watchError is the informer's watch error handler: it runs in the
// informer's goroutine each time ListAndWatch fails, before the retry.
func (h *informerHealth) watchError(ctx context.Context, _ *cache.Reflector, err error) {
	if ctx.Err() != nil || !isFailure(err) {
		return
	}
	err = apiError(err)
	progress := h.progress()
	h.mu.Lock()
	h.err = err
	first := err.Error() != h.logged || progress != h.loggedAt
	if first {
		h.logged, h.loggedAt = err.Error(), progress
	}
	h.mu.Unlock()
	if first {
		h.warn("Kubernetes chaincode VM: cannot list or watch %s in namespace %s, retrying: %s", h.resource, h.namespace, err)
	}
}

// isFailure tells the errors that say something is wrong from the ends of a
// watch that are part of its normal life: the server closing it (EOF), or
// asking for a new list because the watched resource version is too old.
func isFailure(err error) bool {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return false
	case apierrors.IsResourceExpired(err), apierrors.IsGone(err):
		return false
	}
	return true
}

// apiError is the API server's answer inside err, which the reflector
// wraps with the Go type it lists ("failed to list *v1.Pod: ..."), or err.
func apiError(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if e, ok := status.(error); ok {
			return e
		}
	}
	return err
}

// lastError is the last list or watch error, nil before the first.
func (h *informerHealth) lastError() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// notFilled is the error of a cache that is not filled when a wait for it
// ended with cause: the last list or watch error when there is one.
func (h *informerHealth) notFilled(cause error) error {
	if err := h.lastError(); err != nil {
		cause = err
	}
	return errors.Errorf("the cache of %s in namespace %s is not filled: %v", h.resource, h.namespace, cause)
}

// fillError is notFilled when the cache is not filled and listing or
// watching failed, and nil otherwise.
func (h *informerHealth) fillError() error {
	if h.synced() {
		return nil
	}
	err := h.lastError()
	if err == nil {
		return nil
	}
	return h.notFilled(err)
}
