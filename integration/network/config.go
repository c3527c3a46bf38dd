/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"fmt"
	"strings"
	"time"

	"github.com/hyperledger/fabric/integration/nwo/template"
	"gopkg.in/yaml.v3"
)

// Images of the local cluster (integration/cluster), as the kubelet and Kaniko
// see them.
const (
	DefaultRegistry     = "localhost:5000/fabric-cc"
	DefaultRegistryAddr = "127.0.0.1:5000"
	DefaultKanikoImage  = "localhost:5000/fabric-peer-k8s/kaniko-executor:v1.25.1"
	DefaultCCEnvImage   = "localhost:5000/fabric-peer-k8s/ccenv:3.1"
	DefaultBaseOSImage  = "localhost:5000/fabric-peer-k8s/baseos:3.1"
	DefaultNodeEnvImage = "localhost:5000/fabric-peer-k8s/nodeenv:2.5"
)

// K8sVMConfig is the vm.k8s section of core.yaml. The yaml names follow
// core/container/k8scontroller/config (keys.go); only the keys the
// harness needs are typed, anything else can go to Extra.
type K8sVMConfig struct {
	Kubeconfig       string `yaml:"kubeconfig"`
	Namespace        string `yaml:"namespace"`
	Registry         string `yaml:"registry"`
	PullRegistry     string `yaml:"pullRegistry,omitempty"`
	RegistryInsecure bool   `yaml:"registryInsecure"`
	KanikoImage      string `yaml:"kanikoImage"`
	HostNetwork      bool   `yaml:"hostNetwork"`
	// Durations are Go duration strings ("10m").
	BuildTimeout string `yaml:"buildTimeout,omitempty"`
	StopTimeout  string `yaml:"stopTimeout,omitempty"`
	GracePeriod  string `yaml:"gracePeriod,omitempty"`
	// SweepInterval is vm.k8s.sweepInterval ("0s": only at start-up).
	SweepInterval string `yaml:"sweepInterval,omitempty"`

	Build K8sBuildConfig `yaml:"build"`
	// Relaunch is vm.k8s.relaunch; the peer's defaults apply when nil.
	Relaunch *K8sRelaunchConfig `yaml:"relaunch,omitempty"`

	// Extra holds further vm.k8s keys verbatim (e.g. resources, podLabels).
	Extra map[string]interface{} `yaml:",inline"`
}

// K8sBuildConfig is vm.k8s.build.
type K8sBuildConfig struct {
	HostNetwork bool                   `yaml:"hostNetwork"`
	Extra       map[string]interface{} `yaml:",inline"`
}

// K8sRelaunchConfig is vm.k8s.relaunch: proactive relaunch of chaincode whose
// pod ended without the peer asking. Empty fields keep the peer's defaults.
type K8sRelaunchConfig struct {
	Enabled *bool `yaml:"enabled,omitempty"`
	// Durations are Go duration strings ("250ms").
	InitialBackoff     string `yaml:"initialBackoff,omitempty"`
	MaxBackoff         string `yaml:"maxBackoff,omitempty"`
	CrashLoopThreshold int    `yaml:"crashLoopThreshold,omitempty"`
	StableAfter        string `yaml:"stableAfter,omitempty"`
}

// DockerVMConfig selects the stock DockerVM instead of the k8s VM: the peer
// runs with vm.type: docker and nwo's own vm section (host networking for
// chaincode containers), pointed at Endpoint.
type DockerVMConfig struct {
	// Endpoint is vm.endpoint, e.g. unix:///tmp/d/docker.sock.
	Endpoint string
}

// PeerConfig is everything the harness changes in nwo's default core.yaml.
type PeerConfig struct {
	VM K8sVMConfig
	// Docker, when set, makes the peers use DockerVM (VM is then ignored):
	// the baseline the k8s VM is measured against.
	Docker *DockerVMConfig
	// CCEnvImage is chaincode.builder, BaseOSImage chaincode.golang.runtime.
	CCEnvImage  string
	BaseOSImage string
	// NodeEnvImage is chaincode.node.runtime: the image Fabric's node
	// platform builds Node.js chaincode in and runs it from.
	NodeEnvImage string
	// InstallTimeout is chaincode.installTimeout: the peer's bound on an
	// install, i.e. on the Kaniko build.
	InstallTimeout time.Duration
	// StartupTimeout is chaincode.startuptimeout: launch of a chaincode pod
	// until it registers with the peer.
	StartupTimeout time.Duration
}

