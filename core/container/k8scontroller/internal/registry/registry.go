/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package registry looks chaincode images up in container registries
// (go-containerregistry): the manifest digest of a reference, with the
// credentials of a Docker config Secret (vm.k8s.pushSecret) and the CAs of
// vm.k8s.registryCA. It also reads the image reference a prebuilt package
// names (image.json).
package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"sort"

	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/docker/cli/cli/config/types"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// Remote looks images up in their registries with go-containerregistry.
type Remote struct {
	Insecure bool
	// InsecureHost, when set, limits Insecure to references in that
	// registry (vm.k8s.registry's): the registries that packages of type k8s
	// name are looked up with verified TLS (or plain HTTP on loopback and
	// private addresses, as go-containerregistry does by default).
	InsecureHost string
	// RootCAs, when set, verifies registry certificates instead of the
	// system pool (see loadCA).
	RootCAs *x509.CertPool
	// RootCAsFile names where RootCAs came from, for error messages.
	RootCAsFile string
	// Credentials, when set, authenticates lookups with the Docker config
	// of a Secret (vm.k8s.pushSecret), the one Kaniko pushes with; a
	// registry the Secret has no entry for falls back to the peer's
	// default keychain, as every lookup does when Credentials is nil.
	Credentials *SecretCredentials
}

// NewRemote is the registry client of a VM configured by cfg; secrets reads
// vm.k8s.pushSecret.
func NewRemote(cfg *config.Config, secrets corev1client.SecretsGetter) (*Remote, error) {
	r := &Remote{Insecure: cfg.RegistryInsecure, InsecureHost: Host(cfg.Registry)}
	if cfg.RegistryCA != "" {
		pool, err := loadCA(cfg.RegistryCA)
		if err != nil {
			return nil, errors.WithMessagef(err, "%sregistryCA", config.Prefix)
		}
		r.RootCAs, r.RootCAsFile = pool, cfg.RegistryCA
	}
	if cfg.PushSecret != "" {
		r.Credentials = &SecretCredentials{Secrets: secrets, Namespace: cfg.BuildNamespace, Name: cfg.PushSecret}
	}
	return r, nil
}

// loadCA returns the system's certificate pool with the PEM
// certificates of file added.
func loadCA(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, errors.Wrap(err, "cannot read the registry CA")
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// insecureFor tells whether ref is looked up without TLS verification.
func (r *Remote) insecureFor(ref name.Reference) bool {
	return r.Insecure && (r.InsecureHost == "" || ref.Context().RegistryStr() == r.InsecureHost)
}

// transport is the HTTP transport of one lookup.
func (r *Remote) transport(insecure bool) http.RoundTripper {
	if !insecure && r.RootCAs == nil {
		return remote.DefaultTransport
	}
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		RootCAs:            r.RootCAs,
		InsecureSkipVerify: insecure, //nolint:gosec // vm.k8s.registryInsecure
	}
	return tr
}

// Digest returns the manifest digest of ref, or "" when the image does not
// exist.
func (r *Remote) Digest(ctx context.Context, ref string) (string, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return "", errors.Wrapf(err, "invalid image reference %q", ref)
	}
	insecure := r.insecureFor(parsed)
	if insecure {
		if parsed, err = name.ParseReference(ref, name.Insecure); err != nil {
			return "", errors.Wrapf(err, "invalid image reference %q", ref)
		}
	}
	var keychain authn.Keychain = authn.DefaultKeychain
	var secret *dockerConfigKeychain
	if r.Credentials != nil {
		if secret, err = r.Credentials.keychain(ctx); err != nil {
			return "", errors.WithMessagef(err, "cannot look up image %s", ref)
		}
		keychain = authn.NewMultiKeychain(secret, authn.DefaultKeychain)
	}
	desc, err := remote.Head(parsed,
		remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain), remote.WithTransport(r.transport(insecure)))
	if err == nil {
		return desc.Digest.String(), nil
	}
	host := parsed.Context().RegistryStr()
	var terr *transport.Error
	switch {
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		return "", nil
	case errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden):
		return "", errors.Wrapf(err, "cannot look up image %s: %s", ref, authFailure(host, secret))
	case unknownAuthority(err) && r.RootCAs != nil:
		return "", errors.Wrapf(err, "cannot look up image %s: the TLS certificate of %s is not signed by a CA of %sregistryCA (%s) or of the system",
			ref, host, config.Prefix, r.RootCAsFile)
	case unknownAuthority(err):
		return "", errors.Wrapf(err, "cannot look up image %s: the TLS certificate of %s is not signed by a CA of the system (set %sregistryCA)",
			ref, host, config.Prefix)
	}
	return "", errors.Wrapf(err, "cannot look up image %s", ref)
}

