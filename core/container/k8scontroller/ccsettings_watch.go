/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/kube"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// reasonInvalidSettings is the Warning event recorded on the ConfigMap of
// vm.k8s.chaincodeConfigMap for each entry that cannot be used.
const reasonInvalidSettings = "InvalidChaincodeSettings"

// settingsCache follows the ConfigMap of vm.k8s.chaincodeConfigMap through
// a shared informer of its own, restricted to that one object by a field
// selector (the other informers select by label, which the operator's
// ConfigMap does not carry). Launches read the informer's cache, so a change
// applies at the next launch of the chaincode it is about; running pods are
// left alone.
type settingsCache struct {
	namespace, name string
	factory         informers.SharedInformerFactory
	informer        cache.SharedIndexInformer
	tracker         *kube.Tracker
}

func newSettingsCache(client kubernetes.Interface, namespace, name string) *settingsCache {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = sel }))
	informer := factory.Core().V1().ConfigMaps().Informer()
	return &settingsCache{
		namespace: namespace,
		name:      name,
		factory:   factory,
		informer:  informer,
		tracker: kube.NewTracker(informer, func(ctx context.Context, n string) (runtime.Object, error) {
			return client.CoreV1().ConfigMaps(namespace).Get(ctx, n, metav1.GetOptions{})
		}),
	}
}

// ref names the ConfigMap in messages.
func (c *settingsCache) ref() string {
	return "ConfigMap " + c.namespace + "/" + c.name + " (" + config.Prefix + "chaincodeConfigMap)"
}

// waitSynced waits, at most until ctx ends, until the informer has listed
// the ConfigMap once.
func (c *settingsCache) waitSynced(ctx context.Context) error {
	if c.informer.HasSynced() {
		return nil
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.informer.HasSynced) {
		return errors.Errorf("cannot read %s: not listed yet (the peer needs get, list and watch on configmaps in namespace %s): %v",
			c.ref(), c.namespace, context.Cause(ctx))
	}
	return nil
}

// current returns the cached ConfigMap, nil when it does not exist. It is
// the informer's object: it must not be modified.
func (c *settingsCache) current() (*corev1.ConfigMap, error) {
	obj, exists, err := c.informer.GetStore().GetByKey(c.namespace + "/" + c.name)
	if err != nil {
		return nil, errors.Wrapf(err, "cannot read %s from the cache", c.ref())
	}
	if !exists {
		return nil, nil
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return nil, errors.Errorf("cannot read %s from the cache: unexpected %T", c.ref(), obj)
	}
	return cm, nil
}

// lookup returns the settings of the chaincode with package label label in
// the ConfigMap's current state: nil when the ConfigMap or the entry does
// not exist, an error naming the entry when it is invalid.
func (c *settingsCache) lookup(ctx context.Context, label string) (*config.ChaincodeSettings, error) {
	if err := c.waitSynced(ctx); err != nil {
		return nil, err
	}
	cm, err := c.current()
	if err != nil || cm == nil {
		return nil, err
	}
	s, err := entrySettings(cm, label)
	if err != nil {
		return nil, errors.WithMessagef(err, "entry %q of %s is invalid; the chaincode is not launched until the entry is fixed or removed",
			label, c.ref())
	}
	return s, nil
}

// entrySettings parses the entry key of cm: nil when there is none.
func entrySettings(cm *corev1.ConfigMap, key string) (*config.ChaincodeSettings, error) {
	if value, ok := cm.Data[key]; ok {
		return config.ParseChaincodeSettings(key, value)
	}
	if _, ok := cm.BinaryData[key]; ok {
		return nil, errBinaryData
	}
	return nil, nil
}

// chaincodeSettings returns the settings the launch of ccid uses: nil when
// vm.k8s.chaincodeConfigMap is not set or holds nothing for its label.
func (vm *VM) chaincodeSettings(ctx context.Context, ccid string) (*config.ChaincodeSettings, error) {
	if vm.cache.settings == nil {
		return nil, nil
	}
	return vm.cache.settings.lookup(ctx, spec.ChaincodeLabel(ccid))
}

