/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package registry

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/pkg/errors"
)

// ImageJSONFile is the file of a prebuilt package's code package (type k8s,
// in the format of hyperledger-labs/fabric-builder-k8s) naming its image:
// {"name": "<repository>", "digest": "sha256:<hex>"}.
const ImageJSONFile = "image.json"

// digestPattern is a sha256 digest in its canonical form.
var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// repositoryPath is the path of a repository name below its registry, as the
// OCI distribution specification and Docker's reference grammar define it:
// lower-case alphanumeric components separated by "/", each component's
// alphanumeric runs separated by ".", "_", "__" or dashes.
var repositoryPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// IsDigest reports whether s is a sha256 digest in its canonical form,
// sha256:<64 lower-case hex digits>.
func IsDigest(s string) bool {
	return digestPattern.MatchString(s)
}

// Image is the content of image.json. Further fields are ignored, as
// fabric-builder-k8s ignores them.
type Image struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Ref is the reference the chaincode pod runs: name@digest.
func (img Image) Ref() string { return img.Name + "@" + img.Digest }

// ParseImageJSON decodes and validates image.json: name must be a repository
// name without tag or digest, digest a sha256 digest in its canonical form.
// It returns the repository name parsed.
func ParseImageJSON(raw []byte) (Image, name.Repository, error) {
	var img Image
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&img); err != nil {
		return img, name.Repository{}, errors.Wrapf(err, "%s is not a valid JSON object with string fields", ImageJSONFile)
	}
	if _, err := dec.Token(); err != io.EOF {
		return img, name.Repository{}, errors.Errorf("%s has data after its JSON object", ImageJSONFile)
	}
	switch {
	case img.Name == "":
		return img, name.Repository{}, errors.Errorf(`%s: "name" is missing or empty`, ImageJSONFile)
	case img.Digest == "":
		return img, name.Repository{}, errors.Errorf(`%s: "digest" is missing or empty`, ImageJSONFile)
	case !IsDigest(img.Digest):
		return img, name.Repository{}, errors.Errorf(`%s: "digest" %q is not sha256:<64 lower-case hex digits>`, ImageJSONFile, img.Digest)
	}
	repo, err := parseRepositoryName(img.Name)
	if err != nil {
		return img, name.Repository{}, errors.WithMessagef(err, `%s: "name" %q is not a valid image repository name`, ImageJSONFile, img.Name)
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

// LookupRef is the reference the peer looks the image repo@digest up as.
// The pod pulls the image as image.json names it; when that name is in the
// registry of pullRegistry (vm.k8s.pullRegistry) and the peer reaches that
// registry under another address (that of registry, vm.k8s.registry), the
// peer asks that address instead.
func LookupRef(registry, pullRegistry string, repo name.Repository, digest string) string {
	pullHost, peerHost := Host(pullRegistry), Host(registry)
	if pullHost != "" && peerHost != "" && pullHost != peerHost && repo.RegistryStr() == pullHost {
		return peerHost + "/" + repo.RepositoryStr() + "@" + digest
	}
	return repo.Name() + "@" + digest
}

// Host is the registry part of a repository prefix such as vm.k8s.registry,
// or "" when it cannot be parsed.
func Host(prefix string) string {
	repo, err := name.NewRepository(prefix + "/chaincode")
	if err != nil {
		return ""
	}
	return repo.RegistryStr()
}
