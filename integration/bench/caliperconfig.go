/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// caliperNet is what Caliper's configuration needs of a network: the
// channel and chaincode, and per organization its MSP ID, one identity's
// certificate and key, and its peers' Gateway endpoints with their TLS CA.
type caliperNet struct {
	Name      string
	Channel   string
	Chaincode string
	// Invoker (an MSP ID) and Identity name the organization and identity
	// the workload submits with; Caliper's Gateway connector sends them to
	// the organization's first peer.
	Invoker  string
	Identity string
	Orgs     []caliperOrg
}

type caliperOrg struct {
	Name     string
	MSPID    string
	Identity string
	// Cert and Key are the identity's PEM files.
	Cert, Key string
	Peers     []caliperPeer
}

type caliperPeer struct {
	// Name is the peer's host name in its TLS certificate
	// (peer0.org1.example.com); Address its host:port.
	Name    string
	Address string
	TLSCA   string
}

// caliperRound is one round of the benchmark.
type caliperRound struct {
	Label string
	// Op is the workload's operation: create (put of a new key) or read
	// (get of a key a create round wrote).
	Op string
	// Rate is Caliper's rate controller: fixed-rate (TPS) or fixed-load
	// (Load transactions outstanding).
	Rate     string
	TPS      int
	Load     int
	KeysFrom []string
}

// caliperValueBytes is the padding of each created asset's value.
const caliperValueBytes = 64

// caliperRounds are the phase's rounds, creates first: the reads get keys
// the creates wrote.
func caliperRounds(s caliperSettings) []caliperRound {
	creates := []string{"create-fixed-rate", "create-fixed-load"}
	return []caliperRound{
		{Label: creates[0], Op: "create", Rate: "fixed-rate", TPS: s.CreateTPS},
		{Label: creates[1], Op: "create", Rate: "fixed-load", Load: s.Load},
		{Label: "read-fixed-rate", Op: "read", Rate: "fixed-rate", TPS: s.ReadTPS, KeysFrom: creates},
		{Label: "read-fixed-load", Op: "read", Rate: "fixed-load", Load: s.Load, KeysFrom: creates},
	}
}

// Describe says what the round does and at what rate.
func (r caliperRound) Describe() string {
	op := "create (put of a new key: endorse, order, commit)"
	if r.Op == "read" {
		op = "read (get of a created key: evaluate)"
	}
	return op + ", " + r.RateText()
}

// RateText is the round's rate control in words.
func (r caliperRound) RateText() string {
	if r.Rate == "fixed-load" {
		return fmt.Sprintf("fixed-load, %d outstanding", r.Load)
	}
	return fmt.Sprintf("fixed-rate, %d tx/s", r.TPS)
}

// The network configuration (version 2.0.0 of caliper-fabric).
type calNetworkConfig struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	Caliper struct {
		Blockchain string `yaml:"blockchain"`
		SutOptions struct {
			MutualTLS bool `yaml:"mutualTls"`
		} `yaml:"sutOptions"`
	} `yaml:"caliper"`
	Channels      []calChannel `yaml:"channels"`
	Organizations []calOrg     `yaml:"organizations"`
}

type calChannel struct {
	ChannelName string        `yaml:"channelName"`
	Contracts   []calContract `yaml:"contracts"`
}

type calContract struct {
	ID string `yaml:"id"`
}

type calOrg struct {
	MSPID      string `yaml:"mspid"`
	Identities struct {
		Certificates []calCertificate `yaml:"certificates"`
	} `yaml:"identities"`
	ConnectionProfile struct {
		Path     string `yaml:"path"`
		Discover bool   `yaml:"discover"`
	} `yaml:"connectionProfile"`
}

type calCertificate struct {
	Name             string  `yaml:"name"`
	ClientPrivateKey calPath `yaml:"clientPrivateKey"`
	ClientSignedCert calPath `yaml:"clientSignedCert"`
}

type calPath struct {
	Path string `yaml:"path"`
}

// The connection profile of one organization.
type calProfile struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	Client  struct {
		Organization string `yaml:"organization"`
	} `yaml:"client"`
	Organizations map[string]calProfileOrg  `yaml:"organizations"`
	Peers         map[string]calProfilePeer `yaml:"peers"`
}

type calProfileOrg struct {
	MSPID string   `yaml:"mspid"`
	Peers []string `yaml:"peers"`
}

type calProfilePeer struct {
	URL         string            `yaml:"url"`
	TLSCACerts  calPath           `yaml:"tlsCACerts"`
	GRPCOptions map[string]string `yaml:"grpcOptions"`
}

// The benchmark configuration.
type calBenchConfig struct {
	Test struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
		Workers     struct {
			Number int `yaml:"number"`
		} `yaml:"workers"`
		Rounds []calRound `yaml:"rounds"`
	} `yaml:"test"`
}

type calRound struct {
	Label       string `yaml:"label"`
	Description string `yaml:"description"`
	TxDuration  int    `yaml:"txDuration"`
	RateControl struct {
		Type string         `yaml:"type"`
		Opts map[string]int `yaml:"opts"`
	} `yaml:"rateControl"`
	Workload struct {
		Module    string       `yaml:"module"`
		Arguments calArguments `yaml:"arguments"`
	} `yaml:"workload"`
}

// calArguments are the workload module's round arguments (caliper/workload/kv.js).
type calArguments struct {
	Op              string   `yaml:"op"`
	Round           string   `yaml:"round"`
	RecordsDir      string   `yaml:"recordsDir"`
	ContractID      string   `yaml:"contractId"`
	InvokerMSPID    string   `yaml:"invokerMspId"`
	InvokerIdentity string   `yaml:"invokerIdentity"`
	ValueBytes      int      `yaml:"valueBytes,omitempty"`
	KeysFrom        []string `yaml:"keysFrom,omitempty"`
}

