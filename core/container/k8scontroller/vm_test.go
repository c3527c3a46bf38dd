/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
users:
- name: peer
  user:
    token: x
contexts:
- name: local
  context:
    cluster: local
    user: peer
current-context: local
`

func TestRestConfigRateLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(testKubeconfig), 0o600))
	cfg := testConfig()
	cfg.Kubeconfig = path

	c, err := restConfig(cfg)
	require.NoError(t, err)
	require.EqualValues(t, config.DefaultClientQPS, c.QPS)
	require.Equal(t, config.DefaultClientBurst, c.Burst)
	require.Equal(t, fieldManager, c.UserAgent)

	cfg.ClientQPS, cfg.ClientBurst = 7.5, 9
	c, err = restConfig(cfg)
	require.NoError(t, err)
	require.EqualValues(t, 7.5, c.QPS)
	require.Equal(t, 9, c.Burst)
}

func TestNewLaunchID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newLaunchID()
		require.Len(t, id, launchIDLength)
		require.Empty(t, validation.IsDNS1123Label("x-"+id), id)
		seen[id] = true
	}
	require.Greater(t, len(seen), 990, "launch IDs are random")
}
