/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package kubenet runs a Fabric network whose orderer and peers are Pods: the
// etcdraft orderer of images/orderer/deploy-local and, per organisation, the
// peer of images/peer/deploy-local, each in a namespace of its own and
// reached by name: a peer by its Service's, the orderer by its Pod's. The
// host only generates the crypto material and the channel's genesis block
// (cryptogen and configtxgen, through nwo) and acts as each organisation's
// administrator with the stock CLI, which resolves those names with the
// cluster's DNS (integration/cluster/cluster.sh exec).
//
// nwo reports failures through Gomega: callers register a fail handler
// (network.UsePanicFailHandler, or Ginkgo's) and wrap calls in network.Try.
package kubenet

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	"github.com/hyperledger/fabric/integration/nwo/template"
)

// ChannelName is the application channel every peer joins.
const ChannelName = "testchannel"

// The names the manifests give the nodes: one replica per StatefulSet. The
// orderer is addressed by its Pod's DNS name (the StatefulSet's headless
// Service has its name), as Raft consenters are; a peer by its Service's name
// (images/peer/deploy/service.yaml says why).
const (
	ordererStatefulSet = "fabric-orderer"
	peerStatefulSet    = "fabric-peer"
	ordererPort        = 7050
	ordererAdminPort   = 7053
	peerPort           = 7051
)

// Options describe the network.
type Options struct {
	RepoRoot   string
	Kubeconfig string
	// Name prefixes the namespaces: <Name>-orderer and <Name>-org1, <Name>-org2.
	Name string
	// Orgs is the number of peer organisations (1 or 2), one peer each.
	Orgs int
	// RootDir holds crypto material, the genesis block and the CLI's configuration.
	RootDir string
	// VolumeDir holds the ledgers (local PersistentVolumes; the directory is on this host, which
	// is the cluster's first node).
	VolumeDir string
	// Log receives every command and its output.
	Log io.Writer
	// PeerBase is the kustomization each organisation's peer overlay builds on
	// (default <RepoRoot>/images/peer/deploy-local).
	PeerBase string
	// PeerPodSecurity is the Pod Security level the peers' namespaces enforce
	// (default "baseline": the chaincode build pods need it).
	PeerPodSecurity string
	// Helm is the Helm CLI for DeployPeerWithHelm (default <RepoRoot>/.cluster/bin/helm).
	Helm string
}

// Network is a generated network; Deploy brings it up.
type Network struct {
	opts       Options
	n          *nwo.Network
	components *network.ComponentServer
	Orderer    Node
	Peers      []Node
}

// Node is an orderer or peer: its namespace, Pod and address.
type Node struct {
	Org       string // nwo organisation: OrdererOrg, Org1, Org2
	MSPID     string
	Namespace string
	Pod       string
	// Host is the orderer Pod's DNS name (<pod>.<service>.<namespace>.svc),
	// or the peer Service's (<service>.<namespace>.svc)
	Host string
	port int
	peer *nwo.Peer // nil for the orderer
}

// Address is the node's client endpoint.
func (nd Node) Address() string { return fmt.Sprintf("%s:%d", nd.Host, nd.port) }

func ordererNode(namespace string) Node {
	pod := ordererStatefulSet + "-0"
	return Node{Org: "OrdererOrg", MSPID: "OrdererMSP", Namespace: namespace, Pod: pod, port: ordererPort,
		Host: fmt.Sprintf("%s.%s.%s.svc", pod, ordererStatefulSet, namespace)}
}

func peerNode(org, namespace string) Node {
	return Node{Org: org, MSPID: org + "MSP", Namespace: namespace, Pod: peerStatefulSet + "-0", port: peerPort,
		Host: fmt.Sprintf("%s.%s.svc", peerStatefulSet, namespace)}
}

