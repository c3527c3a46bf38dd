//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Private registries: the peers' vm.k8s.registry is a registry that
// requires credentials (htpasswd) over TLS with a CA of its own. Kaniko
// pushes with vm.k8s.pushSecret and trusts vm.k8s.registryCAConfigMap; the
// peers' cache check authenticates with the same Secret and trusts
// vm.k8s.registryCA; the kubelet pulls with vm.k8s.imagePullSecrets, and
// containerd trusts the CA through a hosts.toml the spec writes.
var _ = Describe("Private registry with authentication and TLS", Ordered, ContinueOnFailure, Label("privreg"), func() {
	const (
		privCC       = "kvpriv"
		regPort      = 5443
		regUser      = "fabric-builder"
		secretName   = "registry-credentials"
		caConfigMap  = "registry-ca"
		wrongPasswd  = "not-the-password"
		registryRepo = "fabric-cc"
	)
	var (
		s       settings
		kube    *network.Kube
		jobs    *network.JobRecorder
		h       *network.Harness
		reg     *authRegistry
		ctx     context.Context
		cancel  context.CancelFunc
		started time.Time

		kv       nwo.Chaincode
		deployed bool
	)

	livePodsOf := func(packageID string) []corev1.Pod {
		inv, err := kube.Inventory(ctx)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		var out []corev1.Pod
		for _, p := range network.LivePods(inv.ChaincodePods) {
			if p.Annotations[network.AnnotationCCID] == packageID {
				out = append(out, p)
			}
		}
		return out
	}
	pushSecret := func(password string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: s.Namespace},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerConfigJSON(reg.Host, regUser, password)},
		}
	}

	BeforeAll(func() {
		started = time.Now()
		s = loadSettings()
		if ns := os.Getenv("E2E_NAMESPACE"); ns != "" {
			s.Namespace = ns + "-privreg"
		} else {
			s.Namespace = strings.Replace(s.Namespace, "fpk-e2e-", "fpk-e2e-privreg-", 1)
		}
		ctx, cancel = context.WithCancel(context.Background())
		fmt.Fprintf(GinkgoWriter, "private registry network in namespace %s\n", s.Namespace)

		certsDir := containerdCertsDir(s)
		if certsDir == "" {
			Skip(fmt.Sprintf("needs the local cluster of integration/cluster (its containerd must trust the registry's CA; no config/certs.d next to %s)", s.Kubeconfig))
		}
		Expect(network.CheckBinaries(s.BinDir)).To(Succeed())

		By("starting docker-registry with htpasswd authentication and TLS on 127.0.0.1:5443")
		password := "p-" + strings.TrimPrefix(s.Namespace, "fpk-e2e-privreg-")
		dir, err := os.MkdirTemp("", "fabric-peer-k8s-privreg-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		reg, err = startAuthRegistry(dir, regPort, regUser, password)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			Expect(reg.stop()).To(Succeed())
			if s.Artifacts != "" {
				if b, err := os.ReadFile(filepath.Join(reg.Dir, "registry.log")); err == nil {
					_ = os.MkdirAll(s.Artifacts, 0o755)
					_ = os.WriteFile(filepath.Join(s.Artifacts, "privreg-registry.log"), b, 0o644)
				}
			}
		})
		Eventually(reg.ready, 30*time.Second, 200*time.Millisecond).Should(Succeed())

		By("making the cluster's containerd trust the registry's CA")
		undo, err := trustInContainerd(certsDir, reg.CAFile, reg.Host, reg.Addr)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(undo)

		var kerr error
		kube, kerr = network.NewKube(s.Kubeconfig, s.Namespace)
		Expect(kerr).NotTo(HaveOccurred())
		Expect(kube.Ping(ctx)).To(Succeed(), "the local cluster (%s) is not ready", s.Kubeconfig)
		Expect(kube.CreateNamespace(ctx)).To(Succeed())
		jobs, err = kube.RecordJobs(ctx)
		Expect(err).NotTo(HaveOccurred())

		By("creating the push Secret (dockerconfigjson) and the CA ConfigMap")
		_, err = kube.Client.CoreV1().Secrets(s.Namespace).Create(ctx, pushSecret(reg.Password), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = kube.Client.CoreV1().ConfigMaps(s.Namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: caConfigMap, Namespace: s.Namespace},
			Data:       map[string]string{"ca.crt": string(reg.CAPEM)},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		s.Peer.VM.Namespace = s.Namespace
		s.Peer.VM.Registry = reg.Host + "/" + registryRepo
		s.Peer.VM.RegistryInsecure = false
		s.Peer.VM.Extra = map[string]interface{}{
			"pushSecret":          secretName,
			"imagePullSecrets":    []string{secretName},
			"registryCA":          reg.CAFile,
			"registryCAConfigMap": caConfigMap,
		}
		h, err = network.New(network.Options{RepoRoot: s.RepoRoot, Kubeconfig: s.Kubeconfig, Namespace: s.Namespace, Peer: &s.Peer})
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		h.Start()
		recordTiming("privreg_network_start", time.Since(start))
	})

	AfterAll(func() {
		failed := CurrentSpecReport().Failed() || anySpecFailed()
		stopNetwork(h, failed, s.Artifacts, "privreg-")
		if jobs != nil {
			jobs.Stop()
		}
		if failed && s.Keep && h != nil {
			fmt.Fprintf(GinkgoWriter, "E2E_KEEP=1: keeping namespace %s and %s\n", s.Namespace, h.Opts.RootDir)
			cancel()
			return
		}
		if kube != nil {
			if inv, err := kube.Inventory(context.Background()); err == nil {
				fmt.Fprintf(GinkgoWriter, "namespace %s before deletion:\n%s\n", s.Namespace, inv)
			}
			Expect(kube.DeleteNamespace(context.Background(), 3*time.Minute)).To(Succeed())
		}
		if h != nil {
			h.Cleanup()
		}
		if cancel != nil {
			cancel()
		}
		recordTiming("privreg_total_wall", time.Since(started))
	})

	It("builds and pushes with the push Secret over verified TLS, finds the image on Org2 with the same credentials, and runs it pulled with imagePullSecrets", func() {
		kv = h.GoChaincode(privCC, "kvpriv_1", "1", prepareChaincode(h, s, "kv", "kvpriv-1", nil))
		r := h.Package(&kv)
		Expect(r.OK()).To(BeTrue(), "%s", r)

		By("installing on Org1's peer: Kaniko pushes to the authenticated registry")
		before := jobs.Count()
		r = h.Install(kv, h.Org1Peer())
		Expect(r.OK()).To(BeTrue(), "%s", r)
		recordTiming("privreg_install_org1_build", r.Duration)
		built := jobs.Created()[before:]
		Expect(built).To(HaveLen(1), "one build Job for the first install")
		job := jobs.Job(built[0])
		Expect(job).NotTo(BeNil())
		kaniko := job.Spec.Template.Spec.Containers[0]
		Expect(kaniko.Args).To(ContainElement("--registry-certificate=" + reg.Host + "=/kaniko/registry-ca/ca.crt"))
		Expect(kaniko.Args).NotTo(ContainElement("--skip-tls-verify"))
		dest := jobs.Destinations(built...)
		Expect(dest).To(HaveLen(1))
		Expect(dest[0]).To(HavePrefix(reg.Host + "/" + registryRepo + "/"))
		nwo.EnsureInstalled(h.Network, kv.Label, kv.PackageID, h.Org1Peer())

		By("checking the registry: the image is there for the right credentials only")
		digest, err := reg.digest(ctx, dest[0], regUser, reg.Password)
		Expect(err).NotTo(HaveOccurred(), "image %s", dest[0])
		_, err = reg.digest(ctx, dest[0], regUser, wrongPasswd)
		var terr *transport.Error
		Expect(errors.As(err, &terr)).To(BeTrue(), "a wrong password is refused: %v", err)
		Expect(terr.StatusCode).To(Equal(http.StatusUnauthorized))

		By("installing on Org2's peer: the authenticated cache check finds the image, no Job")
		before = jobs.Count()
		r = h.Install(kv, h.Org2Peer())
		Expect(r.OK()).To(BeTrue(), "%s", r)
		recordTiming("privreg_install_org2_cached", r.Duration)
		Consistently(jobs.Count, 3*time.Second, 500*time.Millisecond).Should(Equal(before), "a build Job for an image the registry holds: %v", jobs.Created()[before:])
		Expect(h.PeerLog(h.Org2Peer())).To(ContainSubstring("found in registry, not building"))
		nwo.EnsureInstalled(h.Network, kv.Label, kv.PackageID, h.Org2Peer())

		By("approving, committing, invoking and querying: the kubelet pulls with imagePullSecrets")
		start := time.Now()
		h.ApproveAndCommit(kv)
		recordTiming("privreg_approve_and_commit", time.Since(start))
		r = h.InvokeOK(privCC, invokeTimeout, "put", "registry", "private")
		recordTiming("privreg_first_invoke", r.Duration)
		for _, p := range h.Peers {
			Expect(h.QueryOK(p, privCC, queryTimeout, "get", "registry")).To(Equal("private"), "on %s", p.ID())
		}
		deployed = true

		pods := livePodsOf(kv.PackageID)
		Expect(pods).To(HaveLen(2))
		for _, p := range pods {
			Expect(p.Spec.Containers[0].Image).To(HavePrefix(reg.Host+"/"+registryRepo+"/"), "pod %s", p.Name)
			Expect(p.Spec.Containers[0].Image).To(HaveSuffix("@"+digest), "pod %s", p.Name)
			Expect(p.Spec.ImagePullSecrets).To(ContainElement(corev1.LocalObjectReference{Name: secretName}), "pod %s", p.Name)
			Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s", p.Name)
		}
	})

	It("fails an install with a clear error when the push Secret holds a wrong password, creating nothing", func() {
		By("changing the password in the push Secret")
		_, err := kube.Client.CoreV1().Secrets(s.Namespace).Update(ctx, pushSecret(wrongPasswd), metav1.UpdateOptions{})
		Expect(err).NotTo(HaveOccurred())

		bad := h.GoChaincode(privCC, "kvpriv_2", "2", prepareChaincode(h, s, "kv", "kvpriv-2", setKVBuild("kv-2")))
		r := h.Package(&bad)
		Expect(r.OK()).To(BeTrue(), "%s", r)

		before := jobs.Count()
		r = h.Install(bad, h.Org1Peer())
		Expect(r.OK()).To(BeFalse(), "install with a wrong registry password succeeded: %s", r)
		recordTiming("privreg_refused_wrong_password", r.Duration)
		Expect(r.Duration).To(BeNumerically("<", 15*time.Second))
		for _, want := range []string{
			"chaincode build failed",
			"chaincode " + bad.PackageID + ": cannot look up image " + reg.Host + "/" + registryRepo + "/",
			"authentication to " + reg.Host + " failed with the credentials of Secret " + s.Namespace + "/" + secretName + " (vm.k8s.pushSecret)",
		} {
			Expect(r.Output()).To(ContainSubstring(want))
		}
		Expect(r.Output()).NotTo(ContainSubstring(wrongPasswd), "no password in messages")

		Expect(jobs.Count()).To(Equal(before), "no build Job: %v", jobs.Created()[before:])
		inv, err := kube.Inventory(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(inv.Jobs).To(BeEmpty())
		Expect(inv.BuildPods).To(BeEmpty())
		for _, p := range inv.ChaincodePods {
			Expect(p.Annotations[network.AnnotationCCID]).NotTo(Equal(bad.PackageID), "pod %s of the refused package", p.Name)
		}

		if deployed {
			By("the deployed chaincode keeps serving")
			Expect(h.QueryOK(h.Org2Peer(), privCC, queryTimeout, "get", "registry")).To(Equal("private"))
		}
	})
})
