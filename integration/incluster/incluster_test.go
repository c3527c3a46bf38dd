//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package incluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

func qualified(group, resource string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}

// denials are the "verb resource" strings /healthz names for a missing rule.
func denials(rule rbacv1.PolicyRule) []string {
	var out []string
	for _, res := range rule.Resources {
		for _, verb := range rule.Verbs {
			out = append(out, verb+" "+qualified(rule.APIGroups[0], res))
		}
	}
	return out
}

func (k *kube) role() *rbacv1.Role {
	r, err := k.c.RbacV1().Roles(k.ns).Get(bg(), roleName, metav1.GetOptions{})
	Expect(err).NotTo(HaveOccurred())
	return r
}

func (k *kube) setRoleRules(rules []rbacv1.PolicyRule) {
	Eventually(func() error {
		r := k.role()
		r.Rules = rules
		_, err := k.c.RbacV1().Roles(k.ns).Update(bg(), r, metav1.UpdateOptions{})
		return err
	}, 30*time.Second, time.Second).Should(Succeed())
}

func without(rules []rbacv1.PolicyRule, i int) []rbacv1.PolicyRule {
	out := append([]rbacv1.PolicyRule(nil), rules[:i]...)
	return append(out, rules[i+1:]...)
}

func healthy(podIP string) {
	Eventually(func() (int, error) {
		code, _, err := healthz(podIP)
		return code, err
	}, time.Minute, time.Second).Should(Equal(200))
}

// jobOwners records, while a build runs, the owner references of every Job
// seen in the namespace (the VM deletes a build Job when it is done).
type jobOwners struct {
	mu   sync.Mutex
	seen map[string][]metav1.OwnerReference
	stop chan struct{}
	done chan struct{}
}

