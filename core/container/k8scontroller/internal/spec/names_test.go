/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestPodNames(t *testing.T) {
	long := strings.Repeat("verylonglabel", 10)
	tests := []struct {
		name, networkID, peerID, ccid string
		wantPrefix                    string
	}{
		{"simple", "dev", "peer0", "mycc:abc", "cc-peer0-mycc-"},
		{"uppercase and dots", "dev", "Peer0.Org1.Example.COM", "MyCC_1.0:abc", "cc-peer0-org1-example-com-mycc-1-0-"},
		{"long label", "dev", "peer0", long + ":abc", "cc-peer0-verylonglabel"},
		{"unicode", "dev", "pëer0", "ünïcode✓:abc", "cc-p-er0-n-code-"},
		{"only invalid characters", "", "", "✓✓✓:abc", "cc-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, second := "abc123", "def456"
			n := PodName(tt.networkID, tt.peerID, tt.ccid, first)
			require.LessOrEqual(t, len(n), 63)
			require.Empty(t, validation.IsDNS1123Label(n), n)
			require.True(t, strings.HasPrefix(n, tt.wantPrefix), n)
			require.True(t, strings.HasSuffix(n, "-"+first), n)
			require.Equal(t, n, PodName(tt.networkID, tt.peerID, tt.ccid, first), "deterministic")
			require.NotEqual(t, n, PodName(tt.networkID, tt.peerID, tt.ccid, second), "a new name per launch")
		})
	}
}

func TestNamesDistinguishCollisions(t *testing.T) {
	// identical after sanitising, different identities
	pairs := [][2][3]string{
		{{"dev", "peer0", "my_cc:abc"}, {"dev", "peer0", "my.cc:abc"}},
		{{"dev", "peer0", "mycc:abc"}, {"dev", "PEER0", "mycc:abc"}},
		{{"dev", "peer0", "mycc:abc"}, {"prod", "peer0", "mycc:abc"}},
		{{"dev", "peer0", strings.Repeat("a", 100) + "1:abc"}, {"dev", "peer0", strings.Repeat("a", 100) + "2:abc"}},
	}
	for _, p := range pairs {
		a, b := p[0], p[1]
		require.NotEqual(t, PodName(a[0], a[1], a[2], "abc123"), PodName(b[0], b[1], b[2], "abc123"))
	}
}

func TestLabelValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"peer0.org1.example.com", "peer0.org1.example.com"},
		{"Peer0_Org1", "Peer0_Org1"},
		{"peer 0/org1", "peer-0-org1-" + sha256Hex("peer 0/org1")[:hashLen]},
		{"", ""},
		{"✓", sha256Hex("✓")[:hashLen]},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, LabelValue(tt.in), tt.in)
	}
	long := LabelValue(strings.Repeat("p", 80))
	require.Len(t, long, 63)
	require.Empty(t, validation.IsValidLabelValue(long))
	require.NotEqual(t, long, LabelValue(strings.Repeat("p", 81)))
	require.Len(t, chaincodeHash(testCCID), 32)
	require.Empty(t, validation.IsValidLabelValue(chaincodeHash(testCCID)))
}

func TestImageNames(t *testing.T) {
	tag := ImageTag(testCCID, "builder:1", "FROM baseos", "go build")
	require.Len(t, tag, 64)
	require.Equal(t, tag, ImageTag(testCCID, "builder:1", "FROM baseos", "go build"), "same package, same tag")
	for _, other := range []string{
		ImageTag(testCCID+"x", "builder:1", "FROM baseos", "go build"),
		ImageTag(testCCID, "builder:2", "FROM baseos", "go build"),
		ImageTag(testCCID, "builder:1", "FROM baseos:2", "go build"),
		ImageTag(testCCID, "builder:1", "FROM baseos", "go build -x"),
	} {
		require.NotEqual(t, tag, other)
	}

	require.Equal(t, "localhost:5000/fabric-cc/mycc_1.0:"+tag, ImageRef("localhost:5000/fabric-cc", testCCID, tag))
	repos := map[string]string{
		"MyCC:abc":               "mycc",
		"my cc/../x:abc":         "my-cc-x",
		"__weird__:abc":          "weird",
		"✓:abc":                  "chaincode",
		"nolabel":                "nolabel",
		strings.Repeat("a", 200): strings.Repeat("a", maxRepoLength),
	}
	for ccid, want := range repos {
		require.Equal(t, want, imageRepository(ccid), ccid)
		_, err := name.NewRepository("localhost:5000/" + imageRepository(ccid))
		require.NoError(t, err)
	}

	job := BuildJobName(tag)
	require.Equal(t, job, BuildJobName(tag), "every peer uses the same job name")
	require.Empty(t, validation.IsDNS1123Label(job))
}
