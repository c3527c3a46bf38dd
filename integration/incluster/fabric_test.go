//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package incluster

import (
	"path/filepath"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/kubenet"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	. "github.com/onsi/gomega"
)

const channelName = kubenet.ChannelName

// fabricNet is the suite's view of the in-cluster network (integration/kubenet):
// the orderer and the peers of Org1 (kustomize) and Org2 (Helm) as Pods, each
// in its namespace, and the peer CLI on this host acting as an organisation's
// Admin against its peer's DNS name. Chaincode definitions let either
// organisation's peer endorse (anyOrg), so that the specs of Org1's peer need
// no chaincode on Org2's; both organisations approve them.
type fabricNet struct {
	*kubenet.Network
}

const anyOrg = "OR('Org1MSP.peer','Org2MSP.peer')"

func (f *fabricNet) org1() kubenet.Node { return f.Peers[0] }
func (f *fabricNet) org2() kubenet.Node { return f.Peers[1] }

func (f *fabricNet) peerCLI(timeout time.Duration, args ...string) result {
	return f.PeerCLI(f.org1(), timeout, args...)
}

// packageChaincode vendors integration/chaincode/kv into a copy, packages it
// with the given label and returns the file and package ID.
func (f *fabricNet) packageChaincode(label string) (file, packageID string) {
	cc := kubenet.Chaincode{Label: label, Path: filepath.Join(rootDir, "cc-"+label)}
	Expect(network.PrepareGoChaincode(filepath.Join(cfg.RepoRoot, "integration", "chaincode", "kv"), cc.Path, nil)).To(Succeed())
	Expect(f.Package(&cc)).To(Succeed())
	return cc.File, cc.PackageID
}

func (f *fabricNet) install(file string, timeout time.Duration) result {
	return f.installOn(f.org1(), file, timeout)
}

func (f *fabricNet) installOn(p kubenet.Node, file string, timeout time.Duration) result {
	return f.Install(p, kubenet.Chaincode{File: file}, timeout)
}

// approveAndCommit approves the definition (sequence 1, endorsed by anyOrg)
// for both organisations and commits it.
func (f *fabricNet) approveAndCommit(name, packageID string) {
	cc := kubenet.Chaincode{Name: name, Version: "1", Sequence: 1, PackageID: packageID, Policy: anyOrg}
	for _, p := range f.Peers {
		Expect(f.Approve(p, cc)).To(Succeed())
	}
	Expect(f.Commit(cc)).To(Succeed())
	Eventually(func() string {
		return f.peerCLI(time.Minute, "lifecycle", "chaincode", "querycommitted", "--channelID", channelName, "--name", name).Out
	}, time.Minute, 2*time.Second).Should(ContainSubstring("Sequence: 1"))
}

// invoke is endorsed by Org1's peer.
func (f *fabricNet) invoke(name string, timeout time.Duration, fn string, args ...string) result {
	return f.invokeOn(f.org1(), name, timeout, fn, args...)
}

func (f *fabricNet) invokeOn(p kubenet.Node, name string, timeout time.Duration, fn string, args ...string) result {
	return f.Invoke([]kubenet.Node{p}, name, timeout, fn, args...)
}

func (f *fabricNet) query(name string, fn string, args ...string) result {
	return f.queryOn(f.org1(), name, fn, args...)
}

func (f *fabricNet) queryOn(p kubenet.Node, name string, fn string, args ...string) result {
	return f.Query(p, name, 2*time.Minute, fn, args...)
}
