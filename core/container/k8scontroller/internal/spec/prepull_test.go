/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config/configtest"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
)

func TestNewPrePullDaemonSetGolden(t *testing.T) {
	cfg := fullConfig()
	required := &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"chaincode"}}},
	}}}
	cfg.Affinity = &corev1.Affinity{
		NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: required,
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: corev1.NodeSelectorTerm{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}},
			}}},
		},
		PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "blue"}}, TopologyKey: "kubernetes.io/hostname",
		}}},
	}
	ds := NewPrePullDaemonSet(cfg, PrePullParams{
		Name:   PrePullName("dev", testPeerID, testCCID, "abc123"),
		CCID:   testCCID,
		PeerID: testPeerID,
		Image:  "localhost:5000/fabric-cc/mycc_1.0:tag@" + testDigest,
		Owner:  testOwner,
	})
	golden(t, "prepull-daemonset", ds)

	pod := ds.Spec.Template
	require.True(t, metav1SelectorMatches(t, ds.Spec.Selector, pod.Labels), "the selector selects the template's pods")
	require.Equal(t, &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: required}},
		pod.Spec.Affinity, "only the affinity that decides where the chaincode may run")
	require.Equal(t, "blue", pod.Labels["team"], "podLabels as on chaincode pods")
	require.Equal(t, labels.AppPrePull, pod.Labels[labels.Name], "reserved labels are not overridden")
	require.Equal(t, testCCID, pod.Annotations[labels.CCIDAnnotation], "reserved annotations are not overridden")
	require.False(t, cfg.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution == nil, "the configuration is not changed")
}

// The chaincode's own settings place its pre-pull pods as they place its
// pods: its nodeSelector, tolerations and service account.
func TestNewPrePullDaemonSetSettings(t *testing.T) {
	cfg := configtest.Config()
	settings := &config.ChaincodeSettings{
		NodeSelector:   map[string]string{"pool": "gpu"},
		Tolerations:    []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists}},
		ServiceAccount: "gpu-chaincode",
	}
	spec := NewPrePullDaemonSet(cfg, PrePullParams{Name: "p", CCID: testCCID, Image: "i", Settings: settings}).Spec.Template.Spec
	require.Equal(t, map[string]string{"pool": "gpu"}, spec.NodeSelector)
	require.Equal(t, settings.Tolerations, spec.Tolerations)
	require.Equal(t, "gpu-chaincode", spec.ServiceAccountName)
	require.Nil(t, spec.Affinity)
	require.Nil(t, spec.ImagePullSecrets)

	spec = NewPrePullDaemonSet(cfg, PrePullParams{Name: "p", CCID: testCCID, Image: "i"}).Spec.Template.Spec
	require.Empty(t, spec.NodeSelector)
	require.Empty(t, spec.Tolerations)
}

func TestPrePullName(t *testing.T) {
	a := PrePullName("dev", testPeerID, testCCID, "abc123")
	require.Regexp(t, `^ccpull-peer0-org1-example-com-mycc-1-0-[0-9a-f]{10}-abc123$`, a)
	require.NotEqual(t, a, PrePullName("dev", testPeerID, testCCID, "abc124"), "every pre-pull has its own name")
	require.NotEqual(t, a, PrePullName("dev", "peer1.org1.example.com", testCCID, "abc123"))
	require.NotEqual(t, PodName("dev", testPeerID, testCCID, "abc123"), a)
	long := PrePullName("dev", testPeerID, "a-very-long-chaincode-label-that-goes-on-and-on-and-on:hash", "abc123")
	require.LessOrEqual(t, len(long), 63)
}

func metav1SelectorMatches(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	return s.Matches(k8slabels.Set(l))
}
