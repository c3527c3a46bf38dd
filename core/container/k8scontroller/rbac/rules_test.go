/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package rbac

import (
	"testing"

	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
)

func TestMergeRules(t *testing.T) {
	pods := func(verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: verbs}
	}
	jobs := func(verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: verbs}
	}
	batchPods := rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"pods"}, Verbs: []string{"get"}}

	require.Nil(t, MergeRules())
	require.Equal(t,
		[]rbacv1.PolicyRule{pods("get", "list", "create"), jobs("watch"), batchPods},
		MergeRules([]rbacv1.PolicyRule{pods("get", "list")}, []rbacv1.PolicyRule{jobs("watch"), pods("list", "create"), batchPods}),
		"verbs of the same group and resource are unioned in the order they first appear; another group is another rule")

	first := []rbacv1.PolicyRule{pods("get")}
	MergeRules(first, []rbacv1.PolicyRule{pods("delete")})
	require.Equal(t, []rbacv1.PolicyRule{pods("get")}, first, "the rules merged are not modified")
}

// RequiredRules grant every verb of the rules of each feature, so that a
// deployment with the shipped Role passes the health check whatever it
// enables but a separate build namespace and registry credentials.
func TestRequiredRulesCoverTheFeatures(t *testing.T) {
	required := map[string]map[string]bool{}
	for _, r := range RequiredRules() {
		require.Len(t, r.APIGroups, 1)
		require.Len(t, r.Resources, 1)
		key := r.APIGroups[0] + "/" + r.Resources[0]
		require.Nil(t, required[key], "%s appears once", key)
		required[key] = map[string]bool{}
		for _, v := range r.Verbs {
			required[key][v] = true
		}
	}
	for _, rules := range [][]rbacv1.PolicyRule{ChaincodeRules(), SettingsRules(), PrePullRules(), BuildRules()} {
		for _, r := range rules {
			for _, v := range r.Verbs {
				require.True(t, required[r.APIGroups[0]+"/"+r.Resources[0]][v], "%s %s", v, r.Resources[0])
			}
		}
	}
}
