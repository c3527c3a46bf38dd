/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// ChaincodeSettings are the settings of one chaincode: the value of one entry
// of the ConfigMap named by vm.k8s.chaincodeConfigMap, keyed by the
// chaincode's package label (the part of the package ID before ':'), in YAML
// or JSON. They are merged over the global vm.k8s.* template by
// mergeSettings: maps key by key, everything else replaced when set.
type ChaincodeSettings struct {
	// Resources replace vm.k8s.resources as a whole (`resources: {}`
	// removes the global requests and limits).
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// Env is added to the environment of the chaincode container; a name the
	// peer sets for logging (chaincode.logging.*) takes the value given here.
	// The names the chaincode needs to reach the peer cannot be set.
	Env map[string]string `json:"env,omitempty"`
	// NodeSelector is merged key by key over vm.k8s.nodeSelector.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations replace vm.k8s.tolerations (`tolerations: []` removes them).
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Affinity replaces vm.k8s.affinity.
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// PodLabels and PodAnnotations are merged key by key over
	// vm.k8s.podLabels and vm.k8s.podAnnotations; the keys the VM sets
	// itself cannot be set.
	PodLabels      map[string]string `json:"podLabels,omitempty"`
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`
	// ServiceAccount replaces vm.k8s.serviceAccount when set.
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// PriorityClassName replaces vm.k8s.priorityClassName when set.
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// reservedEnv reports whether an environment variable is one the peer sets
// for the chaincode to reach it (chaincodeEnv, and CORE_PEER_ADDRESS for
// prebuilt images); overriding it would break the chaincode's registration.
func reservedEnv(name string) bool {
	switch name {
	case "CORE_CHAINCODE_ID_NAME", "CORE_PEER_ADDRESS", "CORE_PEER_TLS_ENABLED", "CORE_PEER_LOCALMSPID", "CORE_PEER_TLS_ROOTCERT_FILE",
		"CORE_TLS_CLIENT_KEY_PATH", "CORE_TLS_CLIENT_CERT_PATH", "CORE_TLS_CLIENT_KEY_FILE", "CORE_TLS_CLIENT_CERT_FILE":
		return true
	}
	return false
}

// reservedLabel reports whether a pod label key is one the VM sets and
// selects its objects by: changing one would hide the pod from the VM or
// mix it up with another peer's objects.
func reservedLabel(key string) bool {
	switch key {
	case labels.Name, labels.Instance, labels.ManagedBy, labels.Component, labels.PeerID, labels.ChaincodeHash, labels.Run:
		return true
	}
	return strings.HasPrefix(key, labels.Prefix)
}

// reservedAnnotation reports whether a pod annotation key is one the VM sets.
func reservedAnnotation(key string) bool {
	return key == labels.CCIDAnnotation || strings.HasPrefix(key, labels.Prefix)
}

// packageLabel matches the labels Fabric accepts for chaincode packages.
var packageLabel = regexp.MustCompile(`^[[:alnum:]][[:alnum:]_.+-]*$`)

// parseChaincodeSettings decodes and validates the entry key of the
// ConfigMap. Unknown fields are an error, so that a misspelt setting is
// reported instead of silently ignored.
func parseChaincodeSettings(key, value string) (*ChaincodeSettings, error) {
	if !packageLabel.MatchString(key) {
		return nil, errors.Errorf("%q is not a chaincode package label (the part of the package ID before ':')", key)
	}
	s := &ChaincodeSettings{}
	if err := yaml.UnmarshalStrict([]byte(value), s); err != nil {
		return nil, errors.Wrap(err, "cannot parse")
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// validate checks what the API server would otherwise refuse only when the
// pod is created, and what would break the VM: reserved labels, annotations
// and environment variables. Every problem is named with its field. The
// checks shared with the global settings are those of podvalidation.go.
func (s *ChaincodeSettings) validate() error {
	var problems []string
	add := func(field, format string, args ...interface{}) {
		problems = append(problems, field+": "+fmt.Sprintf(format, args...))
	}
	if s.Resources != nil {
		problems = append(problems, resourceProblems("resources", s.Resources)...)
	}
	for _, name := range sortedKeys(s.Env) {
		if msgs := validation.IsEnvVarName(name); len(msgs) > 0 {
			add("env", "%q is not a valid environment variable name: %s", name, strings.Join(msgs, "; "))
		} else if reservedEnv(name) {
			add("env", "%s is set by the peer for the chaincode to reach it and cannot be overridden", name)
		}
	}
	if err := validateLabels(s.NodeSelector); err != nil {
		add("nodeSelector", "%s", err)
	}
	problems = append(problems, tolerationProblems("tolerations", s.Tolerations)...)
	problems = append(problems, podLabelProblems("podLabels", s.PodLabels)...)
	problems = append(problems, podAnnotationProblems("podAnnotations", s.PodAnnotations)...)
	for _, n := range []struct{ field, value string }{
		{"serviceAccount", s.ServiceAccount},
		{"priorityClassName", s.PriorityClassName},
	} {
		if n.value == "" {
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(n.value); len(msgs) > 0 {
			add(n.field, "%q is not a valid object name: %s", n.value, strings.Join(msgs, "; "))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

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
func mergeSettings(cfg *Config, s *ChaincodeSettings) podTemplate {
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
	for _, name := range sortedKeys(over) {
		if !seen[name] {
			out = append(out, name+"="+over[name])
		}
	}
	return out
}

// sortedKeys returns the keys of a map with string-like keys, sorted.
func sortedKeys[K ~string, V any](m map[K]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	return keys
}
