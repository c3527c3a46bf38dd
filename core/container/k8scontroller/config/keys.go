/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import (
	"strings"
	"time"

	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// keys are the vm.k8s.* keys, in the order Validate checks them and the
// reference lists them. A key added here is read, checked and documented;
// run go generate to update docs/configuration.md.
func keys() []setting {
	return []setting{
		key[string]{
			Name:   "kubeconfig",
			Field:  func(c *Config) *string { return &c.Kubeconfig },
			Decode: decodeString,
			Doc:    "kubeconfig file; empty = in-cluster config from the peer's ServiceAccount",
		},
		key[string]{
			Name:   "namespace",
			Field:  func(c *Config) *string { return &c.Namespace },
			Decode: decodeString,
			Check: func(_ *Config, k, ns string) error {
				if ns == "" {
					return errors.Errorf("%s: must be set (or run in-cluster)", k)
				}
				return namespaceName(k, ns)
			},
			DefaultDoc: "in-cluster: the peer's namespace",
			Doc:        "where build Jobs, chaincode Pods and Secrets live (required outside a cluster)",
		},
		key[string]{
			Name:   "buildNamespace",
			Field:  func(c *Config) *string { return &c.BuildNamespace },
			Decode: decodeString,
			Check: func(_ *Config, k, ns string) error {
				if ns == "" {
					return nil
				}
				return namespaceName(k, ns)
			},
			DefaultDoc: "`namespace`",
			Doc: "where build Jobs run; Kaniko runs as root, so under Pod Security Admission a separate build namespace " +
				"at `baseline` lets the chaincode namespace enforce `restricted`. A build pod the cluster refuses fails " +
				"the install at once with the reason. Jobs in another namespace than the peer's Pod are not owned by it; " +
				"their TTL and the sweep delete them",
		},
		key[string]{
			Name:   "registry",
			Field:  func(c *Config) *string { return &c.Registry },
			Decode: decodeRepositoryPrefix,
			Check: func(c *Config, k, registry string) error {
				if err := required(c, k, registry); err != nil {
					return err
				}
				return repositoryPrefix(c, k, registry)
			},
			DefaultDoc: "required",
			Doc: "repository prefix Kaniko pushes to and the peer looks images up in, e.g. " +
				"`registry.example.com/fabric-cc` (a trailing `/` is dropped)",
		},
		key[string]{
			Name:       "pullRegistry",
			Field:      func(c *Config) *string { return &c.PullRegistry },
			Decode:     decodeRepositoryPrefix,
			Check:      repositoryPrefix,
			DefaultDoc: "`registry`",
			Doc:        "the same registry as the kubelet sees it when it pulls chaincode images",
		},
		key[bool]{
			Name:   "registryInsecure",
			Field:  func(c *Config) *bool { return &c.RegistryInsecure },
			Decode: decodeBool,
			Doc: "plain HTTP / no TLS verification for the peer's lookups in `vm.k8s.registry` and for Kaniko " +
				"(the registries that packages of type `k8s` name keep TLS verification)",
		},
		key[string]{
			Name:   "registryCA",
			Field:  func(c *Config) *string { return &c.RegistryCA },
			Decode: decodeString,
			Doc: "PEM file, readable by the peer, with the CA that signs the registry's TLS certificate; trusted next " +
				"to the system's CAs by the peer's lookups; read at start-up",
		},
		key[string]{
			Name:       "kanikoImage",
			Field:      func(c *Config) *string { return &c.KanikoImage },
			Decode:     decodeString,
			Check:      required,
			DefaultDoc: "required",
			Doc:        "Kaniko executor image",
		},
		key[time.Duration]{
			Name:    "buildTimeout",
			Field:   func(c *Config) *time.Duration { return &c.BuildTimeout },
			Default: DefaultBuildTimeout,
			Decode:  decodeDuration,
			Check:   positive[time.Duration],
			Doc:     "upper bound of one image build (also the Job's `activeDeadlineSeconds`)",
		},
		key[time.Duration]{
			Name:    "stopTimeout",
			Field:   func(c *Config) *time.Duration { return &c.StopTimeout },
			Default: DefaultStopTimeout,
			Decode:  decodeDuration,
			Check:   positive[time.Duration],
			Doc:     "upper bound for the requests of one launch, stop or sweep, and for the VM's shutdown",
		},
		key[time.Duration]{
			Name:    "gracePeriod",
			Field:   func(c *Config) *time.Duration { return &c.GracePeriod },
			Default: DefaultGracePeriod,
			Decode:  decodeDuration,
			Check: func(_ *Config, k string, d time.Duration) error {
				if d < time.Second {
					return errors.Errorf("%s: %s is under 1s: a stopped chaincode pod is given whole seconds to end, and 0 kills it at once", k, d)
				}
				return nil
			},
			Doc: "termination grace period of a stopped chaincode pod, in whole seconds (a fraction is dropped); at least `1s`",
		},
		key[int64]{
			Name:    "maxCodePackageSize",
			Field:   func(c *Config) *int64 { return &c.MaxCodePackageSize },
			Default: DefaultMaxCodePackageSize,
			Decode:  decodeInt64,
			Check:   positive[int64],
			Doc: "limit on a code package's uncompressed size in bytes (tar headers included); the peer holds only " +
				"the compressed package during a build and streams the build context into the build pod",
		},
		key[int]{
			Name:    "maxConcurrentBuilds",
			Field:   func(c *Config) *int { return &c.MaxConcurrentBuilds },
			Default: DefaultMaxConcurrentBuilds,
			Decode:  decodeInt,
			Check: func(_ *Config, k string, n int) error {
				if n <= 0 {
					return errors.Errorf("%s: must be > 0 (the number of image builds that may run at once)", k)
				}
				return nil
			},
			Doc: "image builds (Kaniko Jobs) this peer runs at once; further installs wait for a slot within their " +
				"build timeout, registry cache hits take none",
		},
		key[int64]{
			Name:    "runAsUser",
			Field:   func(c *Config) *int64 { return &c.RunAsUser },
			Default: DefaultRunAsUser,
			Decode:  decodeInt64,
			Check: func(_ *Config, k string, uid int64) error {
				if uid <= 0 {
					return errors.Errorf("%s: must be > 0 (chaincode pods run as non-root)", k)
				}
				return nil
			},
			Doc: "UID of the chaincode container",
		},
		key[bool]{
			Name:    "readOnlyRootFilesystem",
			Field:   func(c *Config) *bool { return &c.ReadOnlyRootFilesystem },
			Default: true,
			Decode:  decodeBool,
			Doc:     "read-only root filesystem for the chaincode container",
		},
		key[time.Duration]{
			Name:    "sweepInterval",
			Field:   func(c *Config) *time.Duration { return &c.SweepInterval },
			Default: DefaultSweepInterval,
			Decode:  decodeDuration,
			Check:   notNegative,
			Doc: "how often objects of earlier runs of this peer and Secrets whose Pod is gone are deleted " +
				"(also once at start-up); `0` = start-up only",
		},
		key[time.Duration]{
			Name:    "imagePullTimeout",
			Field:   func(c *Config) *time.Duration { return &c.ImagePullTimeout },
			Default: DefaultImagePullTimeout,
			Decode:  decodeDuration,
			Check:   positive[time.Duration],
			Doc: "how long a chaincode or build pod may fail to pull its image (`ErrImagePull`, `ImagePullBackOff`) " +
				"or to have its container created (`CreateContainerError`, often passing) before the launch or build " +
				"fails, counted for a chaincode pod from its creation; a chaincode pod that cannot start is then " +
				"deleted with its Secret",
		},
		key[bool]{
			Name:    "prePull.enabled",
			Field:   func(c *Config) *bool { return &c.PrePull.Enabled },
			Default: DefaultPrePull.Enabled,
			Decode:  decodeBool,
			Doc: "after the peer built a chaincode's image, and at every build of a prebuilt package (install and " +
				"peer start), make the image present on every node the chaincode's pods may run on, so that its first " +
				"launch does not wait for a pull: a short-lived DaemonSet placed like the chaincode's pods (its " +
				"nodeSelector, required node affinity, tolerations, pull secrets), deleted once every node holds the " +
				"image or after `vm.k8s.prePull.timeout`. The install does not wait for it",
		},
		key[time.Duration]{
			Name:    "prePull.timeout",
			Field:   func(c *Config) *time.Duration { return &c.PrePull.Timeout },
			Default: DefaultPrePull.Timeout,
			Decode:  decodeDuration,
			Check:   positive[time.Duration],
			Doc: "how long a pre-pull may take before its DaemonSet is deleted with the nodes that do not hold " +
				"the image yet logged (their first launch pulls, as without pre-pull)",
		},
		key[int]{
			Name:    "prePull.maxConcurrent",
			Field:   func(c *Config) *int { return &c.PrePull.MaxConcurrent },
			Default: DefaultPrePull.MaxConcurrent,
			Decode:  decodeInt,
			Check: func(_ *Config, k string, n int) error {
				if n <= 0 {
					return errors.Errorf("%s: must be > 0 (the number of pre-pull DaemonSets that may exist at once)", k)
				}
				return nil
			},
			Doc: "pre-pulls (DaemonSets) this peer runs at once; further ones wait within their timeout",
		},
		key[float32]{
			Name:    "clientQPS",
			Field:   func(c *Config) *float32 { return &c.ClientQPS },
			Default: DefaultClientQPS,
			Decode:  decodeFloat32,
			Check:   positive[float32],
			Doc: "queries per second of the peer's Kubernetes client (client-go's default, 5, throttles many " +
				"relaunches at once)",
		},
		key[int]{
			Name:    "clientBurst",
			Field:   func(c *Config) *int { return &c.ClientBurst },
			Default: DefaultClientBurst,
			Decode:  decodeInt,
			Check:   positive[int],
			Doc:     "burst of the peer's Kubernetes client above `vm.k8s.clientQPS` (client-go's default: 10)",
		},
		key[time.Duration]{
			Name:    "healthCheckInterval",
			Field:   func(c *Config) *time.Duration { return &c.HealthCheckInterval },
			Default: DefaultHealthCheckInterval,
			Decode:  decodeDuration,
			Check:   positive[time.Duration],
			Doc: "how long `/healthz` reuses the outcome of its namespace and permission check; the API server's " +
				"reachability is checked on every probe",
		},
		key[bool]{
			Name:    "relaunch.enabled",
			Field:   func(c *Config) *bool { return &c.Relaunch.Enabled },
			Default: DefaultRelaunchPolicy.Enabled,
			Decode:  decodeBool,
			Doc:     "relaunch chaincode whose pod ended without the peer asking (crash, OOM kill, eviction, deleted pod)",
		},
		key[time.Duration]{
			Name:    "relaunch.initialBackoff",
			Field:   func(c *Config) *time.Duration { return &c.Relaunch.InitialBackoff },
			Default: DefaultRelaunchPolicy.InitialBackoff,
			Decode:  decodeDuration,
			Check:   positive[time.Duration],
			Doc:     "delay before the second consecutive relaunch (the first is immediate); it doubles per failure",
		},
		key[time.Duration]{
			Name:    "relaunch.maxBackoff",
			Field:   func(c *Config) *time.Duration { return &c.Relaunch.MaxBackoff },
			Default: DefaultRelaunchPolicy.MaxBackoff,
			Decode:  decodeDuration,
			Check: func(c *Config, k string, d time.Duration) error {
				if d < c.Relaunch.InitialBackoff {
					return errors.Errorf("%s: must be >= %srelaunch.initialBackoff", k, Prefix)
				}
				return nil
			},
			Doc: "cap of the relaunch delay",
		},
		key[int]{
			Name:    "relaunch.crashLoopThreshold",
			Field:   func(c *Config) *int { return &c.Relaunch.CrashLoopThreshold },
			Default: DefaultRelaunchPolicy.CrashLoopThreshold,
			Decode:  decodeInt,
			Check: func(_ *Config, k string, n int) error {
				if n < 1 {
					return errors.Errorf("%s: must be >= 1", k)
				}
				return nil
			},
			Doc: "consecutive fast failures (exits of the chaincode; deleted or evicted pods do not count) after " +
				"which the chaincode is reported crash looping and left to launch-on-demand",
		},
		key[time.Duration]{
			Name:    "relaunch.stableAfter",
			Field:   func(c *Config) *time.Duration { return &c.Relaunch.StableAfter },
			Default: DefaultRelaunchPolicy.StableAfter,
			Decode:  decodeDuration,
			Check:   positive[time.Duration],
			Doc:     "a chaincode that ran this long before ending starts a fresh failure count",
		},
		key[bool]{
			Name:   "build.hostNetwork",
			Field:  func(c *Config) *bool { return &c.BuildHostNetwork },
			Decode: decodeBool,
			Doc:    "build pods on the node's network (e.g. a registry on the node's loopback)",
		},
		key[*BuildCache]{
			Name:   "build.cache",
			Field:  func(c *Config) **BuildCache { return &c.BuildCache },
			Decode: decodeStructured[*BuildCache],
			Check: func(_ *Config, k string, b *BuildCache) error {
				return errors.WithMessage(b.validate(), k)
			},
			DefaultDoc: "none (off)",
			Doc: "a volume kept between image builds for the builders' caches, a directory of it per chaincode: " +
				"`{persistentVolumeClaim: <claim in buildNamespace>}` (the production choice) or " +
				"`{hostPath: <directory of its own on the node>}`, system directories refused; see " +
				"[Build cache](chaincode-types.md#build-cache)",
		},
		key[[]string]{
			Name:   "kanikoExtraArgs",
			Field:  func(c *Config) *[]string { return &c.KanikoExtraArgs },
			Decode: decodeStructured[[]string],
			Check: func(_ *Config, k string, args []string) error {
				for _, arg := range args {
					if flag, own := kanikoOwnFlag(arg); own {
						return errors.Errorf("%s: %q sets %s, which the peer sets itself for every build", k, arg, flag)
					}
				}
				return nil
			},
			DefaultDoc: "`[]`",
			Doc: "extra Kaniko arguments (e.g. `--cache=true`); the flags the peer sets itself are refused in any form " +
				"(`--flag`, `--flag=value`, shorthand `-d`, `-dvalue`): `--context`/`-c`, `--context-sub-path`, " +
				"`--bucket`/`-b`, `--dockerfile`/`-f`, `--destination`/`-d` (Kaniko would push to it too), " +
				"`--digest-file`, `--no-push`, and `--insecure`, `--insecure-pull`, `--skip-tls-verify`, " +
				"`--skip-tls-verify-pull` (set from `vm.k8s.registryInsecure`)",
		},
		key[string]{
			Name:   "pushSecret",
			Field:  func(c *Config) *string { return &c.PushSecret },
			Decode: decodeString,
			Check:  objectName,
			Doc: "`kubernetes.io/dockerconfigjson` Secret in `buildNamespace`, mounted into Kaniko for pushing; the " +
				"peer's image lookups authenticate with it too, read at every lookup (see " +
				"[Private registries](chaincode-types.md#private-registries))",
		},
		key[string]{
			Name:   "registryCAConfigMap",
			Field:  func(c *Config) *string { return &c.RegistryCAConfigMap },
			Decode: decodeString,
			Check:  objectName,
			Doc: "ConfigMap in `buildNamespace` whose key `ca.crt` holds the same CA as `vm.k8s.registryCA` for " +
				"Kaniko: mounted into the build pod and passed as `--registry-certificate=<registry host>=...`",
		},
		key[string]{
			Name:   "serviceAccount",
			Field:  func(c *Config) *string { return &c.ServiceAccount },
			Decode: decodeString,
			Check:  objectName,
			Doc:    "service account of chaincode pods (its token is never mounted)",
		},
		key[string]{
			Name:   "buildServiceAccount",
			Field:  func(c *Config) *string { return &c.BuildServiceAccount },
			Decode: decodeString,
			Check:  objectName,
			Doc: "service account of build pods, for its image pull secrets and a registry identity your cloud binds " +
				"to it; its Kubernetes API token is mounted into no container of the build pod " +
				"(`automountServiceAccountToken: false`): none talks to the API server, and the build container runs " +
				"the chaincode's own build steps. An identity webhook that injects a token of its own (EKS IAM roles " +
				"for service accounts, Azure Workload Identity) reaches that container too: give the account no more " +
				"than pushing to `vm.k8s.registry`",
		},
		key[string]{
			Name:   "peerPodName",
			Field:  func(c *Config) *string { return &c.PeerPodName },
			Decode: decodeString,
			Check:  objectName,
			Doc: "the peer's own Pod (downward API `metadata.name`): every object the VM creates is owned by it and " +
				"garbage-collected with it",
		},
		key[string]{
			Name:   "priorityClassName",
			Field:  func(c *Config) *string { return &c.PriorityClassName },
			Decode: decodeString,
			Check:  objectName,
			Doc:    "priority class of chaincode pods",
		},
		key[string]{
			Name:       "chaincodeConfigMap",
			Field:      func(c *Config) *string { return &c.ChaincodeConfigMap },
			Decode:     decodeString,
			Check:      objectName,
			DefaultDoc: "`\"\"` (off)",
			Doc: "ConfigMap in `vm.k8s.namespace` holding [per-chaincode settings](#per-chaincode-settings), merged " +
				"over the keys here at every launch",
		},
		key[[]string]{
			Name:   "imagePullSecrets",
			Field:  func(c *Config) *[]string { return &c.ImagePullSecrets },
			Decode: decodeStructured[[]string],
			Check: func(_ *Config, k string, secrets []string) error {
				for _, s := range secrets {
					if msgs := validation.IsDNS1123Subdomain(s); len(msgs) > 0 {
						return errors.Errorf("%s: %q is not a valid secret name: %s", k, s, strings.Join(msgs, "; "))
					}
				}
				return nil
			},
			DefaultDoc: "`[]`",
			Doc:        "pull secrets for builder, Kaniko and chaincode images",
		},
		key[bool]{
			Name:   "hostNetwork",
			Field:  func(c *Config) *bool { return &c.HostNetwork },
			Decode: decodeBool,
			Doc:    "chaincode pods on the node's network (for peers that run on host networking)",
		},
		key[map[string]string]{
			Name:   "nodeSelector",
			Field:  func(c *Config) *map[string]string { return &c.NodeSelector },
			Decode: decodeStructured[map[string]string],
			Check: func(_ *Config, k string, selector map[string]string) error {
				if err := validateLabels(selector); err != nil {
					return errors.Errorf("%s: %s", k, err)
				}
				return nil
			},
			DefaultDoc: "none",
			Doc:        "node selector of chaincode and build pods",
		},
		key[map[string]string]{
			Name:   "podLabels",
			Field:  func(c *Config) *map[string]string { return &c.PodLabels },
			Decode: decodeStructured[map[string]string],
			Check: func(_ *Config, k string, l map[string]string) error {
				return noProblems(podLabelProblems(k, l))
			},
			DefaultDoc: "none",
			Doc: "added to chaincode pods; the keys the peer sets and selects its pods by (`app.kubernetes.io/name`, " +
				"`app.kubernetes.io/instance`, `app.kubernetes.io/managed-by`, `app.kubernetes.io/component`, " +
				"`fabric-peer-k8s/*`) are refused",
		},
		key[map[string]string]{
			Name:   "podAnnotations",
			Field:  func(c *Config) *map[string]string { return &c.PodAnnotations },
			Decode: decodeStructured[map[string]string],
			Check: func(_ *Config, k string, a map[string]string) error {
				return noProblems(podAnnotationProblems(k, a))
			},
			DefaultDoc: "none",
			Doc:        "added to chaincode pods; the `fabric-peer-k8s/*` keys the peer sets are refused",
		},
		key[[]corev1.Toleration]{
			Name:   "tolerations",
			Field:  func(c *Config) *[]corev1.Toleration { return &c.Tolerations },
			Decode: decodeStructured[[]corev1.Toleration],
			Check: func(_ *Config, k string, t []corev1.Toleration) error {
				return noProblems(tolerationProblems(k, t))
			},
			DefaultDoc: "none",
			Doc:        "tolerations of chaincode and build pods",
		},
		key[*corev1.Affinity]{
			Name:       "affinity",
			Field:      func(c *Config) **corev1.Affinity { return &c.Affinity },
			Decode:     decodeStructured[*corev1.Affinity],
			DefaultDoc: "none",
			Doc:        "affinity of chaincode pods",
		},
		key[corev1.ResourceRequirements]{
			Name:   "resources",
			Field:  func(c *Config) *corev1.ResourceRequirements { return &c.Resources },
			Decode: decodeStructured[corev1.ResourceRequirements],
			Check: func(_ *Config, k string, r corev1.ResourceRequirements) error {
				return noProblems(resourceProblems(k, &r))
			},
			DefaultDoc: "none",
			Doc:        "requests and limits of chaincode containers",
		},
		key[corev1.ResourceRequirements]{
			Name:   "build.resources",
			Field:  func(c *Config) *corev1.ResourceRequirements { return &c.BuildResources },
			Decode: decodeStructured[corev1.ResourceRequirements],
			Check: func(_ *Config, k string, r corev1.ResourceRequirements) error {
				return noProblems(resourceProblems(k, &r))
			},
			DefaultDoc: "none",
			Doc:        "requests and limits of the build and Kaniko containers",
		},
	}
}
