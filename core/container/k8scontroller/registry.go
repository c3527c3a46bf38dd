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
}

func (r *remoteRegistry) Digest(ctx context.Context, ref string) (string, error) {
	var nameOpts []name.Option
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	if r.Insecure {
		nameOpts = append(nameOpts, name.Insecure)
		tr := remote.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // vm.k8s.registryInsecure
		opts = append(opts, remote.WithTransport(tr))
	}
	parsed, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		return "", errors.Wrapf(err, "invalid image reference %q", ref)
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
