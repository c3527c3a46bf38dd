/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperledger/fabric/integration/nwo/template"
	"github.com/stretchr/testify/require"
)

func TestLineBinDir(t *testing.T) {
	dir, err := LineBinDir("/repo", FabricLine31)
	require.NoError(t, err)
	require.Equal(t, filepath.Join("/repo", "bin"), dir)
	dir, err = LineBinDir("/repo", FabricLine25)
	require.NoError(t, err)
	require.Equal(t, filepath.Join("/repo", "bin", "2.5"), dir)
	_, err = LineBinDir("/repo", "2.2")
	require.ErrorContains(t, err, `unknown Fabric line "2.2"`)
}

func TestLineModuleDir(t *testing.T) {
	dir, err := LineModuleDir("/repo", FabricLine31)
	require.NoError(t, err)
	require.Equal(t, "/repo", dir)
	dir, err = LineModuleDir("/repo", FabricLine25)
	require.NoError(t, err)
	require.Equal(t, filepath.Join("/repo", "cmd", "fabric-2.5"), dir)
	_, err = LineModuleDir("/repo", "2")
	require.ErrorContains(t, err, `unknown Fabric line "2"`)
}

func TestFabricLineFromEnv(t *testing.T) {
	t.Setenv(FabricLineEnv, "")
	line, err := FabricLineFromEnv()
	require.NoError(t, err)
	require.Equal(t, FabricLine31, line)
	t.Setenv(FabricLineEnv, "2.5")
	line, err = FabricLineFromEnv()
	require.NoError(t, err)
	require.Equal(t, FabricLine25, line)
	t.Setenv(FabricLineEnv, "3")
	_, err = FabricLineFromEnv()
	require.ErrorContains(t, err, `unknown Fabric line "3" (FABRIC)`)
}

func TestLineOrdererTemplate(t *testing.T) {
	t31, err := lineOrdererTemplate(FabricLine31)
	require.NoError(t, err)
	require.Equal(t, template.DefaultOrderer, t31)

	t25, err := lineOrdererTemplate(FabricLine25)
	require.NoError(t, err)
	for _, gone := range []string{"Throttling:", "InactivityTimeout:", "Backoff:", "Multiplier:", "ReplicationPolicy:"} {
		require.NotContains(t, t25, gone)
	}
	// Only those keys go: their neighbours stay, and so does every other line.
	for _, kept := range []string{"  ListenPort: {{ .OrdererPort Orderer \"Listen\" }}\n  TLS:\n", "    ServerPrivateKey:", "    DialTimeout: 5s",
		"    ServerTimeout: 20s\n  BootstrapMethod: \"none\"\n"} {
		require.Contains(t, t25, kept)
	}
	require.Equal(t, strings.Count(template.DefaultOrderer, "\n")-12, strings.Count(t25, "\n"))

	_, err = lineOrdererTemplate("2.2")
	require.ErrorContains(t, err, `unknown Fabric line "2.2"`)
}

func TestLineCoreTemplate(t *testing.T) {
	core, err := DefaultPeerConfig("/kubeconfig", "ns").CoreTemplate()
	require.NoError(t, err)
	c31, err := lineCoreTemplate(FabricLine31, core)
	require.NoError(t, err)
	require.Equal(t, core, c31)

	c25, err := DefaultPeerConfig("/kubeconfig", "ns").CoreTemplateFor(FabricLine25)
	require.NoError(t, err)
	for _, gone := range []string{"TimeWindowCheck", "PeerDeliveryClientPolicy", "runtimeParams", "UseWriteBatch", "maxSizeGetMultipleKeys"} {
		require.NotContains(t, c25, gone)
	}
	require.Contains(t, c25, "    - name: ExpirationCheck")
	require.Contains(t, c25, "    reconnectTotalTimeThreshold: 3600s\n  localMspType: bccsp\n")
	require.Contains(t, c25, "kubeconfig: /kubeconfig")
	require.Equal(t, strings.Count(core, "\n")-7, strings.Count(c25, "\n"))

	_, err = DefaultPeerConfig("/kubeconfig", "ns").CoreTemplateFor("")
	require.ErrorContains(t, err, `unknown Fabric line ""`)
}

func TestDropYAMLKeys(t *testing.T) {
	y := "a:\n  b:\n    c: 1\n   # note\n\n    d: 2\n  e: 3\n"
	out, err := dropYAMLKeys(y, "  b:")
	require.NoError(t, err)
	require.Equal(t, "a:\n  e: 3\n", out)

	_, err = dropYAMLKeys(y, "  f:")
	require.ErrorContains(t, err, `"f:" occurs 0 times, want once`)
	_, err = dropYAMLKeys("x:\n  b: 1\ny:\n  b: 2\n", "  b:")
	require.ErrorContains(t, err, `"b:" occurs 2 times, want once`)
}
