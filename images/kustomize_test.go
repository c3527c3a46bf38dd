/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package images tests what the image directories have in common.
package images

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// Every manifest of a base is part of its kustomization: a file left out
// would be missing from every deployment.
func TestKustomizationsListEveryManifest(t *testing.T) {
	for _, dir := range []string{"peer/deploy", "peer/deploy/build-namespace", "orderer/deploy", "local-storage"} {
		var k struct {
			APIVersion string   `json:"apiVersion"`
			Kind       string   `json:"kind"`
			Resources  []string `json:"resources"`
		}
		readYAML(t, filepath.Join(dir, "kustomization.yaml"), &k)
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		require.NoError(t, err)
		var want []string
		for _, f := range files {
			if filepath.Base(f) != "kustomization.yaml" {
				want = append(want, filepath.Base(f))
			}
		}
		require.ElementsMatch(t, want, k.Resources, dir)
	}
}

func readYAML(t *testing.T, file string, into interface{}) {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(raw, into), file)
}
