/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext"
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
	// imageJSONFile is the file of the code package naming the image.
	imageJSONFile = "image.json"
	// maxImageJSONSize bounds image.json; a repository name is at most 255
	// characters, so a real one is far smaller.
	maxImageJSONSize = 4096
)

// repositoryPath is the path of a repository name below its registry, as the
// OCI distribution specification and Docker's reference grammar define it:
// lower-case alphanumeric components separated by "/", each component's
// alphanumeric runs separated by ".", "_", "__" or dashes.
var repositoryPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// prebuiltImage is the content of image.json. Further fields are ignored,
// as fabric-builder-k8s ignores them.
type prebuiltImage struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// ref is the reference the chaincode pod runs.
func (img prebuiltImage) ref() string { return img.Name + "@" + img.Digest }

// buildPrebuilt returns an Instance running the image a type k8s package
// names, once the registry confirms that it holds it. It creates nothing in
// the cluster.
func (vm *VM) buildPrebuilt(ccid string, code io.Reader) (container.Instance, error) {
	img, repo, err := readPrebuiltImage(code, vm.Config.MaxCodePackageSize)
	if err != nil {
		return nil, errors.WithMessagef(err, "chaincode %s: invalid package of type k8s", ccid)
	}

	ctx, cancel := context.WithTimeout(vm.requestContext(), vm.Config.BuildTimeout)
	defer cancel()
	lookup := prebuiltLookupRef(vm.Config, repo, img.Digest)
	digest, err := vm.Registry.Digest(ctx, lookup)
	if err != nil {
		return nil, errors.WithMessagef(err, "chaincode %s: image %s", ccid, img.ref())
	}
	switch {
	case digest == "":
		return nil, errors.Errorf("chaincode %s: image %s (image.json) was not found in its registry (looked up as %s)", ccid, img.ref(), lookup)
	case digest != img.Digest:
		return nil, errors.Errorf("chaincode %s: image %s (image.json): the registry answered with digest %s", ccid, img.ref(), digest)
	}
	logger.Infof("Chaincode %s: prebuilt image %s found in its registry, nothing to build", ccid, img.ref())
	return vm.newInstance(ccid, prebuiltType, img.ref()), nil
}

// readPrebuiltImage reads and validates image.json from a type k8s code
// package. The package is checked exactly like one that is built (size
// limits, gzip and tar structure, entry names and links, see
// buildcontext.NewInput); image.json must be a regular file at its root, at
// most maxImageJSONSize bytes.
func readPrebuiltImage(code io.Reader, maxSize int64) (prebuiltImage, name.Repository, error) {
	in, err := buildcontext.NewInput(code, "", maxSize)
	if err != nil {
		return prebuiltImage{}, name.Repository{}, err
	}
	stream := in.Open()
	defer stream.Close()

	var raw []byte
	found := false
	want := buildcontext.InputDir + "/" + imageJSONFile
	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return prebuiltImage{}, name.Repository{}, errors.Wrap(err, "cannot read code package")
		}
		if strings.TrimSuffix(hdr.Name, "/") != want {
			continue
		}
		if found {
			return prebuiltImage{}, name.Repository{}, errors.Errorf("code package has more than one %s", imageJSONFile)
		}
		found = true
		if hdr.Typeflag != tar.TypeReg {
			return prebuiltImage{}, name.Repository{}, errors.Errorf("%s in the code package is not a regular file", imageJSONFile)
		}
		if hdr.Size > maxImageJSONSize {
			return prebuiltImage{}, name.Repository{}, errors.Errorf("%s is %d bytes, more than %d", imageJSONFile, hdr.Size, maxImageJSONSize)
		}
		raw, err = io.ReadAll(tr)
		if err != nil {
			return prebuiltImage{}, name.Repository{}, errors.Wrapf(err, "cannot read %s", imageJSONFile)
		}
	}
	if !found {
		return prebuiltImage{}, name.Repository{}, errors.Errorf("code package has no %s", imageJSONFile)
	}
	return parseImageJSON(raw)
}

