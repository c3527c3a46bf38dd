/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"time"

	"github.com/pkg/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
)

// labelRun marks every object with the peer process (run) that created it.
const labelRun = "fabric-peer-k8s/run"

// orphanGrace is how old an object of this run that is no current launch's
// must be before a sweep deletes it: Start creates the Secret just before
// the Pod, and the informer cache may show a launch's objects before or
// after the launch is recorded.
const orphanGrace = time.Minute

// mustRequirement builds a label requirement from constant keys and
// sanitised values.
func mustRequirement(key string, op selection.Operator, values ...string) labels.Requirement {
	r, err := labels.NewRequirement(key, op, values)
	if err != nil {
		panic(err)
	}
	return *r
}

// ownSelector selects the objects this peer created; with otherRuns, only
// those of earlier runs (and of versions that set no run label).
func (vm *VM) ownSelector(otherRuns bool) labels.Selector {
	sel := ownLabels(vm.PeerID)
	if otherRuns {
		return sel.Add(mustRequirement(labelRun, selection.NotEquals, vm.RunID))
	}
	return sel.Add(mustRequirement(labelRun, selection.Equals, vm.RunID))
}

// sweepEarlierRuns deletes the Pods, Secrets and Jobs this peer created in
// earlier runs: their chaincode certificates died with that peer process.
// It reads them from the VM's informers.
func (vm *VM) sweepEarlierRuns(ctx context.Context) (int, error) {
	if _, err := vm.cache.ready(ctx); err != nil {
		return 0, err
	}
	ns, client := vm.Config.Namespace, vm.Client
	sel := vm.ownSelector(true)
	deleted := 0

	pods, err := vm.cache.podLister[ns].Pods(ns).List(sel)
	if err != nil {
		return deleted, errors.Wrapf(err, "cannot list pods of earlier runs in namespace %s", ns)
	}
	for _, p := range pods {
		if err := deletePod(ctx, client, ns, p.Name, p.UID, 0); err != nil {
			return deleted, errors.WithMessage(err, "earlier run")
		}
		deleted++
	}

	secrets, err := vm.cache.secrets.Secrets(ns).List(sel)
	if err != nil {
		return deleted, errors.Wrapf(err, "cannot list secrets of earlier runs in namespace %s", ns)
	}
	for _, s := range secrets {
		if err := deleteSecret(ctx, client, ns, s.Name, s.UID); err != nil {
			return deleted, errors.WithMessage(err, "earlier run")
		}
		deleted++
	}

	buildNS := vm.Config.BuildNamespace
	jobs, err := vm.cache.jobLister.Jobs(buildNS).List(sel)
	if err != nil {
		return deleted, errors.Wrapf(err, "cannot list jobs of earlier runs in namespace %s", buildNS)
	}
	for _, j := range jobs {
		if err := deleteJob(ctx, client, buildNS, j.Name, j.UID); err != nil {
			return deleted, errors.WithMessage(err, "earlier run")
		}
		deleted++
	}
	return deleted, nil
}

// componentChaincode is the component label of chaincode Pods and their
// Secrets (build pods have another).
const componentChaincode = "chaincode"

// sweepThisRun deletes this run's objects that belong to no current launch
// and are older than orphanGrace: Secrets whose owner Pod (by UID) is gone
// (a crash between creating the Secret and the Pod, or a Pod deleted while
// the peer could not delete its Secret), and Pods of superseded launches
// whose deletion failed. Objects are read from the VM's informers, the
// current launches from the VM's own record, which the cache may lag; every
// delete names the UID read.
func (vm *VM) sweepThisRun(ctx context.Context, now time.Time) (int, error) {
	if _, err := vm.cache.ready(ctx); err != nil {
		return 0, err
	}
	ns, client := vm.Config.Namespace, vm.Client
	// Chaincode objects only: the build pods of this run, in the same
	// namespace, belong to builds in flight.
	sel := vm.ownSelector(false).Add(mustRequirement(labelComponent, selection.Equals, componentChaincode))
	pods, err := vm.cache.podLister[ns].Pods(ns).List(sel)
	if err != nil {
		return 0, errors.Wrapf(err, "cannot list pods in namespace %s", ns)
	}
	secrets, err := vm.cache.secrets.Secrets(ns).List(sel)
	if err != nil {
		return 0, errors.Wrapf(err, "cannot list secrets in namespace %s", ns)
	}
	current := vm.launches.names()
	stale := func(m metav1.Object) bool {
		return !current[m.GetName()] && now.Sub(m.GetCreationTimestamp().Time) >= orphanGrace
	}

	live := make(map[types.UID]bool, len(pods))
	deleted := 0
	for _, p := range pods {
		if !stale(p) || p.DeletionTimestamp != nil {
			live[p.UID] = true
			continue
		}
		if err := deletePod(ctx, client, ns, p.Name, p.UID, vm.gracePeriodSeconds()); err != nil {
			return deleted, errors.WithMessage(err, "superseded launch")
		}
		deleted++
	}
	for _, s := range secrets {
		if !stale(s) || ownerLive(s, live) {
			continue
		}
		if err := deleteSecret(ctx, client, ns, s.Name, s.UID); err != nil {
			return deleted, errors.WithMessage(err, "orphaned secret")
		}
		deleted++
	}
	return deleted, nil
}

// ownerLive reports whether a Pod that owns s is among the live pods.
func ownerLive(s metav1.Object, live map[types.UID]bool) bool {
	for _, o := range s.GetOwnerReferences() {
		if o.Kind == "Pod" && live[o.UID] {
			return true
		}
	}
	return false
}

// sweep runs both sweeps once, bounded by the stop timeout.
func (vm *VM) sweep(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, vm.Config.StopTimeout)
	defer cancel()
	if n, err := vm.sweepEarlierRuns(ctx); err != nil {
		logger.Warningf("Sweep of namespace %s: %s", vm.Config.Namespace, err)
	} else if n > 0 {
		logger.Infof("Sweep of namespace %s: deleted %d objects left by earlier runs of peer %s", vm.Config.Namespace, n, vm.PeerID)
	}
	if n, err := vm.sweepThisRun(ctx, vm.Clock.Now()); err != nil {
		logger.Warningf("Sweep of namespace %s: %s", vm.Config.Namespace, err)
	} else if n > 0 {
		logger.Infof("Sweep of namespace %s: deleted %d objects of this run that belong to no current launch", vm.Config.Namespace, n)
	}
}

// runSweeper sweeps at once and then every interval (never when interval is 0
// after the first pass). It returns when ctx is done.
func (vm *VM) runSweeper(ctx context.Context, interval time.Duration) {
	vm.sweep(ctx)
	if interval <= 0 {
		return
	}
	t := vm.Clock.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			vm.sweep(ctx)
		}
	}
}
