//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// chaincodeSettingsConfigMap is vm.k8s.chaincodeConfigMap of the runtime
// suite's peers; the suite creates it only once the chaincode runs.
const chaincodeSettingsConfigMap = "chaincode-settings"

// settingsAnnotation is the pod annotation the settings spec sets per
// chaincode.
const settingsAnnotation = "e2e.example.com/settings"

// enableChaincodeSettings makes the peers read per-chaincode settings from
// chaincodeSettingsConfigMap.
func enableChaincodeSettings(pc *network.PeerConfig) {
	if pc.VM.Extra == nil {
		pc.VM.Extra = map[string]interface{}{}
	}
	pc.VM.Extra["chaincodeConfigMap"] = chaincodeSettingsConfigMap
}

// chaincodeSettingsSpec needs the network of the runtime suite with cc
// committed and running on both peers.
type chaincodeSettingsSpec struct {
	Ctx       context.Context
	Kube      *network.Kube
	H         *network.Harness
	Namespace string
	CCName    string
	CC        nwo.Chaincode
}

// run proves that a per-chaincode memory limit and annotation reach the pod
// launched after the ConfigMap is written, that a change applies at the
// next launch without touching running pods, that an invalid entry is
// reported by name (Event and log) while the chaincode keeps serving, and
// that an invalid entry for a chaincode fails its next launch with an error
// naming the entry (a RelaunchFailed Event), no pod started, until fixed.
func (e chaincodeSettingsSpec) run() {
	start := time.Now()
	cms := e.Kube.Client.CoreV1().ConfigMaps(e.Namespace)
	org1, org2 := e.H.Org1Peer(), e.H.Org2Peer()
	missing := fmt.Sprintf("ConfigMap %s/%s (vm.k8s.chaincodeConfigMap) does not exist", e.Namespace, chaincodeSettingsConfigMap)
	for _, p := range e.H.Peers {
		Expect(strings.Count(e.H.PeerLog(p), missing)).To(Equal(1), "peer %s logs the missing ConfigMap once", p.ID())
	}

	podOf := func(peer *nwo.Peer) *corev1.Pod {
		inv, err := e.Kube.Inventory(e.Ctx)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		for _, p := range network.LivePods(inv.ChaincodePods) {
			if p.Annotations[network.AnnotationCCID] == e.CC.PackageID && p.Labels[network.LabelPeerID] == peer.ID() {
				return &p
			}
		}
		return nil
	}
	memoryLimit := func(p *corev1.Pod) string {
		q, ok := p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
		if !ok {
			return ""
		}
		return q.String()
	}
	// relaunch deletes the chaincode pod of peer and returns the pod that
	// replaces it once an invoke succeeded.
	relaunch := func(peer *nwo.Peer, name string) *corev1.Pod {
		old := podOf(peer)
		ExpectWithOffset(1, old).NotTo(BeNil(), "no chaincode pod of %s", peer.ID())
		t0 := time.Now()
		ExpectWithOffset(1, e.Kube.Client.CoreV1().Pods(e.Namespace).Delete(e.Ctx, old.Name, metaDelete())).To(Succeed())
		// An invoke while the old pod's chaincode is still shutting down
		// (its grace period) fails with "chaincode stream terminated", as
		// it would with any runtime; wait until that pod is gone.
		EventuallyWithOffset(1, func() bool {
			p, err := e.Kube.Client.CoreV1().Pods(e.Namespace).Get(e.Ctx, old.Name, metaGet())
			if apierrors.IsNotFound(err) {
				return true
			}
			return err == nil && p.UID != old.UID
		}, cleanupTimeout, 200*time.Millisecond).Should(BeTrue(), "pod %s was not deleted", old.Name)
		e.H.InvokeOK(e.CCName, invokeTimeout, "put", "settings-"+name, "ok")
		var nw *corev1.Pod
		EventuallyWithOffset(1, func() string {
			nw = podOf(peer)
			if nw == nil {
				return ""
			}
			return string(nw.UID)
		}, cleanupTimeout, time.Second).ShouldNot(Or(BeEmpty(), Equal(string(old.UID))), "a new pod of %s", peer.ID())
		recordTiming("settings_"+name+"_pod_delete_to_invoke_ok", time.Since(t0))
		return nw
	}

	before2 := podOf(org2)
	Expect(before2).NotTo(BeNil(), "no chaincode pod of %s", org2.ID())
	Expect(memoryLimit(before2)).To(BeEmpty(), "the global template sets no memory limit")

	By("writing the ConfigMap: a memory limit and an annotation for " + e.CC.Label + ", and an invalid entry for other_1")
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: chaincodeSettingsConfigMap, Namespace: e.Namespace},
		Data: map[string]string{
			e.CC.Label: "resources:\n  requests: {memory: 32Mi}\n  limits: {memory: 160Mi}\npodAnnotations:\n  " + settingsAnnotation + ": rev-1\n",
			"other_1":  "resources:\n  limits: {memory: lots}\n",
		},
	}
	_, err := cms.Create(e.Ctx, cm, metav1.CreateOptions{FieldManager: "fabric-peer-k8s-e2e"})
	Expect(err).NotTo(HaveOccurred())
	written := time.Now()

	By("seeing each peer report the invalid entry by name: a Warning event on the ConfigMap and a log line")
	sel := fields.Set{
		"involvedObject.kind": "ConfigMap",
		"involvedObject.name": chaincodeSettingsConfigMap,
		"reason":              "InvalidChaincodeSettings",
	}.AsSelector().String()
	Eventually(func() ([]string, error) { return e.warnings(sel, chaincodeSettingsConfigMap) }, time.Minute, time.Second).Should(And(
		ContainElement(And(HavePrefix(org1.ID()+": "), ContainSubstring(`Entry "other_1" is invalid`), ContainSubstring("quantities must match"))),
		ContainElement(And(HavePrefix(org2.ID()+": "), ContainSubstring(`Entry "other_1" is invalid`))),
	))
	recordTiming("settings_write_to_invalid_entry_event", time.Since(written))
	for _, p := range e.H.Peers {
		Expect(e.H.PeerLog(p)).To(ContainSubstring(`entry "other_1" is invalid`), "log of %s", p.ID())
	}

	By("the chaincode still serves, and its running pods are not touched")
	Expect(e.H.QueryOK(org2, e.CCName, queryTimeout, "get", "greeting")).To(Equal("hello-from-k8s"))
	now2 := podOf(org2)
	Expect(now2).NotTo(BeNil())
	Expect(now2.UID).To(Equal(before2.UID))
	Expect(memoryLimit(now2)).To(BeEmpty())

	By("deleting the chaincode pod of " + org1.ID() + ": its next pod has the limit and the annotation")
	p := relaunch(org1, "rev1")
	Expect(memoryLimit(p)).To(Equal("160Mi"))
	req1 := p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory]
	Expect(req1.String()).To(Equal("32Mi"))
	Expect(p.Annotations).To(HaveKeyWithValue(settingsAnnotation, "rev-1"))
	Expect(p.Annotations).To(HaveKeyWithValue(network.AnnotationCCID, e.CC.PackageID), "the peer's own annotation is kept")

	By("changing the entry: the next launch applies it")
	cm, err = cms.Get(e.Ctx, chaincodeSettingsConfigMap, metaGet())
	Expect(err).NotTo(HaveOccurred())
	cm = cm.DeepCopy()
	cm.Data[e.CC.Label] = "resources:\n  limits: {memory: 192Mi}\npodAnnotations:\n  " + settingsAnnotation + ": rev-2\n"
	cm, err = cms.Update(e.Ctx, cm, metav1.UpdateOptions{FieldManager: "fabric-peer-k8s-e2e"})
	Expect(err).NotTo(HaveOccurred())
	Expect(podOf(org1).UID).To(Equal(p.UID), "a change does not restart running pods")
	e.awaitSeen(org1, cm.ResourceVersion, e.CC.Label)
	p = relaunch(org1, "rev2")
	Expect(memoryLimit(p)).To(Equal("192Mi"))
	// Resources are replaced as a whole: rev-1's 32Mi request is gone and
	// the API server defaults the request to the limit.
	req := p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory]
	Expect(req.String()).To(Equal("192Mi"), "the request of rev-1 is not kept")
	Expect(p.Annotations).To(HaveKeyWithValue(settingsAnnotation, "rev-2"))

	By("making the entry invalid: the relaunch on " + org1.ID() + " fails naming the entry, the chaincode on " + org2.ID() + " serves on")
	valid := cm.Data[e.CC.Label]
	cm = cm.DeepCopy()
	cm.Data[e.CC.Label] = "podLabels: {app.kubernetes.io/managed-by: me}\n"
	cm, err = cms.Update(e.Ctx, cm, metav1.UpdateOptions{FieldManager: "fabric-peer-k8s-e2e"})
	Expect(err).NotTo(HaveOccurred())
	Eventually(func() ([]string, error) { return e.warnings(sel, chaincodeSettingsConfigMap) }, time.Minute, time.Second).Should(
		ContainElement(And(HavePrefix(org1.ID()+": "), ContainSubstring(fmt.Sprintf(`Entry %q is invalid`, e.CC.Label)), ContainSubstring("app.kubernetes.io/managed-by is set by the peer"))))
	broken := podOf(org1)
	Expect(broken).NotTo(BeNil())
	t0 := time.Now()
	Expect(e.Kube.Client.CoreV1().Pods(e.Namespace).Delete(e.Ctx, broken.Name, metaDelete())).To(Succeed())
	relaunchFailed := fields.Set{"involvedObject.name": broken.Name, "reason": "RelaunchFailed"}.AsSelector().String()
	Eventually(func() ([]string, error) { return e.warnings(relaunchFailed, broken.Name) }, 2*time.Minute, time.Second).Should(
		ContainElement(ContainSubstring(fmt.Sprintf(`entry %q of ConfigMap %s/%s (vm.k8s.chaincodeConfigMap) is invalid`, e.CC.Label, e.Namespace, chaincodeSettingsConfigMap))))
	recordTiming("settings_invalid_entry_pod_delete_to_relaunch_failed_event", time.Since(t0))
	Expect(podOf(org1)).To(BeNil(), "no pod is started from an invalid entry")
	Expect(e.H.QueryOK(org2, e.CCName, queryTimeout, "get", "settings-rev2")).To(Equal("ok"))
	Expect(podOf(org2).UID).To(Equal(before2.UID), "the other peer's pod was never relaunched")

	By("fixing the entry: the next launch succeeds with it")
	cm = cm.DeepCopy()
	cm.Data[e.CC.Label] = valid
	cm, err = cms.Update(e.Ctx, cm, metav1.UpdateOptions{FieldManager: "fabric-peer-k8s-e2e"})
	Expect(err).NotTo(HaveOccurred())
	e.awaitSeen(org1, cm.ResourceVersion, e.CC.Label)
	t0 = time.Now()
	e.H.InvokeOK(e.CCName, invokeTimeout, "put", "settings-fixed", "ok")
	recordTiming("settings_entry_fixed_to_invoke_ok", time.Since(t0))
	p = podOf(org1)
	Expect(p).NotTo(BeNil())
	Expect(memoryLimit(p)).To(Equal("192Mi"))

	By("a node selector no node matches: the peer reports the relaunched pod unschedulable, and it runs once the entry is fixed")
	cm = cm.DeepCopy()
	cm.Data[e.CC.Label] = valid + "nodeSelector: {kubernetes.io/hostname: no-such-node}\n"
	cm, err = cms.Update(e.Ctx, cm, metav1.UpdateOptions{FieldManager: "fabric-peer-k8s-e2e"})
	Expect(err).NotTo(HaveOccurred())
	e.awaitSeen(org1, cm.ResourceVersion, e.CC.Label)
	t0 = time.Now()
	Expect(e.Kube.Client.CoreV1().Pods(e.Namespace).Delete(e.Ctx, p.Name, metaDelete())).To(Succeed())
	// The VM relaunches the chaincode on its own (deleted pods are no
	// failures of the chaincode, however many); an invoke asks for the
	// launch either way (it fails: the pod cannot start).
	Eventually(func() bool {
		q, err := e.Kube.Client.CoreV1().Pods(e.Namespace).Get(e.Ctx, p.Name, metaGet())
		return apierrors.IsNotFound(err) || (err == nil && q.UID != p.UID)
	}, cleanupTimeout, 200*time.Millisecond).Should(BeTrue(), "pod %s was not deleted", p.Name)
	Expect(e.H.Invoke(e.CCName, 10*time.Second, "put", "settings-unschedulable", "no").OK()).To(BeFalse(), "an invoke needing a pod that cannot be scheduled")
	var pending *corev1.Pod
	Eventually(func() *corev1.Pod {
		pending = podOf(org1)
		if pending != nil && pending.UID == p.UID {
			return nil
		}
		return pending
	}, cleanupTimeout, time.Second).ShouldNot(BeNil(), "the relaunched pod of %s", org1.ID())
	Expect(pending.Spec.NodeSelector).To(HaveKeyWithValue("kubernetes.io/hostname", "no-such-node"))
	unschedulable := fields.Set{"involvedObject.name": pending.Name, "reason": "Unschedulable"}.AsSelector().String()
	Eventually(func() ([]string, error) { return e.warnings(unschedulable, pending.Name) }, time.Minute, time.Second).Should(
		ContainElement(And(HavePrefix(org1.ID()+": "), ContainSubstring("cannot be scheduled yet"), ContainSubstring("node affinity/selector"))))
	recordTiming("settings_unschedulable_pod_delete_to_event", time.Since(t0))
	Expect(e.H.PeerLog(org1)).To(ContainSubstring(fmt.Sprintf("pod %s/%s cannot be scheduled yet", e.Namespace, pending.Name)))
	cm = cm.DeepCopy()
	cm.Data[e.CC.Label] = valid
	cm, err = cms.Update(e.Ctx, cm, metav1.UpdateOptions{FieldManager: "fabric-peer-k8s-e2e"})
	Expect(err).NotTo(HaveOccurred())
	e.awaitSeen(org1, cm.ResourceVersion, e.CC.Label)
	Expect(e.Kube.Client.CoreV1().Pods(e.Namespace).Delete(e.Ctx, pending.Name, metaDelete())).To(Succeed())
	// The launch waiting for the pending pod fails once it is deleted; a
	// later invoke launches the chaincode with the fixed entry.
	Eventually(func() bool { return e.H.Invoke(e.CCName, invokeTimeout, "put", "settings-scheduled", "ok").OK() },
		cleanupTimeout, 2*time.Second).Should(BeTrue(), "invoke after the entry was fixed")
	Eventually(func() string {
		if p = podOf(org1); p == nil || p.UID == pending.UID {
			return ""
		}
		return p.Spec.NodeName
	}, cleanupTimeout, time.Second).ShouldNot(BeEmpty(), "a scheduled pod of %s", org1.ID())
	Expect(p.Spec.NodeSelector).To(BeEmpty())
	recordTiming("settings_spec", time.Since(start))
}

// warnings lists the Warning events matching the field selector sel, about
// an object called name, as "<reporting peer>: <message>".
func (e chaincodeSettingsSpec) warnings(sel, name string) ([]string, error) {
	events, err := e.Kube.Client.CoreV1().Events(e.Namespace).List(e.Ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ev := range events.Items {
		if ev.Type == corev1.EventTypeWarning && ev.InvolvedObject.Name == name {
			out = append(out, ev.Source.Host+": "+ev.Message)
		}
	}
	return out, nil
}

// awaitSeen waits until peer logged that it holds the ConfigMap at
// resourceVersion rv, with valid settings for labels (space separated);
// informers see a change within moments.
func (e chaincodeSettingsSpec) awaitSeen(peer *nwo.Peer, rv, labels string) {
	EventuallyWithOffset(1, func() string { return e.H.PeerLog(peer) }, 30*time.Second, 500*time.Millisecond).Should(
		ContainSubstring(fmt.Sprintf("(resourceVersion %s) holds settings for chaincode labels [%s]", rv, labels)), "peer %s", peer.ID())
}