// New prepares the network's configuration; nothing is created yet.
func New(o Options) (*Network, error) {
	if o.Orgs < 1 || o.Orgs > 2 {
		return nil, fmt.Errorf("kubenet: %d organisations: 1 or 2", o.Orgs)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.PeerBase == "" {
		o.PeerBase = filepath.Join(o.RepoRoot, "images", "peer", "deploy-local")
	}
	if o.Helm == "" {
		o.Helm = filepath.Join(o.RepoRoot, ".cluster", "bin", "helm")
	}
	if o.PeerPodSecurity == "" {
		o.PeerPodSecurity = "baseline"
	}
	for _, d := range []string{o.RootDir, o.VolumeDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	cs, err := network.StartComponentServer(filepath.Join(o.RepoRoot, "bin"))
	if err != nil {
		return nil, err
	}
	net := &Network{opts: o, components: cs}
	net.Orderer = ordererNode(o.Name + "-orderer")
	for i := 1; i <= o.Orgs; i++ {
		org := fmt.Sprintf("Org%d", i)
		net.Peers = append(net.Peers, peerNode(org, fmt.Sprintf("%s-org%d", o.Name, i)))
	}
	cfg, err := net.config()
	if err != nil {
		cs.Close()
		return nil, err
	}
	// nwo's ports are those of host processes: unused here (every node listens on its own Pod IP)
	net.n = nwo.New(cfg, o.RootDir, nil, 20000, cs.Components())
	net.n.ExternalBuilders = nil
	net.n.EventuallyTimeout = 2 * time.Minute
	for i := range net.Peers {
		net.Peers[i].peer = net.n.Peer(net.Peers[i].Org, "peer0")
	}
	return net, nil
}

// config is nwo's etcdraft network with the nodes' names: the channel
// configuration names the orderer by its Pod's DNS name (endpoint and Raft
// consenter), and every TLS certificate carries its node's.
func (net *Network) config() (*nwo.Config, error) {
	c := nwo.BasicEtcdRaft()
	c.Organizations = c.Organizations[:1+net.opts.Orgs]
	// the Secrets carry no admincerts: every MSP classifies its admins by NodeOU
	c.Organizations[0].EnableNodeOUs = true
	c.Peers = c.Peers[:net.opts.Orgs]
	var orgs []string
	for _, p := range c.Peers {
		// no anchor peers: gossip across organisations is not needed
		p.Channels = []*nwo.PeerChannel{{Name: ChannelName, Anchor: false}}
		orgs = append(orgs, p.Organization)
	}
	c.Profiles = []*nwo.Profile{{
		Name: "AppChannelEtcdRaft", Consortium: "SampleConsortium", Orderers: []string{"orderer"},
		Organizations: orgs, AppCapabilities: []string{"V2_5"},
	}}
	c.Channels = []*nwo.Channel{{Name: ChannelName, Profile: "AppChannelEtcdRaft"}}

	var err error
	replace := func(s, old, new string, n int) string {
		if err == nil && strings.Count(s, old) < n {
			err = fmt.Errorf("kubenet: nwo template: %q not found %d times", old, n)
		}
		return strings.Replace(s, old, new, n)
	}
	o := net.Orderer
	configtx := replace(template.DefaultConfigTx, `  - 127.0.0.1:{{ $w.OrdererPort . "Listen" }}`, fmt.Sprintf("  - %s", o.Address()), 1)
	configtx = replace(configtx, "        - Host: 127.0.0.1\n          Port: {{ $w.OrdererPort . \"Cluster\" }}",
		fmt.Sprintf("        - Host: %s\n          Port: %d", o.Host, ordererPort), 1)
	// the orderer's Specs come first, then the peers'
	spec := "  - Hostname: {{ .Name }}\n    SANS:\n"
	crypto := replace(template.DefaultCrypto, spec, spec+"    - "+o.Host+"\n", 1)
	var peerSANs strings.Builder
	for _, p := range net.Peers {
		fmt.Fprintf(&peerSANs, "    {{- if eq .Organization %q }}\n    - %s\n    {{- end }}\n", p.Org, p.Host)
	}
	i := strings.LastIndex(crypto, spec)
	if i < 0 {
		return nil, fmt.Errorf("kubenet: nwo crypto template: no peer Specs")
	}
	crypto = crypto[:i] + spec + peerSANs.String() + crypto[i+len(spec):]
	c.Templates = &nwo.Templates{ConfigTx: configtx, Crypto: crypto}
	return c, err
}

// Generate writes crypto material (cryptogen), the channel's genesis block
// (configtxgen) and the CLI's configuration.
func (net *Network) Generate() {
	net.n.GenerateConfigTree()
	net.n.Bootstrap()
}

// Close stops the component server; the cluster's objects stay (Teardown).
func (net *Network) Close() {
	if net.components != nil {
		net.components.Close()
		net.components = nil
	}
}

// Namespaces of the network, orderer first.
func (net *Network) Namespaces() []string {
	ns := []string{net.Orderer.Namespace}
	for _, p := range net.Peers {
		ns = append(ns, p.Namespace)
	}
	return ns
}

func (net *Network) genesisBlock() string { return net.n.OutputBlockPath(ChannelName) }

func (net *Network) ordererTLSCA() string {
	return filepath.Join(net.n.OrdererLocalTLSDir(net.n.Orderer("orderer")), "ca.crt")
}

func (net *Network) peerTLSCA(p Node) string {
	return filepath.Join(net.n.PeerLocalTLSDir(p.peer), "ca.crt")
}
