/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package network runs a small Fabric network (one etcdraft orderer, Org1 and
// Org2 with one peer each, TLS on) whose peers use the Kubernetes chaincode VM
// (vm.type: k8s), on top of Fabric's integration/nwo. The peers, orderer and
// CLI are the prebuilt binaries of `make binaries`; they run as host processes
// on 127.0.0.1, chaincode builds and chaincode pods run in one namespace.
//
// nwo reports failures through Gomega's global fail handler: register one
// (ginkgo.Fail in suites, PanicFailHandler in programs) before using Harness.
package network

import (
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/hyperledger/fabric/integration/channelparticipation"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/tedsuo/ifrit"
	ginkgomon "github.com/tedsuo/ifrit/ginkgomon_v2"
)

// ChannelName is the application channel the harness creates.
const ChannelName = "testchannel"

// Options configure a Harness.
type Options struct {
	// RepoRoot is the fabric-peer-k8s checkout; binaries come from BinDir,
	// by default the Fabric line's directory under RepoRoot (LineBinDir).
	RepoRoot string
	BinDir   string
	// Fabric is the Fabric line of the binaries (FabricLine31 or
	// FabricLine25); empty: the one FabricLineEnv names.
	Fabric string
	// Kubeconfig and Namespace for the VM (the namespace must exist); not
	// needed when Peer.Docker selects DockerVM.
	Kubeconfig string
	Namespace  string
	// Peer overrides DefaultPeerConfig(Kubeconfig, Namespace) when non-nil.
	Peer *PeerConfig
	// RootDir holds crypto material, configs and ledgers; a temporary
	// directory (removed by Cleanup) when empty.
	RootDir string
	// StartPort is the first of the consecutive ports nwo allocates; a free
	// random range when 0.
	StartPort int
	// EventuallyTimeout bounds nwo's waits (channel join, approve, commit).
	EventuallyTimeout time.Duration
	// PeerEnv is added to the environment of peer processes.
	PeerEnv []string
	// PeerEnvByID is added to the environment of the peer with that ID
	// (nwo's Peer.ID(), e.g. "Org1.peer0"), after PeerEnv.
	PeerEnvByID map[string][]string
}

// Harness is a running (or runnable) network.
type Harness struct {
	Opts       Options
	PeerConfig PeerConfig
	Network    *nwo.Network
	Orderer    *nwo.Orderer
	Peers      []*nwo.Peer

	components    *ComponentServer
	ownRootDir    bool
	ordererRunner *ginkgomon.Runner
	peerRunners   map[string]*ginkgomon.Runner
	// earlierLogs holds what peers wrote in runs before a RestartPeers.
	earlierLogs map[string]string
	ordererProc ifrit.Process
	// peerProcs holds the running peer processes by peer ID: each peer is
	// a process of its own, so that one can be stopped, killed or
	// restarted while the other runs.
	peerProcs map[string]ifrit.Process
}

// New prepares the network: binaries are checked, a component server started
// and nwo's configuration generated. Nothing runs yet; call Start.
func New(opts Options) (*Harness, error) {
	if opts.RepoRoot == "" {
		return nil, fmt.Errorf("network: RepoRoot is required")
	}
	if opts.Fabric == "" {
		line, err := FabricLineFromEnv()
		if err != nil {
			return nil, err
		}
		opts.Fabric = line
	}
	if opts.BinDir == "" {
		dir, err := LineBinDir(opts.RepoRoot, opts.Fabric)
		if err != nil {
			return nil, err
		}
		opts.BinDir = dir
	}
	docker := opts.Peer != nil && opts.Peer.Docker != nil
	if !docker {
		if opts.Kubeconfig == "" || opts.Namespace == "" {
			return nil, fmt.Errorf("network: Kubeconfig and Namespace are required")
		}
		kc, err := filepath.Abs(opts.Kubeconfig)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(kc); err != nil {
			return nil, fmt.Errorf("network: kubeconfig: %w", err)
		}
		opts.Kubeconfig = kc
	}
	if opts.EventuallyTimeout == 0 {
		opts.EventuallyTimeout = 2 * time.Minute
	}

	pc := DefaultPeerConfig(opts.Kubeconfig, opts.Namespace)
	if opts.Peer != nil {
		pc = *opts.Peer
	}
	var err error
	coreTemplate, err := pc.CoreTemplateFor(opts.Fabric)
	if err != nil {
		return nil, err
	}

	h := &Harness{Opts: opts, PeerConfig: pc, peerRunners: map[string]*ginkgomon.Runner{}, earlierLogs: map[string]string{},
		peerProcs: map[string]ifrit.Process{}}
	if h.Opts.RootDir == "" {
		dir, err := os.MkdirTemp("", "fabric-peer-k8s-net-")
		if err != nil {
			return nil, err
		}
		h.Opts.RootDir, h.ownRootDir = dir, true
	} else if err := os.MkdirAll(h.Opts.RootDir, 0o755); err != nil {
		return nil, err
	}
	if h.Opts.StartPort == 0 {
		if h.Opts.StartPort, err = freePortRange(40); err != nil {
			return nil, err
		}
	}

	h.components, err = StartComponentServer(opts.BinDir)
	if err != nil {
		h.Cleanup()
		return nil, err
	}

	config := nwo.BasicEtcdRaft()
	for _, p := range config.Profiles {
		p.AppCapabilities = []string{"V2_5"}
	}
	ordererTemplate, err := lineOrdererTemplate(opts.Fabric)
	if err != nil {
		h.Cleanup()
		return nil, err
	}
	config.Templates = &nwo.Templates{Core: coreTemplate, Orderer: ordererTemplate}

	h.Network = nwo.New(config, h.Opts.RootDir, nil, h.Opts.StartPort, h.components.Components())
	// nwo adds Fabric's own "binary" and "ccaas" external builders relative
	// to its source tree; they do not exist here and must not shadow the VM.
	h.Network.ExternalBuilders = nil
	h.Network.EventuallyTimeout = h.Opts.EventuallyTimeout
	h.Orderer = h.Network.Orderer("orderer")
	h.Peers = []*nwo.Peer{h.Network.Peer("Org1", "peer0"), h.Network.Peer("Org2", "peer0")}
	return h, nil
}

// freePortRange finds n consecutive free TCP ports on 127.0.0.1 in 20000-29999.
func freePortRange(n int) (int, error) {
	r := rand.New(rand.NewSource(time.Now().UnixNano() + int64(os.Getpid())))
	for attempt := 0; attempt < 50; attempt++ {
		base := 20000 + r.Intn(10000-n)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports found", n)
}

// Org1Peer and Org2Peer are the two peers.
func (h *Harness) Org1Peer() *nwo.Peer { return h.Peers[0] }
func (h *Harness) Org2Peer() *nwo.Peer { return h.Peers[1] }

// Start generates crypto material and configuration, starts the orderer and
// both peers, creates testchannel through the channel participation API and
// joins both peers.
func (h *Harness) Start() {
	n := h.Network
	n.GenerateConfigTree()
	n.Bootstrap()

	h.ordererRunner = n.OrdererRunner(h.Orderer)
	h.ordererProc = ifrit.Invoke(h.ordererRunner)
	waitReady("orderer", h.ordererProc, h.ordererRunner, n.EventuallyTimeout)

	h.startPeers(h.Peers...)

	// channelparticipation.JoinOrdererJoinPeersAppChannel without ginkgo.By,
	// which exits the process outside a Ginkgo suite.
	channelparticipation.Join(n, h.Orderer, ChannelName, n.LoadAppChannelGenesisBlock(ChannelName), channelparticipation.ChannelInfo{
		Name:              ChannelName,
		URL:               "/participation/v1/channels/" + ChannelName,
		Status:            "active",
		ConsensusRelation: "consenter",
		Height:            1,
	})
	Eventually(h.ordererRunner.Err(), n.EventuallyTimeout, time.Second).Should(
		gbytes.Say(fmt.Sprintf("Raft leader changed: 0 -> 1 channel=%s node=1", ChannelName)))
	n.JoinChannel(ChannelName, h.Orderer, h.Peers...)
}

// startPeers starts the given peers (fresh runners, one process each, all
// launched before any is waited for) and waits until they are ready.
func (h *Harness) startPeers(peers ...*nwo.Peer) {
	for _, p := range peers {
		Expect(h.peerProcs).NotTo(HaveKey(p.ID()), "%s is still running", p.ID())
		env := append(append([]string(nil), h.Opts.PeerEnv...), h.Opts.PeerEnvByID[p.ID()]...)
		r := h.Network.PeerRunner(p, env...)
		h.peerRunners[p.ID()] = r
		h.peerProcs[p.ID()] = ifrit.Background(r)
	}
	for _, p := range peers {
		waitReady(p.ID(), h.peerProcs[p.ID()], h.peerRunners[p.ID()], h.Network.EventuallyTimeout)
	}
}

// signalPeer sends sig to p's process, if it runs, and waits up to timeout
// for it to exit (a process that ignores SIGTERM that long is killed).
func (h *Harness) signalPeer(p *nwo.Peer, sig os.Signal, timeout time.Duration) error {
	proc := h.peerProcs[p.ID()]
	if proc == nil {
		return nil
	}
	delete(h.peerProcs, p.ID())
	proc.Signal(sig)
	return waitExit(p.ID(), proc, sig, time.After(timeout), timeout)
}

// signalPeers signals every running peer at once, then waits up to timeout
// for all of them to exit.
func (h *Harness) signalPeers(sig os.Signal, timeout time.Duration) error {
	type running struct {
		id   string
		proc ifrit.Process
	}
	var procs []running
	for _, p := range h.Peers {
		if proc := h.peerProcs[p.ID()]; proc != nil {
			procs = append(procs, running{p.ID(), proc})
			delete(h.peerProcs, p.ID())
			proc.Signal(sig)
		}
	}
	deadline := time.After(timeout)
	var errs []string
	for _, r := range procs {
		if err := waitExit(r.id, r.proc, sig, deadline, timeout); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// waitExit waits for a signalled peer process to exit, until deadline.
func waitExit(name string, proc ifrit.Process, sig os.Signal, deadline <-chan time.Time, timeout time.Duration) error {
	select {
	case err := <-proc.Wait():
		// ginkgomon reports a non-zero exit as an error ("exit status N");
		// a peer that exits because of the signal is fine.
		if err != nil && !strings.Contains(err.Error(), "signal") && !strings.Contains(err.Error(), "exit status") {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	case <-deadline:
		if sig == syscall.SIGKILL {
			return fmt.Errorf("%s did not exit within %s after SIGKILL", name, timeout)
		}
		proc.Signal(syscall.SIGKILL)
		<-proc.Wait()
		return fmt.Errorf("%s did not stop within %s after %s (killed)", name, timeout, sig)
	}
}

// KillPeers sends SIGKILL to both peer processes (no shutdown path runs:
// the VM cannot stop its chaincode pods) and waits until they are gone.
func (h *Harness) KillPeers(timeout time.Duration) error {
	return h.signalPeers(syscall.SIGKILL, timeout)
}

// KillPeer sends SIGKILL to one peer's process and waits until it is gone;
// the other peer keeps running.
func (h *Harness) KillPeer(p *nwo.Peer, timeout time.Duration) error {
	return h.signalPeer(p, syscall.SIGKILL, timeout)
}

// StopPeer sends SIGTERM to one peer's process and waits until it has
// exited (it is killed after timeout); the other peer keeps running.
func (h *Harness) StopPeer(p *nwo.Peer, timeout time.Duration) error {
	return h.signalPeer(p, syscall.SIGTERM, timeout)
}

// RestartPeers starts the peers again after StopPeers or KillPeers, with the
// same configuration and ledgers; PeerLog keeps the output of earlier runs.
func (h *Harness) RestartPeers() {
	h.RestartPeer(h.Peers...)
}

// RestartPeer starts the given peers again after StopPeer or KillPeer (or
// StopPeers, KillPeers), with the same configuration and ledgers, and waits
// until they are ready; PeerLog keeps the output of their earlier runs.
func (h *Harness) RestartPeer(peers ...*nwo.Peer) {
	for _, p := range peers {
		Expect(h.peerProcs).NotTo(HaveKey(p.ID()), "%s is still running", p.ID())
		h.earlierLogs[p.ID()] = h.PeerLog(p)
	}
	h.startPeers(peers...)
}

// PeerPID is the process ID of p's running peer process, 0 when it does
// not run.
func (h *Harness) PeerPID(p *nwo.Peer) int {
	r := h.peerRunners[p.ID()]
	if h.peerProcs[p.ID()] == nil || r == nil || r.Command == nil || r.Command.Process == nil {
		return 0
	}
	return r.Command.Process.Pid
}

// waitReady fails with the process' exit error when it dies before becoming ready.
func waitReady(name string, p ifrit.Process, r *ginkgomon.Runner, timeout time.Duration) {
	select {
	case <-p.Ready():
		return
	case err := <-p.Wait():
		msg := ""
		if r != nil {
			msg = testkit.LastLines(string(r.Err().Contents()), 40)
		}
		Expect(err).NotTo(HaveOccurred(), "%s exited before it was ready\n%s", name, msg)
		Expect(fmt.Errorf("%s exited before it was ready", name)).NotTo(HaveOccurred())
	case <-time.After(timeout):
		Expect(fmt.Errorf("%s not ready after %s", name, timeout)).NotTo(HaveOccurred())
	}
}

// PeerLog returns what the peer wrote to stderr so far (its log), across
// restarts.
func (h *Harness) PeerLog(p *nwo.Peer) string {
	r := h.peerRunners[p.ID()]
	if r == nil {
		return h.earlierLogs[p.ID()]
	}
	return h.earlierLogs[p.ID()] + string(r.Err().Contents())
}

// CurrentPeerLog is the output of the peer's current (or last) run only.
func (h *Harness) CurrentPeerLog(p *nwo.Peer) string {
	r := h.peerRunners[p.ID()]
	if r == nil {
		return ""
	}
	return string(r.Err().Contents())
}

// OrdererLog returns the orderer's stderr so far.
func (h *Harness) OrdererLog() string {
	if h.ordererRunner == nil {
		return ""
	}
	return string(h.ordererRunner.Err().Contents())
}

// Running tells whether any peer is up.
func (h *Harness) Running() bool { return len(h.peerProcs) > 0 }

// PeerRunning tells whether p is up.
func (h *Harness) PeerRunning(p *nwo.Peer) bool { return h.peerProcs[p.ID()] != nil }

// StopPeers sends SIGTERM to the running peers at once and waits until they
// have exited.
func (h *Harness) StopPeers(timeout time.Duration) error {
	return h.signalPeers(syscall.SIGTERM, timeout)
}

// Stop stops the peers, then the orderer. It can be called more than once.
func (h *Harness) Stop() error {
	err := h.StopPeers(time.Minute)
	h.dumpLogs()
	if h.ordererProc != nil {
		p := h.ordererProc
		h.ordererProc = nil
		p.Signal(syscall.SIGTERM)
		select {
		case <-p.Wait():
		case <-time.After(time.Minute):
			p.Signal(syscall.SIGKILL)
			<-p.Wait()
		}
	}
	return err
}

// LogDir is where Stop writes the peer and orderer logs.
func (h *Harness) LogDir() string { return filepath.Join(h.Opts.RootDir, "logs") }

func (h *Harness) dumpLogs() {
	if h.Network == nil {
		return
	}
	_ = os.MkdirAll(h.LogDir(), 0o755)
	for _, p := range h.Peers {
		if log := h.PeerLog(p); log != "" {
			_ = os.WriteFile(filepath.Join(h.LogDir(), p.ID()+".log"), []byte(log), 0o644)
		}
	}
	if log := h.OrdererLog(); log != "" {
		_ = os.WriteFile(filepath.Join(h.LogDir(), "orderer.log"), []byte(log), 0o644)
	}
}

// Cleanup stops everything still running and removes the temporary root
// directory (a RootDir given in Options is kept).
func (h *Harness) Cleanup() {
	_ = h.Stop()
	if h.components != nil {
		h.components.Close()
		h.components = nil
	}
	if h.ownRootDir && h.Opts.RootDir != "" {
		os.RemoveAll(h.Opts.RootDir)
	}
}
