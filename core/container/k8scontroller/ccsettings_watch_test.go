/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/kube"
	"github.com/pkg/errors"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

const testSettingsConfigMap = "chaincode-settings"

// testCCLabel is the package label of testCCID.
const testCCLabel = "mycc_1.0"

func settingsConfig() *config.Config {
	c := testConfig()
	c.ChaincodeConfigMap = testSettingsConfigMap
	return c
}

func settingsConfigMap(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: testSettingsConfigMap, Namespace: testNamespace, UID: "settings-uid"},
		Data:       data,
	}
}

// updateSettings writes data into the ConfigMap (creating it if needed)
// and waits until the VM's settings cache holds it.
func updateSettings(t *testing.T, vm *testVM, data map[string]string) {
	t.Helper()
	c := vm.cache.settings
	sub, cancel := c.tracker.Subscribe(testNamespace, testSettingsConfigMap)
	defer cancel()
	cms := vm.client.CoreV1().ConfigMaps(testNamespace)
	_, err := cms.Update(t.Context(), settingsConfigMap(data), metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(t.Context(), settingsConfigMap(data), metav1.CreateOptions{})
	}
	require.NoError(t, err)
	awaitSettings(t, sub, func(cm *corev1.ConfigMap) bool { return cm != nil && equalData(cm.Data, data) })
}

func equalData(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// awaitSettings waits for an event of the settings ConfigMap for which done
// is true (cm nil: deleted).
func awaitSettings(t *testing.T, sub *kube.Subscription, done func(cm *corev1.ConfigMap) bool) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case <-sub.Ready():
		case <-timeout:
			t.Fatal("the settings cache did not see the change")
		}
		for _, ev := range sub.Drain() {
			cm, _ := ev.Object.(*corev1.ConfigMap)
			if ev.Type == watch.Deleted {
				cm = nil
			}
			if done(cm) {
				return
			}
		}
	}
}

func chaincodeContainerOf(t *testing.T, vm *testVM, podName string) (*corev1.Pod, corev1.Container) {
	t.Helper()
	pod, err := getPod(t, vm, podName)
	require.NoError(t, err)
	return pod, pod.Spec.Containers[0]
}

// A change of the ConfigMap applies at the next launch of the chaincode,
// read from the one informer of the ConfigMap; the running pod is left
// alone.
func TestSettingsChangeAppliesAtNextLaunch(t *testing.T) {
	vm := newTestVM(t, settingsConfig(), settingsConfigMap(map[string]string{
		testCCLabel: "resources: {limits: {memory: 128Mi}}\npodAnnotations: {example.com/rev: one}",
	}))
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	pod, c := chaincodeContainerOf(t, vm, inst.PodName())
	require.Equal(t, resource.MustParse("128Mi"), c.Resources.Limits[corev1.ResourceMemory])
	require.Equal(t, "one", pod.Annotations["example.com/rev"])
	firstUID := pod.UID

	updateSettings(t, vm, map[string]string{
		testCCLabel: "resources: {limits: {memory: 256Mi}}\npodAnnotations: {example.com/rev: two}\nenv: {LOG_FORMAT: json}",
	})
	pod, c = chaincodeContainerOf(t, vm, inst.PodName())
	require.Equal(t, firstUID, pod.UID)
	require.Equal(t, "one", pod.Annotations["example.com/rev"], "the running pod is not touched")

	require.NoError(t, inst.Start(testTLS))
	pod, c = chaincodeContainerOf(t, vm, inst.PodName())
	require.Equal(t, resource.MustParse("256Mi"), c.Resources.Limits[corev1.ResourceMemory])
	require.Equal(t, "two", pod.Annotations["example.com/rev"])
	require.Contains(t, c.Env, corev1.EnvVar{Name: "LOG_FORMAT", Value: "json"})

	// The entry removed: the global template again.
	updateSettings(t, vm, map[string]string{"other": "{}"})
	require.NoError(t, inst.Start(testTLS))
	pod, c = chaincodeContainerOf(t, vm, inst.PodName())
	require.Empty(t, c.Resources.Limits)
	require.NotContains(t, pod.Annotations, "example.com/rev")

	// One informer, restricted to the ConfigMap by name, however many
	// launches: the launches read its cache.
	var lists []string
	for _, a := range vm.client.Actions() {
		if a.GetResource().Resource != "configmaps" {
			continue
		}
		switch a := a.(type) {
		case k8stesting.ListActionImpl:
			lists = append(lists, a.GetListRestrictions().Fields.String())
		case k8stesting.GetActionImpl:
			t.Fatalf("a launch read the ConfigMap from the API server: %v", a)
		}
	}
	require.LessOrEqual(t, len(lists), 1, "one LIST at informer start at most (it may precede ClearActions)")
	for _, l := range lists {
		require.Equal(t, "metadata.name="+testSettingsConfigMap, l)
	}
	require.Equal(t, 1, vm.watches.count("configmaps"), "one watch on configmaps")
}