// parseImageJSON decodes and validates image.json: name must be a repository
// name without tag or digest, digest a sha256 digest in its canonical form.
func parseImageJSON(raw []byte) (prebuiltImage, name.Repository, error) {
	var img prebuiltImage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&img); err != nil {
		return img, name.Repository{}, errors.Wrapf(err, "%s is not a valid JSON object with string fields", imageJSONFile)
	}
	if _, err := dec.Token(); err != io.EOF {
		return img, name.Repository{}, errors.Errorf("%s has data after its JSON object", imageJSONFile)
	}
	switch {
	case img.Name == "":
		return img, name.Repository{}, errors.Errorf(`%s: "name" is missing or empty`, imageJSONFile)
	case img.Digest == "":
		return img, name.Repository{}, errors.Errorf(`%s: "digest" is missing or empty`, imageJSONFile)
	case !digestPattern.MatchString(img.Digest):
		return img, name.Repository{}, errors.Errorf(`%s: "digest" %q is not sha256:<64 lower-case hex digits>`, imageJSONFile, img.Digest)
	}
	repo, err := parseRepositoryName(img.Name)
	if err != nil {
		return img, name.Repository{}, errors.WithMessagef(err, `%s: "name" %q is not a valid image repository name`, imageJSONFile, img.Name)
	}
	return img, repo, nil
}

// parseRepositoryName accepts [registry/]path, with no tag or digest: the
// pod runs name@digest as written.
func parseRepositoryName(s string) (name.Repository, error) {
	repo, err := name.NewRepository(s)
	if err != nil {
		return name.Repository{}, errors.Wrap(err, "invalid repository")
	}
	if path := repo.RepositoryStr(); !repositoryPath.MatchString(path) {
		return name.Repository{}, errors.Errorf("path %q is not lower-case components separated by '/'", path)
	}
	return repo, nil
}

// prebuiltLookupRef is the reference the peer looks the image up as. The pod
// pulls the image as image.json names it; when that name is in
// vm.k8s.pullRegistry's registry and the peer reaches that registry under
// another address (vm.k8s.registry's), the peer asks that address instead.
func prebuiltLookupRef(cfg *Config, repo name.Repository, digest string) string {
	pullHost, peerHost := registryHost(cfg.PullRegistry), registryHost(cfg.Registry)
	if pullHost != "" && peerHost != "" && pullHost != peerHost && repo.RegistryStr() == pullHost {
		return peerHost + "/" + repo.RepositoryStr() + "@" + digest
	}
	return repo.Name() + "@" + digest
}

// registryHost is the registry part of a repository prefix such as
// vm.k8s.registry, or "" when it cannot be parsed.
func registryHost(prefix string) string {
	repo, err := name.NewRepository(prefix + "/chaincode")
	if err != nil {
		return ""
	}
	return repo.RegistryStr()
}

// containerLaunch returns the arguments and environment of a chaincode
// container. Built images get DockerVM's (see chaincodeArgs and
// chaincodeEnv). A prebuilt image (type k8s) gets no arguments, so its own
// entrypoint and command run, and, as with fabric-builder-k8s, the same
// environment plus CORE_PEER_ADDRESS, which such images pass to the shim
// (Fabric's Go shim reads the address only from its -peer.address flag, so
// a Go image's command is typically
// `sh -c 'exec /chaincode -peer.address="$CORE_PEER_ADDRESS"'`).
func containerLaunch(ccType, ccid, mspID, peerAddress string, loggingEnv []string, tls bool) (args, env []string, err error) {
	env = chaincodeEnv(ccid, mspID, loggingEnv, tls)
	if ccType == prebuiltType {
		return nil, append(env, "CORE_PEER_ADDRESS="+peerAddress), nil
	}
	args, err = chaincodeArgs(ccType, peerAddress)
	return args, env, err
}
