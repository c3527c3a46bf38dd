/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"maps"
	"slices"
	"strings"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	corev1 "k8s.io/api/core/v1"
)

// A chaincode's own settings (config.ChaincodeSettings, parsed from the
// ConfigMap of vm.k8s.chaincodeConfigMap by the VM) merged over the
// global vm.k8s.* settings at its launch.

// podTemplate is what of a chaincode pod comes from configuration: the
// global vm.k8s.* settings with a chaincode's settings merged over them.
type podTemplate struct {
	Resources         corev1.ResourceRequirements
	Env               map[string]string // added to what the peer sets
	NodeSelector      map[string]string
	Tolerations       []corev1.Toleration
	Affinity          *corev1.Affinity
	Labels            map[string]string
	Annotations       map[string]string
	ServiceAccount    string
	PriorityClassName string
}

// mergeSettings merges s (nil: none) over the global template of cfg: maps
// (env, nodeSelector, podLabels, podAnnotations) key by key, a chaincode's
// value winning; resources, tolerations and affinity replaced as a whole
// when set (even when set empty); serviceAccount and priorityClassName
// replaced when not empty. The result shares nothing with cfg or s.
func mergeSettings(cfg *config.Config, s *config.ChaincodeSettings) podTemplate {
	t := podTemplate{
		Resources:         *cfg.Resources.DeepCopy(),
		NodeSelector:      copyMap(cfg.NodeSelector),
		Tolerations:       copyTolerations(cfg.Tolerations),
		Affinity:          cfg.Affinity.DeepCopy(),
		Labels:            copyMap(cfg.PodLabels),
		Annotations:       copyMap(cfg.PodAnnotations),
		ServiceAccount:    cfg.ServiceAccount,
		PriorityClassName: cfg.PriorityClassName,
	}
	if s == nil {
		return t
	}
	if s.Resources != nil {
		t.Resources = *s.Resources.DeepCopy()
	}
	if s.Tolerations != nil {
		t.Tolerations = copyTolerations(s.Tolerations)
	}
	if s.Affinity != nil {
		t.Affinity = s.Affinity.DeepCopy()
	}
	if s.ServiceAccount != "" {
		t.ServiceAccount = s.ServiceAccount
	}
	if s.PriorityClassName != "" {
		t.PriorityClassName = s.PriorityClassName
	}
	t.Env = mergeMaps(nil, s.Env)
	t.NodeSelector = mergeMaps(t.NodeSelector, s.NodeSelector)
	t.Labels = mergeMaps(t.Labels, s.PodLabels)
	t.Annotations = mergeMaps(t.Annotations, s.PodAnnotations)
	return t
}

// mergeMaps sets the entries of over in base (allocated when needed).
func mergeMaps(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	if base == nil {
		base = make(map[string]string, len(over))
	}
	for k, v := range over {
		base[k] = v
	}
	return base
}

func copyTolerations(t []corev1.Toleration) []corev1.Toleration {
	if t == nil {
		return nil
	}
	out := make([]corev1.Toleration, len(t))
	for i := range t {
		t[i].DeepCopyInto(&out[i])
	}
	return out
}

// mergeEnv applies the chaincode's variables to the peer's "NAME=value"
// list: a name already there takes the new value in place, the others are
// appended sorted by name.
func mergeEnv(env []string, over map[string]string) []string {
	out := make([]string, 0, len(env)+len(over))
	seen := map[string]bool{}
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		if v, ok := over[name]; ok {
			e = name + "=" + v
			seen[name] = true
		}
		out = append(out, e)
	}
	for _, name := range slices.Sorted(maps.Keys(over)) {
		if !seen[name] {
			out = append(out, name+"="+over[name])
		}
	}
	return out
}