// DefaultPeerConfig is the configuration for the local cluster of
// integration/cluster: peers run on the host, so chaincode and build pods use
// the host network, and the registry on 127.0.0.1:5000 speaks plain HTTP.
func DefaultPeerConfig(kubeconfig, namespace string) PeerConfig {
	return PeerConfig{
		VM: K8sVMConfig{
			Kubeconfig:       kubeconfig,
			Namespace:        namespace,
			Registry:         DefaultRegistry,
			RegistryInsecure: true,
			KanikoImage:      DefaultKanikoImage,
			HostNetwork:      true,
			BuildTimeout:     "10m",
			Build:            K8sBuildConfig{HostNetwork: true},
		},
		CCEnvImage:     DefaultCCEnvImage,
		BaseOSImage:    DefaultBaseOSImage,
		NodeEnvImage:   DefaultNodeEnvImage,
		InstallTimeout: 12 * time.Minute,
		StartupTimeout: 5 * time.Minute,
	}
}

// VMSectionYAML renders the top-level `vm:` section of core.yaml.
func (c PeerConfig) VMSectionYAML() (string, error) {
	doc := map[string]interface{}{
		"vm": map[string]interface{}{
			"type":     "k8s",
			"endpoint": "",
			"k8s":      c.VM,
		},
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return "", err
	}
	s := string(b)
	if strings.Contains(s, "{{") {
		return "", fmt.Errorf("vm section must not contain template actions: %q", s)
	}
	return s, nil
}

// dockerVMSection is nwo's own vm section (DockerVM, chaincode containers on
// the host network) with vm.type docker and the endpoint set.
func (c PeerConfig) dockerVMSection(base string) (string, error) {
	const endpoint = "  endpoint: unix:///var/run/docker.sock\n"
	if strings.Count(base, endpoint) != 1 || !strings.HasPrefix(base, "vm:\n") {
		return "", fmt.Errorf("nwo core template: unexpected vm section %q", base)
	}
	ep := c.Docker.Endpoint
	if ep == "" || strings.ContainsAny(ep, "\n\"'{}") {
		return "", fmt.Errorf("invalid docker endpoint %q", ep)
	}
	return "vm:\n  type: docker\n" + strings.Replace(base[len("vm:\n"):], endpoint, "  endpoint: "+ep+"\n", 1), nil
}

// CoreTemplate returns nwo's default core.yaml template with the vm section
// replaced by a k8s one (or, with Docker set, pointed at that Docker daemon)
// and the chaincode images and timeouts set.
func (c PeerConfig) CoreTemplate() (string, error) {
	base := template.DefaultCore
	vmStart := strings.Index(base, "\nvm:\n")
	ccStart := strings.Index(base, "\nchaincode:\n")
	if vmStart < 0 || ccStart < 0 || ccStart < vmStart {
		return "", fmt.Errorf("nwo core template: cannot find the vm: and chaincode: sections")
	}
	var vm string
	var err error
	if c.Docker != nil {
		vm, err = c.dockerVMSection(base[vmStart+1 : ccStart+1])
	} else {
		vm, err = c.VMSectionYAML()
	}
	if err != nil {
		return "", err
	}
	out := base[:vmStart+1] + vm + base[ccStart:]

	replace := func(old, new string) error {
		if n := strings.Count(out, old); n != 1 {
			return fmt.Errorf("nwo core template: expected exactly one %q, found %d", old, n)
		}
		out = strings.Replace(out, old, new, 1)
		return nil
	}
	edits := [][2]string{
		{"  builder: $(DOCKER_NS)/fabric-ccenv:$(PROJECT_VERSION)\n", "  builder: " + c.CCEnvImage + "\n"},
		{"    runtime: $(DOCKER_NS)/fabric-baseos:$(PROJECT_VERSION)\n", "    runtime: " + c.BaseOSImage + "\n"},
	}
	if c.NodeEnvImage != "" {
		edits = append(edits, [2]string{"    runtime: $(DOCKER_NS)/fabric-nodeenv:latest\n", "    runtime: " + c.NodeEnvImage + "\n"})
	}
	if c.InstallTimeout > 0 {
		edits = append(edits, [2]string{"  installTimeout: 300s\n", fmt.Sprintf("  installTimeout: %s\n", c.InstallTimeout)})
	}
	if c.StartupTimeout > 0 {
		edits = append(edits, [2]string{"  startuptimeout: 300s\n", fmt.Sprintf("  startuptimeout: %s\n", c.StartupTimeout)})
	}
	for _, e := range edits {
		if err := replace(e[0], e[1]); err != nil {
			return "", err
		}
	}
	return out, nil
}
