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

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/kubenet"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Environment:
//
//	INCLUSTER_KUBECONFIG / KUBECONFIG  cluster (default <repo>/.cluster/kubeconfig: the local cluster)
//	INCLUSTER_KUBECTL                  kubectl (default <repo>/.cluster/bin/kubectl, else kubectl on PATH)
//	INCLUSTER_NAME                     the network's name (default fpk-incluster-<random>): the orderer in
//	                                   namespace <name>-orderer, Org1's peer (kustomize) in <name>-org1,
//	                                   Org2's (Helm) in <name>-org2 (they must not exist)
//	INCLUSTER_HOST_IP                  this host on the pod network (default 10.244.0.1, the bridge lc0)
//	INCLUSTER_SKIP_IMAGE_BUILD=1       do not run images/build-local.sh peer|orderer (the images must be in the registry)
//	INCLUSTER_KEEP=1                   keep namespaces, volumes and network directory after a failure
//	INCLUSTER_NODES=2                  the cluster has a second node (cluster.sh node-add): the specs
//	                                   labelled "twonode" pin chaincode to the node the peer is not on;
//	                                   without it they are skipped
//	INCLUSTER_CLUSTER_SH               the script that stops and starts the second node
//	                                   (default <repo>/integration/cluster/cluster.sh)
func TestInCluster(t *testing.T) {
	testkit.RunSuite(t, "fabric-peer-k8s in-cluster peer suite", 45*time.Minute)
}

type settings struct {
	RepoRoot   string
	Kubeconfig string
	Kubectl    string
	Name       string // the network's (kubenet.Options.Name)
	Namespace  string // Org1's peer's: its chaincode namespace
	HostIP     string
	Keep       bool
	SkipBuild  bool
	Nodes      int    // 2: the two-node specs run (INCLUSTER_NODES)
	ClusterSh  string // integration/cluster/cluster.sh, which stops and starts the second node
}

var (
	cfg     settings
	k       *kube
	fab     *fabricNet
	rootDir string
)

