/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package registry

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/cli/cli/config/types"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/registry/registrytest"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

const testNamespace = "fabric"

// testConfig is what NewRemote reads of a VM's configuration: lookups in
// vm.k8s.registry without TLS verification.
func testConfig() *config.Config {
	return &config.Config{Registry: "registry.local:5000/fabric-cc", BuildNamespace: testNamespace, RegistryInsecure: true}
}

func TestRemoteRegistryAuthenticatesWithPushSecret(t *testing.T) {
	registrytest.HermeticDockerConfig(t)
	reg := registrytest.NewRegistry(t)
	ref := reg.Host + "/fabric-cc/mycc:tag"
	digest := reg.Push(t, ref)
	otherCA := registrytest.NewCA(t)

	secretFor := func(auths map[string]map[string]string) []runtime.Object {
		return []runtime.Object{registrytest.DockerConfigSecret(t, "builds", auths)}
	}
	right := map[string]string{"username": registrytest.User, "password": registrytest.Password}

	tests := []struct {
		name     string
		objects  []runtime.Object
		noSecret bool   // vm.k8s.pushSecret unset
		caPEM    []byte // vm.k8s.registryCA; the registry's CA unless set
		ref      string // ref unless set
		want     string // digest, "" for absent
		wantErr  []string
	}{
		{
			name:    "username and password",
			objects: secretFor(map[string]map[string]string{reg.Host: right}),
			want:    digest,
		},
		{
			name:    "auth field under a URL key, as docker login writes it",
			objects: secretFor(map[string]map[string]string{"https://" + reg.Host + "/v1/": {"auth": registrytest.BasicAuth(registrytest.User, registrytest.Password)}}),
			want:    digest,
		},
		{
			name:    "image not built yet",
			objects: secretFor(map[string]map[string]string{reg.Host: right}),
			ref:     reg.Host + "/fabric-cc/mycc:other",
			want:    "",
		},
		{
			name:    "wrong password",
			objects: secretFor(map[string]map[string]string{reg.Host: {"username": registrytest.User, "password": "wrong"}}),
			wantErr: []string{
				"cannot look up image " + ref + ": authentication to " + reg.Host + " failed with the credentials of Secret builds/regcred (vm.k8s.pushSecret)",
				"401 Unauthorized",
			},
		},
		{
			name:    "no entry for the registry",
			objects: secretFor(map[string]map[string]string{"registry.example.com": right}),
			wantErr: []string{"authentication to " + reg.Host + " failed: Secret builds/regcred (vm.k8s.pushSecret) has no credentials for " + reg.Host},
		},
		{
			name:     "no push secret: the default keychain",
			noSecret: true,
			wantErr:  []string{"authentication to " + reg.Host + " failed with the peer's default credentials (vm.k8s.pushSecret is not set)"},
		},
		{
			name:    "missing Secret",
			wantErr: []string{"cannot look up image " + ref + ": Secret builds/regcred (vm.k8s.pushSecret) does not exist"},
		},
		{
			name: "Secret without .dockerconfigjson",
			objects: []runtime.Object{&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: registrytest.SecretName, Namespace: "builds"},
				Data:       map[string][]byte{"password": []byte(registrytest.Password)},
			}},
			wantErr: []string{"Secret builds/regcred (vm.k8s.pushSecret) has no key .dockerconfigjson"},
		},
		{
			name: "Secret with invalid JSON",
			objects: []runtime.Object{&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: registrytest.SecretName, Namespace: "builds"},
				Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths": [`)},
			}},
			wantErr: []string{"Secret builds/regcred (vm.k8s.pushSecret): key .dockerconfigjson is not a valid Docker config"},
		},
		{
			name:    "certificate from another CA",
			objects: secretFor(map[string]map[string]string{reg.Host: right}),
			caPEM:   otherCA.PEM,
			wantErr: []string{
				"cannot look up image " + ref + ": the TLS certificate of " + reg.Host + " is not signed by a CA of vm.k8s.registryCA",
				"x509: certificate signed by unknown authority",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caPEM := tt.caPEM
			if caPEM == nil {
				caPEM = reg.CA.PEM
			}
			caFile := filepath.Join(t.TempDir(), "ca.crt")
			require.NoError(t, os.WriteFile(caFile, caPEM, 0o644))
			cfg := testConfig()
			cfg.Registry, cfg.BuildNamespace, cfg.RegistryInsecure, cfg.RegistryCA = reg.Host+"/fabric-cc", "builds", false, caFile
			if !tt.noSecret {
				cfg.PushSecret = registrytest.SecretName
			}
			r, err := NewRemote(cfg, fake.NewClientset(tt.objects...).CoreV1())
			require.NoError(t, err)

			lookup := tt.ref
			if lookup == "" {
				lookup = ref
			}
			got, err := r.Digest(context.Background(), lookup)
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					require.ErrorContains(t, err, w)
				}
				require.NotContains(t, err.Error(), registrytest.Password, "no credentials in messages")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRemoteRegistryReadsTheSecretAtEveryLookup(t *testing.T) {
	registrytest.HermeticDockerConfig(t)
	reg := registrytest.NewRegistry(t)
	ref := reg.Host + "/fabric-cc/mycc:tag"
	digest := reg.Push(t, ref)
	secret := registrytest.DockerConfigSecret(t, testNamespace, map[string]map[string]string{reg.Host: {"username": registrytest.User, "password": "old"}})
	client := fake.NewClientset(secret)
	cfg := testConfig()
	cfg.Registry, cfg.RegistryInsecure, cfg.PushSecret, cfg.RegistryCA = reg.Host+"/fabric-cc", false, registrytest.SecretName, reg.CA.File(t)
	r, err := NewRemote(cfg, client.CoreV1())
	require.NoError(t, err)

	_, err = r.Digest(context.Background(), ref)
	require.ErrorContains(t, err, "authentication to "+reg.Host+" failed with the credentials of Secret fabric/regcred")

	rotated := registrytest.DockerConfigSecret(t, testNamespace, map[string]map[string]string{reg.Host: {"username": registrytest.User, "password": registrytest.Password}})
	_, err = client.CoreV1().Secrets(testNamespace).Update(context.Background(), rotated, metav1.UpdateOptions{})
	require.NoError(t, err)
	got, err := r.Digest(context.Background(), ref)
	require.NoError(t, err)
	require.Equal(t, digest, got)
}

func TestNewRemoteRegistryRegistryCA(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644))
	tests := []struct {
		name, file, wantErr string
	}{
		{"absent file", filepath.Join(dir, "absent.crt"), "vm.k8s.registryCA: cannot read the registry CA: open " + filepath.Join(dir, "absent.crt")},
		{"no certificate", notPEM, "vm.k8s.registryCA: " + notPEM + " holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.RegistryCA = tt.file
			_, err := NewRemote(cfg, fake.NewClientset().CoreV1())
			require.ErrorContains(t, err, tt.wantErr)
		})
	}

	cfg := testConfig()
	r, err := NewRemote(cfg, fake.NewClientset().CoreV1())
	require.NoError(t, err)
	require.Nil(t, r.RootCAs)
	require.Nil(t, r.Credentials, "no vm.k8s.pushSecret: the default keychain")
	require.Equal(t, "registry.local:5000", r.InsecureHost)
}

