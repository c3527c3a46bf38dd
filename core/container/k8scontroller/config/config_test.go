/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/spf13/viper"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const coreYAML = `
vm:
  k8s:
    kubeconfig: /etc/kube/config
    namespace: fabric
    registry: localhost:5000/fabric-cc/
    registryInsecure: true
    pushSecret: regcred
    registryCA: /etc/registry/ca.crt
    registryCAConfigMap: registry-ca
    imagePullSecrets: [pull1, pull2]
    serviceAccount: chaincode
    buildServiceAccount: builder
    kanikoImage: gcr.io/kaniko-project/executor:v1.25.1
    kanikoExtraArgs: ["--cache=true", "--verbosity=debug"]
    buildTimeout: 5m
    stopTimeout: 20s
    gracePeriod: 1s
    maxCodePackageSize: 1024
    maxConcurrentBuilds: 4
    hostNetwork: true
    build:
      hostNetwork: true
      cache:
        persistentVolumeClaim: chaincode-build-cache
      resources:
        limits:
          memory: 2Gi
    runAsUser: 2000
    readOnlyRootFilesystem: false
    resources:
      requests:
        cpu: 100m
    nodeSelector:
      kubernetes.io/os: linux
    tolerations:
    - key: dedicated
      operator: Equal
      value: chaincode
      effect: NoSchedule
    podAnnotations:
      example.com/team: blue
    podLabels:
      team: blue
    peerPodName: peer0-0
    sweepInterval: 1m
    imagePullTimeout: 90s
    clientQPS: 20.5
    clientBurst: 40
    healthCheckInterval: 45s
    relaunch:
      enabled: false
      initialBackoff: 500ms
      maxBackoff: 10s
      crashLoopThreshold: 3
      stableAfter: 1m
    prePull:
      enabled: false
      timeout: 45s
      maxConcurrent: 3
