/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// settingsYAML is an entry setting every field.
const settingsYAML = `
resources:
  requests: {cpu: 250m, memory: 64Mi}
  limits: {memory: 128Mi}
env:
  CORE_CHAINCODE_LOGGING_LEVEL: debug
  LOG_FORMAT: json
nodeSelector:
  example.com/pool: chaincode
tolerations:
- {key: pool, operator: Equal, value: chaincode, effect: NoSchedule}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 50
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels: {app.kubernetes.io/component: chaincode}
podLabels:
  team: green
  example.com/tier: gold
podAnnotations:
  example.com/owner: payments
serviceAccount: payments-cc
priorityClassName: high
`

func mustParseSettings(t *testing.T, value string) *ChaincodeSettings {
	t.Helper()
	s, err := parseChaincodeSettings("mycc_1.0", value)
	require.NoError(t, err)
	return s
}

func TestParseChaincodeSettings(t *testing.T) {
	s := mustParseSettings(t, settingsYAML)
	require.Equal(t, resource.MustParse("128Mi"), s.Resources.Limits[corev1.ResourceMemory])
	require.Equal(t, resource.MustParse("250m"), s.Resources.Requests[corev1.ResourceCPU])
	require.Equal(t, map[string]string{"CORE_CHAINCODE_LOGGING_LEVEL": "debug", "LOG_FORMAT": "json"}, s.Env)
	require.Equal(t, map[string]string{"team": "green", "example.com/tier": "gold"}, s.PodLabels, "keys keep their case")
	require.Equal(t, "payments-cc", s.ServiceAccount)
	require.Equal(t, "high", s.PriorityClassName)
	require.Equal(t, int32(50), s.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight)

	json := mustParseSettings(t, `{"resources":{"limits":{"memory":"1Gi"}},"podAnnotations":{"a":"b"}}`)
	require.Equal(t, resource.MustParse("1Gi"), json.Resources.Limits[corev1.ResourceMemory])
	require.Equal(t, map[string]string{"a": "b"}, json.PodAnnotations)

	empty := mustParseSettings(t, "")
	require.Equal(t, &ChaincodeSettings{}, empty, "an empty entry changes nothing")
	require.NotNil(t, mustParseSettings(t, "tolerations: []").Tolerations, "an empty list is kept: it removes the global one")
}

func TestParseChaincodeSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, key, value string
		want             []string
	}{
		{"unparseable", "mycc", "resources: [", []string{"cannot parse"}},
		{"not a map", "mycc", "just text", []string{"cannot parse"}},
		{"unknown field", "mycc", "resource: {limits: {memory: 1Gi}}", []string{"cannot parse", `unknown field "resource"`}},
		{"unknown nested field", "mycc", "resources: {limit: {memory: 1Gi}}", []string{`unknown field "limit"`}},
		{"invalid quantity", "mycc", "resources: {limits: {memory: lots}}", []string{"cannot parse", "quantities must match"}},
		{"negative quantity", "mycc", "resources: {limits: {cpu: -1}}", []string{"resources.limits.cpu: -1 must not be negative"}},
		{"request above limit", "mycc", "resources: {limits: {memory: 64Mi}, requests: {memory: 1Gi}}",
			[]string{"resources.requests.memory: 1Gi exceeds the limit 64Mi"}},
		{"bad resource name", "mycc", "resources: {limits: {'bad name': 1}}", []string{`resources.limits: "bad name" is not a valid resource name`}},
		{"resource claims", "mycc", "resources: {claims: [{name: gpu}]}", []string{"resources.claims: not supported"}},
		{"reserved env", "mycc", "env: {CORE_CHAINCODE_ID_NAME: other:1}",
			[]string{"env: CORE_CHAINCODE_ID_NAME is set by the peer for the chaincode to reach it and cannot be overridden"}},
		{"reserved env MSP", "mycc", "env: {CORE_PEER_LOCALMSPID: Org2MSP}", []string{"env: CORE_PEER_LOCALMSPID is set by the peer"}},
		{"reserved env peer address", "mycc", "env: {CORE_PEER_ADDRESS: 'evil:7051'}", []string{"env: CORE_PEER_ADDRESS is set by the peer"}},
		{"bad env name", "mycc", "env: {'1BAD': x}", []string{`env: "1BAD" is not a valid environment variable name`}},
		{"reserved label", "mycc", "podLabels: {app.kubernetes.io/managed-by: me}",
			[]string{"podLabels: app.kubernetes.io/managed-by is set by the peer, which selects its pods by it"}},
		{"reserved label peer id", "mycc", "podLabels: {fabric-peer-k8s/peer-id: other}", []string{"podLabels: fabric-peer-k8s/peer-id is set by the peer"}},
		{"reserved label prefix", "mycc", "podLabels: {fabric-peer-k8s/anything: x}", []string{"podLabels: fabric-peer-k8s/anything is set by the peer"}},
		{"bad label value", "mycc", "podLabels: {team: 'a b'}", []string{`podLabels: "a b" is not a valid label value`}},
		{"reserved annotation", "mycc", "podAnnotations: {fabric-peer-k8s/ccid: x}", []string{"podAnnotations: fabric-peer-k8s/ccid is set by the peer"}},
		{"bad annotation key", "mycc", "podAnnotations: {'/x': y}", []string{`podAnnotations: "/x" is not a valid annotation key`}},
		{"bad node selector", "mycc", "nodeSelector: {'a b': c}", []string{`nodeSelector: "a b" is not a valid label key`}},
		{"bad toleration operator", "mycc", "tolerations: [{key: a, operator: In}]", []string{`tolerations[0]: operator "In" is neither Equal nor Exists`}},
		{"bad toleration effect", "mycc", "tolerations: [{key: a, operator: Exists, effect: Never}]", []string{`tolerations[0]: effect "Never"`}},
		{"exists with value", "mycc", "tolerations: [{key: a, operator: Exists, value: b}]", []string{"tolerations[0]: operator Exists takes no value"}},
		{"empty key equal", "mycc", "tolerations: [{operator: Equal, value: b}]", []string{"tolerations[0]: an empty key needs operator Exists"}},
		{"seconds without NoExecute", "mycc", "tolerations: [{key: a, operator: Exists, tolerationSeconds: 5}]", []string{"tolerations[0]: tolerationSeconds needs effect NoExecute"}},
		{"bad service account", "mycc", "serviceAccount: Payments_CC", []string{`serviceAccount: "Payments_CC" is not a valid object name`}},
		{"bad priority class", "mycc", "priorityClassName: 'very high'", []string{`priorityClassName: "very high" is not a valid object name`}},
		{"several problems", "mycc", "serviceAccount: A\nenv: {CORE_PEER_TLS_ENABLED: 'false'}",
			[]string{`env: CORE_PEER_TLS_ENABLED is set by the peer`, `; serviceAccount: "A"`}},
		{"key is no package label", ".hidden", "{}", []string{`".hidden" is not a chaincode package label`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseChaincodeSettings(tc.key, tc.value)
			require.Error(t, err)
			require.Nil(t, s)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// globalTemplate is a configuration setting every key the settings can
// override.
func globalTemplate() *Config {
	c := fullConfig()
	c.PriorityClassName = "normal"
	c.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}},
		}}},
	}}
	c.NodeSelector = map[string]string{"kubernetes.io/os": "linux", "example.com/pool": "general"}
	return c
}

