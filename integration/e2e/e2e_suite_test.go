//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// Environment:
//
//	KUBECONFIG / E2E_KUBECONFIG  kubeconfig of the cluster (default <repo>/.cluster/kubeconfig)
//	E2E_NAMESPACE                namespace to create (default fpk-e2e-<random>); must not exist
//	E2E_KEEP=1                   keep the namespace and the network directory after a failure
//	E2E_ARTIFACTS=<dir>          copy peer/orderer logs there at the end
//	E2E_STRICT_SHUTDOWN=1        fail (not only report) when stopped peers leave objects behind
//	E2E_REGISTRY_ADDR            where the registry listens (default 127.0.0.1:5000)
func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	if suiteConfig.Timeout < 40*time.Minute {
		suiteConfig.Timeout = 40 * time.Minute
	}
	RunSpecs(t, "fabric-peer-k8s end-to-end suite", suiteConfig, reporterConfig)
}

type settings struct {
	RepoRoot     string
	Kubeconfig   string
	Namespace    string
	Keep         bool
	Artifacts    string
	Strict       bool
	RegistryAddr string
}

func loadSettings() settings {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	s := settings{
		RepoRoot:     root,
		Kubeconfig:   firstNonEmpty(os.Getenv("E2E_KUBECONFIG"), os.Getenv("KUBECONFIG"), filepath.Join(root, ".cluster", "kubeconfig")),
		Namespace:    os.Getenv("E2E_NAMESPACE"),
		Keep:         os.Getenv("E2E_KEEP") == "1",
		Artifacts:    os.Getenv("E2E_ARTIFACTS"),
		Strict:       os.Getenv("E2E_STRICT_SHUTDOWN") == "1",
		RegistryAddr: firstNonEmpty(os.Getenv("E2E_REGISTRY_ADDR"), "127.0.0.1:5000"),
	}
	if s.Namespace == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		s.Namespace = "fpk-e2e-" + hex.EncodeToString(b)
	}
	return s
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// Timings and product gaps are printed as they happen (stdout and
// GinkgoWriter) and again, all together, at the end of the suite.
var (
	reportMu sync.Mutex
	timings  []string
	gaps     []string
)

func recordTiming(name string, d time.Duration) {
	line := fmt.Sprintf("E2E-TIMING name=%s seconds=%.2f", name, d.Seconds())
	reportMu.Lock()
	timings = append(timings, line)
	reportMu.Unlock()
	fmt.Fprintln(GinkgoWriter, line)
	fmt.Fprintln(os.Stdout, line)
	AddReportEntry(line)
}

func recordGap(format string, args ...interface{}) {
	line := "E2E-GAP " + fmt.Sprintf(format, args...)
	reportMu.Lock()
	gaps = append(gaps, line)
	reportMu.Unlock()
	fmt.Fprintln(GinkgoWriter, line)
	fmt.Fprintln(os.Stdout, line)
	AddReportEntry(line)
}

var _ = ReportAfterSuite("timings", func(r Report) {
	reportMu.Lock()
	defer reportMu.Unlock()
	lines := append(append([]string(nil), timings...), gaps...)
	fmt.Fprintf(os.Stdout, "\n==== fabric-peer-k8s e2e summary ====\n%s\n", strings.Join(lines, "\n"))
})