func marshalYAML(v interface{}) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Generated by the bench (integration/bench/caliperconfig.go) for this run.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// caliperNetworkConfig renders the network configuration; profiles maps
// each MSP ID to its connection profile's path.
func caliperNetworkConfig(n caliperNet, profiles map[string]string) ([]byte, error) {
	c := calNetworkConfig{Name: n.Name, Version: "2.0.0"}
	c.Caliper.Blockchain = "fabric"
	c.Channels = []calChannel{{ChannelName: n.Channel, Contracts: []calContract{{ID: n.Chaincode}}}}
	// The invoker's organization comes first: Caliper's default.
	orgs := append([]caliperOrg(nil), n.Orgs...)
	for i, o := range orgs {
		if o.MSPID == n.Invoker && i > 0 {
			orgs[0], orgs[i] = orgs[i], orgs[0]
		}
	}
	for _, o := range orgs {
		p, ok := profiles[o.MSPID]
		if !ok {
			return nil, fmt.Errorf("no connection profile for %s", o.MSPID)
		}
		if o.Cert == "" || o.Key == "" {
			return nil, fmt.Errorf("%s: no identity certificate and key", o.MSPID)
		}
		co := calOrg{MSPID: o.MSPID}
		co.Identities.Certificates = []calCertificate{{Name: o.Identity, ClientPrivateKey: calPath{o.Key}, ClientSignedCert: calPath{o.Cert}}}
		co.ConnectionProfile.Path, co.ConnectionProfile.Discover = p, true
		c.Organizations = append(c.Organizations, co)
	}
	return marshalYAML(c)
}

// caliperProfile renders o's connection profile: each peer's Gateway
// endpoint (grpcs, TLS server authentication) and TLS CA.
func caliperProfile(n caliperNet, o caliperOrg) ([]byte, error) {
	if len(o.Peers) == 0 {
		return nil, fmt.Errorf("%s has no peer", o.MSPID)
	}
	p := calProfile{Name: n.Name + "-" + strings.ToLower(o.Name), Version: "1.0.0",
		Organizations: map[string]calProfileOrg{}, Peers: map[string]calProfilePeer{}}
	p.Client.Organization = o.Name
	po := calProfileOrg{MSPID: o.MSPID}
	for _, peer := range o.Peers {
		po.Peers = append(po.Peers, peer.Name)
		p.Peers[peer.Name] = calProfilePeer{
			URL:        "grpcs://" + peer.Address,
			TLSCACerts: calPath{peer.TLSCA},
			// The peer's certificate names its host name (and 127.0.0.1).
			GRPCOptions: map[string]string{"ssl-target-name-override": peer.Name, "hostnameOverride": peer.Name},
		}
	}
	p.Organizations[o.Name] = po
	return marshalYAML(p)
}

// caliperBenchConfig renders the benchmark configuration: the rounds on
// n's chaincode with the workload module at workload, which writes its
// records to records.
func caliperBenchConfig(n caliperNet, s caliperSettings, rounds []caliperRound, workload, records string) ([]byte, error) {
	c := calBenchConfig{}
	c.Test.Name = "kv"
	c.Test.Description = fmt.Sprintf("create and read rounds on %s (integration/chaincode/kv) through %s's gateway", n.Chaincode, n.Invoker)
	c.Test.Workers.Number = s.Workers
	for _, r := range rounds {
		cr := calRound{Label: r.Label, Description: r.Describe(), TxDuration: int(s.Round.Seconds())}
		cr.RateControl.Type = r.Rate
		switch r.Rate {
		case "fixed-rate":
			cr.RateControl.Opts = map[string]int{"tps": r.TPS}
		case "fixed-load":
			cr.RateControl.Opts = map[string]int{"transactionLoad": r.Load}
		default:
			return nil, fmt.Errorf("round %s: unknown rate controller %q", r.Label, r.Rate)
		}
		cr.Workload.Module = workload
		cr.Workload.Arguments = calArguments{Op: r.Op, Round: r.Label, RecordsDir: records, ContractID: n.Chaincode,
			InvokerMSPID: n.Invoker, InvokerIdentity: n.Identity, KeysFrom: r.KeysFrom}
		if r.Op == "create" {
			cr.Workload.Arguments.ValueBytes = caliperValueBytes
		}
		c.Test.Rounds = append(c.Test.Rounds, cr)
	}
	return marshalYAML(c)
}

// caliperFiles are the configuration files of a run.
type caliperFiles struct {
	Network, Bench string
	Profiles       []string
}

// writeCaliperConfig writes the connection profiles, the network and the
// benchmark configuration to dir.
func writeCaliperConfig(dir string, n caliperNet, s caliperSettings, rounds []caliperRound, workload, records string) (caliperFiles, error) {
	f := caliperFiles{Network: filepath.Join(dir, "networkconfig.yaml"), Bench: filepath.Join(dir, "benchconfig.yaml")}
	profiles := map[string]string{}
	write := func(path string, b []byte, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		return os.WriteFile(path, b, 0o644)
	}
	for _, o := range n.Orgs {
		path := filepath.Join(dir, "connection-"+strings.ToLower(o.Name)+".yaml")
		b, err := caliperProfile(n, o)
		if err := write(path, b, err); err != nil {
			return f, err
		}
		profiles[o.MSPID] = path
		f.Profiles = append(f.Profiles, path)
	}
	b, err := caliperNetworkConfig(n, profiles)
	if err := write(f.Network, b, err); err != nil {
		return f, err
	}
	b, err = caliperBenchConfig(n, s, rounds, workload, records)
	return f, write(f.Bench, b, err)
}