`

// peerViper is configured like the peer's global viper.
func peerViper(t *testing.T, yamlText string) *viper.Viper {
	v := viper.New()
	v.SetEnvPrefix("CORE")
	v.AutomaticEnv()
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.SetConfigType("yaml")
	require.NoError(t, v.ReadConfig(strings.NewReader(yamlText)))
	return v
}

// validConfig is the configuration of the defaults and the keys that must be
// set; it passes Validate.
func validConfig(t *testing.T) *Config {
	t.Helper()
	c, err := load(peerViper(t, "vm:\n  k8s:\n    namespace: fabric\n    registry: registry.local:5000/fabric-cc\n    kanikoImage: kaniko\n"), "")
	require.NoError(t, err)
	return c
}

func TestConfigFromYAML(t *testing.T) {
	c, err := load(peerViper(t, coreYAML), "")
	require.NoError(t, err)
	require.NoError(t, c.Validate())

	require.Equal(t, &Config{
		Kubeconfig:          "/etc/kube/config",
		Namespace:           "fabric",
		BuildNamespace:      "fabric",
		Registry:            "localhost:5000/fabric-cc",
		PullRegistry:        "localhost:5000/fabric-cc",
		RegistryInsecure:    true,
		PushSecret:          "regcred",
		RegistryCA:          "/etc/registry/ca.crt",
		RegistryCAConfigMap: "registry-ca",
		ImagePullSecrets:    []string{"pull1", "pull2"},
		ServiceAccount:      "chaincode",
		BuildServiceAccount: "builder",
		KanikoImage:         "gcr.io/kaniko-project/executor:v1.25.1",
		KanikoExtraArgs:     []string{"--cache=true", "--verbosity=debug"},
		BuildTimeout:        5 * time.Minute,
		StopTimeout:         20 * time.Second,
		GracePeriod:         time.Second,
		MaxCodePackageSize:  1024,
		MaxConcurrentBuilds: 4,
		HostNetwork:         true,
		BuildHostNetwork:    true,
		RunAsUser:           2000,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
		},
		BuildResources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
		},
		BuildCache:   &BuildCache{PersistentVolumeClaim: "chaincode-build-cache"},
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
		Tolerations: []corev1.Toleration{{
			Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "chaincode", Effect: corev1.TaintEffectNoSchedule,
		}},
		PodAnnotations:      map[string]string{"example.com/team": "blue"},
		PodLabels:           map[string]string{"team": "blue"},
		PeerPodName:         "peer0-0",
		SweepInterval:       time.Minute,
		ImagePullTimeout:    90 * time.Second,
		ClientQPS:           20.5,
		ClientBurst:         40,
		HealthCheckInterval: 45 * time.Second,
		Relaunch: RelaunchPolicy{
			InitialBackoff:     500 * time.Millisecond,
			MaxBackoff:         10 * time.Second,
			CrashLoopThreshold: 3,
			StableAfter:        time.Minute,
		},
		PrePull: PrePull{Timeout: 45 * time.Second, MaxConcurrent: 3},
	}, c)
}

func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	nsFile := filepath.Join(dir, "namespace")
	require.NoError(t, os.WriteFile(nsFile, []byte("peer-ns\n"), 0o644))

	c, err := load(peerViper(t, "vm:\n  k8s:\n    registry: r:5000/cc\n    kanikoImage: kaniko\n"), nsFile)
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	require.Equal(t, "peer-ns", c.Namespace, "in-cluster namespace")
	require.Equal(t, "r:5000/cc", c.PullRegistry)
	require.Equal(t, 10*time.Minute, c.BuildTimeout)
	require.Equal(t, 30*time.Second, c.StopTimeout)
	require.Equal(t, 2*time.Second, c.GracePeriod)
	require.EqualValues(t, 100<<20, c.MaxCodePackageSize)
	require.Equal(t, 2, c.MaxConcurrentBuilds)
	require.EqualValues(t, 10001, c.RunAsUser)
	require.True(t, c.ReadOnlyRootFilesystem)
	require.False(t, c.RegistryInsecure)
	require.False(t, c.HostNetwork)
	require.Nil(t, c.Tolerations)
	require.Equal(t, 2*time.Minute, c.ImagePullTimeout)
	require.EqualValues(t, 50, c.ClientQPS)
	require.Equal(t, 100, c.ClientBurst)
	require.Equal(t, 30*time.Second, c.HealthCheckInterval)

	// with a kubeconfig we are not in-cluster
	c, err = load(peerViper(t, "vm:\n  k8s:\n    kubeconfig: /x\n"), nsFile)
	require.NoError(t, err)
	require.Empty(t, c.Namespace)
}

func TestConfigEnvOverrides(t *testing.T) {
	t.Setenv("CORE_VM_K8S_NAMESPACE", "from-env")
	t.Setenv("CORE_VM_K8S_PULLREGISTRY", "localhost:5000/pull")
	t.Setenv("CORE_VM_K8S_BUILDTIMEOUT", "90s")
	t.Setenv("CORE_VM_K8S_MAXCONCURRENTBUILDS", "1")
	t.Setenv("CORE_VM_K8S_REGISTRYINSECURE", "false")
	t.Setenv("CORE_VM_K8S_BUILD_HOSTNETWORK", "false")
	t.Setenv("CORE_VM_K8S_TOLERATIONS", `[{"key":"gpu","operator":"Exists","effect":"NoExecute","tolerationSeconds":30}]`)
	t.Setenv("CORE_VM_K8S_PODANNOTATIONS", `{"example.com/CaseSensitive":"Yes"}`)
	t.Setenv("CORE_VM_K8S_RESOURCES", `{"limits":{"cpu":"2"}}`)
	t.Setenv("CORE_VM_K8S_IMAGEPULLSECRETS", `["env-pull"]`)
	t.Setenv("CORE_VM_K8S_KANIKOEXTRAARGS", `["--snapshot-mode=redo"]`)
	t.Setenv("CORE_VM_K8S_NODESELECTOR", ``)
	t.Setenv("CORE_VM_K8S_HEALTHCHECKINTERVAL", "10s")
	t.Setenv("CORE_VM_K8S_BUILD_CACHE", `{"hostPath":"/var/cache/fabric-build"}`)

	c, err := load(peerViper(t, coreYAML), "")
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	require.Equal(t, "from-env", c.Namespace)
	require.Equal(t, "localhost:5000/pull", c.PullRegistry)
	require.Equal(t, 90*time.Second, c.BuildTimeout)
	require.Equal(t, 1, c.MaxConcurrentBuilds)
	require.False(t, c.RegistryInsecure)
	require.False(t, c.BuildHostNetwork)
	thirty := int64(30)
	require.Equal(t, []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &thirty}}, c.Tolerations)
	require.Equal(t, map[string]string{"example.com/CaseSensitive": "Yes"}, c.PodAnnotations)
	require.Equal(t, resource.MustParse("2"), c.Resources.Limits[corev1.ResourceCPU])
	require.Equal(t, []string{"env-pull"}, c.ImagePullSecrets)
	require.Equal(t, []string{"--snapshot-mode=redo"}, c.KanikoExtraArgs)
	require.Equal(t, 10*time.Second, c.HealthCheckInterval)
	require.Equal(t, &BuildCache{HostPath: "/var/cache/fabric-build"}, c.BuildCache)
	require.Equal(t, map[string]string{"kubernetes.io/os": "linux"}, c.NodeSelector, "viper ignores empty env values")
}

func TestConfigBadStructuredValue(t *testing.T) {
	t.Setenv("CORE_VM_K8S_TOLERATIONS", `{not json`)
	_, err := load(peerViper(t, coreYAML), "")
	require.ErrorContains(t, err, "vm.k8s.tolerations: invalid value")
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantErr string
	}{
		{"no namespace", func(c *Config) { c.Namespace = "" }, "vm.k8s.namespace: must be set"},
		{"bad namespace", func(c *Config) { c.Namespace = "Bad_NS" }, `vm.k8s.namespace: "Bad_NS" is not a valid namespace name: `},
		{"bad build namespace", func(c *Config) { c.BuildNamespace = "Builds!" }, `vm.k8s.buildNamespace: "Builds!" is not a valid namespace name: `},
		{"no registry", func(c *Config) { c.Registry = "" }, "vm.k8s.registry: must be set"},
		{"bad registry", func(c *Config) { c.Registry = "Bad Registry" }, `vm.k8s.registry: "Bad Registry" is not a valid registry`},
		{"bad pull registry", func(c *Config) { c.PullRegistry = "UPPER/Case" }, `vm.k8s.pullRegistry: "UPPER/Case" is not a valid registry`},
		{"no kaniko", func(c *Config) { c.KanikoImage = "" }, "vm.k8s.kanikoImage: must be set"},
		{"zero build timeout", func(c *Config) { c.BuildTimeout = 0 }, "vm.k8s.buildTimeout: must be > 0"},
		{"zero stop timeout", func(c *Config) { c.StopTimeout = 0 }, "vm.k8s.stopTimeout: must be > 0"},
		{"negative grace", func(c *Config) { c.GracePeriod = -time.Second }, "vm.k8s.gracePeriod: -1s is under 1s"},
		{"zero grace", func(c *Config) { c.GracePeriod = 0 }, "vm.k8s.gracePeriod: 0s is under 1s"},
		{"sub-second grace", func(c *Config) { c.GracePeriod = 500 * time.Millisecond }, "vm.k8s.gracePeriod: 500ms is under 1s"},
		{"zero size", func(c *Config) { c.MaxCodePackageSize = 0 }, "vm.k8s.maxCodePackageSize: must be > 0"},
		{"zero concurrent builds", func(c *Config) { c.MaxConcurrentBuilds = 0 }, "vm.k8s.maxConcurrentBuilds: must be > 0"},
		{"negative concurrent builds", func(c *Config) { c.MaxConcurrentBuilds = -1 }, "vm.k8s.maxConcurrentBuilds: must be > 0"},
		{"root", func(c *Config) { c.RunAsUser = 0 }, "vm.k8s.runAsUser: must be > 0"},
		{"bad push secret", func(c *Config) { c.PushSecret = "Reg_Cred" }, `vm.k8s.pushSecret: "Reg_Cred" is not a valid object name`},
		{"bad registry CA ConfigMap", func(c *Config) { c.RegistryCAConfigMap = "Registry CA" }, `vm.k8s.registryCAConfigMap: "Registry CA" is not a valid object name`},
		{"bad service account", func(c *Config) { c.ServiceAccount = "a b" }, `vm.k8s.serviceAccount: "a b"`},
		{"bad build service account", func(c *Config) { c.BuildServiceAccount = "-x" }, `vm.k8s.buildServiceAccount: "-x"`},
		{"bad peer pod", func(c *Config) { c.PeerPodName = "Peer" }, `vm.k8s.peerPodName: "Peer"`},
		{"bad pull secret", func(c *Config) { c.ImagePullSecrets = []string{"ok", "not ok"} }, `vm.k8s.imagePullSecrets: "not ok" is not a valid secret name`},
		{"bad node selector", func(c *Config) { c.NodeSelector = map[string]string{"a": "b c"} }, `vm.k8s.nodeSelector: "b c" is not a valid label value`},
		{"bad pod label", func(c *Config) { c.PodLabels = map[string]string{"a b": "c"} }, `vm.k8s.podLabels: "a b" is not a valid label key`},
		{"bad annotation", func(c *Config) { c.PodAnnotations = map[string]string{"/x": "c"} }, `vm.k8s.podAnnotations: "/x" is not a valid annotation key`},
		{"negative sweep interval", func(c *Config) { c.SweepInterval = -time.Second }, "vm.k8s.sweepInterval: must be >= 0"},
		{"zero health check interval", func(c *Config) { c.HealthCheckInterval = 0 }, "vm.k8s.healthCheckInterval: must be > 0"},
		{"negative health check interval", func(c *Config) { c.HealthCheckInterval = -time.Second }, "vm.k8s.healthCheckInterval: must be > 0"},
		{"zero initial backoff", func(c *Config) { c.Relaunch.InitialBackoff = 0 }, "vm.k8s.relaunch.initialBackoff: must be > 0"},
		{"zero pre-pull timeout", func(c *Config) { c.PrePull.Timeout = 0 }, "vm.k8s.prePull.timeout: must be > 0"},
		{"zero concurrent pre-pulls", func(c *Config) { c.PrePull.MaxConcurrent = 0 }, "vm.k8s.prePull.maxConcurrent: must be > 0"},
		{"max below initial backoff", func(c *Config) { c.Relaunch.MaxBackoff = time.Millisecond }, "vm.k8s.relaunch.maxBackoff: must be >= vm.k8s.relaunch.initialBackoff"},
		{"zero crash loop threshold", func(c *Config) { c.Relaunch.CrashLoopThreshold = 0 }, "vm.k8s.relaunch.crashLoopThreshold: must be >= 1"},
		{"zero stable after", func(c *Config) { c.Relaunch.StableAfter = 0 }, "vm.k8s.relaunch.stableAfter: must be > 0"},
		{"zero image pull timeout", func(c *Config) { c.ImagePullTimeout = 0 }, "vm.k8s.imagePullTimeout: must be > 0"},
		{"zero client QPS", func(c *Config) { c.ClientQPS = 0 }, "vm.k8s.clientQPS: must be > 0"},
		{"negative client burst", func(c *Config) { c.ClientBurst = -1 }, "vm.k8s.clientBurst: must be > 0"},
		{"empty build cache", func(c *Config) { c.BuildCache = &BuildCache{} }, "vm.k8s.build.cache: set one of persistentVolumeClaim or hostPath"},
		{"two build caches", func(c *Config) { c.BuildCache = &BuildCache{PersistentVolumeClaim: "c", HostPath: "/c"} }, "vm.k8s.build.cache: set only one of"},
		{"bad build cache claim", func(c *Config) { c.BuildCache = &BuildCache{PersistentVolumeClaim: "Build Cache"} }, `vm.k8s.build.cache: persistentVolumeClaim: "Build Cache" is not a valid claim name`},
		{"relative build cache path", func(c *Config) { c.BuildCache = &BuildCache{HostPath: "cache"} }, `vm.k8s.build.cache: hostPath: "cache" must be a clean absolute path`},
		{"unclean build cache path", func(c *Config) { c.BuildCache = &BuildCache{HostPath: "/var/../etc"} }, `vm.k8s.build.cache: hostPath: "/var/../etc" must be a clean absolute path`},
		{"root build cache path", func(c *Config) { c.BuildCache = &BuildCache{HostPath: "/"} }, `vm.k8s.build.cache: hostPath: "/" holds `},
		{"reserved pod label", func(c *Config) { c.PodLabels = map[string]string{"team": "a", labels.ManagedBy: "me"} },
			"vm.k8s.podLabels: app.kubernetes.io/managed-by is set by the peer, which selects its pods by it, and cannot be overridden"},
		{"reserved pod label prefix", func(c *Config) { c.PodLabels = map[string]string{"fabric-peer-k8s/run": "x"} },
			"vm.k8s.podLabels: fabric-peer-k8s/run is set by the peer"},
		{"reserved pod annotation", func(c *Config) { c.PodAnnotations = map[string]string{labels.CCIDAnnotation: "x"} },
			"vm.k8s.podAnnotations: fabric-peer-k8s/ccid is set by the peer and cannot be overridden"},
		{"bad toleration operator", func(c *Config) { c.Tolerations = []corev1.Toleration{{Key: "a", Operator: "In"}} },
			`vm.k8s.tolerations[0]: operator "In" is neither Equal nor Exists`},
		{"bad second toleration", func(c *Config) {
			c.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}, {Key: "a", Operator: corev1.TolerationOpExists, Value: "b"}}
		}, "vm.k8s.tolerations[1]: operator Exists takes no value"},
		{"negative resource", func(c *Config) {
			c.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}}
		}, "vm.k8s.resources.limits.cpu: -1 must not be negative"},
		{"resource claims", func(c *Config) {
			c.Resources = corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{{Name: "gpu"}}}
		}, "vm.k8s.resources.claims: not supported"},
		{"build request above limit", func(c *Config) {
			c.BuildResources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			}
		}, "vm.k8s.build.resources.requests.memory: 1Gi exceeds the limit 64Mi"},
	}
	require.NoError(t, validConfig(t).Validate())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(c)
			require.ErrorContains(t, c.Validate(), tt.wantErr)
		})
	}
}

func TestConfigRefusesDangerousBuildCacheHostPath(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/etc/fabric-build-cache", "is inside /etc, a system directory of the node"},
		{"/etc", "is /etc, a system directory of the node"},
		{"/usr/local/cache", "is inside /usr"},
		{"/bin", "is /bin"},
		{"/lib64/x", "is inside /lib64"},
		{"/boot/cache", "is inside /boot"},
		{"/dev/shm/cache", "is inside /dev"},
		{"/proc/1", "is inside /proc"},
		{"/sys/fs/cgroup", "is inside /sys"},
		{"/run/containerd/cache", "is inside /run"},
		{"/var/run/cache", "is inside /var/run"},
		{"/var/lib/kubelet/pods", "is inside /var/lib/kubelet"},
		{"/var/lib/containerd", "is /var/lib/containerd"},
		{"/var/lib/docker/cache", "is inside /var/lib/docker"},
		{"/var/log/build", "is inside /var/log"},
		{"/root/.cache", "is inside /root"},
		{"/home/alice/cache", "is inside /home"},
		{"/opt/cni/bin", "is inside /opt/cni"},
		{"/", "holds "},
		{"/var", "holds "},
		{"/var/lib", "holds /var/lib/"},
		{"/opt", "holds /opt/cni"},
		{"/tmp", "is shared with other software: use a directory of its own below it"},
		{"/var/tmp", "is shared with other software"},
		{"/var/cache", "is shared with other software"},
		{"/mnt", "is shared with other software"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			c := validConfig(t)
			c.BuildCache = &BuildCache{HostPath: tc.path}
			err := c.Validate()
			require.ErrorContains(t, err, fmt.Sprintf("vm.k8s.build.cache: hostPath: %q %s", tc.path, tc.want))
		})
	}
	for _, ok := range []string{
		"/var/cache/fabric-chaincode-build", "/var/lib/fabric-chaincode-build", "/tmp/fpk-bench-1/build-cache",
		"/data/fabric/build-cache", "/mnt/disks/ssd0/build-cache", "/srv/build-cache", "/opt/fabric/cache",
	} {
		c := validConfig(t)
		c.BuildCache = &BuildCache{HostPath: ok}
		require.NoError(t, c.Validate(), ok)
	}
}

func TestConfigRefusesKanikoArgsTheVMSets(t *testing.T) {
	for _, arg := range []string{
		"--destination=evil.example.com/cc:t", "--destination", "-d", "-devil.example.com/cc:t", "-d=evil.example.com/cc:t",
		"--digest-file=/tmp/digest", "--digest-file",
		"--no-push", "--no-push=true",
		"--context=dir:///tmp", "-c", "--context-sub-path=x", "--bucket=b", "-b",
		"--dockerfile=/tmp/Dockerfile", "-f", "-f/tmp/Dockerfile",
		"--insecure", "--insecure-pull", "--skip-tls-verify", "--skip-tls-verify-pull=true",
	} {
		t.Run(arg, func(t *testing.T) {
			c := validConfig(t)
			c.KanikoExtraArgs = []string{"--cache=true", arg}
			require.ErrorContains(t, c.Validate(), fmt.Sprintf("vm.k8s.kanikoExtraArgs: %q sets ", arg))
		})
	}
	c := validConfig(t)
	c.KanikoExtraArgs = []string{
		"--cache=true", "--verbosity=debug", "-v", "debug", "--snapshot-mode=redo", "--insecure-registry=mirror.local:5000",
		"--skip-tls-verify-registry=mirror.local:5000", "--registry-mirror=mirror.local:5000", "--label=team=blue", "--push-retry=3",
	}
	require.NoError(t, c.Validate())
}

// Structured values are decoded strictly, like per-chaincode settings: a
// misspelt field is an error naming the key instead of being ignored.
func TestConfigRefusesUnknownFields(t *testing.T) {
	base := "vm:\n  k8s:\n    namespace: fabric\n    registry: r:5000/cc\n    kanikoImage: kaniko\n"
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       []string
	}{
		{name: "resources", yaml: "    resources: {limit: {cpu: 1}}\n", want: []string{"vm.k8s.resources: invalid value", `unknown field "limit"`}},
		{name: "build resources from the environment", env: map[string]string{"CORE_VM_K8S_BUILD_RESOURCES": `{"limits":{"memory":"1Gi"},"request":{}}`},
			want: []string{"vm.k8s.build.resources: invalid value", `unknown field "request"`}},
		{name: "build cache", yaml: "    build:\n      cache: {persistentVolumeClaimName: c}\n", want: []string{"vm.k8s.build.cache: invalid value", "unknown field"}},
		{name: "tolerations", yaml: "    tolerations: [{key: a, operator: Exists, efect: NoSchedule}]\n", want: []string{"vm.k8s.tolerations: invalid value", `unknown field "efect"`}},
		{name: "nested affinity", yaml: "    affinity: {nodeAffinity: {requiredDuringScheduling: {}}}\n", want: []string{"vm.k8s.affinity: invalid value", "unknown field"}},
		{name: "trailing data", env: map[string]string{"CORE_VM_K8S_NODESELECTOR": `{"a":"b"} {}`}, want: []string{"vm.k8s.nodeSelector: invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := load(peerViper(t, base+tc.yaml), "")
			require.Error(t, err)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}
