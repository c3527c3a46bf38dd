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
	"strconv"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

// Node.js chaincode as teams ship it: a JavaScript project with
// package.json and package-lock.json, and a TypeScript one compiled before
// packaging, both packaged with the stock `peer lifecycle chaincode package
// --lang node`. Fabric's node platform builds them in chaincode.node.runtime
// (npm install --production, reaching the npm registry from the build pod)
// and the chaincode runs with `npm start` from that image.
var _ = Describe("Node.js chaincode", Ordered, ContinueOnFailure, Label("node"), func() {
	const (
		nodeCC = "nodeasset"
		tsCC   = "tsasset"
		// lockedShim is the fabric-shim version node-asset's package-lock.json
		// pins while package.json accepts any later 2.x.
		lockedShim = "2.5.7"
	)
	var (
		n    *sideNetwork
		s    settings
		kube *network.Kube
		jobs *network.JobRecorder
		h    *network.Harness
		reg  *network.RegistryClient
		ctx  context.Context

		cc1      nwo.Chaincode
		deployed bool
	)

	livePodsOf := func(packageID string) []corev1.Pod { return n.livePodsOf(packageID) }
	requireDeployed := func() {
		if !deployed {
			Skip("needs the node-asset chaincode deployed by the first spec")
		}
	}
	newJobs := func(before int) []string { return jobs.Created()[before:] }

	// installBoth installs cc on Org1 (one build Job, in chaincode.node.runtime)
	// and on Org2 (the image is found: no Job), recording both durations.
	installBoth := func(cc nwo.Chaincode, prefix string) {
		before := jobs.Count()
		r := h.Install(cc, h.Org1Peer())
		ExpectWithOffset(1, r.OK()).To(BeTrue(), "%s", r)
		recordTiming(prefix+"_install_org1_build", r.Duration)
		built := newJobs(before)
		ExpectWithOffset(1, built).To(HaveLen(1), "expected exactly one build Job for the first install")
		job := jobs.Job(built[0])
		ExpectWithOffset(1, job).NotTo(BeNil())
		for _, c := range job.Spec.Template.Spec.InitContainers {
			ExpectWithOffset(1, c.Image).To(Equal(s.Peer.NodeEnvImage), "container %s of build Job %s", c.Name, job.Name)
		}
		dest := jobs.Destinations(built...)
		ExpectWithOffset(1, dest).To(HaveLen(1))
		has, err := reg.HasImage(dest[0])
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		ExpectWithOffset(1, has).To(BeTrue(), "image %s is not in the registry", dest[0])
		nwo.EnsureInstalled(h.Network, cc.Label, cc.PackageID, h.Org1Peer())

		before = jobs.Count()
		r = h.Install(cc, h.Org2Peer())
		ExpectWithOffset(1, r.OK()).To(BeTrue(), "%s", r)
		recordTiming(prefix+"_install_org2_cached", r.Duration)
		ConsistentlyWithOffset(1, jobs.Count, 3*time.Second, 500*time.Millisecond).Should(Equal(before), "a build Job was created for an image that exists: %v", newJobs(before))
		nwo.EnsureInstalled(h.Network, cc.Label, cc.PackageID, h.Org2Peer())
	}
	readAsset := func(p *nwo.Peer, name, id string) map[string]string {
		var asset map[string]string
		ExpectWithOffset(1, json.Unmarshal([]byte(h.QueryOK(p, name, queryTimeout, "ReadAsset", id)), &asset)).To(Succeed())
		return asset
	}

	BeforeAll(func() {
		n = &sideNetwork{}
		n.start("node", func(s *settings, _ *network.Kube) {
			reg = network.NewRegistryClient(s.RegistryAddr, strings.SplitN(s.Peer.VM.Registry, "/", 2)[0])
			fmt.Fprintf(GinkgoWriter, "chaincode.node.runtime %s\n", s.Peer.NodeEnvImage)
			Expect(reg.HasImage(s.Peer.NodeEnvImage)).To(BeTrue(), "%s is not in the registry (integration/cluster/cluster.sh images)", s.Peer.NodeEnvImage)
		})
		s, kube, jobs, h, ctx = n.s, n.kube, n.jobs, n.h, n.ctx
	})

	AfterAll(func() { n.stop() })

	It("builds a JavaScript package once with the npm registry, reuses the image on Org2, and serves both orgs", func() {
		cc1 = h.NodeChaincode(nodeCC, "nodeasset_1", "1", prepareNodeChaincode(h, s, "node-asset", "node-asset-1", nil))

		By("packaging with peer lifecycle chaincode package --lang node")
		r := h.Package(&cc1)
		Expect(r.OK()).To(BeTrue(), "%s", r)
		recordTiming("node_package", r.Duration)

		By("installing on Org1 (one build Job) and Org2 (image found, no Job)")
		installBoth(cc1, "node")

		By("approving for both orgs and committing")
		start := time.Now()
		h.ApproveAndCommit(cc1)
		recordTiming("node_approve_and_commit", time.Since(start))

		By("creating an asset: the first invoke launches both chaincode pods")
		r = h.InvokeOK(nodeCC, invokeTimeout, "CreateAsset", "asset1", "blue", "org1")
		recordTiming("node_first_invoke", r.Duration)
		recordTiming("node_commit_start_to_first_invoke_done", time.Since(start))
		recordPodStartLatency("node_first_launch", kube, cc1.PackageID)
		deployed = true

		By("reading, updating and deleting assets on both orgs")
		for _, p := range h.Peers {
			Expect(readAsset(p, nodeCC, "asset1")).To(Equal(map[string]string{"ID": "asset1", "Value": "blue", "Owner": "org1"}), "on %s", p.ID())
		}
		r = h.InvokeOK(nodeCC, invokeTimeout, "UpdateAsset", "asset1", "green", "org2")
		recordTiming("node_warm_invoke", r.Duration)
		for _, p := range h.Peers {
			Expect(readAsset(p, nodeCC, "asset1")).To(HaveKeyWithValue("Value", "green"), "on %s", p.ID())
		}
		h.InvokeOK(nodeCC, invokeTimeout, "CreateAsset", "asset2", "red", "org2")
		Expect(h.QueryOK(h.Org2Peer(), nodeCC, queryTimeout, "AssetExists", "asset2")).To(Equal("true"))
		h.InvokeOK(nodeCC, invokeTimeout, "DeleteAsset", "asset2")
		Expect(h.QueryOK(h.Org1Peer(), nodeCC, queryTimeout, "AssetExists", "asset2")).To(Equal("false"))
		r = h.Query(h.Org1Peer(), nodeCC, queryTimeout, "ReadAsset", "asset2")
		Expect(r.OK()).To(BeFalse(), "%s", r)
		Expect(r.Output()).To(ContainSubstring("asset asset2 does not exist"))
		r = h.Invoke(nodeCC, invokeTimeout, "CreateAsset", "asset1", "again", "org1")
		Expect(r.OK()).To(BeFalse(), "%s", r)
		Expect(r.Output()).To(ContainSubstring("asset asset1 already exists"))

		By("asking the chaincode about itself: the build installed what package-lock.json pins")
		var info map[string]string
		Expect(json.Unmarshal([]byte(h.QueryOK(h.Org1Peer(), nodeCC, queryTimeout, "Info")), &info)).To(Succeed())
		fmt.Fprintf(GinkgoWriter, "node-asset info: %v\n", info)
		Expect(info).To(HaveKeyWithValue("build", "node-asset-1"))
		Expect(info).To(HaveKeyWithValue("ccid", cc1.PackageID))
		Expect(info).To(HaveKeyWithValue("shim", lockedShim))
		Expect(info).To(HaveKeyWithValue("contractApi", lockedShim))
		Expect(info["node"]).To(HavePrefix("v18."), "Debian bookworm's nodejs")
		Expect(info["uid"]).NotTo(Equal("0"))

		By("checking the pods: restricted security context, read-only root, npm start, logs")
		pods := livePodsOf(cc1.PackageID)
		Expect(pods).To(HaveLen(2))
		for _, p := range pods {
			c := p.Spec.Containers[0]
			Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(HaveValue(BeTrue()))
			Expect(c.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
			Expect(c.SecurityContext.RunAsUser).To(HaveValue(BeEquivalentTo(mustAtoi(info["uid"]))), "the uid Info reported")
			Expect(strings.Join(c.Args, " ")).To(ContainSubstring("--peer.address"))
			Expect(reg.HasImage(c.Image)).To(BeTrue(), "pod image %s not in the registry", c.Image)
			Eventually(func() (string, error) { return kube.PodLogs(ctx, p.Name, "") }, time.Minute, time.Second).
				Should(ContainSubstring("node-asset chaincode node-asset-1 starting"))
		}
	})

	It("relaunches the chaincode after its pod is deleted or the process exits", func() {
		requireDeployed()
		org1 := h.Org1Peer().ID()
		old := network.PeerPod(livePodsOf(cc1.PackageID), org1)
		Expect(old).NotTo(BeNil(), "no chaincode pod of %s", org1)

		By("deleting the chaincode pod of " + org1)
		t0 := time.Now()
		testkit.DeletePodAndWait(ctx, kube.Client, old, cleanupTimeout)
		recordTiming("node_pod_delete_until_gone", time.Since(t0))
		h.InvokeOK(nodeCC, invokeTimeout, "CreateAsset", "after-delete", "ok", "org1")
		recordTiming("node_relaunch_pod_delete_to_invoke_ok", time.Since(t0))
		Expect(readAsset(h.Org1Peer(), nodeCC, "after-delete")).To(HaveKeyWithValue("Value", "ok"))
		var relaunched []string
		for _, p := range livePodsOf(cc1.PackageID) {
			Expect(p.UID).NotTo(Equal(old.UID))
			if p.Labels[network.LabelPeerID] == org1 {
				relaunched = append(relaunched, p.Name)
			}
		}
		Expect(relaunched).To(HaveLen(1), "one new chaincode pod of %s", org1)

		By("exiting the chaincode process on both peers (Crash)")
		crashed := livePodsOf(cc1.PackageID)
		t0 = time.Now()
		r := h.Invoke(nodeCC, 2*time.Minute, "Crash")
		Expect(r.OK()).To(BeFalse(), "the Crash invoke cannot succeed: %s", r)
		h.InvokeOK(nodeCC, invokeTimeout, "CreateAsset", "after-crash", "ok", "org2")
		recordTiming("node_relaunch_crash_to_invoke_ok", time.Since(t0))
		for _, p := range h.Peers {
			Expect(readAsset(p, nodeCC, "after-crash")).To(HaveKeyWithValue("Value", "ok"), "on %s", p.ID())
		}
		Eventually(func() []string {
			var names []string
			for _, p := range livePodsOf(cc1.PackageID) {
				for _, c := range crashed {
					if p.UID == c.UID {
						names = append(names, "old:"+p.Name)
					}
				}
				names = append(names, p.Name)
			}
			return names
		}, cleanupTimeout, time.Second).Should(HaveLen(2), "two new chaincode pods expected after the crash")
	})

	It("upgrades to a new JavaScript package (sequence 2): one new build, the new code serves with the old state", func() {
		requireDeployed()
		cc2 := h.NodeChaincode(nodeCC, "nodeasset_2", "2", prepareNodeChaincode(h, s, "node-asset", "node-asset-2", setNodeAssetBuild("node-asset-2")))
		r := h.Package(&cc2)
		Expect(r.OK()).To(BeTrue(), "%s", r)
		Expect(cc2.PackageID).NotTo(Equal(cc1.PackageID))

		installBoth(cc2, "node_upgrade")
		start := time.Now()
		h.ApproveAndCommit(cc2)
		r = h.InvokeOK(nodeCC, invokeTimeout, "CreateAsset", "upgraded", "yes", "org1")
		recordTiming("node_upgrade_first_invoke", r.Duration)
		recordTiming("node_upgrade_commit_start_to_first_invoke_done", time.Since(start))
		recordPodStartLatency("node_upgrade_launch", kube, cc2.PackageID)
		for _, p := range h.Peers {
			Expect(h.QueryOK(p, nodeCC, queryTimeout, "Version")).To(Equal("node-asset-2"), "on %s", p.ID())
			Expect(readAsset(p, nodeCC, "asset1")).To(HaveKeyWithValue("Value", "green"), "state survives the upgrade on %s", p.ID())
		}
		Expect(livePodsOf(cc2.PackageID)).To(HaveLen(2))
	})

	It("builds and serves a TypeScript chaincode compiled before packaging", func() {
		dir := prepareNodeChaincode(h, s, "ts-asset", "ts-asset-1", nil)
		By("compiling on the host: npm ci && npm run build")
		t0 := time.Now()
		Expect(network.BuildTypeScriptChaincode(dir)).To(Succeed())
		recordTiming("ts_compile_on_host", time.Since(t0))
		Expect(filepath.Join(dir, "dist", "index.js")).To(BeAnExistingFile())

		cc := h.NodeChaincode(tsCC, "tsasset_1", "1", dir)
		r := h.Package(&cc)
		Expect(r.OK()).To(BeTrue(), "%s", r)
		recordTiming("ts_package", r.Duration)
		installBoth(cc, "ts")

		start := time.Now()
		h.ApproveAndCommit(cc)
		r = h.InvokeOK(tsCC, invokeTimeout, "CreateAsset", "ts1", "typed", "org1")
		recordTiming("ts_first_invoke", r.Duration)
		recordTiming("ts_commit_start_to_first_invoke_done", time.Since(start))
		recordPodStartLatency("ts_first_launch", kube, cc.PackageID)
		for _, p := range h.Peers {
			Expect(readAsset(p, tsCC, "ts1")).To(Equal(map[string]string{"ID": "ts1", "Value": "typed", "Owner": "org1"}), "on %s", p.ID())
			Expect(h.QueryOK(p, tsCC, queryTimeout, "Version")).To(Equal("ts-asset-1"), "on %s", p.ID())
		}
		h.InvokeOK(tsCC, invokeTimeout, "UpdateAsset", "ts1", "still-typed", "org2")
		Expect(readAsset(h.Org2Peer(), tsCC, "ts1")).To(HaveKeyWithValue("Value", "still-typed"))
		for _, p := range livePodsOf(cc.PackageID) {
			Eventually(func() (string, error) { return kube.PodLogs(ctx, p.Name, "") }, time.Minute, time.Second).
				Should(ContainSubstring("ts-asset chaincode ts-asset-1 starting"))
		}
	})
})

// prepareNodeChaincode copies the Node.js chaincode src into the network's
// directory as name, then applies edit. A file naming this run is added so
// that the package (and so the image tag) is new, as in prepareChaincode.
func prepareNodeChaincode(h *network.Harness, s settings, src, name string, edit func(string) error) string {
	dir := filepath.Join(h.Opts.RootDir, "chaincode", name)
	run := fmt.Sprintf("{\"run\": %q}\n", runStamp(s))
	ExpectWithOffset(1, network.PrepareNodeChaincode(filepath.Join(s.RepoRoot, "integration", "chaincode", src), dir,
		withRunFile("e2e-run.json", run, edit))).To(Succeed())
	return dir
}

func mustAtoi(s string) int64 {
	i, err := strconv.ParseInt(s, 10, 64)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return i
}

// setNodeAssetBuild returns an edit that sets node-asset's BUILD constant.
func setNodeAssetBuild(build string) func(string) error {
	return func(dir string) error {
		f := filepath.Join(dir, "lib", "asset-contract.js")
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		nb := strings.Replace(string(b), `const BUILD = 'node-asset-1';`, fmt.Sprintf("const BUILD = '%s';", build), 1)
		if nb == string(b) {
			return fmt.Errorf("BUILD constant not found in %s", f)
		}
		return os.WriteFile(f, []byte(nb), 0o644)
	}
}
