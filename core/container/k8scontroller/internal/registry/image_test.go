/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package registry

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/stretchr/testify/require"
)

const (
	prebuiltName   = "ghcr.io/example/go-contract"
	prebuiltDigest = "sha256:802c336235cc1e7347e2da36c73fa2e4b6437cfc6f52872674d1e23f23bba63b"
)

func TestLookupRef(t *testing.T) {
	repo := func(s string) name.Repository {
		r, err := name.NewRepository(s)
		require.NoError(t, err)
		return r
	}
	// registry.local:5000 for the peer, localhost:5000 for the kubelet.
	split := func(r name.Repository) string {
		return LookupRef("registry.local:5000/fabric-cc", "localhost:5000/fabric-cc", r, prebuiltDigest)
	}
	same := func(r name.Repository) string {
		return LookupRef("localhost:5000/fabric-cc", "localhost:5000/fabric-cc", r, prebuiltDigest)
	}

	// An image in the kubelet's view of the configured registry is looked
	// up where the peer reaches that registry.
	require.Equal(t, "registry.local:5000/team/cc@"+prebuiltDigest, split(repo("localhost:5000/team/cc")))
	// Other registries are looked up as named.
	require.Equal(t, prebuiltName+"@"+prebuiltDigest, split(repo(prebuiltName)))
	require.Equal(t, "registry.local:5000/team/cc@"+prebuiltDigest, split(repo("registry.local:5000/team/cc")))
	require.Equal(t, "localhost:5000/team/cc@"+prebuiltDigest, same(repo("localhost:5000/team/cc")))
	require.Equal(t, "index.docker.io/library/busybox@"+prebuiltDigest, split(repo("busybox")))
}

func TestParseImageJSON(t *testing.T) {
	img, repo, err := ParseImageJSON([]byte(`{"name":"busybox","digest":"` + prebuiltDigest + `","imagePullPolicy":"IfNotPresent"}`))
	require.NoError(t, err, "further fields are ignored")
	require.Equal(t, Image{Name: "busybox", Digest: prebuiltDigest}, img)
	require.Equal(t, "busybox@"+prebuiltDigest, img.Ref(), "the pod runs the name as written")
	require.Equal(t, "index.docker.io/library/busybox", repo.Name())
	// The VM's tests (prebuilt_test.go) check every refusal through Build.
	_, _, err = ParseImageJSON([]byte(`{"name":"ghcr.io/example//cc","digest":"` + prebuiltDigest + `"}`))
	require.EqualError(t, err, `image.json: "name" "ghcr.io/example//cc" is not a valid image repository name: `+
		`path "example//cc" is not lower-case components separated by '/'`)
}

func TestIsDigest(t *testing.T) {
	require.True(t, IsDigest(prebuiltDigest))
	for _, d := range []string{"", "latest", "sha256:802c3362", "SHA256:" + prebuiltDigest[7:], "sha512:" + prebuiltDigest[7:], prebuiltDigest + "\n"} {
		require.False(t, IsDigest(d), d)
	}
}
