/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/rbac"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
	require.Equal(t, rbac.RequiredRules(), role.Rules)
}

// The Roles for a separate build namespace grant exactly what the health
// check looks for there: the builds', and the registry's with a push Secret
// and a CA ConfigMap.
func TestBuildNamespaceRolesMatchTheirRules(t *testing.T) {
	for _, tc := range []struct {
		dir, name string
		rules     []rbacv1.PolicyRule
	}{
		{"build-namespace", "fabric-peer-build", rbac.BuildRules()},
		{"build-namespace-registry", "fabric-peer-build-registry", rbac.RegistryRules()},
	} {
		var role rbacv1.Role
		readYAML(t, filepath.Join(tc.dir, "role.yaml"), &role)
		require.Equal(t, "Role", role.Kind, tc.dir)
		require.Equal(t, tc.name, role.Name, tc.dir)
		require.Equal(t, tc.rules, role.Rules, tc.dir)
	}
}

// The shipped peer reads per-chaincode settings, so that the health check
// asks for every rule of the Role (the in-cluster suite removes each in turn
// and expects /healthz to name it).
func TestPeerEnvNamesTheChaincodeSettingsConfigMap(t *testing.T) {
	var vmEnv corev1.ConfigMap
	readYAML(t, "peer-env.yaml", &vmEnv)
	require.Equal(t, "fabric-chaincode-settings", vmEnv.Data["CORE_VM_K8S_CHAINCODECONFIGMAP"])
	require.Contains(t, rbac.RequiredRules(), rbac.SettingsRules()[0])
}

func TestRoleBindingBindsThePeerServiceAccount(t *testing.T) {
	raw, err := os.ReadFile("rolebinding.yaml")
	require.NoError(t, err)
	var rb rbacv1.RoleBinding
	require.NoError(t, yaml.UnmarshalStrict(raw, &rb))
	require.Equal(t, "fabric-peer-chaincode", rb.RoleRef.Name)
	require.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "fabric-peer"}}, rb.Subjects)
}

func readYAML(t *testing.T, file string, into interface{}) {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(raw, into))
}

// The StatefulSet runs the peer with in-cluster client configuration, owns
// what the VM creates (downward API pod name), advertises its Service's name
// as the chaincode and peer address, and fits the "restricted" Pod Security Standard (it
// shares the namespace with its chaincode pods).
func TestStatefulSetRunsThePeerInCluster(t *testing.T) {
	var sts appsv1.StatefulSet
	readYAML(t, "statefulset.yaml", &sts)
	spec := sts.Spec.Template.Spec
	require.Equal(t, "fabric-peer", spec.ServiceAccountName)
	require.False(t, spec.HostNetwork)
	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	require.Equal(t, "metadata.name", env["POD_NAME"].ValueFrom.FieldRef.FieldPath)
	require.Equal(t, "metadata.namespace", env["POD_NAMESPACE"].ValueFrom.FieldRef.FieldPath)
	require.Equal(t, "$(POD_NAME)", env["CORE_VM_K8S_PEERPODNAME"].Value)
	// the peer's Service (a cluster IP) by name; the headless one governs the StatefulSet
	services := readServices(t)
	require.Len(t, services, 2)
	svc, headless := services[0], services[1]
	require.Empty(t, svc.Spec.ClusterIP, "a cluster IP: stable across the Pod's recreation")
	require.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP)
	require.Equal(t, headless.Name, sts.Spec.ServiceName)
	host := svc.Name + ".$(POD_NAMESPACE).svc"
	require.Equal(t, host+":7052", env["CORE_PEER_CHAINCODEADDRESS"].Value)
	require.Equal(t, host+":7051", env["CORE_PEER_ADDRESS"].Value)

	var vmEnv corev1.ConfigMap
	readYAML(t, "peer-env.yaml", &vmEnv)
	require.Equal(t, "k8s", vmEnv.Data["CORE_VM_TYPE"])
	kc, ok := vmEnv.Data["CORE_VM_K8S_KUBECONFIG"]
	require.True(t, ok)
	require.Empty(t, kc, "in-cluster config from the ServiceAccount")
	var refs []string
	for _, e := range c.EnvFrom {
		refs = append(refs, e.ConfigMapRef.Name)
	}
	require.Contains(t, refs, vmEnv.Name)

	psc := spec.SecurityContext
	require.True(t, *psc.RunAsNonRoot)
	require.NotZero(t, *psc.RunAsUser)
	require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, psc.SeccompProfile.Type)
	sc := c.SecurityContext
	require.False(t, *sc.AllowPrivilegeEscalation)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	require.Empty(t, sc.Capabilities.Add)
	for _, v := range spec.Volumes {
		require.Nil(t, v.HostPath, "volume %s: hostPath is not allowed under restricted", v.Name)
	}
}

func TestServicesExposePeerAndChaincodePorts(t *testing.T) {
	for _, svc := range readServices(t) {
		ports := map[string]int32{}
		for _, p := range svc.Spec.Ports {
			ports[p.Name] = p.Port
		}
		require.Equal(t, int32(7051), ports["peer"], svc.Name)
		require.Equal(t, int32(7052), ports["chaincode"], svc.Name)
		require.True(t, svc.Spec.PublishNotReadyAddresses, "%s: a restarting peer's chaincode reaches it before it is ready", svc.Name)
	}
}

// readServices decodes the documents of service.yaml.
func readServices(t *testing.T) []corev1.Service {
	raw, err := os.ReadFile("service.yaml")
	require.NoError(t, err)
	var out []corev1.Service
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var svc corev1.Service
		require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &svc))
		out = append(out, svc)
	}
	return out
}
