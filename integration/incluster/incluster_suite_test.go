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
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/incluster/bridgeforward"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Environment:
//
//	INCLUSTER_KUBECONFIG / KUBECONFIG  cluster (default <repo>/.cluster/kubeconfig: the local cluster)
//	INCLUSTER_KUBECTL                  kubectl (default <repo>/.cluster/bin/kubectl, else kubectl on PATH)
//	INCLUSTER_NAMESPACE                namespace to create (default fpk-incluster-<random>; must not exist)
//	INCLUSTER_HOST_IP                  this host on the pod network (default 10.244.0.1, the bridge lc0)
//	INCLUSTER_SKIP_IMAGE_BUILD=1       do not run images/peer/build-local.sh (the image must be in the registry)
//	INCLUSTER_KEEP=1                   keep namespace, volume and network directory after a failure
//	INCLUSTER_NODES=2                  the cluster has a second node (cluster.sh node-add): the peer is
//	                                   deployed with images/peer/deploy-local-twonode (registry by name
//	                                   over TLS) and the specs labelled "twonode" pin chaincode to the
//	                                   node the peer is not on; without it they are skipped
//	INCLUSTER_CLUSTER_SH               the script that stops and starts the second node
//	                                   (default <repo>/integration/cluster/cluster.sh)
//	INCLUSTER_REGISTRY_CA              CA of the TLS registry (default <repo>/.cluster/pki/ca.crt)
func TestInCluster(t *testing.T) {
	testkit.RunSuite(t, "fabric-peer-k8s in-cluster peer suite", 45*time.Minute)
}

type settings struct {
	RepoRoot   string
	Kubeconfig string
	Kubectl    string
	Namespace  string
	HostIP     string
	Registry   string // the registry on the host's loopback
	Keep       bool
	SkipBuild  bool
	Nodes      int    // 2: the two-node specs run (INCLUSTER_NODES)
	ClusterSh  string // integration/cluster/cluster.sh, which stops and starts the second node
	RegistryCA string // CA of the TLS registry the second node pulls from
}

var (
	cfg     settings
	k       *kube
	fab     *fabricNet
	fwds    []*bridgeforward.Forwarder
	rootDir string
	pvName  string
	pvDir   string
)

func loadSettings() settings {
	root, err := testkit.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	s := settings{
		RepoRoot:  root,
		Kubectl:   os.Getenv("INCLUSTER_KUBECTL"),
		Namespace: os.Getenv("INCLUSTER_NAMESPACE"),
		HostIP:    testkit.FirstNonEmpty(os.Getenv("INCLUSTER_HOST_IP"), "10.244.0.1"),
		Registry:  "127.0.0.1:5000",
		Keep:      os.Getenv("INCLUSTER_KEEP") == "1",
		SkipBuild: os.Getenv("INCLUSTER_SKIP_IMAGE_BUILD") == "1",
	}
	s.Nodes = 1
	if os.Getenv("INCLUSTER_NODES") == "2" {
		s.Nodes = 2
	}
	s.ClusterSh = testkit.FirstNonEmpty(os.Getenv("INCLUSTER_CLUSTER_SH"), filepath.Join(root, "integration", "cluster", "cluster.sh"))
	s.RegistryCA = testkit.FirstNonEmpty(os.Getenv("INCLUSTER_REGISTRY_CA"), filepath.Join(root, ".cluster", "pki", "ca.crt"))
	if s.Kubectl == "" {
		s.Kubectl = filepath.Join(root, ".cluster", "bin", "kubectl")
		if _, err := os.Stat(s.Kubectl); err != nil {
			s.Kubectl = "kubectl"
		}
	}
	if s.Namespace == "" {
		s.Namespace = "fpk-incluster-" + testkit.RandomHex(3)
	}
	s.Kubeconfig, err = testkit.Kubeconfig(root, "INCLUSTER_KUBECONFIG")
	Expect(err).NotTo(HaveOccurred())
	return s
}

// anyFailed keeps the evidence (INCLUSTER_KEEP=1) and prints logs; a failing
// BeforeSuite counts.
var anyFailed bool

var _ = AfterEach(func() {
	if CurrentSpecReport().Failed() {
		anyFailed = true
	}
})

