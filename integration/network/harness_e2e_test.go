//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	. "github.com/onsi/gomega"
)

// TestHarnessStartStop brings the network up with k8s-mode peers, creates and
// joins testchannel, packages the kv chaincode, samples, stops, kills and
// restarts one peer next to the other and both together, and stops. It needs bin/ but no
// cluster: the VM does not talk to the API server before the first install,
// so a kubeconfig pointing nowhere is enough (HARNESS_KUBECONFIG overrides).
func TestHarnessStartStop(t *testing.T) {
	RegisterTestingT(t)
	root, err := testkit.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	line, err := FabricLineFromEnv()
	Expect(err).NotTo(HaveOccurred())
	binDir, err := LineBinDir(root, line)
	Expect(err).NotTo(HaveOccurred())
	if err := CheckBinaries(binDir); err != nil {
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
			t.Logf("network log (tail):\n%s", testkit.LastLines(string(b), 80))
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

	// Each peer is a process of its own: one can be sampled, stopped,
	// killed and restarted while the other runs.
	org1, org2 := h.Org1Peer(), h.Org2Peer()
	st, err := h.PeerStats(context.Background(), org1)
	Expect(err).NotTo(HaveOccurred())
	t.Logf("E2E-SOAK %s %s", org1.ID(), st)
	Expect(st.PID).To(Equal(h.PeerPID(org1)))
	Expect(st.RSSBytes).To(BeNumerically(">", 1<<20))
	Expect(st.FDs).To(BeNumerically(">", 3))
	Expect(st.Goroutines).To(BeNumerically(">", 10))
	Expect(st.HeapInuseBytes).To(BeNumerically(">", 0))
	org2PID := h.PeerPID(org2)
	Expect(org2PID).NotTo(BeZero())
	Expect(org2PID).NotTo(Equal(st.PID))

	Expect(h.StopPeer(org1, time.Minute)).To(Succeed())
	Expect(h.PeerRunning(org1)).To(BeFalse())
	Expect(h.PeerPID(org1)).To(BeZero())
	_, err = h.PeerStats(context.Background(), org1)
	Expect(err).To(MatchError(ContainSubstring("not running")))
	Expect(h.Running()).To(BeTrue())
	Expect(h.PeerPID(org2)).To(Equal(org2PID), "%s keeps running", org2.ID())
	_, err = h.PeerStats(context.Background(), org2)
	Expect(err).NotTo(HaveOccurred())

	h.RestartPeer(org1)
	Expect(h.PeerPID(org1)).NotTo(BeZero())
	Expect(h.PeerPID(org1)).NotTo(Equal(st.PID))
	Expect(h.KillPeer(org1, time.Minute)).To(Succeed())
	Expect(h.PeerPID(org2)).To(Equal(org2PID), "%s keeps running", org2.ID())
	h.RestartPeer(org1)
	Expect(strings.Count(h.PeerLog(org1), "Kubernetes chaincode VM: namespace harness-smoke")).To(Equal(3), "the log keeps all three runs")
	Expect(strings.Count(h.CurrentPeerLog(org1), "Kubernetes chaincode VM: namespace harness-smoke")).To(Equal(1))
	Expect(strings.Count(h.PeerLog(org2), "Kubernetes chaincode VM: namespace harness-smoke")).To(Equal(1))

	Expect(h.StopPeers(time.Minute)).To(Succeed())
	Expect(h.Running()).To(BeFalse())
	h.RestartPeers()
	Expect(h.PeerRunning(org1) && h.PeerRunning(org2)).To(BeTrue())
	Expect(h.KillPeers(time.Minute)).To(Succeed())
	Expect(h.Running()).To(BeFalse())
	h.RestartPeers()

	Expect(h.Stop()).To(Succeed())
	Expect(h.Running()).To(BeFalse())
	Expect(filepath.Join(h.LogDir(), h.Org1Peer().ID()+".log")).To(BeAnExistingFile())
}