func TestDockerConfigKeychainMatchesHosts(t *testing.T) {
	k := &dockerConfigKeychain{auths: map[string]types.AuthConfig{
		"https://index.docker.io/v1/":  {Username: "hub"},
		"registry.example.com":         {Username: "exact"},
		"https://registry.example.com": {Username: "url"},
		"http://localhost:5443/v2/":    {Username: "local"},
	}}
	tests := []struct{ host, user string }{
		{"registry.example.com", "exact"},
		{"index.docker.io", "hub"},
		{"localhost:5443", "local"},
		{"localhost:5000", ""},
		{"example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			reg, err := name.NewRegistry(tt.host)
			require.NoError(t, err)
			a, err := k.Resolve(reg)
			require.NoError(t, err)
			if tt.user == "" {
				require.Equal(t, authn.Anonymous, a)
				require.False(t, k.has(tt.host))
				return
			}
			cfg, err := a.Authorization()
			require.NoError(t, err)
			require.Equal(t, tt.user, cfg.Username)
			require.True(t, k.has(tt.host))
		})
	}
}

func TestRemoteInsecureOnlyForConfiguredRegistry(t *testing.T) {
	ref := func(s string) name.Reference {
		r, err := name.ParseReference(s)
		require.NoError(t, err)
		return r
	}
	r := &Remote{Insecure: true, InsecureHost: Host("registry.local:5000/fabric-cc")}
	require.True(t, r.insecureFor(ref("registry.local:5000/fabric-cc/mycc:tag")))
	require.True(t, r.insecureFor(ref("registry.local:5000/elsewhere/cc@"+prebuiltDigest)))
	require.False(t, r.insecureFor(ref(prebuiltName+"@"+prebuiltDigest)), "a registry a package names keeps TLS verification")
	require.False(t, r.insecureFor(ref("busybox@"+prebuiltDigest)))
	require.False(t, (&Remote{InsecureHost: "registry.local:5000"}).insecureFor(ref("registry.local:5000/x:t")))
	require.True(t, (&Remote{Insecure: true}).insecureFor(ref(prebuiltName+":t")), "no host: every registry, as before")
}
