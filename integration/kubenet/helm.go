/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kubenet

import (
	"path/filepath"
	"time"
)

// HelmRelease is the release name of a peer installed with the chart.
const HelmRelease = "fabric-peer"

// helm runs the Helm CLI (Options.Helm) against the network's cluster.
func (net *Network) helm(timeout time.Duration, args ...string) Result {
	return net.run(timeout, nil, net.opts.Helm, append(args, "--kubeconfig", net.opts.Kubeconfig)...)
}

// DeployPeerWithHelm is DeployPeer with images/peer/chart instead of the
// kustomize overlay: `helm install` with values-local.yaml, the
// organisation's identity and the extra --set/-f arguments given.
func (net *Network) DeployPeerWithHelm(p Node, args ...string) error {
	if err := net.prepare(p, "fabric-peer", net.opts.PeerPodSecurity, net.n.PeerLocalMSPDir(p.peer), net.n.PeerLocalTLSDir(p.peer)); err != nil {
		return err
	}
	chart := filepath.Join(net.opts.RepoRoot, "images", "peer", "chart")
	install := append([]string{"install", HelmRelease, chart, "--namespace", p.Namespace,
		"-f", filepath.Join(chart, "values-local.yaml"),
		"--set", "peer.id=" + p.peer.ID(), "--set", "peer.mspID=" + p.MSPID}, args...)
	if r := net.helm(2*time.Minute, install...); r.Err != nil {
		return r.Err
	}
	if err := net.waitReady(p, 5*time.Minute); err != nil {
		return err
	}
	return net.PeerCLI(p, 2*time.Minute, "channel", "join", "--blockpath", net.genesisBlock()).Err
}

// UpgradePeerWithHelm runs `helm upgrade --reuse-values` of p's release with
// the arguments given and waits for the rolled peer to be ready.
func (net *Network) UpgradePeerWithHelm(p Node, args ...string) error {
	chart := filepath.Join(net.opts.RepoRoot, "images", "peer", "chart")
	upgrade := append([]string{"upgrade", HelmRelease, chart, "--namespace", p.Namespace, "--reuse-values"}, args...)
	if r := net.helm(2*time.Minute, upgrade...); r.Err != nil {
		return r.Err
	}
	return net.waitReady(p, 5*time.Minute)
}
