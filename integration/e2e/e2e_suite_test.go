//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Environment:
//
//	KUBECONFIG / E2E_KUBECONFIG  kubeconfig of the cluster (default <repo>/.cluster/kubeconfig)
//	E2E_NAMESPACE                namespace to create (default fpk-e2e-<random>); must not exist
//	E2E_KEEP=1                   keep the namespace and the network directory after a failure
//	E2E_ARTIFACTS=<dir>          copy peer/orderer logs there at the end
//	E2E_ALLOW_SHUTDOWN_LEFTOVERS=1  only report (E2E-GAP), not fail, when stopped peers leave objects behind
//	E2E_REGISTRY                 vm.k8s.registry (default localhost:5000/fabric-cc)
//	E2E_REGISTRY_ADDR            host:port the test sends registry HEAD requests to (default 127.0.0.1:5000;
//	                             plain HTTP, the host part of E2E_REGISTRY is mapped to it)
//	E2E_KANIKO_IMAGE, E2E_CCENV_IMAGE, E2E_BASEOS_IMAGE, E2E_NODEENV_IMAGE  image overrides (defaults: the
//	                             local cluster's)
//	E2E_HEAL_CYCLES              install/invoke/kill/upgrade cycles of the self-healing suite (default 20;
//	                             `make soak` runs 200)
//	FABRIC                       Fabric line of the binaries: 3.1 (default, bin/) or 2.5 (bin/2.5/)
func TestE2E(t *testing.T) {
	testkit.RunSuite(t, "fabric-peer-k8s end-to-end suite", 40*time.Minute)
}

type settings struct {
	RepoRoot string
	// Fabric is the Fabric line under test and BinDir its binaries.
	Fabric     string
	BinDir     string
	Kubeconfig string
	Namespace  string
	Keep       bool
	Artifacts  string
	// AllowLeftovers turns objects left after peer shutdown into a report.
	AllowLeftovers bool
	RegistryAddr   string
	Peer           network.PeerConfig
}

func loadSettings() settings {
	root, err := testkit.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	s := settings{
		RepoRoot:       root,
		Namespace:      os.Getenv("E2E_NAMESPACE"),
		Keep:           os.Getenv("E2E_KEEP") == "1",
		Artifacts:      os.Getenv("E2E_ARTIFACTS"),
		AllowLeftovers: os.Getenv("E2E_ALLOW_SHUTDOWN_LEFTOVERS") == "1",
		RegistryAddr:   testkit.FirstNonEmpty(os.Getenv("E2E_REGISTRY_ADDR"), "127.0.0.1:5000"),
	}
	s.Fabric, err = network.FabricLineFromEnv()
	Expect(err).NotTo(HaveOccurred())
	s.BinDir, err = network.LineBinDir(root, s.Fabric)
	Expect(err).NotTo(HaveOccurred())
	if s.Namespace == "" {
		s.Namespace = "fpk-e2e-" + testkit.RandomHex(3)
	}
	s.Kubeconfig, err = testkit.Kubeconfig(root, "E2E_KUBECONFIG")
	Expect(err).NotTo(HaveOccurred())
	s.Peer = network.DefaultPeerConfig(s.Kubeconfig, s.Namespace)
	s.Peer.VM.Registry = testkit.FirstNonEmpty(os.Getenv("E2E_REGISTRY"), s.Peer.VM.Registry)
	s.Peer.VM.KanikoImage = testkit.FirstNonEmpty(os.Getenv("E2E_KANIKO_IMAGE"), s.Peer.VM.KanikoImage)
	s.Peer.CCEnvImage = testkit.FirstNonEmpty(os.Getenv("E2E_CCENV_IMAGE"), s.Peer.CCEnvImage)
	s.Peer.BaseOSImage = testkit.FirstNonEmpty(os.Getenv("E2E_BASEOS_IMAGE"), s.Peer.BaseOSImage)
	s.Peer.NodeEnvImage = testkit.FirstNonEmpty(os.Getenv("E2E_NODEENV_IMAGE"), s.Peer.NodeEnvImage)
	return s
}

// envInt is the positive integer in environment variable name, def when it
// is unset. Anything else panics: it is read while the spec tree is built.
func envInt(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 1 {
		panic(fmt.Sprintf("%s=%q: want a positive integer", name, v))
	}
	return i
}

// Timings and product gaps are printed as they happen (stdout and
// GinkgoWriter) and again, all together, at the end of the suite.
var timings, gaps testkit.Record

func recordTiming(name string, d time.Duration) {
	recordLine(fmt.Sprintf("E2E-TIMING name=%s seconds=%.2f", name, d.Seconds()))
}

// recordLine records a preformatted E2E-TIMING line.
func recordLine(line string) { timings.Add(line) }

func recordGap(format string, args ...interface{}) {
	gaps.Add("E2E-GAP " + fmt.Sprintf(format, args...))
}

var _ = ReportAfterSuite("timings", func(r Report) {
	testkit.PrintSummary("fabric-peer-k8s e2e summary", append(timings.Lines(), gaps.Lines()...))
})
