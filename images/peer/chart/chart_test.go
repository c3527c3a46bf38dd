/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package chart tests the Helm chart of the peer with the Helm CLI that
// integration/cluster builds (`make helm`; HELM names another one).
package chart

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/rbac"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/template.golden.yaml")

func helm(t *testing.T, args ...string) string {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		bin = filepath.Join("..", "..", "..", ".cluster", "bin", "helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no Helm CLI at %s: run `make helm` (or set HELM)", bin)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "helm %s\n%s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// render is `helm template` of this chart in namespace org1 with --set values.
func render(t *testing.T, args ...string) map[string][]byte {
	t.Helper()
	out := helm(t, append([]string{"template", "fabric-peer", ".", "--namespace", "org1"}, args...)...)
	objects := map[string][]byte{}
	for _, doc := range strings.Split(out, "\n---\n") {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		require.NoError(t, sigsyaml.Unmarshal([]byte(doc), &meta))
		if meta.Kind == "" {
			continue
		}
		key := meta.Kind + "/" + meta.Metadata.Name
		if meta.Metadata.Namespace != "" {
			key = meta.Kind + "/" + meta.Metadata.Namespace + "/" + meta.Metadata.Name
		}
		objects[key] = []byte(doc)
	}
	return objects
}

func decode(t *testing.T, raw []byte, into interface{}) {
	t.Helper()
	require.NotEmpty(t, raw)
	require.NoError(t, yaml.UnmarshalStrict(raw, into))
}

func TestLint(t *testing.T) {
	helm(t, "lint", "--strict", ".")
	helm(t, "lint", "--strict", ".", "-f", filepath.Join("testdata", "values-golden.yaml"))
}

// The rendering of testdata/values-golden.yaml; `go test -update` rewrites it.
func TestTemplateGolden(t *testing.T) {
	out := helm(t, "template", "fabric-peer", ".", "--namespace", "org2", "-f", filepath.Join("testdata", "values-golden.yaml"))
	golden := filepath.Join("testdata", "template.golden.yaml")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), out)
}

// The Roles grant exactly what the VM's health check asks for.
func TestRolesMatchTheVMsRules(t *testing.T) {
	var role rbacv1.Role
	decode(t, render(t)["Role/fabric-peer-chaincode"], &role)
	require.Equal(t, rbac.RequiredRules(), role.Rules)

	objs := render(t, "--set", "buildNamespace.name=org1-build")
	decode(t, objs["Role/fabric-peer-chaincode"], &role)
	require.Equal(t, rbac.MergeRules(rbac.ChaincodeRules(), rbac.SettingsRules(), rbac.PrePullRules()), role.Rules)
	decode(t, objs["Role/org1-build/fabric-peer-build"], &role)
	require.Equal(t, rbac.BuildRules(), role.Rules)
	var rb rbacv1.RoleBinding
	decode(t, objs["RoleBinding/org1-build/fabric-peer-build"], &rb)
	require.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "fabric-peer", Namespace: "org1"}}, rb.Subjects)

	objs = render(t, "--set", "buildNamespace.name=org1-build", "--set", "registryCA.configMap=ca", "--set", "vm.k8s.pushSecret=push")
	decode(t, objs["Role/org1-build/fabric-peer-build"], &role)
	require.Equal(t, rbac.MergeRules(rbac.BuildRules(), rbac.RegistryRules()), role.Rules)

	decode(t, render(t, "--set", "vm.k8s.chaincodeConfigMap=", "--set", "registryCA.configMap=ca")["Role/fabric-peer-chaincode"], &role)
	require.ElementsMatch(t, rbac.MergeRules(rbac.ChaincodeRules(), rbac.PrePullRules(), rbac.BuildRules(), rbac.RegistryRules()[1:]), role.Rules)

	decode(t, render(t, "--set", "vm.k8s.prePull.enabled=false")["Role/fabric-peer-chaincode"], &role)
	require.Equal(t, rbac.MergeRules(rbac.ChaincodeRules(), rbac.SettingsRules(), rbac.BuildRules()), role.Rules)
}

