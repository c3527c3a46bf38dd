/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kubenet

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Chaincode is a Go chaincode's definition on ChannelName.
type Chaincode struct {
	Name, Label, Version string
	Sequence             int
	// Policy is the endorsement policy (--signature-policy); empty: the
	// channel's default, a majority of the organisations
	Policy          string
	Path            string // a directory with the vendored chaincode module
	File, PackageID string // set by Package
}

// Package packages the chaincode (peer lifecycle chaincode package) and
// computes its package ID.
func (net *Network) Package(cc *Chaincode) error {
	p := net.Peers[0]
	cc.File = filepath.Join(net.opts.RootDir, cc.Label+".tar.gz")
	if r := net.PeerCLI(p, 2*time.Minute, "lifecycle", "chaincode", "package", cc.File, "--path", cc.Path, "--lang", "golang", "--label", cc.Label); r.Err != nil {
		return r.Err
	}
	r := net.PeerCLI(p, time.Minute, "lifecycle", "chaincode", "calculatepackageid", cc.File)
	cc.PackageID = strings.TrimSpace(r.Stdout)
	return r.Err
}

// Install installs the package on p (the peer's VM builds the image, or finds it built).
func (net *Network) Install(p Node, cc Chaincode, timeout time.Duration) Result {
	return net.PeerCLI(p, timeout, append([]string{"lifecycle", "chaincode", "install", cc.File}, net.PeerArgs(p)...)...)
}

func (cc Chaincode) definition() []string {
	d := []string{"--channelID", ChannelName, "--name", cc.Name, "--version", cc.Version, "--sequence", fmt.Sprint(cc.Sequence)}
	if cc.Policy != "" {
		d = append(d, "--signature-policy", cc.Policy)
	}
	return d
}

// Approve approves the definition for p's organisation.
func (net *Network) Approve(p Node, cc Chaincode) error {
	args := append([]string{"lifecycle", "chaincode", "approveformyorg", "--package-id", cc.PackageID, "--waitForEvent"}, cc.definition()...)
	args = append(append(args, net.OrdererArgs()...), net.PeerArgs(p)...)
	return net.PeerCLI(p, 3*time.Minute, args...).Err
}

// Commit commits the definition, endorsed by every peer.
func (net *Network) Commit(cc Chaincode) error {
	args := append([]string{"lifecycle", "chaincode", "commit"}, cc.definition()...)
	args = append(append(args, net.OrdererArgs()...), net.PeerArgs(net.Peers...)...)
	return net.PeerCLI(net.Peers[0], 3*time.Minute, args...).Err
}

func ctor(fn string, args ...string) string {
	q := []string{fmt.Sprintf("%q", fn)}
	for _, a := range args {
		q = append(q, fmt.Sprintf("%q", a))
	}
	return `{"Args":[` + strings.Join(q, ",") + `]}`
}

// Invoke submits a transaction endorsed by the given peers (the first one's
// Admin submits it) and waits for its commit.
func (net *Network) Invoke(endorsers []Node, name string, timeout time.Duration, fn string, args ...string) Result {
	a := []string{"chaincode", "invoke", "--channelID", ChannelName, "--name", name, "--ctor", ctor(fn, args...), "--waitForEvent"}
	a = append(append(a, net.OrdererArgs()...), net.PeerArgs(endorsers...)...)
	return net.PeerCLI(endorsers[0], timeout, a...)
}

// Query evaluates fn on p.
func (net *Network) Query(p Node, name string, timeout time.Duration, fn string, args ...string) Result {
	return net.PeerCLI(p, timeout, "chaincode", "query", "--channelID", ChannelName, "--name", name, "--ctor", ctor(fn, args...))
}
