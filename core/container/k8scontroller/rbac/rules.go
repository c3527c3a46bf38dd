/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package rbac lists the RBAC rules the peer's service account needs for
// the Kubernetes chaincode VM, per namespace and per feature. The VM's
// health check reviews them; the Roles shipped in images/peer/deploy are
// kept equal to them by unit tests.
package rbac

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
)

// ChaincodeRules are the RBAC rules the peer's service account needs in
// vm.k8s.namespace for chaincode Pods, their Secrets and Events ("get pods"
// also covers reading the peer's own pod for vm.k8s.peerPodName).
func ChaincodeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "get", "list", "watch", "delete", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
}

// SettingsRules are the RBAC rules the peer's service account needs in
// vm.k8s.namespace when vm.k8s.chaincodeConfigMap is set: one informer
// lists and watches that ConfigMap.
func SettingsRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
	}
}

// BuildRules are the RBAC rules the peer's service account needs in
// vm.k8s.buildNamespace for build Jobs: their pods are watched, attached to
// (the code package is streamed in; the WebSocket upgrade is a GET, SPDY a
// POST) and read for logs, and FailedCreate events are watched so that a
// build pod the cluster refuses fails the build at once.
func BuildRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/attach"}, Verbs: []string{"create", "get"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "list", "watch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
	}
}

// RegistryRules are the RBAC rules the peer's service account needs in
// vm.k8s.buildNamespace to read vm.k8s.pushSecret (its registry lookups
// authenticate with it) and vm.k8s.registryCAConfigMap (checked before a
// build Job mounts it); each only when that key is set.
func RegistryRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}},
	}
}

// PrePullRules are the RBAC rules the peer's service account needs in
// vm.k8s.namespace when vm.k8s.prePull.enabled is true (the default): the
// pre-pull DaemonSets are created, followed by one informer and deleted
// (their pods are read through ChaincodeRules).
func PrePullRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
	}
}

// RequiredRules are the rules of a deployment where chaincode and builds
// share one namespace (the default), per-chaincode settings are read from a
// ConfigMap and images are pre-pulled: ChaincodeRules, SettingsRules,
// PrePullRules and BuildRules merged. Without vm.k8s.chaincodeConfigMap the
// health check does not ask for SettingsRules, with vm.k8s.prePull.enabled
// false not for PrePullRules.
func RequiredRules() []rbacv1.PolicyRule {
	return MergeRules(ChaincodeRules(), SettingsRules(), PrePullRules(), BuildRules())
}

// MergeRules unions the verbs of rules on the same group and resource,
// keeping the order in which resources and verbs first appear. Each rule
// names one API group and one resource.
func MergeRules(sets ...[]rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var merged []rbacv1.PolicyRule
	index := map[string]int{}
	for _, rules := range sets {
		for _, r := range rules {
			key := r.APIGroups[0] + "/" + r.Resources[0]
			i, ok := index[key]
			if !ok {
				index[key] = len(merged)
				merged = append(merged, rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: r.Resources})
				i = len(merged) - 1
			}
			for _, v := range r.Verbs {
				if !slices.Contains(merged[i].Verbs, v) {
					merged[i].Verbs = append(merged[i].Verbs, v)
				}
			}
		}
	}
	return merged
}