// With its default values the chart deploys what images/peer/deploy does: the
// same settings and the same Pod.
func TestDefaultsMatchTheKustomizeBase(t *testing.T) {
	base := filepath.Join("..", "deploy")
	objs := render(t)
	var got corev1.ConfigMap
	decode(t, objs["ConfigMap/fabric-peer"], &got)
	want := map[string]string{}
	for _, f := range []string{"peer-env.yaml", "peer.yaml"} {
		var cm corev1.ConfigMap
		raw, err := os.ReadFile(filepath.Join(base, f))
		require.NoError(t, err)
		decode(t, raw, &cm)
		for k, v := range cm.Data {
			want[k] = v
		}
	}
	require.Equal(t, want, got.Data)

	var sts, kustomized appsv1.StatefulSet
	decode(t, objs["StatefulSet/fabric-peer"], &sts)
	raw, err := os.ReadFile(filepath.Join(base, "statefulset.yaml"))
	require.NoError(t, err)
	decode(t, raw, &kustomized)
	a, b := sts.Spec.Template.Spec, kustomized.Spec.Template.Spec
	require.Equal(t, b.SecurityContext, a.SecurityContext)
	require.Equal(t, b.Volumes, a.Volumes)
	require.Equal(t, b.ServiceAccountName, a.ServiceAccountName)
	ca, cb := a.Containers[0], b.Containers[0]
	require.Equal(t, cb.Env, ca.Env)
	require.Equal(t, cb.Ports, ca.Ports)
	require.Equal(t, cb.ReadinessProbe, ca.ReadinessProbe)
	require.Equal(t, cb.LivenessProbe, ca.LivenessProbe)
	require.Equal(t, cb.SecurityContext, ca.SecurityContext)
	require.Equal(t, cb.VolumeMounts, ca.VolumeMounts)
	require.Equal(t, cb.Resources, ca.Resources)
	require.Equal(t, kustomized.Spec.VolumeClaimTemplates[0].Spec, sts.Spec.VolumeClaimTemplates[0].Spec)

	raw, err = os.ReadFile(filepath.Join(base, "service.yaml"))
	require.NoError(t, err)
	docs := strings.Split(string(raw), "\n---\n")
	require.Len(t, docs, 2)
	for _, doc := range docs {
		var svc, kSvc corev1.Service
		decode(t, []byte(doc), &kSvc)
		decode(t, objs["Service/"+kSvc.Name], &svc)
		require.Equal(t, kSvc.Spec, svc.Spec, kSvc.Name)
	}
	require.Equal(t, kustomized.Spec.ServiceName, sts.Spec.ServiceName)
}

// vm.k8s values become CORE_VM_K8S_* variables: groups by their prefix,
// structured values as JSON; a changed setting changes the Pod template.
func TestVMSettingsBecomeEnvironment(t *testing.T) {
	objs := render(t, "-f", filepath.Join("testdata", "values-golden.yaml"))
	var cm corev1.ConfigMap
	decode(t, objs["ConfigMap/fabric-peer"], &cm)
	require.Equal(t, "1m", cm.Data["CORE_VM_K8S_RELAUNCH_MAXBACKOFF"])
	require.Equal(t, `{"limits":{"memory":"2Gi"}}`, cm.Data["CORE_VM_K8S_BUILD_RESOURCES"])
	require.Equal(t, `{"team":"payments"}`, cm.Data["CORE_VM_K8S_PODLABELS"])
	require.Equal(t, "/etc/fabric-registry/ca.crt", cm.Data["CORE_VM_K8S_REGISTRYCA"])

	checksum := func(objs map[string][]byte) string {
		var sts appsv1.StatefulSet
		decode(t, objs["StatefulSet/fabric-peer"], &sts)
		return sts.Spec.Template.Annotations["checksum/config"]
	}
	require.NotEqual(t, checksum(render(t)), checksum(render(t, "--set", "vm.k8s.gracePeriod=5s")))
}

// values-local.yaml sets what images/peer/deploy-local does: the VM's
// settings, the peer's image and the registry CA's ConfigMap.
func TestLocalValuesMatchTheLocalOverlay(t *testing.T) {
	var k struct {
		Images []struct {
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
		Patches []struct {
			Patch string `json:"patch"`
		} `json:"patches"`
	}
	raw, err := os.ReadFile(filepath.Join("..", "deploy-local", "kustomization.yaml"))
	require.NoError(t, err)
	require.NoError(t, sigsyaml.Unmarshal(raw, &k))
	want := map[string]string{}
	var wantCA string
	for _, p := range k.Patches {
		var cm corev1.ConfigMap
		if sigsyaml.Unmarshal([]byte(p.Patch), &cm) == nil && cm.Kind == "ConfigMap" {
			for key, v := range cm.Data {
				want[key] = v
			}
		}
		var sts appsv1.StatefulSet
		if sigsyaml.Unmarshal([]byte(p.Patch), &sts) == nil && sts.Kind == "StatefulSet" {
			wantCA = registryCAConfigMap(sts)
		}
	}
	require.NotEmpty(t, want)
	require.NotEmpty(t, wantCA, "deploy-local mounts no registry-ca ConfigMap")
	require.Len(t, k.Images, 1)

	objs := render(t, "-f", "values-local.yaml")
	var got corev1.ConfigMap
	decode(t, objs["ConfigMap/fabric-peer"], &got)
	for key, v := range want {
		require.Equal(t, v, got.Data[key], key)
	}
	var sts appsv1.StatefulSet
	decode(t, objs["StatefulSet/fabric-peer"], &sts)
	require.Equal(t, k.Images[0].NewName+":"+k.Images[0].NewTag, sts.Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, wantCA, registryCAConfigMap(sts))
}

// registryCAConfigMap is the ConfigMap of the peer's registry-ca volume ("" without one).
func registryCAConfigMap(sts appsv1.StatefulSet) string {
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Name == "registry-ca" && v.ConfigMap != nil {
			return v.ConfigMap.Name
		}
	}
	return ""
}
