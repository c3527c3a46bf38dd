/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package testkit

import (
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

// RunSuite runs the Ginkgo suite of t, described as description, with
// Gomega failing its specs, and with a suite timeout (-ginkgo.timeout) of at
// least minTimeout.
func RunSuite(t *testing.T, description string, minTimeout time.Duration) {
	RegisterFailHandler(Fail)
	suiteConfig, reporterConfig := GinkgoConfiguration()
	if suiteConfig.Timeout < minTimeout {
		suiteConfig.Timeout = minTimeout
	}
	RunSpecs(t, description, suiteConfig, reporterConfig)
}

// modulePath is the module of the checkout (go.mod).
const modulePath = "github.com/fabric-peer-k8s/fabric-peer-k8s"

// RepoRoot walks up from the working directory (a package's directory under
// go test) to the checkout's go.mod and returns that directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module "+modulePath+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the fabric-peer-k8s checkout")
		}
		dir = parent
	}
}

// Kubeconfig is the absolute path of the kubeconfig of the cluster a suite
// runs against: the first of the environment variables envs, then
// KUBECONFIG, that is set, else the local cluster's
// (<root>/.cluster/kubeconfig, integration/cluster).
func Kubeconfig(root string, envs ...string) (string, error) {
	var candidates []string
	for _, e := range envs {
		candidates = append(candidates, os.Getenv(e))
	}
	candidates = append(candidates, os.Getenv("KUBECONFIG"), filepath.Join(root, ".cluster", "kubeconfig"))
	return filepath.Abs(FirstNonEmpty(candidates...))
}

// Record keeps the lines a suite reports while it runs (timings, checks,
// product gaps), for a summary at its end. The zero Record is ready for
// use; it is safe for concurrent use.
type Record struct {
	mu    sync.Mutex
	lines []string
}

// Add keeps line and prints it at once, to GinkgoWriter and to stdout, and
// adds it to the report entries of the running spec.
func (r *Record) Add(line string) {
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
	fmt.Fprintln(GinkgoWriter, line)
	fmt.Fprintln(os.Stdout, line)
	AddReportEntry(line)
}

// Lines returns the lines added so far, in their order.
func (r *Record) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// PrintSummary prints lines to stdout under a heading naming title: a
// suite's lines again, all together, at its end (ReportAfterSuite).
func PrintSummary(title string, lines []string) {
	fmt.Fprintf(os.Stdout, "\n==== %s ====\n%s\n", title, strings.Join(lines, "\n"))
}