func (k *kube) watchJobOwners() *jobOwners {
	j := &jobOwners{seen: map[string][]metav1.OwnerReference{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(j.done)
		for {
			l, err := k.c.BatchV1().Jobs(k.ns).List(bg(), metav1.ListOptions{})
			if err == nil {
				j.mu.Lock()
				for _, job := range l.Items {
					j.seen[job.Name] = job.OwnerReferences
				}
				j.mu.Unlock()
			}
			select {
			case <-j.stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return j
}

func (j *jobOwners) Stop() map[string][]metav1.OwnerReference {
	close(j.stop)
	<-j.done
	return j.seen
}

var _ = Describe("the peer as a Pod", Ordered, func() {
	var (
		peer      *corev1.Pod
		ccName    = "kv"
		packageID string
		jobSeen   map[string][]metav1.OwnerReference
	)

	BeforeAll(func() {
		var err error
		peer, err = k.pod(peerPod)
		Expect(err).NotTo(HaveOccurred())
	})

	It("runs with in-cluster config, on the pod network, with its own namespace as chaincode namespace", func() {
		Expect(peer.Spec.HostNetwork).To(BeFalse())
		// the API server through the kubernetes Service, as the kubelet sets it up: no address of ours
		Expect(peer.Spec.HostAliases).To(BeEmpty())
		for _, c := range peer.Spec.Containers {
			for _, e := range c.Env {
				Expect(e.Name).NotTo(HavePrefix("KUBERNETES_SERVICE_"), "container %s", c.Name)
			}
		}
		Expect(peer.Status.PodIP).To(HavePrefix(strings.TrimSuffix(cfg.HostIP, "1")))
		Expect(peer.Spec.ServiceAccountName).To(Equal("fabric-peer"))
		log := k.peerLogSince(peer.CreationTimestamp.Add(-time.Minute))
		Expect(log).To(ContainSubstring(fmt.Sprintf("Kubernetes chaincode VM: namespace %s", cfg.Namespace)))
		Expect(log).To(ContainSubstring(`owner pod "fabric-peer-0"`))
		code, body, err := healthz(peer.Status.PodIP)
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(200), body)
		recordCheck("peer %s: in-cluster client config through the kubernetes Service, namespace %s, owner pod set, /healthz 200 on %s:9443", peerPod, cfg.Namespace, peer.Status.PodIP)
	})

	It("names every missing permission in /healthz (each Role rule removed in turn)", func() {
		full := k.role().Rules
		// role.yaml == rbac.RequiredRules() is images/peer/deploy's unit test
		var shipped rbacv1.Role
		raw, err := os.ReadFile(filepath.Join(cfg.RepoRoot, "images", "peer", "deploy", "role.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(yaml.UnmarshalStrict(raw, &shipped)).To(Succeed())
		Expect(full).To(Equal(shipped.Rules), "deployed Role == images/peer/deploy/role.yaml")
		ip := peer.Status.PodIP
		for i, rule := range full {
			want := denials(rule)
			start := time.Now()
			k.setRoleRules(without(full, i))
			var body string
			Eventually(func() (int, error) {
				code, b, err := healthz(ip)
				body = b
				return code, err
			}, time.Minute, time.Second).Should(Equal(503))
			Eventually(func() string { _, body, _ = healthz(ip); return body }, 30*time.Second, time.Second).Should(
				And(ContainSubstring("missing permissions in namespace "+cfg.Namespace), ContainSubstring(want[0])))
			for _, d := range want {
				Expect(body).To(ContainSubstring(d))
			}
			recordCheck("rule %v %v removed -> /healthz 503 after %.1fs naming %v", rule.Resources, rule.Verbs, time.Since(start).Seconds(), want)
			k.setRoleRules(full)
			healthy(ip)
		}
	})

	It("fails an install with a clear error, not a hang, without the jobs permission", func() {
		full := k.role().Rules
		idx := -1
		for i, r := range full {
			if r.Resources[0] == "jobs" {
				idx = i
			}
		}
		Expect(idx).NotTo(Equal(-1))
		file, id := fab.packageChaincode("kvrbac" + strings.TrimPrefix(cfg.Namespace, "fpk-incluster-"))
		k.setRoleRules(without(full, idx))
		DeferCleanup(func() { k.setRoleRules(full); healthy(k.podIP()) })
		r := fab.install(file, 3*time.Minute)
		Expect(r.TimedOut).To(BeFalse(), r.String())
		Expect(r.ExitCode).NotTo(Equal(0), r.String())
		Expect(r.Out).To(And(ContainSubstring("forbidden"), ContainSubstring(`"jobs"`)))
		Expect(r.Duration).To(BeNumerically("<", time.Minute))
		Expect(k.jobs()).To(BeEmpty())
		recordTiming("install-denied-jobs", r.Duration)
		recordCheck("install of %s without jobs permission failed in %.1fs: %s", id, r.Duration.Seconds(), lastLine(r.Out))
	})

	It("builds the chaincode with Kaniko (install) — build pods need Pod Security baseline", func() {
		var file string
		file, packageID = fab.packageChaincode("kv" + strings.TrimPrefix(cfg.Namespace, "fpk-incluster-"))
		watcher := k.watchJobOwners()

		By("installing while the namespace enforces restricted: the cluster refuses the build pod and the VM fails the install at once")
		start := time.Now()
		res := fab.install(file, 5*time.Minute)
		Expect(res.ExitCode).NotTo(Equal(0), res.String())
		Expect(res.Out).To(ContainSubstring("the cluster refused to create the build pod"))
		Expect(res.Out).To(ContainSubstring("PodSecurity"))
		Expect(res.Duration).To(BeNumerically("<", time.Minute), "a refused build pod must not wait for vm.k8s.buildTimeout")
		Eventually(k.jobs, time.Minute, time.Second).Should(BeEmpty())
		recordTiming("install-refused-by-pod-security", res.Duration)
		recordCheck("install under enforce=restricted failed in %.1fs naming the refusal: %s", res.Duration.Seconds(), lastLine(res.Out))

		By("relaxing the namespace to enforce=baseline (Kaniko runs as root; see vm.k8s.buildNamespace for a separate build namespace)")
		k.setPodSecurity("baseline")
		res = fab.install(file, 14*time.Minute)
		Expect(res.ExitCode).To(Equal(0), res.String()+"\n"+k.peerLogTail(40))
		recordTiming("install-kaniko-build-total", time.Since(start))
		jobSeen = watcher.Stop()
		Expect(jobSeen).NotTo(BeEmpty(), "a build Job was seen")
		for name, refs := range jobSeen {
			Expect(ownedBy(refs, "Pod", peer.UID)).To(BeTrue(), "Job %s owned by the peer pod: %v", name, refs)
			recordCheck("build Job %s ownerReference -> Pod %s (%s)", name, peerPod, peer.UID)
		}
		out := fab.peerCLI(time.Minute, "lifecycle", "chaincode", "queryinstalled").Out
		Expect(out).To(ContainSubstring(packageID))

		By("waiting for the pre-pull of the new image onto the node")
		var events []string
		Eventually(func() []string {
			events = k.prePullEvents()
			return events
		}, 3*time.Minute, time.Second).Should(ContainElement(HavePrefix("PrePulled DaemonSet/ccpull-")), "%v", events)
		Eventually(k.prePullDaemonSets, time.Minute, time.Second).Should(BeEmpty())
		recordCheck("pre-pull: %s; its DaemonSet deleted", events[0])
	})

	It("approves, commits, invokes and queries with the chaincode Pod admitted under restricted", func() {
		k.setPodSecurity("restricted")
		fab.approveAndCommit(ccName, packageID)
		start := time.Now()
		r := fab.invoke(ccName, 6*time.Minute, "put", "colour", "blue")
		Expect(r.ExitCode).To(Equal(0), r.String()+"\n"+k.peerLogTail(40))
		recordTiming("first-invoke-incl-chaincode-pod-start", time.Since(start))
		q := fab.query(ccName, "get", "colour")
		Expect(q.ExitCode).To(Equal(0), q.String())
		Expect(strings.TrimSpace(q.Stdout)).To(Equal("blue"))

		pods := k.chaincodePods()
		Expect(pods).To(HaveLen(1))
		cc := pods[0]
		Expect(cc.Status.Phase).To(Equal(corev1.PodRunning))
		Expect(cc.Spec.HostNetwork).To(BeFalse())
		Expect(ownedBy(cc.OwnerReferences, "Pod", peer.UID)).To(BeTrue(), "%v", cc.OwnerReferences)
		Expect(k.enforcedPodSecurity()).To(Equal("restricted"))
		// the chaincode dials the peer's Service by name, not the Pod's IP
		peerAddr := fab.org1().Host + ":7052"
		c := cc.Spec.Containers[0]
		words := append(append([]string{}, c.Command...), c.Args...)
		for _, e := range c.Env {
			words = append(words, e.Value)
		}
		Expect(strings.Join(words, " ")).To(ContainSubstring(peerAddr))
		recordCheck("chaincode pod %s (IP %s) admitted under enforce=restricted, dials the peer at %s, owned by %s", cc.Name, cc.Status.PodIP, peerAddr, peerPod)

		secrets := k.managedSecrets()
		Expect(secrets).To(HaveLen(1))
		Expect(ownedBy(secrets[0].OwnerReferences, "Pod", cc.UID)).To(BeTrue(), "%v", secrets[0].OwnerReferences)
		recordCheck("chaincode Secret %s owned by chaincode pod %s (which the peer pod owns)", secrets[0].Name, cc.Name)
	})

	It("garbage-collects chaincode Pods and Secrets with the peer Pod; the recreated peer keeps its ledger", func() {
		old := peer.UID
		ccPods := k.chaincodePods()
		Expect(ccPods).NotTo(BeEmpty())
		// The objects of the deleted peer Pod's run; the recreated peer
		// launches its committed chaincode at start-up under new names, so
		// objects of its own may appear meanwhile.
		before := map[types.UID]string{}
		for _, p := range k.managedPods() {
			before[p.UID] = "pod/" + p.Name
		}
		for _, s := range k.managedSecrets() {
			before[s.UID] = "secret/" + s.Name
		}
		start := time.Now()
		kubectlOK("-n", cfg.Namespace, "delete", "pod", peerPod, "--wait=false")
		Eventually(func() []string {
			var left []string
			for _, p := range k.managedPods() {
				if name, ok := before[p.UID]; ok {
					left = append(left, name)
				}
			}
			for _, s := range k.managedSecrets() {
				if name, ok := before[s.UID]; ok {
					left = append(left, name)
				}
			}
			return left
		}, 3*time.Minute, time.Second).Should(BeEmpty())
		recordTiming("gc-after-peer-pod-delete", time.Since(start))
		recordCheck("peer pod %s deleted -> chaincode pod %s and its Secret garbage-collected", old, ccPods[0].Name)

		peer = k.waitPeerReady(5*time.Minute, types.UID(old))
		recordTiming("peer-pod-recreated-ready", time.Since(start))
		recordCheck("recreated peer pod admitted under enforce=restricted (IP %s)", peer.Status.PodIP)

		start = time.Now()
		r := fab.invoke(ccName, 6*time.Minute, "put", "shape", "round")
		Expect(r.ExitCode).To(Equal(0), r.String()+"\n"+k.peerLogTail(40))
		recordTiming("invoke-after-peer-restart", time.Since(start))
		q := fab.query(ccName, "get", "colour")
		Expect(q.ExitCode).To(Equal(0), q.String())
		Expect(strings.TrimSpace(q.Stdout)).To(Equal("blue"), "ledger kept on the PersistentVolume")
		pods := k.chaincodePods()
		Expect(pods).To(HaveLen(1))
		Expect(ownedBy(pods[0].OwnerReferences, "Pod", peer.UID)).To(BeTrue())
		Expect(k.jobs()).To(BeEmpty(), "no rebuild: the image is in the registry")
	})

	It("keeps its namespace restricted and builds in a baseline namespace of its own (vm.k8s.buildNamespace)", func() {
		k.setPodSecurity("restricted")
		bk := newKube(cfg.Kubeconfig, buildNamespace())
		By("creating " + bk.ns + " (enforce=baseline) with the build Roles bound to the peer's ServiceAccount")
		kubectlOK("create", "namespace", bk.ns)
		bk.setPodSecurity("baseline")
		kubectlOK("apply", "-n", bk.ns, "-k", filepath.Join(cfg.RepoRoot, "images", "peer", "deploy", "build-namespace"))
		kubectlOK("-n", bk.ns, "create", "rolebinding", "fabric-peer-build", "--role=fabric-peer-build",
			"--serviceaccount="+cfg.Namespace+":fabric-peer")
		// deploy-local names the registry's CA ConfigMap, which the peer checks in the build namespace
		kubectlOK("apply", "-n", bk.ns, "-k", filepath.Join(cfg.RepoRoot, "images", "peer", "deploy", "build-namespace-registry"))
		kubectlOK("-n", bk.ns, "create", "rolebinding", "fabric-peer-build-registry", "--role=fabric-peer-build-registry",
			"--serviceaccount="+cfg.Namespace+":fabric-peer")

		By("setting CORE_VM_K8S_BUILDNAMESPACE and restarting the peer")
		kubectlOK("-n", cfg.Namespace, "patch", "configmap", "fabric-peer-k8s-vm", "--type=merge",
			"-p", fmt.Sprintf(`{"data":{"CORE_VM_K8S_BUILDNAMESPACE":%q}}`, bk.ns))
		old := peer.UID
		kubectlOK("-n", cfg.Namespace, "delete", "pod", peerPod)
		peer = k.waitPeerReady(5*time.Minute, old)
		healthy(peer.Status.PodIP)
		recordCheck("peer restarted with vm.k8s.buildNamespace=%s: /healthz 200 (build rules checked there)", bk.ns)

		By("installing a new package: the Kaniko Job runs in the build namespace, nothing is built in " + cfg.Namespace)
		file, id := fab.packageChaincode("kvb" + strings.TrimPrefix(cfg.Namespace, "fpk-incluster-"))
		inBuild, inPeer := bk.watchJobOwners(), k.watchJobOwners()
		start := time.Now()
		res := fab.install(file, 14*time.Minute)
		Expect(res.ExitCode).To(Equal(0), res.String()+"\n"+k.peerLogTail(40))
		recordTiming("install-kaniko-build-in-build-namespace", time.Since(start))
		seen, notSeen := inBuild.Stop(), inPeer.Stop()
		Expect(seen).NotTo(BeEmpty(), "a build Job in %s", bk.ns)
		Expect(notSeen).To(BeEmpty(), "no build Job in %s", cfg.Namespace)
		for name, refs := range seen {
			Expect(refs).To(BeEmpty(), "Job %s: ownerReferences cannot cross namespaces", name)
			recordCheck("build Job %s/%s (no owner; removed by the VM, its TTL and the sweep)", bk.ns, name)
		}
		Eventually(bk.jobs, time.Minute, time.Second).Should(BeEmpty(), "the build Job is deleted")
		Expect(k.enforcedPodSecurity()).To(Equal("restricted"))

		By("committing and invoking it: the chaincode Pod runs in the restricted namespace")
		fab.approveAndCommit("kvb", id)
		r := fab.invoke("kvb", 6*time.Minute, "put", "where", "build-namespace")
		Expect(r.ExitCode).To(Equal(0), r.String()+"\n"+k.peerLogTail(40))
		q := fab.query("kvb", "get", "where")
		Expect(q.ExitCode).To(Equal(0), q.String())
		Expect(strings.TrimSpace(q.Stdout)).To(Equal("build-namespace"))
		var cc *corev1.Pod
		for _, p := range k.chaincodePods() {
			if p.Annotations[network.AnnotationCCID] == id {
				cc = &p
			}
		}
		Expect(cc).NotTo(BeNil(), "chaincode pod of %s in %s", id, cfg.Namespace)
		Expect(ownedBy(cc.OwnerReferences, "Pod", peer.UID)).To(BeTrue(), "%v", cc.OwnerReferences)
		recordCheck("chaincode pod %s of %s admitted under enforce=restricted in %s", cc.Name, id, cfg.Namespace)
	})
})

func (k *kube) podIP() string {
	p, err := k.pod(peerPod)
	Expect(err).NotTo(HaveOccurred())
	return p.Status.PodIP
}

func lastLine(s string) string {
	return testkit.LastLines(strings.TrimSpace(s), 1)
}

func firstLine(s string) string {
	return strings.SplitN(s, "\n", 2)[0]
}