// The informer's list and watch are restricted to the ConfigMap by a field
// selector.
func TestSettingsInformerSelectsTheConfigMapByName(t *testing.T) {
	client := fake.NewClientset()
	selectors := make(chan string, 4)
	client.PrependReactor("list", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		selectors <- "list " + a.(k8stesting.ListActionImpl).GetListRestrictions().Fields.String()
		return false, nil, nil
	})
	client.PrependWatchReactor("configmaps", func(a k8stesting.Action) (bool, watch.Interface, error) {
		selectors <- "watch " + a.(k8stesting.WatchActionImpl).GetWatchRestrictions().Fields.String()
		return false, nil, nil
	})
	c := newSettingsCache(client, testNamespace, testSettingsConfigMap)
	ctx, cancel := context.WithCancel(t.Context())
	defer func() {
		cancel()
		c.factory.Shutdown()
	}()
	c.factory.Start(ctx.Done())
	for _, want := range []string{"list metadata.name=" + testSettingsConfigMap, "watch metadata.name=" + testSettingsConfigMap} {
		select {
		case got := <-selectors:
			require.Equal(t, want, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s", want)
		}
	}
}

// An invalid entry fails the launch of its chaincode with an error naming
// the entry; other chaincode launches with its own settings.
func TestSettingsInvalidEntryFailsOnlyItsChaincode(t *testing.T) {
	vm := newTestVM(t, settingsConfig(), settingsConfigMap(map[string]string{
		testCCLabel: "resources: {limits: {memory: lots}}",
		"other_1":   "podLabels: {team: green}",
	}))
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	err := inst.Start(testTLS)
	require.ErrorContains(t, err, `chaincode `+testCCID+`: entry "mycc_1.0" of ConfigMap fabric/chaincode-settings (vm.k8s.chaincodeConfigMap) is invalid; `+
		`the chaincode is not launched until the entry is fixed or removed: cannot parse`)
	require.ErrorContains(t, err, "quantities must match")
	requireGone(t, vm, inst)

	other := vm.newInstance("other_1:abc", "GOLANG", testImage)
	require.NoError(t, other.Start(testTLS))
	pod, _ := chaincodeContainerOf(t, vm, other.PodName())
	require.Equal(t, "green", pod.Labels["team"])

	// An entry under binaryData is not read: an error, not silently ignored.
	cm := settingsConfigMap(nil)
	cm.BinaryData = map[string][]byte{testCCLabel: []byte("{}")}
	sub, cancel := vm.cache.settings.tracker.Subscribe(testNamespace, testSettingsConfigMap)
	_, err = vm.client.CoreV1().ConfigMaps(testNamespace).Update(t.Context(), cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	awaitSettings(t, sub, func(cm *corev1.ConfigMap) bool { return cm != nil && len(cm.BinaryData) == 1 })
	cancel()
	require.ErrorContains(t, inst.Start(testTLS), `entry "mycc_1.0" of ConfigMap fabric/chaincode-settings (vm.k8s.chaincodeConfigMap) is invalid; `+
		`the chaincode is not launched until the entry is fixed or removed: the entry is under binaryData, which is not read`)

	// Fixed: it launches.
	updateSettings(t, vm, map[string]string{testCCLabel: "resources: {limits: {memory: 1Gi}}"})
	require.NoError(t, inst.Start(testTLS))
	_, c := chaincodeContainerOf(t, vm, inst.PodName())
	require.Equal(t, resource.MustParse("1Gi"), c.Resources.Limits[corev1.ResourceMemory])
}

// Without the ConfigMap every chaincode uses the global template; once it
// is created, the next launch uses it.
func TestSettingsMissingConfigMap(t *testing.T) {
	vm := newTestVM(t, settingsConfig())
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	_, c := chaincodeContainerOf(t, vm, inst.PodName())
	require.Empty(t, c.Resources.Limits)

	updateSettings(t, vm, map[string]string{testCCLabel: "resources: {limits: {memory: 64Mi}}"})
	require.NoError(t, inst.Start(testTLS))
	_, c = chaincodeContainerOf(t, vm, inst.PodName())
	require.Equal(t, resource.MustParse("64Mi"), c.Resources.Limits[corev1.ResourceMemory])
}

// Without vm.k8s.chaincodeConfigMap nothing is read.
func TestSettingsOff(t *testing.T) {
	vm := newTestVM(t, testConfig(), settingsConfigMap(map[string]string{testCCLabel: "resources: {limits: {memory: 64Mi}}"}))
	require.Nil(t, vm.cache.settings)
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	_, c := chaincodeContainerOf(t, vm, inst.PodName())
	require.Empty(t, c.Resources.Limits)
	require.Zero(t, vm.watches.count("configmaps"))
}

// A peer that may not read the ConfigMap fails the launch, within the
// launch's bound, with an error naming the ConfigMap and the permission.
func TestSettingsUnreadableConfigMap(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("list", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "", errors.New("RBAC says no"))
	})
	c := newSettingsCache(client, testNamespace, testSettingsConfigMap)
	informerCtx, stop := context.WithCancel(t.Context())
	defer func() {
		stop()
		c.factory.Shutdown()
	}()
	c.factory.Start(informerCtx.Done())

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := c.lookup(ctx, testCCLabel)
	require.ErrorContains(t, err, "cannot read ConfigMap fabric/chaincode-settings (vm.k8s.chaincodeConfigMap): not listed yet "+
		"(the peer needs get, list and watch on configmaps in namespace fabric)")
}

