/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kubenet

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
)

// Result is a command's outcome.
type Result = testkit.Result

// run executes name args... with extra environment, bounded by timeout,
// logged to Options.Log.
func (net *Network) run(timeout time.Duration, env []string, name string, args ...string) Result {
	return testkit.Run(net.opts.Log, timeout, env, name, args...)
}

// clusterExec runs a host command that dials nodes by their names
// (integration/cluster/cluster.sh exec: the cluster's DNS for this command).
func (net *Network) clusterExec(timeout time.Duration, env []string, args ...string) Result {
	return net.run(timeout, env, filepath.Join(net.opts.RepoRoot, "integration", "cluster", "cluster.sh"), append([]string{"exec"}, args...)...)
}

func (net *Network) bin(name string) string { return filepath.Join(net.opts.RepoRoot, "bin", name) }

// AdminEnv is the environment of the peer CLI acting as p's organisation's
// Admin against p (FABRIC_CFG_PATH, CORE_PEER_*).
func (net *Network) AdminEnv(p Node) []string {
	return []string{
		"FABRIC_CFG_PATH=" + net.n.PeerDir(p.peer),
		"CORE_PEER_ADDRESS=" + p.Address(),
		"CORE_PEER_LOCALMSPID=" + p.MSPID,
		"CORE_PEER_MSPCONFIGPATH=" + net.n.PeerUserMSPDir(p.peer, "Admin"),
		"CORE_PEER_TLS_ENABLED=true",
		"CORE_PEER_TLS_ROOTCERT_FILE=" + net.peerTLSCA(p),
	}
}

// PeerCLI runs the peer CLI as p's organisation's Admin against p.
func (net *Network) PeerCLI(p Node, timeout time.Duration, args ...string) Result {
	return net.clusterExec(timeout, net.AdminEnv(p), append([]string{net.bin("peer")}, args...)...)
}

// OrdererArgs are the CLI flags naming the orderer.
func (net *Network) OrdererArgs() []string {
	return []string{"-o", net.Orderer.Address(), "--tls", "--cafile", net.ordererTLSCA()}
}

// PeerArgs are the CLI flags naming the given peers (endorsers, commit targets).
func (net *Network) PeerArgs(peers ...Node) []string {
	var a []string
	for _, p := range peers {
		a = append(a, "--peerAddresses", p.Address(), "--tlsRootCertFiles", net.peerTLSCA(p))
	}
	return a
}

// joinOrderer joins the orderer to ChannelName with the channel participation
// API (osnadmin, the orderer organisation's Admin TLS client certificate).
func (net *Network) joinOrderer() error {
	o := net.n.Orderer("orderer")
	tls := filepath.Join(filepath.Dir(net.n.OrdererUserMSPDir(o, "Admin")), "tls")
	r := net.clusterExec(time.Minute, nil, net.bin("osnadmin"), "channel", "join", "--channelID", ChannelName,
		"--config-block", net.genesisBlock(), "-o", fmt.Sprintf("%s:%d", net.Orderer.Host, ordererAdminPort),
		"--ca-file", net.ordererTLSCA(), "--client-cert", filepath.Join(tls, "client.crt"), "--client-key", filepath.Join(tls, "client.key"))
	return r.Err
}

func (net *Network) kubectlPath() string {
	k := filepath.Join(net.opts.RepoRoot, ".cluster", "bin", "kubectl")
	if _, err := os.Stat(k); err == nil {
		return k
	}
	return "kubectl"
}

// Kubectl is the command line that reaches the network's cluster.
func (net *Network) Kubectl() string {
	return net.kubectlPath() + " --kubeconfig " + net.opts.Kubeconfig
}

func (net *Network) kubectl(args ...string) (string, error) {
	r := net.run(5*time.Minute, nil, net.kubectlPath(), append([]string{"--kubeconfig", net.opts.Kubeconfig}, args...)...)
	return r.Stdout, r.Err
}

func (net *Network) kubectlRun(args ...string) error {
	_, err := net.kubectl(args...)
	return err
}

// kubectlApply applies one manifest.
func (net *Network) kubectlApply(manifest string) error {
	f, err := os.CreateTemp(net.opts.RootDir, "manifest-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(manifest); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return net.kubectlRun("apply", "-f", f.Name())
}

// Pods is `kubectl get pods -o wide` of a namespace.
func (net *Network) Pods(namespace string) (string, error) {
	return net.kubectl("get", "pods", "-o", "wide", "-n", namespace)
}

// Logs are the last lines of the node's log (kubectl logs).
func (net *Network) Logs(nd Node, tail int) (string, error) {
	return net.kubectl("-n", nd.Namespace, "logs", nd.Pod, fmt.Sprintf("--tail=%d", tail))
}
