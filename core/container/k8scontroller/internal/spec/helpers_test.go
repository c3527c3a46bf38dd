/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config/configtest"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml")

const (
	testPeerID = "peer0.org1.example.com"
	testCCID   = "mycc_1.0:3a5f1b2c4d6e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
	testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

var testOwner = &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "peer0-0", UID: "1234-peer-uid"}

// fullConfig is configtest's configuration with every setting of the objects
// set.
func fullConfig() *config.Config {
	c := configtest.Config()
	c.PushSecret = "regcred"
	c.ImagePullSecrets = []string{"pull"}
	c.ServiceAccount = "chaincode"
	c.BuildServiceAccount = "builder"
	c.KanikoExtraArgs = []string{"--cache=false"}
	c.BuildHostNetwork = true
	c.HostNetwork = true
	c.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}
	c.BuildResources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}
	c.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	c.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "cc", Effect: corev1.TaintEffectNoSchedule}}
	c.PodAnnotations = map[string]string{"example.com/team": "blue", labels.CCIDAnnotation: "cannot override"}
	c.PodLabels = map[string]string{"team": "blue", labels.Name: "cannot-override"}
	return c
}

// golden compares obj, as YAML, with testdata/<name>.golden.yaml; with
// -update it first writes obj there.
func golden(t *testing.T, name string, obj interface{}) {
	t.Helper()
	got, err := yaml.Marshal(obj)
	require.NoError(t, err)
	path := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test with -update to create %s", path)
	require.Equal(t, string(want), string(got), "%s differs; run go test with -update after checking the change", path)
}