// awaitEvent returns the next recorded event.
func awaitEvent(t *testing.T, rec *record.FakeRecorder) string {
	t.Helper()
	select {
	case e := <-rec.Events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event recorded")
		return ""
	}
}

// Each invalid entry is reported once per value with a Warning event on the
// ConfigMap naming the entry and what is wrong; valid entries and a
// ConfigMap that does not exist are no events.
func TestSettingsInvalidEntriesAreReported(t *testing.T) {
	vm := newTestVM(t, settingsConfig(), settingsConfigMap(map[string]string{
		"good_1": "resources: {limits: {memory: 64Mi}}",
		"bad_1":  "podLabels: {app.kubernetes.io/managed-by: me}",
	}))
	rec := record.NewFakeRecorder(100)
	vm.Events = rec
	require.NoError(t, vm.Start(t.Context()))
	t.Cleanup(vm.Shutdown)

	require.Equal(t, `Warning InvalidChaincodeSettings Entry "bad_1" is invalid; chaincode with label bad_1 is not launched until the entry is fixed or removed: `+
		`podLabels: app.kubernetes.io/managed-by is set by the peer, which selects its pods by it, and cannot be overridden`, awaitEvent(t, rec))

	// Another entry changes: bad_1 is not reported again, the new problem is.
	updateSettings(t, vm, map[string]string{
		"good_1": "resources: {limits: {memory: 128Mi}}",
		"bad_1":  "podLabels: {app.kubernetes.io/managed-by: me}",
		"bad_2":  "resourcez: {}",
	})
	ev := awaitEvent(t, rec)
	require.True(t, strings.HasPrefix(ev, `Warning InvalidChaincodeSettings Entry "bad_2" is invalid; `), ev)
	require.Contains(t, ev, `unknown field "resourcez"`)

	// bad_1's value changes: reported again.
	updateSettings(t, vm, map[string]string{
		"good_1": "resources: {limits: {memory: 128Mi}}",
		"bad_1":  "env: {CORE_PEER_LOCALMSPID: Org2MSP}",
		"bad_2":  "resourcez: {}",
	})
	ev = awaitEvent(t, rec)
	require.True(t, strings.HasPrefix(ev, `Warning InvalidChaincodeSettings Entry "bad_1" is invalid; `), ev)
	require.Contains(t, ev, "env: CORE_PEER_LOCALMSPID is set by the peer")

	// Deleted and created again: reported again.
	sub, cancel := vm.cache.settings.tracker.Subscribe(testNamespace, testSettingsConfigMap)
	require.NoError(t, vm.client.CoreV1().ConfigMaps(testNamespace).Delete(t.Context(), testSettingsConfigMap, metav1.DeleteOptions{}))
	awaitSettings(t, sub, func(cm *corev1.ConfigMap) bool { return cm == nil })
	cancel()
	updateSettings(t, vm, map[string]string{"bad_2": "resourcez: {}"})
	ev = awaitEvent(t, rec)
	require.True(t, strings.HasPrefix(ev, `Warning InvalidChaincodeSettings Entry "bad_2" is invalid; `), ev)
	require.Empty(t, recordedEvents(rec))
}