var _ = BeforeSuite(func() {
	anyFailed = true
	cfg = loadSettings()
	fmt.Fprintf(GinkgoWriter, "settings: %+v\n", cfg)
	k = newKube(cfg.Kubeconfig, cfg.Namespace)

	By("building the peer image (images/peer/build-local.sh: umoci base + Kaniko Job in the cluster)")
	if !cfg.SkipBuild {
		start := time.Now()
		r := run(20*time.Minute, []string{"KUBECONFIG=" + cfg.Kubeconfig}, nil, filepath.Join(cfg.RepoRoot, "images", "peer", "build-local.sh"))
		Expect(r.ExitCode).To(Equal(0), r.String())
		recordTiming("peer-image-build-local", time.Since(start))
	}

	By("forwarding the bridge gateway " + cfg.HostIP + " :5000 to the registry (the peer reaches the API server through the kubernetes Service)")
	forwards := []struct {
		port, target string
		probe        func(string) bool
	}{
		{"5000", cfg.Registry, registryAnswers},
	}
	if cfg.Nodes == 2 {
		// the TLS registry: Kaniko pushes and the peer looks images up on the gateway's address (build
		// pods cannot resolve the registry's name), the kubelets pull by name
		forwards = append(forwards, struct {
			port, target string
			probe        func(string) bool
		}{twoNodeRegistryPort, "127.0.0.1:" + twoNodeRegistryPort, bridgeforward.TCPProbe})
	}
	for _, p := range forwards {
		f, err := bridgeforward.Start(cfg.HostIP+":"+p.port, p.target, p.probe)
		Expect(err).NotTo(HaveOccurred())
		fwds = append(fwds, f)
		fmt.Fprintf(GinkgoWriter, "forwarder %s -> %s (shared: %v)\n", f.Listen, f.Target, f.Shared)
	}
	var err error

	By("generating crypto material and starting the orderer on " + cfg.HostIP)
	rootDir, err = os.MkdirTemp("", "fpk-incluster-net-")
	Expect(err).NotTo(HaveOccurred())
	fab = newFabricNet(rootDir, filepath.Join(cfg.RepoRoot, "bin"), cfg.HostIP)
	fab.peerIP = func() string {
		p, err := k.pod(peerPod)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status.PodIP).NotTo(BeEmpty())
		return p.Status.PodIP
	}
	start := time.Now()
	fab.StartOrderer()
	recordTiming("orderer-up", time.Since(start))

	deployPeer()
	anyFailed = false
})

// buildNamespace is the namespace of the vm.k8s.buildNamespace spec.
func buildNamespace() string { return cfg.Namespace + "-build" }

// deployPeer is docs/deploying.md ("Deploying a peer"), step by step.
func deployPeer() {
	ns := cfg.Namespace
	start := time.Now()
	By("creating namespace " + ns + " with Pod Security enforce=restricted")
	kubectlOK("create", "namespace", ns)
	k.setPodSecurity("restricted")

	By("storing the peer's crypto material (cryptogen) in Secrets")
	files := fab.mspSecretFiles(rootDir)
	args := []string{"-n", ns, "create", "secret", "generic", "fabric-peer-msp"}
	for _, key := range []string{"config.yaml", "cacert.pem", "signcert.pem", "key.pem", "tlscacert.pem"} {
		args = append(args, "--from-file="+key+"="+files[key])
	}
	kubectlOK(args...)
	tls := fab.peerTLSDir()
	kubectlOK("-n", ns, "create", "secret", "generic", "fabric-peer-tls", "--type=kubernetes.io/tls",
		"--from-file=tls.crt="+filepath.Join(tls, "server.crt"),
		"--from-file=tls.key="+filepath.Join(tls, "server.key"),
		"--from-file=ca.crt="+filepath.Join(tls, "ca.crt"))

	By("creating the ledger volume (local PersistentVolume, class fabric-peer-local)")
	pvName = "fabric-peer-" + ns
	pvDir = filepath.Join(os.TempDir(), "fpk-pv-"+ns)
	k.createLocalPV(pvName, pvDir)

	overlay := "deploy-local"
	if cfg.Nodes == 2 {
		overlay = "deploy-local-twonode"
		By("storing the registry's CA in ConfigMap " + registryCAConfigMap + " (the peer's look-ups and Kaniko trust it)")
		kubectlOK("-n", ns, "create", "configmap", registryCAConfigMap, "--from-file=ca.crt="+cfg.RegistryCA)
	}
	By("applying images/peer/" + overlay)
	kubectlOK("apply", "-n", ns, "-k", filepath.Join(cfg.RepoRoot, "images", "peer", overlay))
	p := k.waitPeerReady(5*time.Minute, "")
	recordTiming("peer-pod-deploy-to-ready", time.Since(start))
	recordCheck("peer pod %s admitted under enforce=restricted, Ready, IP %s", p.Name, p.Status.PodIP)

	By("joining the in-cluster peer to " + channelName)
	r := fab.peerCLI(2*time.Minute, "channel", "join", "--blockpath", fab.genesisBlock())
	Expect(r.ExitCode).To(Equal(0), r.String())
	Eventually(func() string {
		return fab.peerCLI(time.Minute, "channel", "getinfo", "--channelID", channelName).Out
	}, time.Minute, 2*time.Second).Should(ContainSubstring(`"height":1`))
}

var _ = AfterSuite(func() {
	failed := anyFailed
	if k != nil && failed {
		fmt.Fprintln(GinkgoWriter, k.peerLogTail(200))
	}
	keep := cfg.Keep && failed
	if k != nil && !keep {
		start := time.Now()
		for _, ns := range []*kube{k, newKube(cfg.Kubeconfig, buildNamespace())} {
			if err := ns.deleteNamespace(3 * time.Minute); err != nil {
				fmt.Fprintln(GinkgoWriter, err)
			}
		}
		k.deletePV(pvName)
		kubectl("delete", "storageclass", storageName, "--ignore-not-found")
		if pvDir != "" {
			os.RemoveAll(pvDir)
		}
		recordTiming("teardown-namespace", time.Since(start))
	}
	if fab != nil {
		if failed {
			fmt.Fprintln(GinkgoWriter, "orderer log:\n", fab.OrdererLog())
		}
		fab.Stop()
	}
	for _, f := range fwds {
		f.Close()
	}
	if rootDir != "" && !keep {
		os.RemoveAll(rootDir)
	}
	if keep {
		fmt.Fprintf(os.Stdout, "INCLUSTER_KEEP: namespace %s, PV %s (%s), network dir %s kept\n", cfg.Namespace, pvName, pvDir, rootDir)
	}
})
