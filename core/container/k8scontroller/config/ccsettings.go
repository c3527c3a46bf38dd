/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
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
// or JSON. The VM merges them over the global vm.k8s.* settings at every
// launch: maps key by key, everything else replaced when set.
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
// for the chaincode to reach it (ChaincodeEnv in internal/spec, and
// CORE_PEER_ADDRESS for prebuilt images); overriding it would break the
// chaincode's registration.
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

// ParseChaincodeSettings decodes and validates the entry key of the
// ConfigMap. Unknown fields are an error, so that a misspelt setting is
// reported instead of silently ignored.
func ParseChaincodeSettings(key, value string) (*ChaincodeSettings, error) {
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
	for _, name := range slices.Sorted(maps.Keys(s.Env)) {
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
