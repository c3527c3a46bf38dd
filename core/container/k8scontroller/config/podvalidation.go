/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The checks below apply alike to the global vm.k8s.* settings (Validate)
// and to a chaincode's own (ChaincodeSettings.validate): what the API
// server would otherwise refuse only when a pod is created, and what would
// break the VM. Each returns its problems as "<field>: <problem>", field
// naming the setting as the caller's errors do (vm.k8s.resources, or
// resources in a ConfigMap entry).

// resourceProblems checks requests and limits: resource names, no negative
// quantity, no request above its limit, and no resource claims (the VM
// creates no pod-level claims for them to name).
func resourceProblems(field string, r *corev1.ResourceRequirements) []string {
	var problems []string
	add := func(field, format string, args ...interface{}) {
		problems = append(problems, field+": "+fmt.Sprintf(format, args...))
	}
	for _, list := range []struct {
		field string
		rl    corev1.ResourceList
	}{{field + ".limits", r.Limits}, {field + ".requests", r.Requests}} {
		for _, name := range slices.Sorted(maps.Keys(list.rl)) {
			q := list.rl[name]
			if msgs := validation.IsQualifiedName(string(name)); len(msgs) > 0 {
				add(list.field, "%q is not a valid resource name: %s", name, strings.Join(msgs, "; "))
			}
			if q.Sign() < 0 {
				add(list.field+"."+string(name), "%s must not be negative", q.String())
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Requests)) {
		req := r.Requests[name]
		if limit, ok := r.Limits[name]; ok && req.Cmp(limit) > 0 {
			add(field+".requests."+string(name), "%s exceeds the limit %s", req.String(), limit.String())
		}
	}
	if len(r.Claims) > 0 {
		add(field+".claims", "not supported for chaincode and build containers")
	}
	return problems
}

// tolerationProblems checks each toleration (validateToleration), naming it
// field[i].
func tolerationProblems(field string, tolerations []corev1.Toleration) []string {
	var problems []string
	for i, t := range tolerations {
		if err := validateToleration(t); err != nil {
			problems = append(problems, fmt.Sprintf("%s[%d]: %s", field, i, err))
		}
	}
	return problems
}

// podLabelProblems checks the labels added to chaincode pods: valid keys
// and values, and none of the keys the VM sets and selects its pods by.
func podLabelProblems(field string, labels map[string]string) []string {
	var problems []string
	if err := validateLabels(labels); err != nil {
		problems = append(problems, field+": "+err.Error())
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if reservedLabel(k) {
			problems = append(problems, field+": "+k+" is set by the peer, which selects its pods by it, and cannot be overridden")
		}
	}
	return problems
}

// podAnnotationProblems checks the annotations added to chaincode pods:
// valid keys, and none of the keys the VM sets.
func podAnnotationProblems(field string, annotations map[string]string) []string {
	var problems []string
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			problems = append(problems, fmt.Sprintf("%s: %q is not a valid annotation key: %s", field, k, strings.Join(msgs, "; ")))
		} else if reservedAnnotation(k) {
			problems = append(problems, field+": "+k+" is set by the peer and cannot be overridden")
		}
	}
	return problems
}

// validateLabels checks label keys and values, in key order.
func validateLabels(labels map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			return errors.Errorf("%q is not a valid label key: %s", k, strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(labels[k]); len(msgs) > 0 {
			return errors.Errorf("%q is not a valid label value: %s", labels[k], strings.Join(msgs, "; "))
		}
	}
	return nil
}

// validateToleration checks the operator, effect and key of t as the API
// server does.
func validateToleration(t corev1.Toleration) error {
	if t.Key != "" {
		if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
			return errors.Errorf("%q is not a valid key: %s", t.Key, strings.Join(msgs, "; "))
		}
	}
	switch t.Operator {
	case corev1.TolerationOpEqual, "":
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
			return errors.Errorf("%q is not a valid value: %s", t.Value, strings.Join(msgs, "; "))
		}
	case corev1.TolerationOpExists:
		if t.Value != "" {
			return errors.New("operator Exists takes no value")
		}
	default:
		return errors.Errorf("operator %q is neither Equal nor Exists", t.Operator)
	}
	if t.Key == "" && t.Operator != corev1.TolerationOpExists {
		return errors.New("an empty key needs operator Exists")
	}
	switch t.Effect {
	case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return errors.Errorf("effect %q is not NoSchedule, PreferNoSchedule or NoExecute", t.Effect)
	}
	if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
		return errors.New("tolerationSeconds needs effect NoExecute")
	}
	return nil
}
