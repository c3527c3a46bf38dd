//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

// Prebuilt chaincode images: packages of type "k8s" in fabric-builder-k8s's
// format name an image built outside the peer; the peer builds nothing.
var _ = Describe("Prebuilt chaincode images (type k8s)", Ordered, ContinueOnFailure, Label("prebuilt"), func() {
	const prebuiltCC = "kvpre"
	var (
		n    *sideNetwork
		kube *network.Kube
		jobs *network.JobRecorder
		h    *network.Harness
		ctx  context.Context

		img      prebuiltKV
		cc       nwo.Chaincode
		deployed bool
	)

	livePodsOf := func(packageID string) []corev1.Pod { return n.livePodsOf(packageID) }

	BeforeAll(func() {
		// The image is built on the host while the network starts.
		built := make(chan error, 1)
		n = &sideNetwork{}
		n.start("prebuilt", func(s *settings, _ *network.Kube) {
			dir := filepath.Join(os.TempDir(), s.Namespace+"-image")
			DeferCleanup(os.RemoveAll, dir)
			go func() {
				var err error
				img, err = buildPrebuiltKV(context.Background(), *s, dir)
				built <- err
			}()
		})
		kube, jobs, h, ctx = n.kube, n.jobs, n.h, n.ctx
		Expect(<-built).To(Succeed(), "building the kv image outside the peer")
		fmt.Fprintf(GinkgoWriter, "kv image %s (binary %s, push %s)\n", img.Ref(), img.Compile.Round(time.Millisecond), img.Push.Round(time.Millisecond))
		recordTiming("prebuilt_image_compile", img.Compile)
		recordTiming("prebuilt_image_push", img.Push)
	})

	AfterAll(func() { n.stop() })

	It("installs a package naming an image built outside the peer without a build, and serves it on both orgs", func() {
		cc = nwo.Chaincode{
			Name:            prebuiltCC,
			Version:         "kvpre_1",
			Label:           "kvpre_1",
			Sequence:        "1",
			PackageFile:     filepath.Join(h.Opts.RootDir, "kvpre_1.tar.gz"),
			SignaturePolicy: `OR ('Org1MSP.member','Org2MSP.member')`,
		}
		By("packaging image.json {name, digest} as type k8s, as fabric-builder-k8s documents it")
		Expect(writeK8sPackage(cc.PackageFile, cc.Label, img.Name, img.Digest)).To(Succeed())
		cc.SetPackageIDFromPackageFile()

		By("installing on both peers: no build Job, about a second each")
		before := jobs.Count()
		for _, p := range h.Peers {
			r := h.Install(cc, p)
			Expect(r.OK()).To(BeTrue(), "%s", r)
			recordTiming("prebuilt_install_"+p.Organization, r.Duration)
			Expect(r.Duration).To(BeNumerically("<", 3*time.Second), "install of a prebuilt image took %s", r.Duration)
			nwo.EnsureInstalled(h.Network, cc.Label, cc.PackageID, p)
		}
		Consistently(jobs.Count, 2*time.Second, 250*time.Millisecond).Should(Equal(before), "build Jobs were created: %v", jobs.Created()[before:])

		By("approving for both orgs and committing")
		start := time.Now()
		h.ApproveAndCommit(cc)
		recordTiming("prebuilt_approve_and_commit", time.Since(start))

		By("invoking put and querying get on both orgs")
		r := h.InvokeOK(prebuiltCC, invokeTimeout, "put", "prebuilt", "from-"+img.Digest[7:19])
		recordTiming("prebuilt_first_invoke", r.Duration)
		for _, p := range h.Peers {
			Expect(h.QueryOK(p, prebuiltCC, queryTimeout, "get", "prebuilt")).To(Equal("from-"+img.Digest[7:19]), "on %s", p.ID())
		}
		deployed = true

		By("checking that each peer runs name@digest with the image's own entrypoint")
		pods := livePodsOf(cc.PackageID)
		Expect(pods).To(HaveLen(2))
		for _, p := range pods {
			c := p.Spec.Containers[0]
			Expect(c.Image).To(Equal(img.Ref()))
			Expect(c.Command).To(BeEmpty())
			Expect(c.Args).To(BeEmpty())
			Expect(c.Env).To(ContainElement(HaveField("Name", "CORE_PEER_ADDRESS")))
			Expect(c.Env).To(ContainElement(corev1.EnvVar{Name: "CORE_PEER_TLS_ENABLED", Value: "true"}))
		}
		Expect(jobs.Count()).To(Equal(before), "no build Job at any point")
	})

	It("relaunches the prebuilt chaincode when its pod is killed", func() {
		if !deployed {
			Skip("needs the prebuilt chaincode deployed by the first spec")
		}
		org1 := h.Org1Peer().ID()
		old := network.PeerPod(livePodsOf(cc.PackageID), org1)
		Expect(old).NotTo(BeNil(), "no chaincode pod of %s", org1)

		t0 := time.Now()
		testkit.DeletePod(ctx, kube.Client, old)
		Eventually(func() []string {
			var running []string
			for _, p := range livePodsOf(cc.PackageID) {
				if p.Labels[network.LabelPeerID] == org1 && p.UID != old.UID && p.Status.Phase == corev1.PodRunning {
					running = append(running, p.Name)
				}
			}
			return running
		}, 2*time.Minute, 250*time.Millisecond).Should(HaveLen(1), "the chaincode of %s was not relaunched", org1)
		recordTiming("prebuilt_pod_delete_to_relaunched_running", time.Since(t0))

		Expect(h.QueryOK(h.Org1Peer(), prebuiltCC, queryTimeout, "get", "prebuilt")).To(Equal("from-" + img.Digest[7:19]))
		h.InvokeOK(prebuiltCC, invokeTimeout, "put", "after-kill", "ok")
		Expect(h.QueryOK(h.Org2Peer(), prebuiltCC, queryTimeout, "get", "after-kill")).To(Equal("ok"))
		recordTiming("prebuilt_pod_delete_to_invoke_ok", time.Since(t0))
		for _, p := range livePodsOf(cc.PackageID) {
			Expect(p.Spec.Containers[0].Image).To(Equal(img.Ref()))
		}
	})

	It("refuses packages whose image the registry lacks or whose image.json is invalid, creating nothing", func() {
		absent := "sha256:" + testkit.RandomHex(32)
		cases := []struct {
			label, name, digest string
			want                []string
		}{
			{"kvpre_absent", img.Name, absent, []string{
				"chaincode build failed", "chaincode kvpre_absent:", "image " + img.Name + "@" + absent + " (image.json) was not found in its registry",
			}},
			{"kvpre_tag", img.Name, "latest", []string{
				"chaincode build failed", "chaincode kvpre_tag:", `image.json: "digest" "latest" is not sha256:<64 lower-case hex digits>`,
			}},
			{"kvpre_badname", img.Name + ":v1", img.Digest, []string{
				"chaincode build failed", "chaincode kvpre_badname:", `image.json: "name" "` + img.Name + `:v1" is not a valid image repository name`,
			}},
		}
		before := jobs.Count()
		refused := map[string]bool{}
		for _, tc := range cases {
			By("installing " + tc.label)
			bad := nwo.Chaincode{Label: tc.label, PackageFile: filepath.Join(h.Opts.RootDir, tc.label+".tar.gz")}
			Expect(writeK8sPackage(bad.PackageFile, tc.label, tc.name, tc.digest)).To(Succeed())
			bad.SetPackageIDFromPackageFile()
			refused[bad.PackageID] = true
			r := h.Install(bad, h.Org1Peer())
			Expect(r.OK()).To(BeFalse(), "install of %s succeeded: %s", tc.label, r)
			recordTiming("prebuilt_refused_"+tc.label, r.Duration)
			Expect(r.Duration).To(BeNumerically("<", 5*time.Second))
			for _, w := range tc.want {
				Expect(r.Output()).To(ContainSubstring(w), "install of %s", tc.label)
			}
		}
		Expect(jobs.Count()).To(Equal(before), "no build Job for a refused package")
		inv, err := kube.Inventory(ctx)
		Expect(err).NotTo(HaveOccurred())
		for _, p := range inv.ChaincodePods {
			Expect(refused).NotTo(HaveKey(p.Annotations[network.AnnotationCCID]), "pod %s of a refused package", p.Name)
		}
		for _, sec := range inv.ChaincodeSecrets {
			Expect(refused).NotTo(HaveKey(sec.Annotations[network.AnnotationCCID]), "Secret %s of a refused package", sec.Name)
		}
		Expect(inv.Jobs).To(BeEmpty())
		Expect(inv.BuildPods).To(BeEmpty())

		if deployed {
			By("the peer still serves the deployed chaincode")
			Expect(h.QueryOK(h.Org1Peer(), prebuiltCC, queryTimeout, "get", "prebuilt")).To(Equal("from-" + img.Digest[7:19]))
		}
	})
})
