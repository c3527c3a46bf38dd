/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"crypto/tls"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/pkg/errors"
)

//go:generate counterfeiter -o mock/image_registry.go --fake-name ImageRegistry . imageRegistry

// imageRegistry looks chaincode images up in the registry.
type imageRegistry interface {
	// Digest returns the manifest digest of ref, or "" when the image does
	// not exist.
	Digest(ctx context.Context, ref string) (string, error)
}

// remoteRegistry implements imageRegistry with go-containerregistry.
type remoteRegistry struct {
	Insecure bool
	// InsecureHost, when set, limits Insecure to references in that
	// registry (vm.k8s.registry's): the registries that packages of type k8s
	// name are looked up with verified TLS (or plain HTTP on loopback and
	// private addresses, as go-containerregistry does by default).
	InsecureHost string
}

// insecureFor tells whether ref is looked up without TLS verification.
func (r *remoteRegistry) insecureFor(ref name.Reference) bool {
	return r.Insecure && (r.InsecureHost == "" || ref.Context().RegistryStr() == r.InsecureHost)
}

func (r *remoteRegistry) Digest(ctx context.Context, ref string) (string, error) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return "", errors.Wrapf(err, "invalid image reference %q", ref)
	}
	if r.insecureFor(parsed) {
		if parsed, err = name.ParseReference(ref, name.Insecure); err != nil {
			return "", errors.Wrapf(err, "invalid image reference %q", ref)
		}
		tr := remote.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // vm.k8s.registryInsecure
		opts = append(opts, remote.WithTransport(tr))
	}
	desc, err := remote.Head(parsed, opts...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return "", nil
		}
		return "", errors.Wrapf(err, "cannot look up image %s", ref)
	}
	return desc.Digest.String(), nil
}
