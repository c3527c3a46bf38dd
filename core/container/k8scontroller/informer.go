/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"sync"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/pkg/errors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// objectCache is the VM's one view of the objects it owns: shared informers,
// restricted to this peer's labels, for Pods and Secrets in vm.k8s.namespace
// and Jobs and build Pods in vm.k8s.buildNamespace (one informer factory when
// both are the same namespace). Waits on single objects subscribe to it
// through trackers instead of opening watches of their own, so that the
// number of watches does not grow with the number of chaincodes.
type objectCache struct {
	factories map[string]informers.SharedInformerFactory
	pods      map[string]*tracker // by namespace
	jobs      *tracker
	podLister map[string]corelisters.PodLister
	secrets   corelisters.SecretLister
	jobLister batchlisters.JobLister
	// settings follows the ConfigMap of vm.k8s.chaincodeConfigMap; nil
	// when it is not set. ready does not wait for it: only launches need
	// it, and they wait themselves.
	settings *settingsCache
	// informers records, for every informer above but the settings one,
	// whether its cache is filled and why listing or watching last failed;
	// settingsHealth does for the settings informer.
	informers      []*informerHealth
	settingsHealth *informerHealth

	mu   sync.Mutex
	done <-chan struct{} // nil until started
}

// ownLabels selects every object this peer creates, of any run.
func ownLabels(peerID string) k8slabels.Selector {
	return k8slabels.NewSelector().Add(
		mustRequirement(labels.ManagedBy, selection.Equals, labels.ManagedByValue),
		mustRequirement(labels.PeerID, selection.Equals, labelValue(peerID)),
	)
}

// newObjectCache sets up the informers; nothing is listed or watched until
// start. Build pods carry the labels of their Job's template, which are ours.
func newObjectCache(client kubernetes.Interface, cfg *Config, peerID string) *objectCache {
	sel := ownLabels(peerID).String()
	c := &objectCache{
		factories: map[string]informers.SharedInformerFactory{},
		pods:      map[string]*tracker{},
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
		c.pods[ns] = newTracker(c.watched("pods", ns, pods.Informer()), func(ctx context.Context, name string) (runtime.Object, error) {
			return client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		})
		c.podLister[ns] = pods.Lister()
	}
	secrets := factory(cfg.Namespace).Core().V1().Secrets()
	c.watched("secrets", cfg.Namespace, secrets.Informer())
	c.secrets = secrets.Lister()
	buildNS := cfg.BuildNamespace
	jobs := factory(buildNS).Batch().V1().Jobs()
	c.jobs = newTracker(c.watched("jobs.batch", buildNS, jobs.Informer()), func(ctx context.Context, name string) (runtime.Object, error) {
		return client.BatchV1().Jobs(buildNS).Get(ctx, name, metav1.GetOptions{})
	})
	c.jobLister = jobs.Lister()
	if cfg.ChaincodeConfigMap != "" {
		c.settings = newSettingsCache(client, cfg.Namespace, cfg.ChaincodeConfigMap)
		c.settingsHealth = watchInformer("configmaps", cfg.Namespace, c.settings.informer)
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
	for _, h := range c.informers {
		if err := h.fillError(); err != nil {
			return err
		}
	}
	if c.settingsHealth != nil {
		return c.settingsHealth.fillError()
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

// trackedEvent is one change of a tracked object. The first event of every
// subscription is the cache's state when it subscribed: Added, or Deleted
// with a nil Object if the cache does not hold the object.
type trackedEvent struct {
	Type   watch.EventType
	Object runtime.Object
}

// tracker dispatches the events of one shared informer to the subscribers
// of single objects (by namespace/name) or of objects matching a predicate.
type tracker struct {
	store cache.Store
	// get reads an object from the API server when the cache does not show
	// it: the cache may lag behind our own writes.
	get func(ctx context.Context, name string) (runtime.Object, error)

	mu      sync.Mutex
	byKey   map[string]map[*subscription]struct{}
	matches map[*subscription]func(metav1.Object) bool
}

func newTracker(informer cache.SharedIndexInformer, get func(ctx context.Context, name string) (runtime.Object, error)) *tracker {
	t := &tracker{
		store:   informer.GetStore(),
		get:     get,
		byKey:   map[string]map[*subscription]struct{}{},
		matches: map[*subscription]func(metav1.Object) bool{},
	}
	// Registering on an informer that is not started cannot fail.
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { t.dispatch(watch.Added, obj) },
		UpdateFunc: func(_, obj interface{}) { t.dispatch(watch.Modified, obj) },
		DeleteFunc: func(obj interface{}) { t.dispatch(watch.Deleted, obj) },
	})
	return t
}

func (t *tracker) dispatch(typ watch.EventType, obj interface{}) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	o, ok := obj.(runtime.Object)
	if !ok {
		return
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	ev := trackedEvent{Type: typ, Object: o}
	t.mu.Lock()
	defer t.mu.Unlock()
	for s := range t.byKey[m.GetNamespace()+"/"+m.GetName()] {
		s.push(ev)
	}
	for s, match := range t.matches {
		if match(m) {
			s.push(ev)
		}
	}
}

// subscribe delivers the events of the object ns/name, starting with the
// cache's current state of it. Call cancel when done.
func (t *tracker) subscribe(ns, name string) (s *subscription, cancel func()) {
	key := ns + "/" + name
	s = newSubscription()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byKey[key] == nil {
		t.byKey[key] = map[*subscription]struct{}{}
	}
	t.byKey[key][s] = struct{}{}
	if obj, exists, err := t.store.GetByKey(key); err == nil && exists {
		s.push(trackedEvent{Type: watch.Added, Object: obj.(runtime.Object)})
	} else {
		s.push(trackedEvent{Type: watch.Deleted})
	}
	return s, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.byKey[key], s)
		if len(t.byKey[key]) == 0 {
			delete(t.byKey, key)
		}
	}
}

// subscribeMatching delivers the events of every object for which match is
// true, starting with an Added event for each such object in the cache.
func (t *tracker) subscribeMatching(match func(metav1.Object) bool) (s *subscription, cancel func()) {
	s = newSubscription()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.matches[s] = match
	for _, obj := range t.store.List() {
		if m, ok := obj.(metav1.Object); ok && match(m) {
			s.push(trackedEvent{Type: watch.Added, Object: obj.(runtime.Object)})
		}
	}
	return s, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.matches, s)
	}
}

// subscription queues the events for one waiter. Objects are the informer's
// cached objects: they must not be modified.
type subscription struct {
	mu     sync.Mutex
	queue  []trackedEvent
	signal chan struct{}
}

func newSubscription() *subscription {
	return &subscription{signal: make(chan struct{}, 1)}
}

func (s *subscription) push(ev trackedEvent) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// ready is signalled when events are queued.
func (s *subscription) ready() <-chan struct{} {
	return s.signal
}

// drain returns the queued events, oldest first.
func (s *subscription) drain() []trackedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// objectUID is the UID of a tracked object, or "" for none.
func objectUID(obj runtime.Object) string {
	if m, ok := obj.(metav1.Object); ok && obj != nil {
		return string(m.GetUID())
	}
	return ""
}

// confirmGone asks the API server whether the object called name, which the
// cache does not hold (with uid, if uid is set), is really gone. It returns
// the live object when it is not.
func (t *tracker) confirmGone(ctx context.Context, name, uid string) (runtime.Object, bool, error) {
	obj, err := t.get(ctx, name)
	if apierrors.IsNotFound(err) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if uid != "" && objectUID(obj) != uid {
		return obj, true, nil
	}
	return obj, false, nil
}