func loadSettings() settings {
	root, err := testkit.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	s := settings{
		RepoRoot:  root,
		Kubectl:   os.Getenv("INCLUSTER_KUBECTL"),
		Name:      testkit.FirstNonEmpty(os.Getenv("INCLUSTER_NAME"), "fpk-incluster-"+testkit.RandomHex(3)),
		HostIP:    testkit.FirstNonEmpty(os.Getenv("INCLUSTER_HOST_IP"), "10.244.0.1"),
		Keep:      os.Getenv("INCLUSTER_KEEP") == "1",
		SkipBuild: os.Getenv("INCLUSTER_SKIP_IMAGE_BUILD") == "1",
	}
	s.Nodes = 1
	if os.Getenv("INCLUSTER_NODES") == "2" {
		s.Nodes = 2
	}
	s.ClusterSh = testkit.FirstNonEmpty(os.Getenv("INCLUSTER_CLUSTER_SH"), filepath.Join(root, "integration", "cluster", "cluster.sh"))
	if s.Kubectl == "" {
		s.Kubectl = filepath.Join(root, ".cluster", "bin", "kubectl")
		if _, err := os.Stat(s.Kubectl); err != nil {
			s.Kubectl = "kubectl"
		}
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

	if !cfg.SkipBuild {
		By("building the Helm CLI (integration/cluster/cluster.sh build-helm)")
		r := run(10*time.Minute, nil, cfg.ClusterSh, "build-helm")
		Expect(r.ExitCode).To(Equal(0), r.String())
		for _, image := range []string{"peer", "orderer"} {
			By("building the " + image + " image (images/build-local.sh " + image + ": umoci base + Kaniko Job in the cluster)")
			start := time.Now()
			r := run(20*time.Minute, []string{"KUBECONFIG=" + cfg.Kubeconfig}, filepath.Join(cfg.RepoRoot, "images", "build-local.sh"), image)
			Expect(r.ExitCode).To(Equal(0), r.String())
			recordTiming(image+"-image-build-local", time.Since(start))
		}
	}

	By("generating crypto material and the channel's genesis block (cryptogen, configtxgen)")
	var err error
	rootDir, err = os.MkdirTemp("", "fpk-incluster-net-")
	Expect(err).NotTo(HaveOccurred())
	opts := kubenet.Options{
		RepoRoot: cfg.RepoRoot, Kubeconfig: cfg.Kubeconfig, Name: cfg.Name, Orgs: 2,
		RootDir: rootDir, VolumeDir: filepath.Join(rootDir, "ledgers"), Log: GinkgoWriter,
		// the peer and its chaincode pods meet "restricted"; the specs that build lower it
		PeerPodSecurity: "restricted",
		PeerBase:        filepath.Join(cfg.RepoRoot, "images", "peer", "deploy-local"),
	}
	n, err := kubenet.New(opts)
	Expect(err).NotTo(HaveOccurred())
	fab = &fabricNet{Network: n}
	cfg.Namespace = fab.org1().Namespace
	k = newKube(cfg.Kubeconfig, cfg.Namespace)
	fab.Generate()

	By("deploying the orderer in " + fab.Orderer.Namespace + " (images/orderer/deploy-local) and joining it to " + channelName)
	start := time.Now()
	Expect(fab.DeployOrderer()).To(Succeed())
	recordTiming("orderer-pod-deploy-to-joined", time.Since(start))
	recordCheck("orderer pod %s/%s Ready, joined to %s at %s", fab.Orderer.Namespace, fab.Orderer.Pod, channelName, fab.Orderer.Address())

	By("deploying Org1's peer in " + cfg.Namespace + " (" + filepath.Base(opts.PeerBase) + ", Pod Security restricted) and joining it to " + channelName)
	start = time.Now()
	Expect(fab.DeployPeer(fab.org1())).To(Succeed())
	p := k.waitPeerReady(time.Minute, "")
	recordTiming("peer-pod-deploy-to-joined", time.Since(start))
	Expect(k.enforcedPodSecurity()).To(Equal("restricted"))
	recordCheck("peer pod %s admitted under enforce=restricted, Ready, IP %s, joined through %s", p.Name, p.Status.PodIP, fab.org1().Address())
	Eventually(func() string {
		return fab.peerCLI(time.Minute, "channel", "getinfo", "--channelID", channelName).Out
	}, time.Minute, 2*time.Second).Should(ContainSubstring(`"height":1`))

	org2 := fab.org2()
	By("deploying Org2's peer in " + org2.Namespace + " with the Helm chart (images/peer/chart, values-local.yaml) and joining it to " + channelName)
	start = time.Now()
	Expect(fab.DeployPeerWithHelm(org2)).To(Succeed())
	recordTiming("helm-peer-install-to-joined", time.Since(start))
	recordCheck("Org2's peer installed with `helm install %s images/peer/chart -f values-local.yaml` in %s, joined through %s",
		kubenet.HelmRelease, org2.Namespace, org2.Address())
	anyFailed = false
})

// buildNamespace is the namespace of the vm.k8s.buildNamespace spec.
func buildNamespace() string { return cfg.Namespace + "-build" }

var _ = AfterSuite(func() {
	failed := anyFailed
	if k != nil && failed {
		fmt.Fprintln(GinkgoWriter, k.peerLogTail(200))
	}
	if fab != nil && failed {
		log, _ := fab.Logs(fab.Orderer, 100)
		fmt.Fprintln(GinkgoWriter, "orderer log:\n", log)
	}
	keep := cfg.Keep && failed
	if fab != nil && !keep {
		start := time.Now()
		if err := newKube(cfg.Kubeconfig, buildNamespace()).deleteNamespace(3 * time.Minute); err != nil {
			fmt.Fprintln(GinkgoWriter, err)
		}
		if err := fab.Teardown(3 * time.Minute); err != nil {
			fmt.Fprintln(GinkgoWriter, err)
		}
		kubectl("delete", "storageclass", kubenet.StorageClass, "--ignore-not-found")
		recordTiming("teardown-network", time.Since(start))
	}
	if fab != nil {
		fab.Close()
	}
	if rootDir != "" && !keep {
		os.RemoveAll(rootDir)
	}
	if keep {
		fmt.Fprintf(os.Stdout, "INCLUSTER_KEEP: namespaces %s-*, volumes and network dir %s kept\n", cfg.Name, rootDir)
	}
})
