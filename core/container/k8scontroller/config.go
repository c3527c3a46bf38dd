/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/relaunch"
	"github.com/pkg/errors"
	"github.com/spf13/viper"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ConfigPrefix is the core.yaml section holding the Kubernetes VM settings.
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
const ConfigPrefix = "vm.k8s."

// inClusterNamespaceFile is where Kubernetes mounts the pod's namespace.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Config holds the vm.k8s.* settings.
type Config struct {
	// Kubeconfig (vm.k8s.kubeconfig, ""): path of a kubeconfig file; empty
	// means the in-cluster service account configuration.
	Kubeconfig string
	// Namespace (vm.k8s.namespace, required; in-cluster default: the peer's
	// own namespace) where build Jobs, chaincode Pods and Secrets live.
	Namespace string
	// BuildNamespace (vm.k8s.buildNamespace, default Namespace) where build
	// Jobs run. Kaniko runs as root, so under Pod Security Admission the
	// build namespace needs the baseline level while chaincode pods are
	// admitted under restricted. Jobs in another namespace than the peer's
	// pod are not owned by it; their TTL and the sweep clean them up.
	BuildNamespace string
	// Registry (vm.k8s.registry, required, e.g. localhost:5000/fabric-cc) that
	// Kaniko pushes chaincode images to and the peer looks images up in.
	Registry string
	// PullRegistry (vm.k8s.pullRegistry, default Registry) is the same
	// registry as seen by the kubelet when it pulls chaincode images.
	PullRegistry string
	// RegistryInsecure (vm.k8s.registryInsecure, false): plain HTTP and no
	// TLS verification, both for the peer's lookup and for Kaniko.
	RegistryInsecure bool
	// RegistryCA (vm.k8s.registryCA, ""): path of a PEM file, readable by
	// the peer, with the CA certificates that sign the registries' TLS
	// certificates, trusted by the peer's lookups next to the system's CAs.
	// It is read when the peer starts.
	RegistryCA string
	// RegistryCAConfigMap (vm.k8s.registryCAConfigMap, ""): name of a
	// ConfigMap in BuildNamespace whose key ca.crt holds the same CA for
	// Kaniko: it is mounted into the build pod and passed to Kaniko as
	// --registry-certificate for Registry's host.
	RegistryCAConfigMap string
	// PushSecret (vm.k8s.pushSecret, ""): name of a kubernetes.io/dockerconfigjson
	// Secret in BuildNamespace, mounted into Kaniko as
	// /kaniko/.docker/config.json; the peer's registry lookups authenticate
	// with it too.
	PushSecret string
	// ImagePullSecrets (vm.k8s.imagePullSecrets, []): Secret names used to pull
	// builder, Kaniko and chaincode images.
	ImagePullSecrets []string
	// ServiceAccount (vm.k8s.serviceAccount, ""): service account of chaincode pods.
	ServiceAccount string
	// BuildServiceAccount (vm.k8s.buildServiceAccount, ""): service account
	// of build pods, for its image pull secrets and the registry identity
	// a cloud may bind to it; its Kubernetes API token is mounted into no
	// container of the build pod.
	BuildServiceAccount string
	// KanikoImage (vm.k8s.kanikoImage, required): the Kaniko executor image.
	KanikoImage string
	// KanikoExtraArgs (vm.k8s.kanikoExtraArgs, []): appended to Kaniko's
	// arguments; the flags the VM sets itself are refused (kanikoOwnFlag).
	KanikoExtraArgs []string
	// BuildTimeout (vm.k8s.buildTimeout, 10m): upper bound of one image build.
	BuildTimeout time.Duration
	// StopTimeout (vm.k8s.stopTimeout, 30s): upper bound for the requests of
	// one launch, stop or sweep, and for the VM's shutdown.
	StopTimeout time.Duration
	// GracePeriod (vm.k8s.gracePeriod, 2s, at least 1s): termination grace
	// period given to a chaincode pod when it is stopped, in whole seconds
	// (a fraction is dropped).
	GracePeriod time.Duration
	// MaxCodePackageSize (vm.k8s.maxCodePackageSize, 104857600 = 100 MiB):
	// limit on the uncompressed size of a chaincode code package.
	MaxCodePackageSize int64
	// MaxConcurrentBuilds (vm.k8s.maxConcurrentBuilds, 2): how many image
	// builds of this peer run at once; further builds wait for a free slot
	// within their build timeout. Images found in the registry take no slot.
	MaxConcurrentBuilds int
	// HostNetwork (vm.k8s.hostNetwork, false): run chaincode pods in the
	// node's network namespace.
	HostNetwork bool
	// BuildHostNetwork (vm.k8s.build.hostNetwork, false): run build pods in
	// the node's network namespace (e.g. to reach a registry on localhost).
	BuildHostNetwork bool
	// RunAsUser (vm.k8s.runAsUser, 10001): UID of the chaincode container.
	RunAsUser int64
	// ReadOnlyRootFilesystem (vm.k8s.readOnlyRootFilesystem, true) of the
	// chaincode container.
	ReadOnlyRootFilesystem bool
	// Resources (vm.k8s.resources, none): requests/limits of chaincode containers.
	Resources corev1.ResourceRequirements
	// BuildResources (vm.k8s.build.resources, none): requests/limits of the
	// build and Kaniko containers.
	BuildResources corev1.ResourceRequirements
	// BuildCache (vm.k8s.build.cache, none = off): a volume kept from one
	// image build to the next for the builders' caches, a directory per
	// chaincode (see BuildCache).
	BuildCache *BuildCache
	// NodeSelector (vm.k8s.nodeSelector, none) of chaincode and build pods.
	NodeSelector map[string]string
	// Tolerations (vm.k8s.tolerations, none) of chaincode and build pods.
	Tolerations []corev1.Toleration
	// PodAnnotations (vm.k8s.podAnnotations, none) added to chaincode pods.
	PodAnnotations map[string]string
	// PodLabels (vm.k8s.podLabels, none) added to chaincode pods; the labels
	// the VM sets (reservedLabel) are refused.
	PodLabels map[string]string
	// Affinity (vm.k8s.affinity, none) of chaincode pods.
	Affinity *corev1.Affinity
	// PriorityClassName (vm.k8s.priorityClassName, "") of chaincode pods.
	PriorityClassName string
	// ChaincodeConfigMap (vm.k8s.chaincodeConfigMap, "" = off): name of a
	// ConfigMap in Namespace whose entries, keyed by chaincode package
	// label, hold per-chaincode settings merged over the settings above at
	// every launch (see ChaincodeSettings).
	ChaincodeConfigMap string
	// PeerPodName (vm.k8s.peerPodName, "", usually set from the downward API):
	// when set, every object the VM creates is owned by this pod.
	PeerPodName string
	// Relaunch (vm.k8s.relaunch.*) says when chaincode whose pod ended
	// without the peer asking is launched again.
	Relaunch RelaunchPolicy
	// SweepInterval (vm.k8s.sweepInterval, 5m; 0 = only at start-up): how
	// often objects left by earlier runs and orphaned Secrets are deleted.
	SweepInterval time.Duration
	// ImagePullTimeout (vm.k8s.imagePullTimeout, 2m): how long a chaincode
	// or build container may fail to pull its image (ErrImagePull,
	// ImagePullBackOff) or to be created (CreateContainerError, often a
	// passing runtime error) before the launch or build fails; for a
	// chaincode pod it is counted from the pod's creation.
	ImagePullTimeout time.Duration
	// ClientQPS (vm.k8s.clientQPS, 50) and ClientBurst (vm.k8s.clientBurst,
	// 100) are the Kubernetes API client's rate limits; relaunching many
	// chaincodes at once needs more than client-go's 5 and 10.
	ClientQPS   float32
	ClientBurst int
	// HealthCheckInterval (vm.k8s.healthCheckInterval, 30s): how long the
	// outcome of /healthz's permission check is reused; the API server's
	// reachability is checked on every call.
	HealthCheckInterval time.Duration
}