func TestMergeSettings(t *testing.T) {
	global := globalTemplate()
	gt := podTemplate{
		Resources:         global.Resources,
		NodeSelector:      global.NodeSelector,
		Tolerations:       global.Tolerations,
		Affinity:          global.Affinity,
		Labels:            global.PodLabels,
		Annotations:       global.PodAnnotations,
		ServiceAccount:    global.ServiceAccount,
		PriorityClassName: global.PriorityClassName,
	}
	with := func(f func(t *podTemplate)) podTemplate {
		t := mergeSettings(globalTemplate(), nil)
		f(&t)
		return t
	}
	mem := func(q string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}}
	}
	for _, tc := range []struct {
		name     string
		settings string // "" with none: nil settings
		none     bool
		want     podTemplate
	}{
		{name: "no settings: the global template", none: true, want: gt},
		{name: "empty entry: the global template", settings: "{}", want: gt},
		{name: "resources replaced as a whole", settings: "resources: {requests: {cpu: 1}}",
			want: with(func(t *podTemplate) {
				t.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
			})},
		{name: "resources emptied", settings: "resources: {}", want: with(func(t *podTemplate) { t.Resources = corev1.ResourceRequirements{} })},
		{name: "memory limit", settings: "resources: {limits: {memory: 1Gi}}", want: with(func(t *podTemplate) { t.Resources = mem("1Gi") })},
		{name: "node selector merged key by key", settings: "nodeSelector: {example.com/pool: chaincode, example.com/ssd: 'true'}",
			want: with(func(t *podTemplate) {
				t.NodeSelector = map[string]string{"kubernetes.io/os": "linux", "example.com/pool": "chaincode", "example.com/ssd": "true"}
			})},
		{name: "tolerations replaced", settings: "tolerations: [{key: gpu, operator: Exists}]",
			want: with(func(t *podTemplate) {
				t.Tolerations = []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}}
			})},
		{name: "tolerations emptied", settings: "tolerations: []", want: with(func(t *podTemplate) { t.Tolerations = []corev1.Toleration{} })},
		{name: "affinity replaced", settings: "affinity: {podAffinity: {}}",
			want: with(func(t *podTemplate) { t.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{}} })},
		{name: "labels and annotations merged", settings: "podLabels: {team: green, tier: gold}\npodAnnotations: {example.com/owner: payments}",
			want: with(func(t *podTemplate) {
				t.Labels = map[string]string{"team": "green", "tier": "gold", labels.Name: "cannot-override"}
				t.Annotations = map[string]string{"example.com/team": "blue", "example.com/owner": "payments", labels.CCIDAnnotation: "cannot override"}
			})},
		{name: "service account and priority class replaced", settings: "serviceAccount: payments\npriorityClassName: high",
			want: with(func(t *podTemplate) { t.ServiceAccount, t.PriorityClassName = "payments", "high" })},
		{name: "env", settings: "env: {A: '1'}", want: with(func(t *podTemplate) { t.Env = map[string]string{"A": "1"} })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s *ChaincodeSettings
			if !tc.none {
				s = mustParseSettings(t, tc.settings)
			}
			cfg := globalTemplate()
			got := mergeSettings(cfg, s)
			require.Equal(t, tc.want, got)
			require.Equal(t, globalTemplate(), cfg, "the global configuration is not modified")
		})
	}
}

// The merged template shares nothing with the configuration or the
// settings: a pod built from it can be changed without changing them.
func TestMergeSettingsCopies(t *testing.T) {
	cfg := globalTemplate()
	s := mustParseSettings(t, "podLabels: {team: green}\ntolerations: [{key: a, operator: Exists}]\nresources: {limits: {cpu: 1}}")
	got := mergeSettings(cfg, s)
	got.NodeSelector["x"] = "y"
	got.Labels["x"] = "y"
	got.Annotations["x"] = "y"
	got.Tolerations[0].Key = "changed"
	got.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("9")
	got.Affinity.NodeAffinity = nil
	require.Equal(t, globalTemplate(), cfg)
	require.Equal(t, mustParseSettings(t, "podLabels: {team: green}\ntolerations: [{key: a, operator: Exists}]\nresources: {limits: {cpu: 1}}"), s)

	got = mergeSettings(cfg, nil)
	got.Tolerations[0].Key = "changed"
	got.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("1")
	require.Equal(t, globalTemplate(), cfg)
}

