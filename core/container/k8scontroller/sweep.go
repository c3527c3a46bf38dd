/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/kube"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/pkg/errors"
	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// orphanGrace is how old an object of this run that is no current launch's
// must be before a sweep deletes it: Start creates the Secret just before
// the Pod, and the informer cache may show a launch's objects before or
// after the launch is recorded.
const orphanGrace = time.Minute

// mustRequirement builds a label requirement from constant keys and
// sanitised values.
func mustRequirement(key string, op selection.Operator, values ...string) k8slabels.Requirement {
	r, err := k8slabels.NewRequirement(key, op, values)
	if err != nil {
		panic(err)
	}
	return *r
}

// ownSelector selects the objects this peer created; with otherRuns, only
// those of earlier runs (and of versions that set no run label).
func (vm *VM) ownSelector(otherRuns bool) k8slabels.Selector {
	sel := ownLabels(vm.PeerID)
	if otherRuns {
		return sel.Add(mustRequirement(labels.Run, selection.NotEquals, vm.RunID))
	}
	return sel.Add(mustRequirement(labels.Run, selection.Equals, vm.RunID))
}

// sweepParallelism bounds the deletions the sweep of earlier runs has in
// flight: after a restart with many chaincodes it deletes hundreds of
// objects, which one at a time would queue behind the launches in the
// client's rate limiter.
const sweepParallelism = 8

// sweepEarlierRuns deletes the Pods, Secrets, Jobs and pre-pull DaemonSets
// this peer created in earlier runs: their chaincode certificates died with
// that peer process. It reads them from the VM's informers and deletes them
// in parallel, each by UID, the Pods first: podsDeleted (when not nil) is
// called once their deletes are done, so that launches need not wait for the
// rest (Secrets go with their Pods anyway). Pre-pull pods go with their
// DaemonSets, whose controller would replace them; DaemonSets are swept when
// their informer's cache is filled (pre-pull enabled and permitted), which
// with awaitDaemonSets it waits for within ctx. It returns how many objects
// it deleted and the first failure.
func (vm *VM) sweepEarlierRuns(ctx context.Context, awaitDaemonSets bool, podsDeleted func()) (int, error) {
	done := func() {
		if podsDeleted != nil {
			podsDeleted()
			podsDeleted = nil
		}
	}
	defer done()
	if _, err := vm.cache.ready(ctx); err != nil {
		return 0, err
	}
	ns, buildNS, client := vm.Config.Namespace, vm.Config.BuildNamespace, vm.Client
	sel := vm.ownSelector(true)

	pods, err := vm.cache.podLister[ns].Pods(ns).List(sel.Add(mustRequirement(labels.Component, selection.NotEquals, labels.ComponentPrePull)))
	if err != nil {
		return 0, errors.Wrapf(err, "cannot list pods of earlier runs in namespace %s", ns)
	}
	var deletes []func() error
	for _, p := range pods {
		deletes = append(deletes, func() error { return kube.DeletePod(ctx, client, ns, p.Name, p.UID, 0) })
	}
	deleted, err := deleteAll(deletes)
	done()
	if err != nil {
		return deleted, err
	}

	secrets, err := vm.cache.secrets.Secrets(ns).List(sel)
	if err != nil {
		return deleted, errors.Wrapf(err, "cannot list secrets of earlier runs in namespace %s", ns)
	}
	deletes = deletes[:0]
	for _, s := range secrets {
		deletes = append(deletes, func() error { return kube.DeleteSecret(ctx, client, ns, s.Name, s.UID) })
	}
	jobs, err := vm.cache.jobLister.Jobs(buildNS).List(sel)
	if err != nil {
		return deleted, errors.Wrapf(err, "cannot list jobs of earlier runs in namespace %s", buildNS)
	}
	for _, j := range jobs {
		deletes = append(deletes, func() error { return kube.DeleteJob(ctx, client, buildNS, j.Name, j.UID) })
	}
	if c := vm.cache; c.daemonSetLister != nil && (c.daemonSetsHealth.synced() || awaitDaemonSets && cache.WaitForCacheSync(ctx.Done(), c.daemonSetsHealth.synced)) {
		sets, err := c.daemonSetLister.DaemonSets(ns).List(sel)
		if err != nil {
			return deleted, errors.Wrapf(err, "cannot list daemonsets of earlier runs in namespace %s", ns)
		}
		for _, d := range sets {
			deletes = append(deletes, func() error { return kube.DeleteDaemonSet(ctx, client, ns, d.Name, d.UID) })
		}
	}
	n, err := deleteAll(deletes)
	return deleted + n, err
}

// deleteAll runs deletes, sweepParallelism at a time, all of them even when
// some fail, and returns how many succeeded and the first failure.
func deleteAll(deletes []func() error) (int, error) {
	var (
		g       errgroup.Group
		deleted atomic.Int64
	)
	g.SetLimit(sweepParallelism)
	for _, del := range deletes {
		g.Go(func() error {
			if err := del(); err != nil {
				return errors.WithMessage(err, "earlier run")
			}
			deleted.Add(1)
			return nil
		})
	}
	err := g.Wait()
	return int(deleted.Load()), err
}

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
	sel := vm.ownSelector(false).Add(mustRequirement(labels.Component, selection.Equals, labels.ComponentChaincode))
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
		if err := kube.DeletePod(ctx, client, ns, p.Name, p.UID, vm.gracePeriodSeconds()); err != nil {
			return deleted, errors.WithMessage(err, "superseded launch")
		}
		deleted++
	}
	for _, s := range secrets {
		if !stale(s) || ownerLive(s, live) {
			continue
		}
		if err := kube.DeleteSecret(ctx, client, ns, s.Name, s.UID); err != nil {
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

// sweep runs both sweeps once, each bounded by the stop timeout, and closes
// earlierSwept (when not nil: the first pass) once the Pods of earlier runs
// are deleted. Only the first pass waits for the DaemonSet cache: earlier
// runs' pre-pulls outlive a restart, later passes find none the first did
// not.
func (vm *VM) sweep(ctx context.Context, earlierSwept chan<- struct{}) {
	first := earlierSwept != nil
	earlierCtx, cancel := context.WithTimeout(ctx, vm.Config.StopTimeout)
	n, err := vm.sweepEarlierRuns(earlierCtx, first, func() {
		if first {
			close(earlierSwept)
		}
	})
	cancel()
	if err != nil {
		logger.Warningf("Sweep of namespace %s: %s", vm.Config.Namespace, err)
	} else if n > 0 {
		logger.Infof("Sweep of namespace %s: deleted %d objects left by earlier runs of peer %s", vm.Config.Namespace, n, vm.PeerID)
	}
	ctx, cancel = context.WithTimeout(ctx, vm.Config.StopTimeout)
	defer cancel()
	if n, err := vm.sweepThisRun(ctx, vm.Clock.Now()); err != nil {
		logger.Warningf("Sweep of namespace %s: %s", vm.Config.Namespace, err)
	} else if n > 0 {
		logger.Infof("Sweep of namespace %s: deleted %d objects of this run that belong to no current launch", vm.Config.Namespace, n)
	}
}

// runSweeper sweeps at once and then every interval (never when interval is 0
// after the first pass); it closes earlierSwept once the first sweep has
// deleted the Pods of earlier runs. It returns when ctx is done.
func (vm *VM) runSweeper(ctx context.Context, interval time.Duration, earlierSwept chan<- struct{}) {
	vm.sweep(ctx, earlierSwept)
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
			vm.sweep(ctx, nil)
		}
	}
}
