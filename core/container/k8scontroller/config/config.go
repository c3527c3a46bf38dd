/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package config holds the configuration of the Kubernetes chaincode VM: the
// vm.k8s.* keys of the peer's core.yaml (Config), the per-chaincode settings
// of the ConfigMap named by vm.k8s.chaincodeConfigMap (ChaincodeSettings) and
// the checks both share.
//
// Every vm.k8s.* key is one entry of the table in keys.go: the Config field
// it sets, its default, how its value is decoded, what Validate requires of
// it and its description. The table drives FromViper, Validate and the
// reference in docs/configuration.md (regenerated with go generate).
package config

import (
	"os"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/relaunch"
	"github.com/spf13/viper"
	corev1 "k8s.io/api/core/v1"
)

// Prefix is the core.yaml section holding the Kubernetes VM settings.
// Every key can be overridden like any other core.yaml key: the peer's viper
// uses the env prefix CORE and replaces "." with "_", so vm.k8s.kanikoImage is
// CORE_VM_K8S_KANIKOIMAGE. Structured keys (resources, nodeSelector,
// tolerations, affinity, podAnnotations, podLabels, imagePullSecrets,
// kanikoExtraArgs, build.resources, build.cache) are YAML in core.yaml and a
// JSON document in the environment variable; they are decoded strictly, like
// per-chaincode settings: a field the value's type does not have is an
// error. Note that viper lower-cases map keys read from core.yaml; use the
// JSON environment form for case-sensitive annotation or label keys.
// Per-chaincode settings live in the ConfigMap named by
// vm.k8s.chaincodeConfigMap (ChaincodeSettings).
const Prefix = "vm.k8s."

// inClusterNamespaceFile is where Kubernetes mounts the pod's namespace.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Config holds the vm.k8s.* settings. Each field is set by one key of the
// table in keys.go, which documents it; docs/configuration.md shows that
// table.
type Config struct {
	Kubeconfig          string
	Namespace           string
	BuildNamespace      string
	Registry            string
	PullRegistry        string
	RegistryInsecure    bool
	RegistryCA          string
	RegistryCAConfigMap string
	PushSecret          string
	ImagePullSecrets    []string
	ServiceAccount      string
	BuildServiceAccount string
	KanikoImage         string
	KanikoExtraArgs     []string

	BuildTimeout        time.Duration
	StopTimeout         time.Duration
	GracePeriod         time.Duration
	MaxCodePackageSize  int64
	MaxConcurrentBuilds int
	ImagePullTimeout    time.Duration
	SweepInterval       time.Duration
	HealthCheckInterval time.Duration
	ClientQPS           float32
	ClientBurst         int

	HostNetwork            bool
	BuildHostNetwork       bool
	RunAsUser              int64
	ReadOnlyRootFilesystem bool
	Resources              corev1.ResourceRequirements
	BuildResources         corev1.ResourceRequirements
	BuildCache             *BuildCache
	NodeSelector           map[string]string
	Tolerations            []corev1.Toleration
	PodAnnotations         map[string]string
	PodLabels              map[string]string
	Affinity               *corev1.Affinity
	PriorityClassName      string

	ChaincodeConfigMap string
	PeerPodName        string
	Relaunch           RelaunchPolicy
	PrePull            PrePull
}

// Defaults of the vm.k8s.* keys.
const (
	DefaultBuildTimeout        = 10 * time.Minute
	DefaultStopTimeout         = 30 * time.Second
	DefaultGracePeriod         = 2 * time.Second
	DefaultMaxCodePackageSize  = 100 << 20
	DefaultMaxConcurrentBuilds = 2
	DefaultRunAsUser           = 10001
	DefaultSweepInterval       = 5 * time.Minute
	DefaultImagePullTimeout    = 2 * time.Minute
	DefaultClientQPS           = 50
	DefaultClientBurst         = 100
	DefaultHealthCheckInterval = 30 * time.Second
)

// PrePull (vm.k8s.prePull.*) says whether and how the VM makes a newly
// built chaincode image present on the nodes before its first launch.
type PrePull struct {
	Enabled       bool
	Timeout       time.Duration
	MaxConcurrent int
}

// DefaultPrePull is vm.k8s.prePull when nothing is set.
var DefaultPrePull = PrePull{Enabled: true, Timeout: 2 * time.Minute, MaxConcurrent: 2}

// RelaunchPolicy (vm.k8s.relaunch.*) says when a chaincode whose pod ended
// without the peer asking is launched again: Enabled, InitialBackoff,
// MaxBackoff, CrashLoopThreshold and StableAfter, one key each.
type RelaunchPolicy = relaunch.Policy

// DefaultRelaunchPolicy is vm.k8s.relaunch when nothing is set.
var DefaultRelaunchPolicy = RelaunchPolicy{
	Enabled:            true,
	InitialBackoff:     time.Second,
	MaxBackoff:         30 * time.Second,
	CrashLoopThreshold: 5,
	StableAfter:        30 * time.Second,
}

// FromViper reads the vm.k8s.* keys from v (the peer passes
// viper.GetViper()). It does not validate; call Validate.
func FromViper(v *viper.Viper) (*Config, error) {
	return load(v, inClusterNamespaceFile)
}

// load reads every key of the table, then fills the defaults taken from
// other keys: pullRegistry from registry, namespace (without a kubeconfig)
// from namespaceFile, buildNamespace from namespace.
func load(v *viper.Viper, namespaceFile string) (*Config, error) {
	c := &Config{}
	for _, k := range keys() {
		if err := k.load(v, c); err != nil {
			return nil, err
		}
	}
	if c.PullRegistry == "" {
		c.PullRegistry = c.Registry
	}
	if c.Namespace == "" && c.Kubeconfig == "" && namespaceFile != "" {
		if ns, err := os.ReadFile(namespaceFile); err == nil {
			c.Namespace = strings.TrimSpace(string(ns))
		}
	}
	if c.BuildNamespace == "" {
		c.BuildNamespace = c.Namespace
	}
	return c, nil
}

// Validate checks the configuration, key by key in the order of the table,
// and names the first offending key.
func (c *Config) Validate() error {
	for _, k := range keys() {
		if err := k.validate(c); err != nil {
			return err
		}
	}
	return nil
}
