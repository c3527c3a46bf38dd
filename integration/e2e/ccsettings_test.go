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

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
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

// settingsFieldManager is the field manager of the spec's ConfigMap writes.
const settingsFieldManager = "fabric-peer-k8s-e2e"

// chaincodeSettingsEnv is what the settings specs need of the runtime
// suite: its network, with CC committed as CCName and running on both peers.
type chaincodeSettingsEnv struct {
	Ctx       context.Context
	Kube      *network.Kube
	H         *network.Harness
	Namespace string
	CCName    string
	CC        nwo.Chaincode
}

// chaincodeSettingsSpec is the state the settings specs hand on, in order:
// each builds on what the one before it left.
type chaincodeSettingsSpec struct {
	chaincodeSettingsEnv
	// passed counts the specs that passed, in order; a spec whose
	// predecessor did not pass is skipped.
	passed int
	// start is when the first spec started.
	start time.Time
	// cm is the ConfigMap as last written.
	cm *corev1.ConfigMap
	// before2 is Org2's chaincode pod before the ConfigMap was written: it
	// is never relaunched.
	before2 *corev1.Pod
	// valid is the chaincode's last valid entry.
	valid string
	// org1 is Org1's chaincode pod of the last launch.
	org1 *corev1.Pod
}

// chaincodeSettingsSpecs adds, to the Ordered container it is called in,
// the specs of per-chaincode settings, one per behaviour: an invalid entry
// is reported by name (Event and log) while the chaincode serves on and its
// running pods are untouched; a memory limit and an annotation reach the
// pod launched after the ConfigMap is written; a change applies at the next
// launch without touching running pods; an invalid entry for the chaincode
// fails its next launch with an error naming the entry (a RelaunchFailed
// Event), no pod started, until fixed; a node selector no node matches is
// reported as an unschedulable pod, which runs once the entry is fixed.
// env is called at the start of each spec (it may skip the spec).
func chaincodeSettingsSpecs(env func() chaincodeSettingsEnv) {
	e := &chaincodeSettingsSpec{}
	// spec adds the n-th spec (from 1).
	spec := func(n int, text string, body func()) {
		It(text, Offset(1), func() {
			e.chaincodeSettingsEnv = env()
			if e.passed < n-1 {
				Skip("needs the per-chaincode settings spec before it to have passed")
			}
			body()
			e.passed = n
		})
	}

	spec(1, "(c2a) reports an invalid per-chaincode settings entry by name while the chaincode serves on, its pods untouched", func() {
		e.start = time.Now()
		org1, org2 := e.H.Org1Peer(), e.H.Org2Peer()
		missing := fmt.Sprintf("ConfigMap %s/%s (vm.k8s.chaincodeConfigMap) does not exist", e.Namespace, chaincodeSettingsConfigMap)
		for _, p := range e.H.Peers {
			Expect(strings.Count(e.H.PeerLog(p), missing)).To(Equal(1), "peer %s logs the missing ConfigMap once", p.ID())
		}
		e.before2 = e.podOf(org2)
		Expect(e.before2).NotTo(BeNil(), "no chaincode pod of %s", org2.ID())
		Expect(memoryLimit(e.before2)).To(BeEmpty(), "the global template sets no memory limit")

		By("writing the ConfigMap: a memory limit and an annotation for " + e.CC.Label + ", and an invalid entry for other_1")
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: chaincodeSettingsConfigMap, Namespace: e.Namespace},
			Data: map[string]string{
				e.CC.Label: "resources:\n  requests: {memory: 32Mi}\n  limits: {memory: 160Mi}\npodAnnotations:\n  " + settingsAnnotation + ": rev-1\n",
				"other_1":  "resources:\n  limits: {memory: lots}\n",
			},
		}
		var err error
		e.cm, err = e.Kube.Client.CoreV1().ConfigMaps(e.Namespace).Create(e.Ctx, cm, metav1.CreateOptions{FieldManager: settingsFieldManager})
		Expect(err).NotTo(HaveOccurred())
		written := time.Now()

		By("seeing each peer report the invalid entry by name: a Warning event on the ConfigMap and a log line")
		Eventually(func() ([]string, error) { return e.warnings(invalidSettingsSelector, chaincodeSettingsConfigMap) }, time.Minute, time.Second).Should(And(
			ContainElement(And(HavePrefix(org1.ID()+": "), ContainSubstring(`Entry "other_1" is invalid`), ContainSubstring("quantities must match"))),
			ContainElement(And(HavePrefix(org2.ID()+": "), ContainSubstring(`Entry "other_1" is invalid`))),
		))
		recordTiming("settings_write_to_invalid_entry_event", time.Since(written))
		for _, p := range e.H.Peers {
			Expect(e.H.PeerLog(p)).To(ContainSubstring(`entry "other_1" is invalid`), "log of %s", p.ID())
		}

		By("the chaincode still serves, and its running pods are not touched")
		Expect(e.H.QueryOK(org2, e.CCName, queryTimeout, "get", "greeting")).To(Equal("hello-from-k8s"))
		now2 := e.podOf(org2)
		Expect(now2).NotTo(BeNil())
		Expect(now2.UID).To(Equal(e.before2.UID))
		Expect(memoryLimit(now2)).To(BeEmpty())
	})

	spec(2, "(c2b) gives the chaincode's next pod the memory limit and annotation of its entry", func() {
		org1 := e.H.Org1Peer()
		By("deleting the chaincode pod of " + org1.ID() + ": its next pod has the limit and the annotation")
		p := e.relaunch(org1, "rev1")
		Expect(memoryLimit(p)).To(Equal("160Mi"))
		req1 := p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory]
		Expect(req1.String()).To(Equal("32Mi"))
		Expect(p.Annotations).To(HaveKeyWithValue(settingsAnnotation, "rev-1"))
		Expect(p.Annotations).To(HaveKeyWithValue(network.AnnotationCCID, e.CC.PackageID), "the peer's own annotation is kept")
		e.org1 = p
	})

	spec(3, "(c2c) applies a changed entry at the next launch, without restarting running pods", func() {
		org1 := e.H.Org1Peer()
		var err error
		e.cm, err = e.Kube.Client.CoreV1().ConfigMaps(e.Namespace).Get(e.Ctx, chaincodeSettingsConfigMap, metaGet())
		Expect(err).NotTo(HaveOccurred())
		e.setEntry("resources:\n  limits: {memory: 192Mi}\npodAnnotations:\n  " + settingsAnnotation + ": rev-2\n")
		Expect(e.podOf(org1).UID).To(Equal(e.org1.UID), "a change does not restart running pods")
		e.awaitSeen(org1, e.cm.ResourceVersion, e.CC.Label)
		p := e.relaunch(org1, "rev2")
		Expect(memoryLimit(p)).To(Equal("192Mi"))
		// Resources are replaced as a whole: rev-1's 32Mi request is gone and
		// the API server defaults the request to the limit.
		req := p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory]
		Expect(req.String()).To(Equal("192Mi"), "the request of rev-1 is not kept")
		Expect(p.Annotations).To(HaveKeyWithValue(settingsAnnotation, "rev-2"))
		e.org1 = p
	})

	spec(4, "(c2d) fails the relaunch naming an invalid entry, starting no pod, until the entry is fixed", func() {
		org1, org2 := e.H.Org1Peer(), e.H.Org2Peer()
		By("making the entry invalid: the relaunch on " + org1.ID() + " fails naming the entry, the chaincode on " + org2.ID() + " serves on")
		e.valid = e.cm.Data[e.CC.Label]
		e.setEntry("podLabels: {" + network.LabelManagedBy + ": me}\n")
		Eventually(func() ([]string, error) { return e.warnings(invalidSettingsSelector, chaincodeSettingsConfigMap) }, time.Minute, time.Second).Should(
			ContainElement(And(HavePrefix(org1.ID()+": "), ContainSubstring(fmt.Sprintf(`Entry %q is invalid`, e.CC.Label)), ContainSubstring(network.LabelManagedBy+" is set by the peer"))))
		broken := e.podOf(org1)
		Expect(broken).NotTo(BeNil())
		t0 := time.Now()
		testkit.DeletePod(e.Ctx, e.Kube.Client, broken)
		relaunchFailed := fields.Set{"involvedObject.name": broken.Name, "reason": "RelaunchFailed"}.AsSelector().String()
		Eventually(func() ([]string, error) { return e.warnings(relaunchFailed, broken.Name) }, 2*time.Minute, time.Second).Should(
			ContainElement(ContainSubstring(fmt.Sprintf(`entry %q of ConfigMap %s/%s (vm.k8s.chaincodeConfigMap) is invalid`, e.CC.Label, e.Namespace, chaincodeSettingsConfigMap))))
		recordTiming("settings_invalid_entry_pod_delete_to_relaunch_failed_event", time.Since(t0))
		Expect(e.podOf(org1)).To(BeNil(), "no pod is started from an invalid entry")
		Expect(e.H.QueryOK(org2, e.CCName, queryTimeout, "get", "settings-rev2")).To(Equal("ok"))
		Expect(e.podOf(org2).UID).To(Equal(e.before2.UID), "the other peer's pod was never relaunched")

		By("fixing the entry: the next launch succeeds with it")
		e.setEntry(e.valid)
		e.awaitSeen(org1, e.cm.ResourceVersion, e.CC.Label)
		t0 = time.Now()
		e.H.InvokeOK(e.CCName, invokeTimeout, "put", "settings-fixed", "ok")
		recordTiming("settings_entry_fixed_to_invoke_ok", time.Since(t0))
		e.org1 = e.podOf(org1)
		Expect(e.org1).NotTo(BeNil())
		Expect(memoryLimit(e.org1)).To(Equal("192Mi"))
	})

	spec(5, "(c2e) reports the relaunched pod unschedulable under a node selector no node matches, and runs it once the entry is fixed", func() {
		org1 := e.H.Org1Peer()
		p := e.org1
		e.setEntry(e.valid + "nodeSelector: {kubernetes.io/hostname: no-such-node}\n")
		e.awaitSeen(org1, e.cm.ResourceVersion, e.CC.Label)
		t0 := time.Now()
		// The VM relaunches the chaincode on its own (deleted pods are no
		// failures of the chaincode, however many); an invoke asks for the
		// launch either way (it fails: the pod cannot start).
		testkit.DeletePodAndWait(e.Ctx, e.Kube.Client, p, cleanupTimeout)
		Expect(e.H.Invoke(e.CCName, 10*time.Second, "put", "settings-unschedulable", "no").OK()).To(BeFalse(), "an invoke needing a pod that cannot be scheduled")
		var pending *corev1.Pod
		Eventually(func() *corev1.Pod {
			pending = e.podOf(org1)
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
		e.setEntry(e.valid)
		e.awaitSeen(org1, e.cm.ResourceVersion, e.CC.Label)
		testkit.DeletePod(e.Ctx, e.Kube.Client, pending)
		// The launch waiting for the pending pod fails once it is deleted; a
		// later invoke launches the chaincode with the fixed entry.
		Eventually(func() bool { return e.H.Invoke(e.CCName, invokeTimeout, "put", "settings-scheduled", "ok").OK() },
			cleanupTimeout, 2*time.Second).Should(BeTrue(), "invoke after the entry was fixed")
		Eventually(func() string {
			if p = e.podOf(org1); p == nil || p.UID == pending.UID {
				return ""
			}
			return p.Spec.NodeName
		}, cleanupTimeout, time.Second).ShouldNot(BeEmpty(), "a scheduled pod of %s", org1.ID())
		Expect(p.Spec.NodeSelector).To(BeEmpty())
		e.org1 = p
		recordTiming("settings_spec", time.Since(e.start))
	})
}

// invalidSettingsSelector selects the Events of an invalid entry of the
// settings ConfigMap.
var invalidSettingsSelector = fields.Set{
	"involvedObject.kind": "ConfigMap",
	"involvedObject.name": chaincodeSettingsConfigMap,
	"reason":              "InvalidChaincodeSettings",
}.AsSelector().String()

// podOf is the live chaincode pod of the spec's chaincode on peer, or nil.
func (e *chaincodeSettingsSpec) podOf(peer *nwo.Peer) *corev1.Pod {
	inv, err := e.Kube.Inventory(e.Ctx)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	for _, p := range network.LivePods(inv.ChaincodePods) {
		if p.Annotations[network.AnnotationCCID] == e.CC.PackageID && p.Labels[network.LabelPeerID] == peer.ID() {
			return &p
		}
	}
	return nil
}

// memoryLimit is the memory limit of the pod's container, "" when it has
// none.
func memoryLimit(p *corev1.Pod) string {
	q, ok := p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
	if !ok {
		return ""
	}
	return q.String()
}

// relaunch deletes the chaincode pod of peer and returns the pod that
// replaces it once an invoke succeeded.
func (e *chaincodeSettingsSpec) relaunch(peer *nwo.Peer, name string) *corev1.Pod {
	old := e.podOf(peer)
	ExpectWithOffset(1, old).NotTo(BeNil(), "no chaincode pod of %s", peer.ID())
	t0 := time.Now()
	testkit.DeletePodAndWait(e.Ctx, e.Kube.Client, old, cleanupTimeout)
	e.H.InvokeOK(e.CCName, invokeTimeout, "put", "settings-"+name, "ok")
	var nw *corev1.Pod
	EventuallyWithOffset(1, func() string {
		nw = e.podOf(peer)
		if nw == nil {
			return ""
		}
		return string(nw.UID)
	}, cleanupTimeout, time.Second).ShouldNot(Or(BeEmpty(), Equal(string(old.UID))), "a new pod of %s", peer.ID())
	recordTiming("settings_"+name+"_pod_delete_to_invoke_ok", time.Since(t0))
	return nw
}

// setEntry writes entry as the chaincode's entry of the ConfigMap.
func (e *chaincodeSettingsSpec) setEntry(entry string) {
	cm := e.cm.DeepCopy()
	cm.Data[e.CC.Label] = entry
	var err error
	e.cm, err = e.Kube.Client.CoreV1().ConfigMaps(e.Namespace).Update(e.Ctx, cm, metav1.UpdateOptions{FieldManager: settingsFieldManager})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
}

// warnings lists the Warning events matching the field selector sel, about
// an object called name, as "<reporting peer>: <message>".
func (e *chaincodeSettingsSpec) warnings(sel, name string) ([]string, error) {
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
func (e *chaincodeSettingsSpec) awaitSeen(peer *nwo.Peer, rv, labels string) {
	EventuallyWithOffset(1, func() string { return e.H.PeerLog(peer) }, 30*time.Second, 500*time.Millisecond).Should(
		ContainSubstring(fmt.Sprintf("(resourceVersion %s) holds settings for chaincode labels [%s]", rv, labels)), "peer %s", peer.ID())
}
