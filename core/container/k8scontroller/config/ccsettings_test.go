/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// everySetting is an entry setting every field.
const everySetting = `
resources: {requests: {cpu: 250m, memory: 64Mi}, limits: {memory: 128Mi}}
env: {CORE_CHAINCODE_LOGGING_LEVEL: debug, LOG_FORMAT: json}
nodeSelector: {example.com/pool: chaincode}
tolerations: [{key: pool, operator: Equal, value: chaincode, effect: NoSchedule}]
affinity: {podAntiAffinity: {preferredDuringSchedulingIgnoredDuringExecution: [{weight: 50, podAffinityTerm: {topologyKey: kubernetes.io/hostname}}]}}
podLabels: {team: green, example.com/tier: gold}
podAnnotations: {example.com/owner: payments}
serviceAccount: payments-cc
priorityClassName: high
`

func mustParseSettings(t *testing.T, value string) *ChaincodeSettings {
	t.Helper()
	s, err := ParseChaincodeSettings("mycc_1.0", value)
	require.NoError(t, err)
	return s
}

func TestParseChaincodeSettings(t *testing.T) {
	s := mustParseSettings(t, everySetting)
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
			s, err := ParseChaincodeSettings(tc.key, tc.value)
			require.Error(t, err)
			require.Nil(t, s)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestConfigChaincodeSettingsKeys(t *testing.T) {
	c, err := load(peerViper(t, `
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
	c, err = load(peerViper(t, "vm:\n  k8s:\n    namespace: fabric\n"), "")
	require.NoError(t, err)
	require.Equal(t, "from-env", c.ChaincodeConfigMap)
	require.Equal(t, &corev1.Affinity{PodAffinity: &corev1.PodAffinity{}}, c.Affinity)

	c = validConfig(t)
	c.ChaincodeConfigMap = "Chaincode_Settings"
	require.ErrorContains(t, c.Validate(), `vm.k8s.chaincodeConfigMap: "Chaincode_Settings" is not a valid object name`)
	c = validConfig(t)
	c.PriorityClassName = "a b"
	require.ErrorContains(t, c.Validate(), `vm.k8s.priorityClassName: "a b" is not a valid object name`)
}