// The report's state: the missing ConfigMap is noted once until it exists
// again, an unchanged resourceVersion (a relist) reports nothing.
func TestSettingsReportState(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	vm := &VM{Events: rec}
	c := &settingsCache{namespace: testNamespace, name: testSettingsConfigMap}
	r := &settingsReport{VM: vm}
	r.observe(c, nil)
	require.True(t, r.missing)
	cm := settingsConfigMap(map[string]string{"bad_1": "x: y"})
	cm.ResourceVersion = "7"
	r.observe(c, cm)
	require.False(t, r.missing)
	require.Len(t, recordedEvents(rec), 1)
	r.reported = map[string]string{} // forget, to see that a relist is skipped
	r.observe(c, cm)
	require.Empty(t, recordedEvents(rec), "same resourceVersion: nothing new")
	r.observe(c, nil)
	require.True(t, r.missing)
	r.observe(c, cm)
	require.Len(t, recordedEvents(rec), 1, "recreated: reported again")
}

// The health check asks for read access to configmaps only when
// vm.k8s.chaincodeConfigMap is set.
func TestHealthCheckConfigMapPermissions(t *testing.T) {
	vm, _ := healthVM(t, settingsConfig())
	grantAllBut(vm, false, "list configmaps", "watch configmaps")
	require.EqualError(t, vm.HealthCheck(t.Context()), "missing permissions in namespace fabric: list configmaps, watch configmaps")

	cfg := settingsConfig()
	cfg.BuildNamespace = testBuildNamespace
	vm, _ = healthVM(t, cfg)
	grantAllBut(vm, false, "get configmaps")
	require.EqualError(t, vm.HealthCheck(t.Context()), "missing permissions in namespace fabric: get configmaps")

	vm, _ = healthVM(t, testConfig())
	grantAllBut(vm, false, "get configmaps", "list configmaps", "watch configmaps")
	require.NoError(t, vm.HealthCheck(t.Context()))
}
