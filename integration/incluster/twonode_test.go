//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package incluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

const (
	// the registry's TLS instance (integration/cluster/lib/node2.sh)
	twoNodeRegistryPort = "5050"
	twoNodeRegistryName = "registry.fabric-peer-k8s.test:" + twoNodeRegistryPort
	// vm.k8s.chaincodeConfigMap of images/peer/deploy
	chaincodeSettings = "fabric-chaincode-settings"
	node2PodPrefix    = "10.244.1."
)

// setChaincodeSettings creates or replaces one entry of the per-chaincode settings ConfigMap.
func (k *kube) setChaincodeSettings(label, entry string) {
	Eventually(func() error {
		cms := k.c.CoreV1().ConfigMaps(k.ns)
		cm, err := cms.Get(bg(), chaincodeSettings, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = cms.Create(bg(), &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: chaincodeSettings},
				Data:       map[string]string{label: entry},
			}, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[label] = entry
		_, err = cms.Update(bg(), cm, metav1.UpdateOptions{})
		return err
	}, 30*time.Second, time.Second).Should(Succeed())
}

// chaincodePodOf is the chaincode Pod of packageID (not being deleted), or nil.
func (k *kube) chaincodePodOf(packageID string) *corev1.Pod {
	for _, p := range k.chaincodePods() {
		if p.Annotations[network.AnnotationCCID] == packageID {
			p := p
			return &p
		}
	}
	return nil
}

func running(p *corev1.Pod) *metav1.Time {
	if p == nil {
		return nil
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil {
			return &cs.State.Running.StartedAt
		}
	}
	return nil
}

// nodeReady is the status of the node's Ready condition ("" when it has none).
func (k *kube) nodeReady(name string) string {
	n, err := k.c.CoreV1().Nodes().Get(bg(), name, metav1.GetOptions{})
	if err != nil {
		return "error: " + err.Error()
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return string(c.Status)
		}
	}
	return ""
}

// waitRunningPod watches the namespace until a chaincode Pod of packageID other
// than notUID runs; it returns the Pod.
func (k *kube) waitRunningPod(packageID string, notUID string, timeout time.Duration) *corev1.Pod {
	ctx, cancel := context.WithTimeout(bg(), timeout)
	defer cancel()
	check := func() *corev1.Pod {
		p := k.chaincodePodOf(packageID)
		if p != nil && string(p.UID) != notUID && running(p) != nil {
			return p
		}
		return nil
	}
	if p := check(); p != nil {
		return p
	}
	w, err := k.c.CoreV1().Pods(k.ns).Watch(ctx, metav1.ListOptions{LabelSelector: labels.ManagedSelector})
	Expect(err).NotTo(HaveOccurred())
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			Fail(fmt.Sprintf("no running chaincode pod of %s (other than %s) after %s: %v", packageID, notUID, timeout, k.chaincodePodOf(packageID)))
		case ev, ok := <-w.ResultChan():
			if !ok {
				w, err = k.c.CoreV1().Pods(k.ns).Watch(ctx, metav1.ListOptions{LabelSelector: labels.ManagedSelector})
				Expect(err).NotTo(HaveOccurred())
				continue
			}
			if ev.Type == watch.Error {
				continue
			}
			if p := check(); p != nil {
				return p
			}
		}
	}
}

// podEvents are "reason (source host): message" of the events about one pod.
func (k *kube) podEvents(name string, uid string) []string {
	sel := fields.Set{"involvedObject.name": name, "involvedObject.uid": uid}.AsSelector().String()
	l, err := k.c.CoreV1().Events(k.ns).List(bg(), metav1.ListOptions{FieldSelector: sel})
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, e := range l.Items {
		out = append(out, fmt.Sprintf("%s (%s): %s", e.Reason, e.Source.Host, e.Message))
	}
	return out
}

func clusterSh(timeout time.Duration, args ...string) result {
	return run(timeout, []string{"KUBECONFIG=" + cfg.Kubeconfig}, cfg.ClusterSh, args...)
}

