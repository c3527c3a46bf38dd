/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"slices"
	"sync"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/kube"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/pkg/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// objectCache is the VM's one view of the objects it owns: shared informers,
// restricted to this peer's labels, for Pods and Secrets in vm.k8s.namespace
// (with vm.k8s.prePull.enabled, pre-pull DaemonSets too) and Jobs and build
// Pods in vm.k8s.buildNamespace (one informer factory when both are the same
// namespace). Waits on single objects subscribe to it through kube.Trackers
// instead of opening watches of their own, so that the number of watches does
// not grow with the number of chaincodes.
type objectCache struct {
	factories map[string]informers.SharedInformerFactory
	pods      map[string]*kube.Tracker // by namespace
	jobs      *kube.Tracker
	podLister map[string]corelisters.PodLister
	secrets   corelisters.SecretLister
	jobLister batchlisters.JobLister
	// settings follows the ConfigMap of vm.k8s.chaincodeConfigMap; nil
	// when it is not set. ready does not wait for it: only launches need
	// it, and they wait themselves.
	settings *settingsCache
	// daemonSets follows the pre-pull DaemonSets; nil without pre-pull.
	// ready does not wait for it either: only pre-pulls need it.
	daemonSets       *kube.Tracker
	daemonSetLister  appslisters.DaemonSetLister
	daemonSetsHealth *informerHealth
	// informers records, for every informer above but the settings and the
	// DaemonSet ones, whether its cache is filled and why listing or
	// watching last failed; optional does for those two (when set up).
	informers []*informerHealth
	optional  []*informerHealth

	mu   sync.Mutex
	done <-chan struct{} // nil until started
}

// ownLabels selects every object this peer creates, of any run.
func ownLabels(peerID string) k8slabels.Selector {
	return k8slabels.NewSelector().Add(
		mustRequirement(labels.ManagedBy, selection.Equals, labels.ManagedByValue),
		mustRequirement(labels.PeerID, selection.Equals, spec.LabelValue(peerID)),
	)
}

// newObjectCache sets up the informers; nothing is listed or watched until
// start. Build pods carry the labels of their Job's template, which are ours.
func newObjectCache(client kubernetes.Interface, cfg *config.Config, peerID string) *objectCache {
	sel := ownLabels(peerID).String()
	c := &objectCache{
		factories: map[string]informers.SharedInformerFactory{},
		pods:      map[string]*kube.Tracker{},
		podLister: map[string]corelisters.PodLister{},
	}
	factory := func(ns string) informers.SharedInformerFactory {
		if f, ok := c.factories[ns]; ok {
			return f
		}
		f := informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
		c.factories[ns] = f
		return f
	}
	for _, ns := range []string{cfg.Namespace, cfg.BuildNamespace} {
		if _, ok := c.pods[ns]; ok {
			continue
		}
		pods := factory(ns).Core().V1().Pods()
		c.pods[ns] = kube.NewTracker(c.watched("pods", ns, pods.Informer()), func(ctx context.Context, name string) (runtime.Object, error) {
			return client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		})
		c.podLister[ns] = pods.Lister()
	}
	secrets := factory(cfg.Namespace).Core().V1().Secrets()
	c.watched("secrets", cfg.Namespace, secrets.Informer())
	c.secrets = secrets.Lister()
	buildNS := cfg.BuildNamespace
	jobs := factory(buildNS).Batch().V1().Jobs()
	c.jobs = kube.NewTracker(c.watched("jobs.batch", buildNS, jobs.Informer()), func(ctx context.Context, name string) (runtime.Object, error) {
		return client.BatchV1().Jobs(buildNS).Get(ctx, name, metav1.GetOptions{})
	})
	c.jobLister = jobs.Lister()
	if cfg.ChaincodeConfigMap != "" {
		c.settings = newSettingsCache(client, cfg.Namespace, cfg.ChaincodeConfigMap)
		c.optional = append(c.optional, watchInformer("configmaps", cfg.Namespace, c.settings.informer))
	}
	if cfg.PrePull.Enabled {
		ns := cfg.Namespace
		informer := factory(ns).Apps().V1().DaemonSets()
		ds := informer.Informer()
		c.daemonSetLister = informer.Lister()
		c.daemonSetsHealth = watchInformer("daemonsets.apps", ns, ds)
		c.optional = append(c.optional, c.daemonSetsHealth)
		c.daemonSets = kube.NewTracker(ds, func(ctx context.Context, name string) (runtime.Object, error) {
			return client.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		})
	}
	return c
}

// watched records the list and watch errors of informer, which lists
// resource in namespace, in c.informers, and returns informer. Every
// informer ready waits for goes through it before it is started.
func (c *objectCache) watched(resource, namespace string, informer cache.SharedIndexInformer) cache.SharedIndexInformer {
	c.informers = append(c.informers, watchInformer(resource, namespace, informer))
	return informer
}

// start starts the informers, which run until ctx ends. It does not wait
// for their caches: a peer starts while the API server is unreachable (and
// says so in /healthz); ready waits for them where they are needed.
func (c *objectCache) start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return errors.New("informers already started")
	}
	c.done = ctx.Done()
	for _, f := range c.factories {
		f.Start(ctx.Done())
	}
	if c.settings != nil {
		c.settings.factory.Start(ctx.Done())
	}
	return nil
}

// ready waits, at most until ctx ends, until the informers' caches are
// filled (the settings informer's aside), and returns the channel that is
// closed when the informers stop. Its error names the first cache not
// filled and why: the informer's last list or watch error (403 Forbidden,
// connection refused), or the end of ctx when the API server has not
// answered yet.
func (c *objectCache) ready(ctx context.Context) (<-chan struct{}, error) {
	done, err := c.stopped()
	if err != nil {
		return nil, err
	}
	for _, h := range c.informers {
		if !cache.WaitForCacheSync(ctx.Done(), h.synced) {
			return nil, h.notFilled(context.Cause(ctx))
		}
	}
	return done, nil
}

// fillError names the first informer whose cache is not filled because
// listing or watching fails, with the last error; nil when every cache is
// filled or still being filled, and before start. A filled cache whose
// watch fails later is no failure: the informer retries and keeps its
// objects, and its errors are logged.
func (c *objectCache) fillError() error {
	if !c.started() {
		return nil
	}
	for _, h := range slices.Concat(c.informers, c.optional) {
		if err := h.fillError(); err != nil {
			return err
		}
	}
	return nil
}

// shutdown waits until the informers' goroutines have ended; the context
// given to start must be done.
func (c *objectCache) shutdown() {
	for _, f := range c.factories {
		f.Shutdown()
	}
	if c.settings != nil {
		c.settings.factory.Shutdown()
	}
}

// started reports whether start was called (the informers may run with a
// context of their own, as in tests).
func (c *objectCache) started() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done != nil
}

// stopped is closed when the informers stop; nil (never ready) before start.
func (c *objectCache) stopped() (<-chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		return nil, errors.New("the Kubernetes object cache is not started")
	}
	return c.done, nil
}

// startInformers starts the VM's shared informers; they run until ctx ends.
// It returns once their caches are filled, or an error after a bound.
func (vm *VM) startInformers(ctx context.Context) error {
	return errors.WithMessage(vm.cache.start(ctx), "k8scontroller")
}

// stopInformers waits until the informers have stopped after the context
// given to startInformers ended.
func (vm *VM) stopInformers() {
	vm.cache.shutdown()
}
