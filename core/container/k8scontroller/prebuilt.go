/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"archive/tar"
	"context"
	"io"
	"strings"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/registry"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/hyperledger/fabric/core/container"
	"github.com/pkg/errors"
)

// Chaincode packages of type "k8s" name an image that was built and pushed
// outside the peer, in the format of hyperledger-labs/fabric-builder-k8s:
// metadata.json {"type": "k8s", "label": ...} and a code.tar.gz holding
// image.json {"name": "<repository>", "digest": "sha256:<hex>"} and,
// optionally, META-INF (CouchDB indexes, which Fabric extracts itself
// whatever the type). No image is built: the peer checks that the registry
// has name@digest and the chaincode pod runs it with the image's own
// entrypoint, as fabric-builder-k8s does.
const (
	// prebuiltType is the upper-cased chaincode type of such packages.
	prebuiltType = "K8S"
	// maxImageJSONSize bounds image.json; a repository name is at most 255
	// characters, so a real one is far smaller.
	maxImageJSONSize = 4096
)

// buildPrebuilt returns an Instance running the image a type k8s package
// names, once the registry confirms that it holds it, and pre-pulls the
// image (the peer builds at install and at start: it cannot tell which).
func (vm *VM) buildPrebuilt(ccid string, code io.Reader) (container.Instance, error) {
	img, repo, err := readPrebuiltImage(code, vm.Config.MaxCodePackageSize)
	if err != nil {
		return nil, errors.WithMessagef(err, "chaincode %s: invalid package of type k8s", ccid)
	}

	ctx, cancel := context.WithTimeout(vm.requestContext(), vm.Config.BuildTimeout)
	defer cancel()
	lookup := registry.LookupRef(vm.Config.Registry, vm.Config.PullRegistry, repo, img.Digest)
	digest, err := vm.Registry.Digest(ctx, lookup)
	if err != nil {
		return nil, errors.WithMessagef(err, "chaincode %s: image %s", ccid, img.Ref())
	}
	switch {
	case digest == "":
		return nil, errors.Errorf("chaincode %s: image %s (image.json) was not found in its registry (looked up as %s)", ccid, img.Ref(), lookup)
	case digest != img.Digest:
		return nil, errors.Errorf("chaincode %s: image %s (image.json): the registry answered with digest %s", ccid, img.Ref(), digest)
	}
	logger.Infof("Chaincode %s: prebuilt image %s found in its registry, nothing to build", ccid, img.Ref())
	vm.prePull(ccid, img.Ref())
	return vm.newInstance(ccid, prebuiltType, img.Ref()), nil
}

// readPrebuiltImage reads and validates image.json from a type k8s code
// package. The package is checked exactly like one that is built (size
// limits, gzip and tar structure, entry names and links, see
// buildcontext.NewInput); image.json must be a regular file at its root, at
// most maxImageJSONSize bytes.
func readPrebuiltImage(code io.Reader, maxSize int64) (registry.Image, name.Repository, error) {
	in, err := buildcontext.NewInput(code, "", maxSize)
	if err != nil {
		return registry.Image{}, name.Repository{}, err
	}
	stream := in.Open()
	defer stream.Close()

	var raw []byte
	found := false
	want := buildcontext.InputDir + "/" + registry.ImageJSONFile
	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return registry.Image{}, name.Repository{}, errors.Wrap(err, "cannot read code package")
		}
		if strings.TrimSuffix(hdr.Name, "/") != want {
			continue
		}
		if found {
			return registry.Image{}, name.Repository{}, errors.Errorf("code package has more than one %s", registry.ImageJSONFile)
		}
		found = true
		if hdr.Typeflag != tar.TypeReg {
			return registry.Image{}, name.Repository{}, errors.Errorf("%s in the code package is not a regular file", registry.ImageJSONFile)
		}
		if hdr.Size > maxImageJSONSize {
			return registry.Image{}, name.Repository{}, errors.Errorf("%s is %d bytes, more than %d", registry.ImageJSONFile, hdr.Size, maxImageJSONSize)
		}
		raw, err = io.ReadAll(tr)
		if err != nil {
			return registry.Image{}, name.Repository{}, errors.Wrapf(err, "cannot read %s", registry.ImageJSONFile)
		}
	}
	if !found {
		return registry.Image{}, name.Repository{}, errors.Errorf("code package has no %s", registry.ImageJSONFile)
	}
	return registry.ParseImageJSON(raw)
}

// containerLaunch returns the arguments and environment of a chaincode
// container. Built images get DockerVM's (see spec.ChaincodeArgs and
// spec.ChaincodeEnv). A prebuilt image (type k8s) gets no arguments, so its
// own entrypoint and command run, and, as with fabric-builder-k8s, the same
// environment plus CORE_PEER_ADDRESS, which such images pass to the shim
// (Fabric's Go shim reads the address only from its -peer.address flag, so
// a Go image's command is typically
// `sh -c 'exec /chaincode -peer.address="$CORE_PEER_ADDRESS"'`).
func containerLaunch(ccType, ccid, mspID, peerAddress string, loggingEnv []string, tls bool) (args, env []string, err error) {
	env = spec.ChaincodeEnv(ccid, mspID, loggingEnv, tls)
	if ccType == prebuiltType {
		return nil, append(env, "CORE_PEER_ADDRESS="+peerAddress), nil
	}
	args, err = spec.ChaincodeArgs(ccType, peerAddress)
	return args, env, err
}