// peerLinesAbout are the peer's log lines since t that mention s.
func peerLinesAbout(t time.Time, s string) []string {
	var out []string
	for _, l := range strings.Split(k.peerLogSince(t), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

var _ = Describe("two nodes: chaincode on the node the peer is not on", Label("twonode"), Ordered, func() {
	var (
		node1, node2 string
		label        string
		packageID    string
		ccName       = "kv2n"
		ccPod        *corev1.Pod
	)

	BeforeAll(func() {
		if cfg.Nodes != 2 {
			Skip("two-node specs: INCLUSTER_NODES=2 on a cluster with a second node (cluster.sh node-add)")
		}
		nodes, err := k.c.CoreV1().Nodes().List(bg(), metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(nodes.Items).To(HaveLen(2))
		node1 = k.peerNode().Name
		for _, n := range nodes.Items {
			if hasTaint(n, secondNodeTaint) {
				node2 = n.Name
			}
		}
		Expect(node2).NotTo(BeEmpty())
		peer, err := k.pod(peerPod)
		Expect(err).NotTo(HaveOccurred())
		Expect(peer.Spec.NodeName).To(Equal(node1), "the peer runs on the first node (its ledger volume is there)")
		recordCheck("two nodes: peer %s on %s (IP %s); %s tainted %s", peerPod, node1, peer.Status.PodIP, node2, secondNodeTaint)

		label = "kv2n" + strings.TrimPrefix(cfg.Namespace, "fpk-incluster-")
		By("pinning chaincode " + label + " to " + node2 + " (per-chaincode settings: nodeSelector + toleration)")
		k.setChaincodeSettings(label, fmt.Sprintf("nodeSelector: {kubernetes.io/hostname: %s}\n"+
			"tolerations:\n- {key: %s, operator: Equal, value: second, effect: NoSchedule}\n", node2, secondNodeTaint))
	})

	It("builds on the peer's node, pushes by TLS, and launches the chaincode on the other node, pulled by the registry's name", func() {
		var file string
		file, packageID = fab.packageChaincode(label)
		By("installing: Kaniko (on " + node1 + ", Pod Security baseline for the build) pushes to the TLS registry")
		k.setPodSecurity("baseline")
		start := time.Now()
		res := fab.install(file, 14*time.Minute)
		Expect(res.ExitCode).To(Equal(0), res.String()+"\n"+k.peerLogTail(40))
		recordTiming("twonode-install-kaniko-build-push-tls", time.Since(start))
		k.setPodSecurity("restricted")

		fab.approveAndCommit(ccName, packageID)
		start = time.Now()
		r := fab.invoke(ccName, 6*time.Minute, "put", "where", "node2")
		Expect(r.ExitCode).To(Equal(0), r.String()+"\n"+k.peerLogTail(40))
		recordTiming("twonode-first-invoke-incl-cross-node-launch", time.Since(start))
		q := fab.query(ccName, "get", "where")
		Expect(q.ExitCode).To(Equal(0), q.String())
		Expect(strings.TrimSpace(q.Stdout)).To(Equal("node2"))

		ccPod = k.chaincodePodOf(packageID)
		Expect(ccPod).NotTo(BeNil())
		Expect(ccPod.Spec.NodeName).To(Equal(node2))
		Expect(ccPod.Spec.HostNetwork).To(BeFalse())
		Expect(ccPod.Status.PodIP).To(HavePrefix(node2PodPrefix), "a pod IP of the second node's pod network")
		img := ccPod.Spec.Containers[0].Image
		Expect(img).To(And(HavePrefix(twoNodeRegistryName+"/fabric-cc/"), ContainSubstring("@sha256:")))
		Expect(ccPod.Status.ContainerStatuses[0].ImageID).To(ContainSubstring(twoNodeRegistryName))
		started := running(ccPod)
		Expect(started).NotTo(BeNil())
		recordTiming("twonode-pod-created-to-running", started.Sub(ccPod.CreationTimestamp.Time))
		ev := k.podEvents(ccPod.Name, string(ccPod.UID))
		Expect(ev).To(ContainElement(And(HavePrefix("Pulled ("+node2+")"), ContainSubstring(twoNodeRegistryName))), "%v", ev)
		recordCheck("chaincode pod %s on %s, IP %s, image %s, dials the peer on %s across the nodes; events %v",
			ccPod.Name, node2, ccPod.Status.PodIP, img, node1, ev)
	})

	It("relaunches a deleted chaincode Pod on the same node", func() {
		Expect(ccPod).NotTo(BeNil())
		old := ccPod
		start := time.Now()
		testkit.DeletePod(bg(), k.c, old)
		ccPod = k.waitRunningPod(packageID, string(old.UID), 3*time.Minute)
		recordTiming("twonode-relaunch-delete-to-running", time.Since(start))
		Expect(ccPod.Spec.NodeName).To(Equal(node2))
		Expect(ccPod.Status.PodIP).To(HavePrefix(node2PodPrefix))
		r := fab.invoke(ccName, 3*time.Minute, "put", "relaunched", "yes")
		Expect(r.ExitCode).To(Equal(0), r.String()+"\n"+k.peerLogTail(40))
		recordTiming("twonode-relaunch-delete-to-invoke-ok", time.Since(start))
		recordCheck("deleted chaincode pod %s relaunched as %s on %s (IP %s)", old.UID, ccPod.UID, node2, ccPod.Status.PodIP)
	})

	// stopNode2 stops the second node's kubelet and containerd with its containers killed, as when
	// the node goes down, and waits until the node controller marks it not Ready.
	stopNode2 := func() time.Time {
		By("stopping " + node2 + ": kubelet and containerd, its containers killed (cluster.sh stop node2)")
		down := time.Now()
		r := clusterSh(2*time.Minute, "stop", "node2")
		Expect(r.ExitCode).To(Equal(0), r.String())
		DeferCleanup(func() {
			if k.nodeReady(node2) != "True" {
				clusterSh(3*time.Minute, "start", "node2")
			}
		})
		Eventually(func() string { return k.nodeReady(node2) }, 3*time.Minute, time.Second).ShouldNot(Equal("True"))
		recordTiming("twonode-node-stopped-to-not-ready", time.Since(down))
		return down
	}
	startNode2 := func() time.Time {
		By("starting " + node2 + " again (cluster.sh start node2)")
		back := time.Now()
		r := clusterSh(3*time.Minute, "start", "node2")
		Expect(r.ExitCode).To(Equal(0), r.String())
		recordTiming("twonode-node-start-to-ready", time.Since(back))
		return back
	}
	pinTo := func(node string, tolerate bool) {
		entry := fmt.Sprintf("nodeSelector: {kubernetes.io/hostname: %s}\n", node)
		if tolerate {
			entry += fmt.Sprintf("tolerations:\n- {key: %s, operator: Equal, value: second, effect: NoSchedule}\n", secondNodeTaint)
		}
		k.setChaincodeSettings(label, entry)
	}
	invokeOK := func(within time.Duration, key, value string) {
		Eventually(func() int {
			return fab.invoke(ccName, 3*time.Minute, "put", key, value).ExitCode
		}, within, time.Second).Should(Equal(0), func() string { return k.peerLogTail(60) })
		q := fab.query(ccName, "get", key)
		Expect(q.ExitCode).To(Equal(0), q.String())
		Expect(strings.TrimSpace(q.Stdout)).To(Equal(value))
	}

	It("reports a chaincode on a node that is down, and runs it again once the node is back", func() {
		Expect(ccPod).NotTo(BeNil())
		down := stopNode2()
		code, body, err := healthz(k.podIP())
		Expect(err).NotTo(HaveOccurred())
		recordCheck("peer /healthz while %s is down: %d %s", node2, code, strings.TrimSpace(body))

		By("invoking while " + node2 + " is down")
		inv := fab.invoke(ccName, 5*time.Minute, "put", "while", "down")
		Expect(inv.TimedOut).To(BeFalse(), inv.String())
		Expect(inv.ExitCode).NotTo(Equal(0), "the chaincode cannot run on a node that is down: %s", inv.String())
		Expect(inv.Out).To(ContainSubstring("timeout expired while starting chaincode"))
		recordTiming("twonode-invoke-fails-while-node-down", inv.Duration)
		recordCheck("invoke while %s is down failed after %.1fs: %s", node2, inv.Duration.Seconds(), lastLine(inv.Out))
		for _, l := range peerLinesAbout(down, label) {
			recordCheck("peer while %s is down: %s", node2, l)
		}
		if p := k.chaincodePodOf(packageID); p != nil {
			recordCheck("chaincode pod while %s is down: %s on %q, phase %s, %s", node2, p.UID, p.Spec.NodeName, p.Status.Phase, containerStates(p))
		}

		back := startNode2()
		invokeOK(8*time.Minute, "back", "yes")
		recordTiming("twonode-node-start-to-invoke-ok", time.Since(back))
		p := k.chaincodePodOf(packageID)
		Expect(p).NotTo(BeNil())
		Expect(p.Spec.NodeName).To(Equal(node2))
		ccPod = p
		recordCheck("chaincode back on %s as pod %s (IP %s) %.1fs after the node was started", node2, p.UID, p.Status.PodIP, time.Since(back).Seconds())
	})

	It("moves the chaincode to the peer's node while the other is down (per-chaincode settings), and back", func() {
		Expect(ccPod).NotTo(BeNil())
		down := stopNode2()
		By("pinning " + label + " to " + node1 + ": the next launch places it there")
		moved := time.Now()
		pinTo(node1, false)
		invokeOK(5*time.Minute, "moved", "node1")
		recordTiming("twonode-node-down-to-invoke-ok-on-peer-node", time.Since(down))
		recordTiming("twonode-entry-changed-to-invoke-ok-on-peer-node", time.Since(moved))
		p := k.chaincodePodOf(packageID)
		Expect(p).NotTo(BeNil())
		Expect(p.Spec.NodeName).To(Equal(node1))
		Expect(p.Status.PodIP).To(HavePrefix(strings.TrimSuffix(cfg.HostIP, "1")))
		recordCheck("chaincode rescheduled to %s as pod %s (IP %s) %.1fs after %s was stopped", node1, p.UID, p.Status.PodIP, time.Since(down).Seconds(), node2)

		By("pinning it back to " + node2 + ", starting the node and deleting the pod on " + node1)
		pinTo(node2, true)
		startNode2()
		start := time.Now()
		testkit.DeletePod(bg(), k.c, p)
		ccPod = k.waitRunningPod(packageID, string(p.UID), 3*time.Minute)
		Expect(ccPod.Spec.NodeName).To(Equal(node2))
		invokeOK(3*time.Minute, "home", "node2")
		recordTiming("twonode-move-back-delete-to-invoke-ok", time.Since(start))
		recordCheck("chaincode back on %s as pod %s (IP %s)", node2, ccPod.UID, ccPod.Status.PodIP)
	})
})
