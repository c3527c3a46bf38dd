//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package incluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	peerPod  = "fabric-peer-0"
	roleName = "fabric-peer-chaincode"
)

type kube struct {
	c  kubernetes.Interface
	ns string
}

func newKube(kubeconfig, ns string) *kube {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	c, err := kubernetes.NewForConfig(rc)
	Expect(err).NotTo(HaveOccurred())
	return &kube{c: c, ns: ns}
}

func bg() context.Context { return context.Background() }

// setPodSecurity sets the namespace's Pod Security Admission levels: enforce
// as given, warn and audit always "restricted".
func (k *kube) setPodSecurity(enforce string) {
	patch := fmt.Sprintf(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":%q,"pod-security.kubernetes.io/warn":"restricted","pod-security.kubernetes.io/audit":"restricted"}}}`, enforce)
	_, err := k.c.CoreV1().Namespaces().Patch(bg(), k.ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	Expect(err).NotTo(HaveOccurred())
}

// enforcedPodSecurity is the namespace's Pod Security Admission enforce level.
func (k *kube) enforcedPodSecurity() string {
	ns, err := k.c.CoreV1().Namespaces().Get(bg(), k.ns, metav1.GetOptions{})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return ns.Labels["pod-security.kubernetes.io/enforce"]
}

func (k *kube) pod(name string) (*corev1.Pod, error) {
	return k.c.CoreV1().Pods(k.ns).Get(bg(), name, metav1.GetOptions{})
}

// waitPeerReady waits for a Ready peer Pod (readiness = /healthz) other than
// the one with notUID, answering through its Service, and returns it.
func (k *kube) waitPeerReady(timeout time.Duration, notUID types.UID) *corev1.Pod {
	var ready *corev1.Pod
	Eventually(func() error {
		p, err := k.pod(peerPod)
		if err != nil {
			return err
		}
		if p.UID == notUID {
			return fmt.Errorf("still the old pod %s", p.UID)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.Status.PodIP != "" {
				ready = p
				return nil
			}
		}
		return fmt.Errorf("pod %s not ready: phase %s %s", p.Name, p.Status.Phase, containerStates(p))
	}, timeout, time.Second).Should(Succeed(), func() string { return k.peerLogTail(60) })
	// the CLI dials the peer's Service, whose rules name the new Pod a moment later
	for _, p := range fab.Peers {
		if p.Namespace == k.ns {
			Expect(fab.WaitServes(p, time.Minute)).To(Succeed())
		}
	}
	return ready
}

func containerStates(p *corev1.Pod) string {
	var s []string
	for _, cs := range p.Status.ContainerStatuses {
		b, _ := json.Marshal(cs.State)
		s = append(s, cs.Name+"="+string(b))
	}
	return strings.Join(s, " ")
}

func (k *kube) peerLogTail(lines int64) string {
	b, err := k.c.CoreV1().Pods(k.ns).GetLogs(peerPod, &corev1.PodLogOptions{TailLines: &lines}).DoRaw(bg())
	if err != nil {
		return "peer log: " + err.Error()
	}
	return "peer log (tail):\n" + string(b)
}

func (k *kube) peerLogSince(t time.Time) string {
	since := metav1.NewTime(t)
	b, err := k.c.CoreV1().Pods(k.ns).GetLogs(peerPod, &corev1.PodLogOptions{SinceTime: &since}).DoRaw(bg())
	if err != nil {
		return "peer log: " + err.Error()
	}
	return string(b)
}

// healthz GETs the peer's operations /healthz on its Pod IP.
func healthz(podIP string) (int, string, error) {
	c := http.Client{Timeout: 40 * time.Second}
	resp, err := c.Get("http://" + podIP + ":9443/healthz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func (k *kube) managedPods() []corev1.Pod {
	l, err := k.c.CoreV1().Pods(k.ns).List(bg(), metav1.ListOptions{LabelSelector: labels.ManagedSelector})
	Expect(err).NotTo(HaveOccurred())
	return l.Items
}

func (k *kube) chaincodePods() []corev1.Pod {
	var out []corev1.Pod
	for _, p := range k.managedPods() {
		if p.Labels[labels.Component] == labels.ComponentChaincode && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func (k *kube) managedSecrets() []corev1.Secret {
	l, err := k.c.CoreV1().Secrets(k.ns).List(bg(), metav1.ListOptions{LabelSelector: labels.ManagedSelector})
	Expect(err).NotTo(HaveOccurred())
	return l.Items
}

func (k *kube) jobs() []batchv1.Job {
	l, err := k.c.BatchV1().Jobs(k.ns).List(bg(), metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	return l.Items
}

// events returns "reason: message" of the namespace's events about kind.
func (k *kube) events(kind string) []string {
	l, err := k.c.CoreV1().Events(k.ns).List(bg(), metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, e := range l.Items {
		if e.InvolvedObject.Kind == kind {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	sort.Strings(out)
	return out
}

func ownedBy(refs []metav1.OwnerReference, kind string, uid types.UID) bool {
	for _, r := range refs {
		if r.Kind == kind && r.UID == uid {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- deployment (docs/deploying.md)

// secondNodeTaint keeps every pod off the second node of the local cluster
// (integration/cluster/lib/node2.sh) unless it tolerates it.
const secondNodeTaint = "fabric-peer-k8s.io/node"

// peerNode is the node the peer's ledger volume, and so the peer, is on: the
// one node without the second node's taint (this host: the local
// PersistentVolume is a directory here).
func (k *kube) peerNode() corev1.Node {
	nodes, err := k.c.CoreV1().Nodes().List(bg(), metav1.ListOptions{})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var first []corev1.Node
	for _, n := range nodes.Items {
		if !hasTaint(n, secondNodeTaint) {
			first = append(first, n)
		}
	}
	ExpectWithOffset(1, first).To(HaveLen(1), "exactly one node without the taint %s", secondNodeTaint)
	return first[0]
}

func hasTaint(n corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// deleteNamespace deletes the namespace and waits until it is gone.
func (k *kube) deleteNamespace(wait time.Duration) error {
	err := k.c.CoreV1().Namespaces().Delete(bg(), k.ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if _, err := k.c.CoreV1().Namespaces().Get(bg(), k.ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("namespace %s still present after %s", k.ns, wait)
}

// prePullEvents are the messages of the PrePulled and PrePullIncomplete
// Events in the namespace (the VM records them on its pre-pull DaemonSets).
func (k *kube) prePullEvents() []string {
	var out []string
	for _, reason := range []string{"PrePulled", "PrePullIncomplete"} {
		l, err := k.c.CoreV1().Events(k.ns).List(bg(), metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("reason", reason).String()})
		Expect(err).NotTo(HaveOccurred())
		for _, e := range l.Items {
			out = append(out, reason+" "+e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name+": "+e.Message)
		}
	}
	return out
}

// prePullDaemonSets are the pre-pull DaemonSets in the namespace.
func (k *kube) prePullDaemonSets() []string {
	l, err := k.c.AppsV1().DaemonSets(k.ns).List(bg(), metav1.ListOptions{LabelSelector: labels.PrePullSelector})
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, d := range l.Items {
		out = append(out, d.Name)
	}
	return out
}