func TestMergeEnv(t *testing.T) {
	peer := []string{"CORE_CHAINCODE_ID_NAME=cc:1", "CORE_CHAINCODE_LOGGING_LEVEL=info", "CORE_PEER_LOCALMSPID=Org1MSP"}
	require.Equal(t, peer, mergeEnv(peer, nil))
	require.Equal(t, []string{
		"CORE_CHAINCODE_ID_NAME=cc:1", "CORE_CHAINCODE_LOGGING_LEVEL=debug", "CORE_PEER_LOCALMSPID=Org1MSP", "A=1", "B=with=sign",
	}, mergeEnv(peer, map[string]string{"B": "with=sign", "CORE_CHAINCODE_LOGGING_LEVEL": "debug", "A": "1"}))
	require.Equal(t, "CORE_CHAINCODE_LOGGING_LEVEL=info", peer[1], "the peer's list is not modified")
}

func TestNewChaincodePodWithSettingsGolden(t *testing.T) {
	args, err := chaincodeArgs("GOLANG", "peer0.org1.example.com:7052")
	require.NoError(t, err)
	params := chaincodePodParams{
		Name:       podName("dev", testPeerID, testCCID, "abc123"),
		SecretName: podName("dev", testPeerID, testCCID, "abc123"),
		CCID:       testCCID,
		PeerID:     testPeerID,
		Image:      "localhost:5000/fabric-cc/mycc_1.0:tag@" + testDigest,
		Args:       args,
		Env:        chaincodeEnv(testCCID, "Org1MSP", []string{"CORE_CHAINCODE_LOGGING_LEVEL=info"}, true),
		Owner:      testOwner,
		Settings:   mustParseSettings(t, settingsYAML),
	}
	pod := newChaincodePod(globalTemplate(), params)
	golden(t, "chaincode-pod-settings", pod)

	// The pod without settings is the global template's.
	params.Settings = nil
	golden(t, "chaincode-pod-global", newChaincodePod(globalTemplate(), params))
}

func TestConfigChaincodeSettingsKeys(t *testing.T) {
	c, err := loadConfig(peerViper(t, `
vm:
  k8s:
    namespace: fabric
    registry: r:5000/cc
    kanikoImage: kaniko
    chaincodeConfigMap: chaincode-settings
    priorityClassName: chaincode
    affinity:
      nodeAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
          nodeSelectorTerms:
          - matchExpressions:
            - {key: zone, operator: In, values: [a, b]}
`), "")
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	require.Equal(t, "chaincode-settings", c.ChaincodeConfigMap)
	require.Equal(t, "chaincode", c.PriorityClassName)
	require.Equal(t, []string{"a", "b"},
		c.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values)

	t.Setenv("CORE_VM_K8S_CHAINCODECONFIGMAP", "from-env")
	t.Setenv("CORE_VM_K8S_AFFINITY", `{"podAffinity":{}}`)
	c, err = loadConfig(peerViper(t, "vm:\n  k8s:\n    namespace: fabric\n"), "")
	require.NoError(t, err)
	require.Equal(t, "from-env", c.ChaincodeConfigMap)
	require.Equal(t, &corev1.Affinity{PodAffinity: &corev1.PodAffinity{}}, c.Affinity)

	c = testConfig()
	c.ChaincodeConfigMap = "Chaincode_Settings"
	require.ErrorContains(t, c.Validate(), `vm.k8s.chaincodeConfigMap: "Chaincode_Settings" is not a valid object name`)
	c = testConfig()
	c.PriorityClassName = "a b"
	require.ErrorContains(t, c.Validate(), `vm.k8s.priorityClassName: "a b" is not a valid object name`)
}
