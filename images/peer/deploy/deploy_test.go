/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package deploy

import (
	"os"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// The Role shipped for operators grants exactly what the VM checks for in
// its health check: no more, no less.
func TestRoleMatchesRequiredRules(t *testing.T) {
	raw, err := os.ReadFile("role.yaml")
	require.NoError(t, err)
	var role rbacv1.Role
	require.NoError(t, yaml.UnmarshalStrict(raw, &role))
	require.Equal(t, "Role", role.Kind, "a namespaced Role, not a ClusterRole")
	require.Equal(t, k8scontroller.RequiredRules(), role.Rules)
}

func TestRoleBindingBindsThePeerServiceAccount(t *testing.T) {
	raw, err := os.ReadFile("rolebinding.yaml")
	require.NoError(t, err)
	var rb rbacv1.RoleBinding
	require.NoError(t, yaml.UnmarshalStrict(raw, &rb))
	require.Equal(t, "fabric-peer-chaincode", rb.RoleRef.Name)
	require.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "fabric-peer"}}, rb.Subjects)
}
