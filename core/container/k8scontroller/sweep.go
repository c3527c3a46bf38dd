/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"time"

	"github.com/pkg/errors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// labelRun marks every object with the peer process (run) that created it.
const labelRun = "fabric-peer-k8s/run"

// orphanGrace is how old a Secret without its Pod must be before a sweep
// deletes it: Start creates the Secret just before the Pod.
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
	grace := int64(0)
	for _, p := range pods {
		err := client.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		if err != nil && !apierrors.IsNotFound(err) {
			return deleted, errors.Wrapf(err, "cannot delete pod %s/%s of an earlier run", ns, p.Name)
		}
		deleted++
	}

	secrets, err := vm.cache.secrets.Secrets(ns).List(sel)
	if err != nil {
		return deleted, errors.Wrapf(err, "cannot list secrets of earlier runs in namespace %s", ns)
	}
	for _, s := range secrets {
		if err := deleteSecret(ctx, client, ns, s.Name); err != nil {
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
		if err := deleteJob(ctx, client, buildNS, j.Name); err != nil {
			return deleted, errors.WithMessage(err, "earlier run")
		}
		deleted++
	}
	return deleted, nil
}

// sweepOrphanSecrets deletes this run's Secrets whose chaincode Pod is gone
// (a crash between creating the Secret and the Pod, or a Pod deleted while
// the peer could not delete its Secret). Secrets and Pods are read from the
// VM's informers: the sweep sends no request per Secret.
func (vm *VM) sweepOrphanSecrets(ctx context.Context, now time.Time) (int, error) {
	if _, err := vm.cache.ready(ctx); err != nil {
		return 0, err
	}
	ns, client := vm.Config.Namespace, vm.Client
	secrets, err := vm.cache.secrets.Secrets(ns).List(vm.ownSelector(false))
	if err != nil {
		return 0, errors.Wrapf(err, "cannot list secrets in namespace %s", ns)
	}
	pods := vm.cache.podLister[ns].Pods(ns)
	deleted := 0
	for _, s := range secrets {
		if now.Sub(s.CreationTimestamp.Time) < orphanGrace {
			continue
		}
		podName := ""
		for _, o := range s.OwnerReferences {
			if o.Kind == "Pod" {
				podName = o.Name
			}
		}
		if podName != "" {
			_, err := pods.Get(podName)
			if err == nil {
				continue
			}
			if !apierrors.IsNotFound(err) {
				return deleted, errors.Wrapf(err, "cannot read pod %s/%s from the cache", ns, podName)
			}
		}
		if err := deleteSecret(ctx, client, ns, s.Name); err != nil {
			return deleted, errors.WithMessage(err, "orphaned secret")
		}
		deleted++
	}
	return deleted, nil
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
	if n, err := vm.sweepOrphanSecrets(ctx, vm.Clock.Now()); err != nil {
		logger.Warningf("Sweep of namespace %s: %s", vm.Config.Namespace, err)
	} else if n > 0 {
		logger.Infof("Sweep of namespace %s: deleted %d secrets whose chaincode pod is gone", vm.Config.Namespace, n)
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
