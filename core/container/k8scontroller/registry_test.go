/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"bytes"
	"context"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/registry"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/registry/registrytest"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBuildAuthenticatesItsCacheCheck runs Build against the registry: a
// cache hit creates nothing but reads the push Secret; refused credentials
// fail the install, naming the registry and the Secret, before any Job.
func TestBuildAuthenticatesItsCacheCheck(t *testing.T) {
	registrytest.HermeticDockerConfig(t)
	reg := registrytest.NewRegistry(t)
	cfg := testConfig()
	cfg.Registry, cfg.RegistryInsecure, cfg.PushSecret = reg.Host+"/fabric-cc", false, registrytest.SecretName
	cfg.RegistryCA = reg.CA.File(t)
	secret := registrytest.DockerConfigSecret(t, testNamespace, map[string]map[string]string{reg.Host: {"username": registrytest.User, "password": registrytest.Password}})
	vm := newTestVM(t, cfg, secret)
	r, err := registry.NewRemote(cfg, vm.client.CoreV1())
	require.NoError(t, err)
	vm.VM.Registry = r

	code := goCodePackage(t)
	req, err := vm.prepareBuild(testCCID, "GOLANG", goMetadata.Path)
	require.NoError(t, err)
	digest := reg.Push(t, req.Ref)

	inst, err := vm.Build(testCCID, goMetadata, bytes.NewReader(code))
	require.NoError(t, err)
	require.Equal(t, req.PullRef+"@"+digest, inst.(*Instance).Image)
	require.Equal(t, 1, vm.metrics.cacheHits.AddCallCount())
	for _, a := range vm.client.Actions() {
		require.True(t, a.Matches("get", "secrets"), "a cache hit only reads the push Secret: %v", a)
	}

	secret = registrytest.DockerConfigSecret(t, testNamespace, map[string]map[string]string{reg.Host: {"username": registrytest.User, "password": "rotated"}})
	_, err = vm.client.CoreV1().Secrets(testNamespace).Update(context.Background(), secret, metav1.UpdateOptions{})
	require.NoError(t, err)
	vm.client.ClearActions()
	_, err = vm.Build(testCCID, goMetadata, bytes.NewReader(code))
	require.ErrorContains(t, err, "chaincode "+testCCID+": cannot look up image "+req.Ref+": authentication to "+reg.Host+
		" failed with the credentials of Secret fabric/regcred (vm.k8s.pushSecret)")
	for _, a := range vm.client.Actions() {
		require.False(t, a.Matches("create", "jobs"), "no build Job when the registry refuses the credentials")
	}
}
