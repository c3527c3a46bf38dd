/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/kube"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/pkg/errors"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// A pre-pull makes a chaincode image present on every node its pods may run
// on before the chaincode's first launch, so that the launch does not wait
// for the kubelet to pull it. It is one DaemonSet (spec.NewPrePullDaemonSet),
// placed like the chaincode's pods, followed through the VM's informers
// until each of its pods reports the image present (kube.ImagePresent), and
// then deleted, by UID, whatever the outcome. It runs in the background of
// the Build that asked for it, vm.k8s.prePull.maxConcurrent at a time and
// each within vm.k8s.prePull.timeout; Shutdown cancels the pre-pulls and
// waits for their deletes. A failed pre-pull costs nothing but the pull it
// meant to save: the launch pulls as without it.

// Event reasons of pre-pulls, recorded on their DaemonSet.
const (
	reasonPrePulled         = "PrePulled"
	reasonPrePullIncomplete = "PrePullIncomplete"
)

// prePulls are the pre-pulls in flight. The zero value is ready.
type prePulls struct {
	slots buildSlots

	mu       sync.Mutex
	inFlight map[string]bool // by image
	closed   bool
	wg       sync.WaitGroup
}

// begin records a pre-pull of image; false when one is in flight already or
// the VM is shutting down.
func (p *prePulls) begin(image string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.inFlight[image] {
		return false
	}
	if p.inFlight == nil {
		p.inFlight = map[string]bool{}
	}
	p.inFlight[image] = true
	p.wg.Add(1)
	return true
}

func (p *prePulls) end(image string) {
	p.mu.Lock()
	delete(p.inFlight, image)
	p.mu.Unlock()
	p.wg.Done()
}

// close lets no pre-pull begin any more and waits, at most until deadline,
// for those in flight; it reports whether they ended.
func (p *prePulls) close(deadline time.Time) bool {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return waitGroupTimeout(&p.wg, time.Until(deadline))
}

// prePull starts the pre-pull of image, which chaincode ccid runs, in the
// background, unless vm.k8s.prePull.enabled is false, the VM is not started
// or the same image is being pre-pulled.
func (vm *VM) prePull(ccid, image string) {
	if !vm.Config.PrePull.Enabled {
		return
	}
	vm.life.mu.Lock()
	ctx := vm.life.ctx
	vm.life.mu.Unlock()
	if ctx == nil || ctx.Err() != nil || !vm.prePulls.begin(image) {
		return
	}
	go func() {
		defer vm.prePulls.end(image)
		vm.runPrePull(ctx, ccid, image)
	}()
}

// runPrePull runs one pre-pull and logs and measures its outcome; one that
// parent's end (the VM's shutdown) stopped is only noted.
func (vm *VM) runPrePull(parent context.Context, ccid, image string) {
	cfg := vm.Config.PrePull
	ctx, cancel := context.WithTimeout(parent, cfg.Timeout)
	defer cancel()
	start := vm.Clock.Now()
	if err := vm.prePulls.slots.acquire(ctx, cfg.MaxConcurrent); err != nil {
		if parent.Err() != nil {
			return
		}
		logger.Warningf("Chaincode %s: image %s not pre-pulled: no pre-pull slot of %d (%sprePull.maxConcurrent) within %s",
			ccid, image, cfg.MaxConcurrent, config.Prefix, cfg.Timeout)
		return
	}
	defer vm.prePulls.slots.release()

	progress, err := vm.prePullOnce(ctx, ccid, image)
	took := vm.Clock.Since(start)
	if err != nil && parent.Err() != nil {
		logger.Infof("Chaincode %s: pre-pull of image %s stopped by the VM's shutdown (DaemonSet deleted)", ccid, image)
		return
	}
	vm.Metrics.ImagePrePull.With("chaincode", ccid, "success", strconv.FormatBool(err == nil)).Observe(took.Seconds())
	if err != nil {
		logger.Warningf("Chaincode %s: %s (its first launch on those nodes pulls the image)", ccid, err)
		return
	}
	logger.Infof("Chaincode %s: image %s present on %s after %s", ccid, image, progress.count(), took.Round(time.Millisecond))
}

// prePullOnce creates the pre-pull DaemonSet, waits until every node it
// places a pod on holds the image, and deletes it again.
func (vm *VM) prePullOnce(ctx context.Context, ccid, image string) (*prePullProgress, error) {
	settings, err := vm.chaincodeSettings(ctx, ccid)
	if err != nil {
		return nil, errors.WithMessagef(err, "image %s not pre-pulled", image)
	}
	ns := vm.Config.Namespace
	ds := spec.NewPrePullDaemonSet(vm.Config, spec.PrePullParams{
		Name:     spec.PrePullName(vm.NetworkID, vm.PeerID, ccid, vm.launchID()),
		CCID:     ccid,
		PeerID:   vm.PeerID,
		Image:    image,
		Owner:    vm.Owner,
		Settings: settings,
	})
	vm.stampRun(&ds.ObjectMeta)
	vm.stampRun(&ds.Spec.Template.ObjectMeta)
	created, err := vm.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil {
		return nil, errors.Wrapf(err, "image %s not pre-pulled: cannot create daemonset %s/%s", image, ns, ds.Name)
	}
	defer func() {
		// Deleted whatever ended the wait, the VM's shutdown included.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), vm.Config.StopTimeout)
		defer cancel()
		if err := kube.DeleteDaemonSet(dctx, vm.Client, ns, created.Name, created.UID); err != nil {
			logger.Warningf("Chaincode %s: pre-pull not removed (the sweep of the next run removes it): %s", ccid, err)
		}
	}()

	progress, err := vm.awaitPrePull(ctx, created)
	if err != nil {
		if errors.Is(context.Cause(ctx), context.Canceled) {
			return progress, err // the VM's shutdown: no warning
		}
		vm.event(created, corev1.EventTypeWarning, reasonPrePullIncomplete, "Image %s present on %s: %s", image, progress.count(), progress.missing())
		return progress, errors.WithMessagef(err, "image %s pre-pulled on %s by daemonset %s/%s; %s",
			image, progress.count(), ns, created.Name, progress.missing())
	}
	vm.event(created, corev1.EventTypeNormal, reasonPrePulled, "Image %s present on %s", image, progress.count())
	return progress, nil
}