// Defaults of the vm.k8s.* keys.
const (
	DefaultBuildTimeout        = 10 * time.Minute
	DefaultStopTimeout         = 30 * time.Second
	DefaultGracePeriod         = 2 * time.Second
	DefaultMaxCodePackageSize  = 100 << 20
	DefaultRunAsUser           = 10001
	DefaultSweepInterval       = 5 * time.Minute
	DefaultImagePullTimeout    = 2 * time.Minute
	DefaultClientQPS           = 50
	DefaultClientBurst         = 100
	DefaultHealthCheckInterval = 30 * time.Second
)

// DefaultMaxConcurrentBuilds is vm.k8s.maxConcurrentBuilds when it is not set.
const DefaultMaxConcurrentBuilds = 2

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

// ConfigFromViper reads the vm.k8s.* keys from v (the peer passes
// viper.GetViper()). It does not validate; call Validate.
func ConfigFromViper(v *viper.Viper) (*Config, error) {
	return loadConfig(v, inClusterNamespaceFile)
}

func loadConfig(v *viper.Viper, namespaceFile string) (*Config, error) {
	key := func(k string) string { return ConfigPrefix + k }
	c := &Config{
		Kubeconfig:             v.GetString(key("kubeconfig")),
		Namespace:              v.GetString(key("namespace")),
		BuildNamespace:         v.GetString(key("buildNamespace")),
		Registry:               strings.TrimSuffix(v.GetString(key("registry")), "/"),
		PullRegistry:           strings.TrimSuffix(v.GetString(key("pullRegistry")), "/"),
		RegistryInsecure:       v.GetBool(key("registryInsecure")),
		RegistryCA:             v.GetString(key("registryCA")),
		RegistryCAConfigMap:    v.GetString(key("registryCAConfigMap")),
		PushSecret:             v.GetString(key("pushSecret")),
		ServiceAccount:         v.GetString(key("serviceAccount")),
		BuildServiceAccount:    v.GetString(key("buildServiceAccount")),
		KanikoImage:            v.GetString(key("kanikoImage")),
		PriorityClassName:      v.GetString(key("priorityClassName")),
		ChaincodeConfigMap:     v.GetString(key("chaincodeConfigMap")),
		BuildTimeout:           DefaultBuildTimeout,
		StopTimeout:            DefaultStopTimeout,
		GracePeriod:            DefaultGracePeriod,
		MaxCodePackageSize:     DefaultMaxCodePackageSize,
		MaxConcurrentBuilds:    DefaultMaxConcurrentBuilds,
		HostNetwork:            v.GetBool(key("hostNetwork")),
		BuildHostNetwork:       v.GetBool(key("build.hostNetwork")),
		RunAsUser:              DefaultRunAsUser,
		ReadOnlyRootFilesystem: true,
		PeerPodName:            v.GetString(key("peerPodName")),
		Relaunch:               DefaultRelaunchPolicy,
		SweepInterval:          DefaultSweepInterval,
		ImagePullTimeout:       DefaultImagePullTimeout,
		ClientQPS:              DefaultClientQPS,
		ClientBurst:            DefaultClientBurst,
		HealthCheckInterval:    DefaultHealthCheckInterval,
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
	if v.IsSet(key("buildTimeout")) {
		c.BuildTimeout = v.GetDuration(key("buildTimeout"))
	}
	if v.IsSet(key("stopTimeout")) {
		c.StopTimeout = v.GetDuration(key("stopTimeout"))
	}
	if v.IsSet(key("gracePeriod")) {
		c.GracePeriod = v.GetDuration(key("gracePeriod"))
	}
	if v.IsSet(key("maxCodePackageSize")) {
		c.MaxCodePackageSize = v.GetInt64(key("maxCodePackageSize"))
	}
	if v.IsSet(key("maxConcurrentBuilds")) {
		c.MaxConcurrentBuilds = v.GetInt(key("maxConcurrentBuilds"))
	}
	if v.IsSet(key("runAsUser")) {
		c.RunAsUser = v.GetInt64(key("runAsUser"))
	}
	if v.IsSet(key("sweepInterval")) {
		c.SweepInterval = v.GetDuration(key("sweepInterval"))
	}
	if v.IsSet(key("imagePullTimeout")) {
		c.ImagePullTimeout = v.GetDuration(key("imagePullTimeout"))
	}
	if v.IsSet(key("clientQPS")) {
		c.ClientQPS = float32(v.GetFloat64(key("clientQPS")))
	}
	if v.IsSet(key("clientBurst")) {
		c.ClientBurst = v.GetInt(key("clientBurst"))
	}
	if v.IsSet(key("healthCheckInterval")) {
		c.HealthCheckInterval = v.GetDuration(key("healthCheckInterval"))
	}
	if v.IsSet(key("relaunch.enabled")) {
		c.Relaunch.Enabled = v.GetBool(key("relaunch.enabled"))
	}
	if v.IsSet(key("relaunch.initialBackoff")) {
		c.Relaunch.InitialBackoff = v.GetDuration(key("relaunch.initialBackoff"))
	}
	if v.IsSet(key("relaunch.maxBackoff")) {
		c.Relaunch.MaxBackoff = v.GetDuration(key("relaunch.maxBackoff"))
	}
	if v.IsSet(key("relaunch.crashLoopThreshold")) {
		c.Relaunch.CrashLoopThreshold = v.GetInt(key("relaunch.crashLoopThreshold"))
	}
	if v.IsSet(key("relaunch.stableAfter")) {
		c.Relaunch.StableAfter = v.GetDuration(key("relaunch.stableAfter"))
	}
	if v.IsSet(key("readOnlyRootFilesystem")) {
		c.ReadOnlyRootFilesystem = v.GetBool(key("readOnlyRootFilesystem"))
	}

	structured := []struct {
		key    string
		target interface{}
	}{
		{"imagePullSecrets", &c.ImagePullSecrets},
		{"kanikoExtraArgs", &c.KanikoExtraArgs},
		{"resources", &c.Resources},
		{"build.resources", &c.BuildResources},
		{"build.cache", &c.BuildCache},
		{"nodeSelector", &c.NodeSelector},
		{"tolerations", &c.Tolerations},
		{"podAnnotations", &c.PodAnnotations},
		{"podLabels", &c.PodLabels},
		{"affinity", &c.Affinity},
	}
	for _, s := range structured {
		if err := decodeStructured(v.Get(key(s.key)), s.target); err != nil {
			return nil, errors.WithMessagef(err, "%s%s", ConfigPrefix, s.key)
		}
	}
	return c, nil
}

// decodeStructured decodes a value that is either YAML-decoded data from
// core.yaml or a JSON document from an environment variable. Like a
// chaincode's settings, it is strict: a field target does not have, or
// anything after the value, is an error. (Field names match case-
// insensitively, which the keys viper lower-cases need.)
func decodeStructured(value interface{}, target interface{}) error {
	var data []byte
	switch v := value.(type) {
	case nil:
		return nil
	case string:
		if strings.TrimSpace(v) == "" {
			return nil
		}
		data = []byte(v)
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			return errors.Wrap(err, "cannot re-encode value")
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(target); err != nil {
		return errors.Wrapf(err, "invalid value %q", string(data))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.Errorf("invalid value %q: more than one JSON value", string(data))
	}
	return nil
}

// Validate checks the configuration and names the offending key.
func (c *Config) Validate() error {
	keyErr := func(k, format string, args ...interface{}) error {
		return errors.Errorf(ConfigPrefix+k+": "+format, args...)
	}
	if c.Namespace == "" {
		return keyErr("namespace", "must be set (or run in-cluster)")
	}
	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		return keyErr("namespace", "%q is not a valid namespace name: %s", c.Namespace, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Label(c.BuildNamespace); c.BuildNamespace != "" && len(msgs) > 0 {
		return keyErr("buildNamespace", "%q is not a valid namespace name: %s", c.BuildNamespace, strings.Join(msgs, "; "))
	}
	if c.Registry == "" {
		return keyErr("registry", "must be set")
	}
	if err := validateRegistry(c.Registry); err != nil {
		return keyErr("registry", "%q is not a valid registry repository prefix: %s", c.Registry, err)
	}
	if err := validateRegistry(c.PullRegistry); err != nil {
		return keyErr("pullRegistry", "%q is not a valid registry repository prefix: %s", c.PullRegistry, err)
	}
	if c.KanikoImage == "" {
		return keyErr("kanikoImage", "must be set")
	}
	if c.BuildTimeout <= 0 {
		return keyErr("buildTimeout", "must be > 0")
	}
	if c.StopTimeout <= 0 {
		return keyErr("stopTimeout", "must be > 0")
	}
	if c.GracePeriod < time.Second {
		return keyErr("gracePeriod", "%s is under 1s: a stopped chaincode pod is given whole seconds to end, and 0 kills it at once", c.GracePeriod)
	}
	if c.MaxCodePackageSize <= 0 {
		return keyErr("maxCodePackageSize", "must be > 0")
	}
	if c.MaxConcurrentBuilds <= 0 {
		return keyErr("maxConcurrentBuilds", "must be > 0 (the number of image builds that may run at once)")
	}
	if c.RunAsUser <= 0 {
		return keyErr("runAsUser", "must be > 0 (chaincode pods run as non-root)")
	}
	if c.SweepInterval < 0 {
		return keyErr("sweepInterval", "must be >= 0")
	}
	if c.ImagePullTimeout <= 0 {
		return keyErr("imagePullTimeout", "must be > 0")
	}
	if c.ClientQPS <= 0 {
		return keyErr("clientQPS", "must be > 0")
	}
	if c.ClientBurst <= 0 {
		return keyErr("clientBurst", "must be > 0")
	}
	if c.HealthCheckInterval <= 0 {
		return keyErr("healthCheckInterval", "must be > 0")
	}
	if c.Relaunch.InitialBackoff <= 0 {
		return keyErr("relaunch.initialBackoff", "must be > 0")
	}
	if c.Relaunch.MaxBackoff < c.Relaunch.InitialBackoff {
		return keyErr("relaunch.maxBackoff", "must be >= vm.k8s.relaunch.initialBackoff")
	}
	if c.Relaunch.CrashLoopThreshold < 1 {
		return keyErr("relaunch.crashLoopThreshold", "must be >= 1")
	}
	if c.Relaunch.StableAfter <= 0 {
		return keyErr("relaunch.stableAfter", "must be > 0")
	}
	if err := c.BuildCache.validate(); err != nil {
		return errors.WithMessage(err, ConfigPrefix+"build.cache")
	}
	for _, arg := range c.KanikoExtraArgs {
		if flag, own := kanikoOwnFlag(arg); own {
			return keyErr("kanikoExtraArgs", "%q sets %s, which the peer sets itself for every build", arg, flag)
		}
	}
	names := []struct{ key, value string }{
		{"pushSecret", c.PushSecret},
		{"registryCAConfigMap", c.RegistryCAConfigMap},
		{"serviceAccount", c.ServiceAccount},
		{"buildServiceAccount", c.BuildServiceAccount},
		{"peerPodName", c.PeerPodName},
		{"priorityClassName", c.PriorityClassName},
		{"chaincodeConfigMap", c.ChaincodeConfigMap},
	}
	for _, n := range names {
		if n.value == "" {
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(n.value); len(msgs) > 0 {
			return keyErr(n.key, "%q is not a valid object name: %s", n.value, strings.Join(msgs, "; "))
		}
	}
	for _, s := range c.ImagePullSecrets {
		if msgs := validation.IsDNS1123Subdomain(s); len(msgs) > 0 {
			return keyErr("imagePullSecrets", "%q is not a valid secret name: %s", s, strings.Join(msgs, "; "))
		}
	}
	if err := validateLabels(c.NodeSelector); err != nil {
		return keyErr("nodeSelector", "%s", err)
	}
	// The checks a chaincode's own settings get (podvalidation.go).
	for _, problems := range [][]string{
		podLabelProblems(ConfigPrefix+"podLabels", c.PodLabels),
		podAnnotationProblems(ConfigPrefix+"podAnnotations", c.PodAnnotations),
		tolerationProblems(ConfigPrefix+"tolerations", c.Tolerations),
		resourceProblems(ConfigPrefix+"resources", &c.Resources),
		resourceProblems(ConfigPrefix+"build.resources", &c.BuildResources),
	} {
		if len(problems) > 0 {
			return errors.New(strings.Join(problems, "; "))
		}
	}
	return nil
}
