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
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// recordContainerStart records the time from t0 to the start of the pod's
// (first) container as reported by the kubelet (1s resolution).
func recordContainerStart(name string, p *corev1.Pod, t0 time.Time) {
	if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
		return
	}
	recordTiming(name, p.Status.ContainerStatuses[0].State.Running.StartedAt.Sub(t0))
}

// recordPodStartLatency records, over the live chaincode pods of the
// package, the longest time from pod creation to container start as seen
// by the kubelet (1s resolution).
func recordPodStartLatency(name string, kube *network.Kube, packageID string) {
	inv, err := kube.Inventory(context.Background())
	if err != nil {
		return
	}
	var worst time.Duration
	found := false
	for _, p := range network.LivePods(inv.ChaincodePods) {
		if p.Annotations[network.AnnotationCCID] != packageID || len(p.Status.ContainerStatuses) == 0 {
			continue
		}
		if run := p.Status.ContainerStatuses[0].State.Running; run != nil {
			if d := run.StartedAt.Sub(p.CreationTimestamp.Time); d >= worst {
				worst, found = d, true
			}
		}
	}
	if found {
		recordTiming(name+"_pod_create_to_container_start", worst)
	}
}

func metaGet() metav1.GetOptions { return metav1.GetOptions{} }

// anySpecFailed is true once any spec of the suite has failed.
func anySpecFailed() bool {
	return CurrentSpecReport().Failed() || suiteFailed
}

var suiteFailed bool

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() {
		suiteFailed = true
	}
})

// stopNetwork stops the network, prints the peers' last log lines when a spec
// failed, and copies the network's logs to artifacts (if set) with prefix.
func stopNetwork(h *network.Harness, failed bool, artifacts, prefix string) {
	if h == nil {
		return
	}
	_ = h.Stop()
	if failed {
		for _, p := range h.Peers {
			fmt.Fprintf(GinkgoWriter, "---- last lines of %s log ----\n%s\n", p.ID(), testkit.LastLines(h.PeerLog(p), 60))
		}
	}
	if artifacts == "" {
		return
	}
	_ = os.MkdirAll(artifacts, 0o755)
	entries, _ := os.ReadDir(h.LogDir())
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(h.LogDir(), e.Name())); err == nil {
			_ = os.WriteFile(filepath.Join(artifacts, prefix+e.Name()), b, 0o644)
		}
	}
}

// prepareChaincode copies and vendors chaincode src into the network's
// directory as name, then applies edit. A file naming this run is added so
// that the package (and so the image tag) is new: the registry keeps images
// of earlier runs, which would otherwise turn every build into a cache hit.
func prepareChaincode(h *network.Harness, s settings, src, name string, edit func(string) error) string {
	dir := filepath.Join(h.Opts.RootDir, "chaincode", name)
	run := fmt.Sprintf("package main\n\n// Added by the e2e suite: makes this run's package unique.\nvar e2eRun = %q\n", runStamp(s))
	ExpectWithOffset(1, network.PrepareGoChaincode(filepath.Join(s.RepoRoot, "integration", "chaincode", src), dir,
		withRunFile("zz_e2e_run.go", run, edit))).To(Succeed())
	return dir
}

// runStamp names this run of the suite: its namespace and the time now.
func runStamp(s settings) string {
	return s.Namespace + "/" + time.Now().UTC().Format(time.RFC3339Nano)
}

// withRunFile returns an edit that writes content to the file name in the
// chaincode directory, then applies edit (if any).
func withRunFile(name, content string, edit func(string) error) func(string) error {
	return func(d string) error {
		if err := os.WriteFile(filepath.Join(d, name), []byte(content), 0o644); err != nil {
			return err
		}
		if edit != nil {
			return edit(d)
		}
		return nil
	}
}

// setKVBuild returns an edit that sets the kv chaincode's Build constant.
func setKVBuild(build string) func(string) error {
	return func(dir string) error { return network.SetKVBuild(dir, build) }
}