// prePullProgress is what the informers show of one pre-pull.
type prePullProgress struct {
	// desired is the number of nodes the DaemonSet controller places a pod
	// on, once it has seen the DaemonSet (known).
	desired int32
	known   bool
	present map[string]bool   // nodes holding the image
	waiting map[string]string // nodes not holding it yet: why
}

// done reports whether every node the DaemonSet covers holds the image.
func (p *prePullProgress) done() bool {
	return p.known && int32(len(p.present)) >= p.desired
}

// count is "<n> of <desired> nodes".
func (p *prePullProgress) count() string {
	if p == nil || !p.known {
		return "no node (the DaemonSet controller did not place its pods)"
	}
	return fmt.Sprintf("%d of %d nodes", len(p.present), p.desired)
}

// missing names the nodes that do not hold the image, with why.
func (p *prePullProgress) missing() string {
	if p == nil || len(p.waiting) == 0 {
		return "no pod reported a pull failure"
	}
	var parts []string
	for _, node := range slices.Sorted(maps.Keys(p.waiting)) {
		parts = append(parts, "node "+node+": "+p.waiting[node])
	}
	return strings.Join(parts, "; ")
}

// observe updates p from the DaemonSet's pods in the cache.
func (p *prePullProgress) observe(pods []*corev1.Pod) {
	p.present, p.waiting = map[string]bool{}, map[string]string{}
	for _, pod := range pods {
		node := pod.Spec.NodeName
		switch {
		case node == "" || pod.DeletionTimestamp != nil:
		case kube.ImagePresent(pod, spec.PrePullContainer):
			p.present[node] = true
			delete(p.waiting, node)
		case !p.present[node]:
			p.waiting[node] = pullState(pod)
		}
	}
}

// pullState says why the pre-pull pod has not got its image yet.
func pullState(pod *corev1.Pod) string {
	cs := kube.ContainerStatus(pod, spec.PrePullContainer)
	if cs == nil || cs.State.Waiting == nil || cs.State.Waiting.Reason == "" {
		return "pod " + pod.Name + " " + string(pod.Status.Phase)
	}
	w := cs.State.Waiting
	if w.Message == "" {
		return "pod " + pod.Name + " " + w.Reason
	}
	return "pod " + pod.Name + " " + w.Reason + ": " + w.Message
}

// awaitPrePull follows the DaemonSet ds and its pods through the VM's
// informers until each pod it placed holds the image, or ctx ends.
func (vm *VM) awaitPrePull(ctx context.Context, ds *appsv1.DaemonSet) (*prePullProgress, error) {
	progress := &prePullProgress{}
	stopped, err := vm.cache.ready(ctx)
	if err != nil {
		return progress, err
	}
	c := vm.cache
	if c.daemonSets == nil {
		return progress, errors.New("daemonsets are not followed")
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.daemonSetsHealth.synced) {
		return progress, c.daemonSetsHealth.notFilled(context.Cause(ctx))
	}
	ns := ds.Namespace
	sets, unsubscribeSet := c.daemonSets.Subscribe(ns, ds.Name)
	defer unsubscribeSet()
	pods, unsubscribePods := c.pods[ns].SubscribeMatching(func(o metav1.Object) bool {
		l := o.GetLabels()
		return l[labels.Component] == labels.ComponentPrePull && l[labels.Instance] == ds.Name && ownedBy(o, ds.UID)
	})
	defer unsubscribePods()

	current := map[string]*corev1.Pod{}
	for {
		select {
		case <-ctx.Done():
			return progress, errors.Wrap(context.Cause(ctx), "stopped waiting")
		case <-stopped:
			return progress, errors.New("the Kubernetes object cache stopped")
		case <-sets.Ready():
			for _, ev := range sets.Drain() {
				d, ok := ev.Object.(*appsv1.DaemonSet)
				if !ok || d == nil || d.UID != ds.UID {
					if ev.Object == nil && progress.known {
						return progress, errors.New("the daemonset was deleted")
					}
					continue
				}
				if d.Status.ObservedGeneration >= d.Generation {
					progress.desired, progress.known = d.Status.DesiredNumberScheduled, true
				}
			}
		case <-pods.Ready():
			for _, ev := range pods.Drain() {
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok || pod == nil {
					continue
				}
				if ev.Type == watch.Deleted {
					delete(current, pod.Name)
				} else {
					current[pod.Name] = pod
				}
			}
			progress.observe(slices.Collect(maps.Values(current)))
		}
		if progress.done() {
			return progress, nil
		}
	}
}
