//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

// TestHarnessStartStop brings the network up with k8s-mode peers, creates and
// joins testchannel, packages the kv chaincode and stops. It needs bin/ but no
// cluster: the VM does not talk to the API server before the first install,
// so a kubeconfig pointing nowhere is enough (HARNESS_KUBECONFIG overrides).
func TestHarnessStartStop(t *testing.T) {
	RegisterTestingT(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	Expect(err).NotTo(HaveOccurred())
	if err := CheckBinaries(filepath.Join(root, "bin")); err != nil {
		t.Skip(err)
	}
	tmp := t.TempDir()
	kubeconfig := os.Getenv("HARNESS_KUBECONFIG")
	if kubeconfig == "" {
		kubeconfig = filepath.Join(tmp, "kubeconfig")
		Expect(os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
`), 0o644)).To(Succeed())
	}
	logPath := filepath.Join(tmp, "network.log")
	logFile, err := os.Create(logPath)
	Expect(err).NotTo(HaveOccurred())
	defer logFile.Close()
	RedirectGinkgoWriter(logFile)
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("network log (tail):\n%s", tail(string(b), 80))
		}
	}()

	h, err := New(Options{RepoRoot: root, Kubeconfig: kubeconfig, Namespace: "harness-smoke", RootDir: filepath.Join(tmp, "net")})
	Expect(err).NotTo(HaveOccurred())
	defer h.Cleanup()

	start := time.Now()
	h.Start()
	t.Logf("E2E-TIMING name=harness_network_start seconds=%.2f", time.Since(start).Seconds())
	core := h.Network.ReadPeerConfig(h.Org1Peer())
	Expect(core.Chaincode.Builder).To(Equal(DefaultCCEnvImage))
	Expect(h.PeerLog(h.Org1Peer())).To(ContainSubstring("Kubernetes chaincode VM: namespace harness-smoke"))

	dir := filepath.Join(tmp, "kv")
	Expect(PrepareGoChaincode(filepath.Join(root, "integration", "chaincode", "kv"), dir, nil)).To(Succeed())
	cc := h.GoChaincode("kv", "kv_1", "1", dir)
	r := h.Package(&cc)
	Expect(r.OK()).To(BeTrue(), "%s", r)
	Expect(cc.PackageID).To(HavePrefix("kv_1:"))

	Expect(h.Stop()).To(Succeed())
	Expect(filepath.Join(h.LogDir(), h.Org1Peer().ID()+".log")).To(BeAnExistingFile())
}