// errBinaryData is the problem of an entry under binaryData.
var errBinaryData = errors.New("the entry is under binaryData, which is not read; put the settings under data")

// entryProblems parses every entry of cm and returns why each invalid one
// cannot be used, by key.
func entryProblems(cm *corev1.ConfigMap) map[string]error {
	problems := map[string]error{}
	for _, key := range append(slices.Sorted(maps.Keys(cm.Data)), slices.Sorted(maps.Keys(cm.BinaryData))...) {
		if _, err := entrySettings(cm, key); err != nil {
			problems[key] = err
		}
	}
	return problems
}

// settingsReport tells operators about the ConfigMap as it changes: which
// chaincodes it configures, each invalid entry (a log line and a Warning
// event on the ConfigMap, once per value of the entry), and, once, that it
// does not exist.
type settingsReport struct {
	VM *VM
	// reported holds the value of each invalid entry last reported.
	reported map[string]string
	// resourceVersion of the ConfigMap last reported; a relist delivers
	// the same object again.
	resourceVersion string
	missing         bool
}

// observe reports the ConfigMap's new state, cm nil when it does not exist.
func (r *settingsReport) observe(c *settingsCache, cm *corev1.ConfigMap) {
	if cm == nil {
		if !r.missing {
			logger.Infof("Kubernetes chaincode VM: %s does not exist: every chaincode is launched with the global %s* settings", c.ref(), config.Prefix)
		}
		r.missing, r.resourceVersion, r.reported = true, "", map[string]string{}
		return
	}
	r.missing = false
	if cm.ResourceVersion != "" && cm.ResourceVersion == r.resourceVersion {
		return
	}
	r.resourceVersion = cm.ResourceVersion

	problems := entryProblems(cm)
	var valid []string
	for _, key := range slices.Sorted(maps.Keys(cm.Data)) {
		if problems[key] == nil {
			valid = append(valid, key)
		}
	}
	logger.Infof("Kubernetes chaincode VM: %s (resourceVersion %s) holds settings for chaincode labels [%s], applied at their next launch; %d invalid entries",
		c.ref(), cm.ResourceVersion, strings.Join(valid, " "), len(problems))
	reported := map[string]string{}
	for _, key := range slices.Sorted(maps.Keys(problems)) {
		value := cm.Data[key]
		if v, ok := r.reported[key]; ok && v == value {
			reported[key] = value
			continue
		}
		reported[key] = value
		logger.Warningf("Kubernetes chaincode VM: %s: entry %q is invalid; chaincode with label %s is not launched until the entry is fixed or removed: %s",
			c.ref(), key, key, problems[key])
		r.VM.event(cm, corev1.EventTypeWarning, reasonInvalidSettings,
			"Entry %q is invalid; chaincode with label %s is not launched until the entry is fixed or removed: %s", key, key, truncateMessage(problems[key].Error()))
	}
	r.reported = reported
}

// reportSettings follows the ConfigMap until ctx ends and reports its
// changes (settingsReport). Start runs it once the event recorder is set.
func (vm *VM) reportSettings(ctx context.Context) {
	c := vm.cache.settings
	if c == nil {
		return
	}
	// Until the first list succeeds (the peer may lack the permission, which
	// /healthz names) there is nothing to report; launches fail meanwhile.
	if c.waitSynced(ctx) != nil {
		return
	}
	sub, cancel := c.tracker.Subscribe(c.namespace, c.name)
	defer cancel()
	r := &settingsReport{VM: vm}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Ready():
		}
		for _, ev := range sub.Drain() {
			cm, _ := ev.Object.(*corev1.ConfigMap)
			if ev.Type == watch.Deleted {
				cm = nil
			}
			r.observe(c, cm)
		}
	}
}
