//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

const (
	ccName         = "kv"
	invokeTimeout  = 8 * time.Minute // first invoke includes pulling the image and starting two pods
	queryTimeout   = 2 * time.Minute
	cleanupTimeout = 2 * time.Minute
)

var _ = Describe("Kubernetes chaincode runtime", Ordered, ContinueOnFailure, func() {
	var (
		s      settings
		kube   *network.Kube
		jobs   *network.JobRecorder
		h      *network.Harness
		reg    *network.RegistryClient
		ctx    context.Context
		cancel context.CancelFunc

		kv1      nwo.Chaincode
		deployed bool // scenario (a) got the chaincode committed and invocable
	)

	inventory := func() network.Inventory {
		inv, err := kube.Inventory(ctx)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		return inv
	}
	livePodsOf := func(inv network.Inventory, packageID string) []corev1.Pod {
		var out []corev1.Pod
		for _, p := range network.LivePods(inv.ChaincodePods) {
			if p.Annotations[network.AnnotationCCID] == packageID {
				out = append(out, p)
			}
		}
		return out
	}
	requireDeployed := func() {
		if !deployed {
			Skip("needs the kv chaincode deployed by scenario (a)")
		}
	}
	prepare := func(src, name string, edit func(string) error) string {
		return prepareChaincode(h, s, src, name, edit)
	}
	newJobs := func(before int) []string { return jobs.Created()[before:] }

	BeforeAll(func() {
		s = loadSettings()
		enableChaincodeSettings(&s.Peer)
		ctx, cancel = context.WithCancel(context.Background())
		reg = network.NewRegistryClient(s.RegistryAddr, strings.SplitN(s.Peer.VM.Registry, "/", 2)[0])
		fmt.Fprintf(GinkgoWriter, "repo %s, kubeconfig %s, namespace %s\n", s.RepoRoot, s.Kubeconfig, s.Namespace)

		Expect(network.CheckBinaries(s.BinDir)).To(Succeed())
		var err error
		kube, err = network.NewKube(s.Kubeconfig, s.Namespace)
		Expect(err).NotTo(HaveOccurred())
		Expect(kube.Ping(ctx)).To(Succeed(), "the local cluster (%s) is not ready", s.Kubeconfig)
		Expect(kube.CreateNamespace(ctx)).To(Succeed())
		jobs, err = kube.RecordJobs(ctx)
		Expect(err).NotTo(HaveOccurred())

		h, err = network.New(network.Options{RepoRoot: s.RepoRoot, Kubeconfig: s.Kubeconfig, Namespace: s.Namespace, Peer: &s.Peer})
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		h.Start()
		recordTiming("network_start", time.Since(start))
	})

	AfterAll(func() {
		failed := CurrentSpecReport().Failed() || anySpecFailed()
		stopNetwork(h, failed, s.Artifacts, "")
		if jobs != nil {
			jobs.Stop()
		}
		if failed && s.Keep {
			fmt.Fprintf(GinkgoWriter, "E2E_KEEP=1: keeping namespace %s and %s\n", s.Namespace, h.Opts.RootDir)
			cancel()
			return
		}
		if kube != nil {
			if inv, err := kube.Inventory(ctx); err == nil {
				fmt.Fprintf(GinkgoWriter, "namespace %s before deletion:\n%s\n", s.Namespace, inv)
			}
			Expect(kube.DeleteNamespace(context.Background(), 3*time.Minute)).To(Succeed())
		}
		if h != nil {
			h.Cleanup()
		}
		cancel()
	})

	It("(a) builds the image once with Kaniko, reuses it on the second peer, and serves invokes and queries", func() {
		kv1 = h.GoChaincode(ccName, "kv_1", "1", prepare("kv", "kv-1", nil))

		By("packaging the vendored kv chaincode")
		r := h.Package(&kv1)
		Expect(r.OK()).To(BeTrue(), "%s", r)

		By("installing on Org1's peer: a Kaniko Job builds and pushes the image")
		before := jobs.Count()
		r = h.Install(kv1, h.Org1Peer())
		Expect(r.OK()).To(BeTrue(), "%s", r)
		recordTiming("install_org1_build", r.Duration)
		built := newJobs(before)
		Expect(built).To(HaveLen(1), "expected exactly one build Job for the first install")
		Expect(jobs.Job(built[0]).Labels).To(HaveKeyWithValue(network.LabelManagedBy, network.ManagedByValue))
		dest := jobs.Destinations(built...)
		Expect(dest).To(HaveLen(1), "Kaniko --destination of Job %s", built[0])
		fmt.Fprintf(GinkgoWriter, "image built: %s\n", dest[0])
		Expect(reg.HasImage(dest[0])).To(BeTrue(), "image %s is not in the registry", dest[0])
		nwo.EnsureInstalled(h.Network, kv1.Label, kv1.PackageID, h.Org1Peer())

		By("installing the same package on Org2's peer: the image is found, no Job")
		before = jobs.Count()
		r = h.Install(kv1, h.Org2Peer())
		Expect(r.OK()).To(BeTrue(), "%s", r)
		recordTiming("install_org2_cached", r.Duration)
		Consistently(jobs.Count, 3*time.Second, 500*time.Millisecond).Should(Equal(before), "a build Job was created for an image that exists: %v", newJobs(before))
		nwo.EnsureInstalled(h.Network, kv1.Label, kv1.PackageID, h.Org2Peer())

		By("the VM's metrics on the peers' operations endpoints, by package label: Org1's build, Org2's cache hit")
		Expect(h.PeerMetrics(ctx, h.Org1Peer())).To(ContainSubstring(
			fmt.Sprintf(`k8scontroller_chaincode_image_build_duration_count{chaincode=%q,success="true"} 1`, kv1.Label)))
		Expect(h.PeerMetrics(ctx, h.Org2Peer())).To(ContainSubstring(
			fmt.Sprintf(`k8scontroller_chaincode_image_cache_hits{chaincode=%q} 1`, kv1.Label)))

		By("approving for both orgs and committing: the peers launch the chaincode once it is defined and installed")
		start := time.Now()
		h.ApproveAndCommit(kv1)
		recordTiming("approve_and_commit", time.Since(start))

		By("invoking put on both peers")
		r = h.InvokeOK(ccName, invokeTimeout, "put", "greeting", "hello-from-k8s")
		recordTiming("first_invoke", r.Duration)
		recordTiming("commit_start_to_first_invoke_done", time.Since(start))
		recordPodStartLatency("first_launch", kube, kv1.PackageID)
		deployed = true

		By("querying get on both peers")
		for _, p := range h.Peers {
			Expect(h.QueryOK(p, ccName, queryTimeout, "get", "greeting")).To(Equal("hello-from-k8s"), "on %s", p.ID())
		}
		r = h.InvokeOK(ccName, invokeTimeout, "put", "warm", "yes")
		recordTiming("warm_invoke", r.Duration)
	})

	It("(b) runs the chaincode as a labelled pod with a restricted security context and logs", func() {
		requireDeployed()
		inv := inventory()
		pods := livePodsOf(inv, kv1.PackageID)
		Expect(pods).To(HaveLen(2), "one chaincode pod per peer expected:\n%s", inv)

		peerIDs := map[string]bool{}
		for _, p := range pods {
			By("checking pod " + p.Name)
			Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
			Expect(p.Labels).To(HaveKeyWithValue(network.LabelManagedBy, network.ManagedByValue))
			Expect(p.Labels).To(HaveKeyWithValue(network.LabelComponent, "chaincode"))
			Expect(p.Labels).To(HaveKey(network.LabelPeerID))
			peerIDs[p.Labels[network.LabelPeerID]] = true
			Expect(p.Spec.RestartPolicy).To(Equal(corev1.RestartPolicyNever))
			Expect(p.Spec.AutomountServiceAccountToken).To(HaveValue(BeFalse()))

			psc := p.Spec.SecurityContext
			Expect(psc).NotTo(BeNil())
			Expect(psc.RunAsNonRoot).To(HaveValue(BeTrue()))
			Expect(p.Spec.Containers).To(HaveLen(1))
			c := p.Spec.Containers[0]
			sc := c.SecurityContext
			Expect(sc).NotTo(BeNil())
			Expect(sc.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
			Expect(sc.Privileged == nil || !*sc.Privileged).To(BeTrue())
			Expect(sc.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
			Expect(sc.Capabilities).NotTo(BeNil())
			Expect(sc.Capabilities.Drop).To(ContainElement(corev1.Capability("ALL")))
			Expect(sc.Capabilities.Add).To(BeEmpty())
			uid := sc.RunAsUser
			if uid == nil {
				uid = psc.RunAsUser
			}
			Expect(uid).To(HaveValue(BeNumerically(">", 0)))
			seccomp := sc.SeccompProfile
			if seccomp == nil {
				seccomp = psc.SeccompProfile
			}
			Expect(seccomp).NotTo(BeNil())
			Expect(seccomp.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))

			By("checking that its image is the one in the registry")
			Expect(reg.HasImage(c.Image)).To(BeTrue(), "pod image %s not in the registry", c.Image)

			By("reading its logs through the API")
			Eventually(func() (string, error) { return kube.PodLogs(ctx, p.Name, "") }, time.Minute, time.Second).
				Should(ContainSubstring("kv chaincode kv-1 starting"))
		}
		Expect(peerIDs).To(HaveLen(2), "pods should belong to different peers")

		By("asking the chaincode about itself")
		var info map[string]string
		Expect(json.Unmarshal([]byte(h.QueryOK(h.Org1Peer(), ccName, queryTimeout, "info")), &info)).To(Succeed())
		Expect(info).To(HaveKeyWithValue("build", "kv-1"))
		Expect(info).To(HaveKeyWithValue("ccid", kv1.PackageID))
		Expect(info["uid"]).NotTo(Equal("0"))

		Expect(inv.ChaincodeSecrets).To(HaveLen(len(inv.ChaincodePods)), "one TLS Secret per chaincode pod:\n%s", inv)
	})

	It("(c) relaunches the chaincode after its pod is deleted or crashes, and leaves no Jobs behind", func() {
		requireDeployed()
		org1ID := h.Org1Peer().ID()
		org1Pod := func() *corev1.Pod { return network.PeerPod(livePodsOf(inventory(), kv1.PackageID), org1ID) }
		old := org1Pod()
		Expect(old).NotTo(BeNil(), "no chaincode pod of %s", org1ID)

		// The VM may relaunch an ended chaincode by itself (relaunch
		// supervisor) or the peer does on the next invoke; either way the
		// first invoke after the pod is gone must succeed. Timings are taken
		// from the disruption, so they include the relaunch.
		By("deleting the chaincode pod of " + org1ID)
		t0 := time.Now()
		testkit.DeletePodAndWait(ctx, kube.Client, old, cleanupTimeout)
		recordTiming("pod_delete_until_gone", time.Since(t0))

		By("invoking at once: it succeeds on a new pod")
		r := h.InvokeOK(ccName, invokeTimeout, "put", "after-delete", "ok")
		recordTiming("relaunch_pod_delete_to_invoke_ok", time.Since(t0))
		nw := org1Pod()
		Expect(nw).NotTo(BeNil())
		Expect(nw.UID).NotTo(Equal(old.UID))
		recordContainerStart("relaunch_pod_delete_to_new_container_start", nw, t0)
		Expect(h.QueryOK(h.Org1Peer(), ccName, queryTimeout, "get", "after-delete")).To(Equal("ok"))

		By("crashing the chaincode (os.Exit(3) on both peers)")
		crashed := livePodsOf(inventory(), kv1.PackageID)
		t0 = time.Now()
		r = h.Invoke(ccName, 2*time.Minute, "crash")
		Expect(r.OK()).To(BeFalse(), "the crash invoke cannot succeed: %s", r)
		r = h.InvokeOK(ccName, invokeTimeout, "put", "after-crash", "ok")
		recordTiming("relaunch_crash_to_invoke_ok", time.Since(t0))
		Expect(h.QueryOK(h.Org2Peer(), ccName, queryTimeout, "get", "after-crash")).To(Equal("ok"))
		Eventually(func() []string {
			var names []string
			for _, p := range livePodsOf(inventory(), kv1.PackageID) {
				for _, c := range crashed {
					if p.UID == c.UID {
						names = append(names, "old:"+p.Name)
					}
				}
				names = append(names, p.Name)
			}
			return names
		}, cleanupTimeout, time.Second).Should(HaveLen(2), "two new chaincode pods expected after the crash")
		for _, p := range livePodsOf(inventory(), kv1.PackageID) {
			p := p
			recordContainerStart("relaunch_crash_to_new_container_start", &p, t0)
		}

		By("checking that no build Job is left and every chaincode pod has exactly one Secret")
		Eventually(func() []string {
			var problems []string
			inv := inventory()
			if len(inv.Jobs) > 0 || len(inv.BuildPods) > 0 {
				problems = append(problems, fmt.Sprintf("%d Jobs / %d build pods left", len(inv.Jobs), len(inv.BuildPods)))
			}
			if len(inv.ChaincodeSecrets) != len(inv.ChaincodePods) {
				problems = append(problems, fmt.Sprintf("%d chaincode Secrets for %d chaincode pods", len(inv.ChaincodeSecrets), len(inv.ChaincodePods)))
			}
			if len(problems) > 0 {
				problems = append(problems, inv.String())
			}
			return problems
		}, cleanupTimeout, 2*time.Second).Should(BeEmpty())
	})

	// (c2a) to (c2e): per-chaincode settings from the ConfigMap, applied at
	// the next launch, an invalid entry reported by name.
	chaincodeSettingsSpecs(func() chaincodeSettingsEnv {
		requireDeployed()
		return chaincodeSettingsEnv{Ctx: ctx, Kube: kube, H: h, Namespace: s.Namespace, CCName: ccName, CC: kv1}
	})

	It("(d) upgrades to a new package: a new image is built and its pods serve the new code", func() {
		requireDeployed()
		kv2 := h.GoChaincode(ccName, "kv_2", "2", prepare("kv", "kv-2", func(dir string) error {
			f := filepath.Join(dir, "kv.go")
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			nb := strings.Replace(string(b), `const Build = "kv-1"`, `const Build = "kv-2"`, 1)
			if nb == string(b) {
				return fmt.Errorf("Build constant not found in %s", f)
			}
			return os.WriteFile(f, []byte(nb), 0o644)
		}))
		r := h.Package(&kv2)
		Expect(r.OK()).To(BeTrue(), "%s", r)
		Expect(kv2.PackageID).NotTo(Equal(kv1.PackageID))

		before := jobs.Count()
		r = h.Install(kv2, h.Org1Peer())
		Expect(r.OK()).To(BeTrue(), "%s", r)
		recordTiming("upgrade_install_org1_build", r.Duration)
		built := newJobs(before)
		Expect(built).To(HaveLen(1))
		dest := jobs.Destinations(built...)
		Expect(dest).To(HaveLen(1))
		Expect(reg.HasImage(dest[0])).To(BeTrue())

		before = jobs.Count()
		r = h.Install(kv2, h.Org2Peer())
		Expect(r.OK()).To(BeTrue(), "%s", r)
		recordTiming("upgrade_install_org2_cached", r.Duration)
		Consistently(jobs.Count, 3*time.Second, 500*time.Millisecond).Should(Equal(before))

		start := time.Now()
		h.ApproveAndCommit(kv2)
		r = h.InvokeOK(ccName, invokeTimeout, "put", "upgraded", "yes")
		recordTiming("upgrade_first_invoke", r.Duration)
		recordTiming("upgrade_commit_start_to_first_invoke_done", time.Since(start))
		recordPodStartLatency("upgrade_launch", kube, kv2.PackageID)
		for _, p := range h.Peers {
			Expect(h.QueryOK(p, ccName, queryTimeout, "version")).To(Equal("kv-2"), "on %s", p.ID())
			Expect(h.QueryOK(p, ccName, queryTimeout, "get", "greeting")).To(Equal("hello-from-k8s"), "state survives the upgrade on %s", p.ID())
		}

		inv := inventory()
		newPods := livePodsOf(inv, kv2.PackageID)
		Expect(newPods).To(HaveLen(2), "%s", inv)
		oldImages := map[string]bool{}
		for _, p := range inv.ChaincodePods {
			if p.Annotations[network.AnnotationCCID] == kv1.PackageID {
				oldImages[p.Spec.Containers[0].Image] = true
			}
		}
		for _, p := range newPods {
			Expect(p.Status.Phase).To(Equal(corev1.PodRunning))
			Expect(oldImages).NotTo(HaveKey(p.Spec.Containers[0].Image))
			Expect(reg.HasImage(p.Spec.Containers[0].Image)).To(BeTrue())
			Eventually(func() (string, error) { return kube.PodLogs(ctx, p.Name, "") }, time.Minute, time.Second).
				Should(ContainSubstring("kv chaincode kv-2 starting"))
		}
	})

	It("(e) reports the compiler error of a broken chaincode and leaves nothing behind", func() {
		broken := h.GoChaincode("broken", "broken_1", "1", prepare("broken", "broken", nil))
		r := h.Package(&broken)
		Expect(r.OK()).To(BeTrue(), "%s", r)

		before := jobs.Count()
		r = h.Install(broken, h.Org1Peer())
		recordTiming("broken_install_failure", r.Duration)
		Expect(r.OK()).To(BeFalse(), "install of a chaincode that does not compile succeeded: %s", r)
		fmt.Fprintf(GinkgoWriter, "broken install output:\n%s\n", r.Output())
		for _, line := range strings.Split(r.Output(), "\n") {
			if strings.Contains(line, "brokenChaincodeMissingSymbol") {
				fmt.Fprintf(os.Stdout, "E2E-INFO broken install CLI line: %s\n", strings.TrimSpace(line))
			}
		}
		Expect(r.Output()).To(ContainSubstring("undefined: brokenChaincodeMissingSymbol"), "the CLI output should carry the Go compiler error")
		Expect(len(jobs.Created())).To(BeNumerically(">", before), "no build Job was created")

		Eventually(func() []string {
			var left []string
			inv := inventory()
			for _, j := range inv.Jobs {
				left = append(left, "job/"+j.Name)
			}
			for _, p := range inv.BuildPods {
				left = append(left, "pod/"+p.Name)
			}
			for _, p := range inv.ChaincodePods {
				if strings.HasPrefix(p.Annotations[network.AnnotationCCID], "broken_1:") {
					left = append(left, "pod/"+p.Name)
				}
			}
			return left
		}, cleanupTimeout, 2*time.Second).Should(BeEmpty(), "objects of the failed build are left")

		By("checking the package is not installed and the peer still serves")
		installed := nwo.QueryInstalled(h.Network, h.Org1Peer())()
		for i := range installed {
			Expect(installed[i].Label).NotTo(Equal("broken_1"))
		}
		if deployed {
			Expect(h.QueryOK(h.Org1Peer(), ccName, queryTimeout, "get", "greeting")).To(Equal("hello-from-k8s"))
		}
	})

	It("(f) leaves no pods, secrets or jobs once the network is stopped", func() {
		before := inventory()
		fmt.Fprintf(GinkgoWriter, "before stop:\n%s\n", before)
		info := fmt.Sprintf("E2E-INFO before the peers stop: %d chaincode pods (%d live), %d chaincode secrets, %d jobs",
			len(before.ChaincodePods), len(network.LivePods(before.ChaincodePods)), len(before.ChaincodeSecrets), len(before.Jobs))
		fmt.Fprintln(GinkgoWriter, info)
		fmt.Fprintln(os.Stdout, info)

		By("stopping the peers")
		start := time.Now()
		Expect(h.StopPeers(2 * time.Minute)).To(Succeed())
		recordTiming("peer_shutdown", time.Since(start))

		leftovers := func() network.Inventory {
			inv := inventory()
			inv.OtherPods = nil
			return inv
		}
		empty := func(inv network.Inventory) bool {
			return len(inv.ChaincodePods)+len(inv.BuildPods)+len(inv.PrePullPods)+len(inv.DaemonSets)+len(inv.Jobs)+len(inv.ChaincodeSecrets) == 0
		}
		var inv network.Inventory
		stopped := time.Now()
		deadline := stopped.Add(45 * time.Second)
		first := true
		for {
			inv = leftovers()
			if first {
				info := fmt.Sprintf("E2E-INFO right after the peers exited: %d chaincode pods (%d live), %d chaincode secrets, %d jobs",
					len(inv.ChaincodePods), len(network.LivePods(inv.ChaincodePods)), len(inv.ChaincodeSecrets), len(inv.Jobs))
				fmt.Fprintln(GinkgoWriter, info)
				fmt.Fprintln(os.Stdout, info)
				first = false
			}
			if empty(inv) || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Second)
		}
		recordTiming("objects_gone_after_peer_exit", time.Since(stopped))
		if !empty(inv) {
			// On SIGTERM the peer calls containerRouter.Shutdown, i.e. the
			// VM's Stop for every running chaincode, which promises to delete
			// pod and Secret; build Jobs are the VM's to remove after a build.
			recordGap("peer-shutdown-cleanup: 45s after the peers exited the namespace still holds %d chaincode pods, %d chaincode secrets, %d jobs, %d build pods, %d pre-pull daemonsets; deleting them by label %s.",
				len(inv.ChaincodePods), len(inv.ChaincodeSecrets), len(inv.Jobs), len(inv.BuildPods), len(inv.DaemonSets), network.ManagedSelector)
			fmt.Fprintf(GinkgoWriter, "%s\n", inv)
			_, err := kube.DeleteManaged(ctx)
			Expect(err).NotTo(HaveOccurred())
			if !s.AllowLeftovers {
				Fail("objects left after peer shutdown (E2E_ALLOW_SHUTDOWN_LEFTOVERS=1 reports without failing):\n" + inv.String())
			}
		}

		By("checking that nothing is left in the namespace")
		Eventually(func() string {
			inv := inventory()
			if len(inv.ChaincodePods)+len(inv.BuildPods)+len(inv.PrePullPods)+len(inv.OtherPods)+len(inv.DaemonSets)+len(inv.Jobs)+len(inv.ChaincodeSecrets) == 0 {
				return ""
			}
			return inv.String()
		}, cleanupTimeout, 2*time.Second).Should(BeEmpty(), "objects without the %s label or not deletable", network.ManagedSelector)
		Expect(h.Stop()).To(Succeed())
	})
})
