/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
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

func mustParseSettings(t *testing.T, value string) *config.ChaincodeSettings {
	t.Helper()
	s, err := config.ParseChaincodeSettings("mycc_1.0", value)
	require.NoError(t, err)
	return s
}

// globalTemplate is a configuration setting every key the settings can
// override.
func globalTemplate() *config.Config {
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
			var s *config.ChaincodeSettings
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
	args, err := ChaincodeArgs("GOLANG", "peer0.org1.example.com:7052")
	require.NoError(t, err)
	params := ChaincodePodParams{
		Name:       PodName("dev", testPeerID, testCCID, "abc123"),
		SecretName: PodName("dev", testPeerID, testCCID, "abc123"),
		CCID:       testCCID,
		PeerID:     testPeerID,
		Image:      "localhost:5000/fabric-cc/mycc_1.0:tag@" + testDigest,
		Args:       args,
		Env:        ChaincodeEnv(testCCID, "Org1MSP", []string{"CORE_CHAINCODE_LOGGING_LEVEL=info"}, true),
		Owner:      testOwner,
		Settings:   mustParseSettings(t, settingsYAML),
	}
	pod := NewChaincodePod(globalTemplate(), params)
	golden(t, "chaincode-pod-settings", pod)

	// The pod without settings is the global template's.
	params.Settings = nil
	golden(t, "chaincode-pod-global", NewChaincodePod(globalTemplate(), params))
}