// authFailure says whose credentials the registry at host refused.
func authFailure(host string, secret *dockerConfigKeychain) string {
	switch {
	case secret == nil:
		return "authentication to " + host + " failed with the peer's default credentials (" + config.Prefix + "pushSecret is not set)"
	case !secret.has(host):
		return "authentication to " + host + " failed: " + secret.source + " has no credentials for " + host
	}
	return "authentication to " + host + " failed with the credentials of " + secret.source
}

// unknownAuthority tells whether err is a TLS certificate that no trusted
// CA signed.
func unknownAuthority(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

// SecretCredentials reads registry credentials from a
// kubernetes.io/dockerconfigjson Secret. The Secret is read at every
// lookup: builds are rare, and a rotated password applies at once.
type SecretCredentials struct {
	Secrets   corev1client.SecretsGetter
	Namespace string
	Name      string
}

func (c *SecretCredentials) String() string {
	return "Secret " + c.Namespace + "/" + c.Name + " (" + config.Prefix + "pushSecret)"
}

// keychain reads the Secret.
func (c *SecretCredentials) keychain(ctx context.Context) (*dockerConfigKeychain, error) {
	s, err := c.Secrets.Secrets(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, errors.Errorf("%s does not exist", c)
	}
	if err != nil {
		return nil, errors.Wrapf(err, "cannot read %s", c)
	}
	raw, ok := s.Data[corev1.DockerConfigJsonKey]
	if !ok {
		return nil, errors.Errorf("%s has no key %s (create it with kubectl create secret docker-registry)", c, corev1.DockerConfigJsonKey)
	}
	cf, err := dockerconfig.LoadFromReader(bytes.NewReader(raw))
	if err != nil {
		// The decoder's message quotes no credentials.
		return nil, errors.Wrapf(err, "%s: key %s is not a valid Docker config", c, corev1.DockerConfigJsonKey)
	}
	return &dockerConfigKeychain{auths: cf.AuthConfigs, source: c.String()}, nil
}

// dockerConfigKeychain resolves registries to the "auths" entries of a
// Docker config, matched by host as Docker does (an entry may be a host
// or a URL such as https://host/v1/). Credential helpers and stores named
// in the config are ignored: a Secret carries the credentials themselves.
type dockerConfigKeychain struct {
	auths  map[string]types.AuthConfig
	source string
}

// entry returns the entry for host: an exact key first, then, in key
// order, the first key that names host.
func (k *dockerConfigKeychain) entry(host string) (types.AuthConfig, bool) {
	if ac, ok := k.auths[host]; ok {
		return ac, true
	}
	keys := make([]string, 0, len(k.auths))
	for key := range k.auths {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if canonicalHost(credentials.ConvertToHostname(key)) == canonicalHost(host) {
			return k.auths[key], true
		}
	}
	return types.AuthConfig{}, false
}

func (k *dockerConfigKeychain) has(host string) bool {
	_, ok := k.entry(host)
	return ok
}

// canonicalHost maps Docker Hub's names to go-containerregistry's.
func canonicalHost(host string) string {
	switch host {
	case "docker.io", "registry-1.docker.io":
		return name.DefaultRegistry
	}
	return host
}

// Resolve implements authn.Keychain.
func (k *dockerConfigKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	ac, ok := k.entry(target.RegistryStr())
	if !ok {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username:      ac.Username,
		Password:      ac.Password,
		IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken,
	}), nil
}
