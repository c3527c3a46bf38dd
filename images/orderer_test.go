/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package images

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

const ordererDeploy = "orderer/deploy"

// The orderer fits the "restricted" Pod Security Standard, has no API
// token, and reads its identity from the Secrets docs/deploying.md names.
func TestOrdererRunsRestricted(t *testing.T) {
	var sts appsv1.StatefulSet
	readYAML(t, filepath.Join(ordererDeploy, "statefulset.yaml"), &sts)
	spec := sts.Spec.Template.Spec
	require.False(t, *spec.AutomountServiceAccountToken)
	require.True(t, *spec.SecurityContext.RunAsNonRoot)
	require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, spec.SecurityContext.SeccompProfile.Type)
	require.Len(t, spec.Containers, 1)
	sc := spec.Containers[0].SecurityContext
	require.False(t, *sc.AllowPrivilegeEscalation)
	require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	secrets := map[string]string{}
	for _, v := range spec.Volumes {
		require.Nil(t, v.HostPath, "volume %s", v.Name)
		if v.Secret != nil {
			secrets[v.Name] = v.Secret.SecretName
		}
	}
	require.Equal(t, map[string]string{"msp": "fabric-orderer-msp", "tls": "fabric-orderer-tls"}, secrets)
}

// Every path the orderer's configuration names is mounted from a Secret or the ledger volume.
func TestOrdererConfigurationPathsAreMounted(t *testing.T) {
	var cm corev1.ConfigMap
	readYAML(t, filepath.Join(ordererDeploy, "orderer.yaml"), &cm)
	var sts appsv1.StatefulSet
	readYAML(t, filepath.Join(ordererDeploy, "statefulset.yaml"), &sts)
	mounts := sts.Spec.Template.Spec.Containers[0].VolumeMounts
	for key, v := range cm.Data {
		for _, path := range strings.FieldsFunc(v, func(r rune) bool { return r == '[' || r == ']' || r == ',' }) {
			if !strings.HasPrefix(path, "/") {
				continue
			}
			found := false
			for _, m := range mounts {
				found = found || path == m.MountPath || strings.HasPrefix(path, m.MountPath+"/")
			}
			require.True(t, found, "%s=%s is on no volume", key, path)
		}
	}
}
