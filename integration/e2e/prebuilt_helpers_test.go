//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// prebuiltKV is the kv chaincode's image as a CI pipeline would publish it.
type prebuiltKV struct {
	Name    string // repository as the peers and the kubelet see it
	Digest  string
	Compile time.Duration
	Push    time.Duration
}

// Ref is what the chaincode pods run.
func (p prebuiltKV) Ref() string { return p.Name + "@" + p.Digest }

// prebuiltEntrypoint starts the chaincode the way images for
// fabric-builder-k8s do: Fabric's Go shim takes the peer address from its
// -peer.address flag only, so a shell passes CORE_PEER_ADDRESS on.
var prebuiltEntrypoint = []string{"/bin/sh", "-c", `exec /usr/local/bin/kv -peer.address="$CORE_PEER_ADDRESS"`}

// buildPrebuiltKV builds the kv chaincode into an image entirely outside the
// peer: a static binary compiled on the host, appended as one layer onto the
// chaincode runtime image (chaincode.golang.runtime, which has /bin/sh) and
// pushed to the registry of vm.k8s.registry, under <registry>/prebuilt/kv.
// The test talks to that registry at s.RegistryAddr (loopback); the package
// names it as the peers and the kubelet do.
func buildPrebuiltKV(ctx context.Context, s settings, dir string) (prebuiltKV, error) {
	var out prebuiltKV
	regHost, prefix, _ := strings.Cut(s.Peer.VM.Registry, "/")
	repoPath := strings.Trim(prefix+"/prebuilt/kv", "/")
	baseRest, ok := strings.CutPrefix(s.Peer.BaseOSImage, regHost+"/")
	if !ok {
		return out, fmt.Errorf("the runtime image %s is not in the registry %s the test can push to", s.Peer.BaseOSImage, regHost)
	}

	start := time.Now()
	src := filepath.Join(dir, "src")
	if err := network.PrepareGoChaincode(filepath.Join(s.RepoRoot, "integration", "chaincode", "kv"), src, nil); err != nil {
		return out, err
	}
	bin := filepath.Join(dir, "kv")
	cmd := exec.CommandContext(ctx, "go", "build", "-mod=vendor", "-trimpath", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH,
		"GOFLAGS=-buildvcs=false", "GOWORK=off", "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		return out, fmt.Errorf("go build of kv: %w\n%s", err, b)
	}
	out.Compile = time.Since(start)

	start = time.Now()
	base, err := name.ParseReference(s.RegistryAddr+"/"+baseRest, name.Insecure)
	if err != nil {
		return out, err
	}
	baseImg, err := remote.Image(base, remote.WithContext(ctx))
	if err != nil {
		return out, fmt.Errorf("pulling %s: %w", base, err)
	}
	layerTar, err := binaryLayer(bin, "usr/local/bin/kv")
	if err != nil {
		return out, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return out, err
	}
	img, err := mutate.AppendLayers(baseImg, layer)
	if err != nil {
		return out, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return out, err
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Entrypoint = prebuiltEntrypoint
	cfg.Config.Cmd = nil
	cfg.Config.WorkingDir = "/"
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return out, err
	}

	tag := strings.NewReplacer("/", "-", ":", "-").Replace(s.Namespace)
	push, err := name.ParseReference(s.RegistryAddr+"/"+repoPath+":"+tag, name.Insecure)
	if err != nil {
		return out, err
	}
	if err := remote.Write(push, img, remote.WithContext(ctx)); err != nil {
		return out, fmt.Errorf("pushing %s: %w", push, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return out, err
	}
	out.Name, out.Digest, out.Push = regHost+"/"+repoPath, digest.String(), time.Since(start)
	return out, nil
}

// binaryLayer is an uncompressed layer holding the file at src as the
// executable at path.
func binaryLayer(src, path string) ([]byte, error) {
	body, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := strings.Split(filepath.Dir(path), "/")
	for i := range dirs {
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(dirs[:i+1], "/") + "/", Mode: 0o755}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: 0o755, Size: int64(len(body))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(body); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeK8sPackage writes a chaincode package of type k8s (testkit.K8sPackage)
// whose code package also carries a CouchDB index under META-INF, which
// Fabric extracts whatever the type.
func writeK8sPackage(file, label, imageName, digest string) error {
	pkg, err := testkit.K8sPackage(label, imageName, digest, testkit.TarEntry{
		Name: "META-INF/statedb/couchdb/indexes/indexValue.json",
		Body: `{"index":{"fields":["value"]},"ddoc":"indexValueDoc","name":"indexValue","type":"json"}`,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(file, pkg, 0o644)
}
