/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

const (
	registryUser     = "fabric"
	registryPassword = "s3cret"
	pushSecretName   = "regcred"
)

// testCA is a self-made CA that signs registry certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "registry test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// serverCert is a certificate for 127.0.0.1 and localhost.
func (ca *testCA) serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// caFile writes the CA's PEM into a file and returns its path.
func (ca *testCA) caFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(f, ca.pem, 0o644))
	return f
}

// testRegistry is go-containerregistry's in-memory registry behind TLS and
// HTTP basic authentication, like docker-registry with htpasswd.
type testRegistry struct {
	host string // 127.0.0.1:<port>
	ca   *testCA
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	ca := newTestCA(t)
	handler := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != registryUser || p != registryPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="test registry"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t)}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return &testRegistry{host: u.Host, ca: ca}
}

// push writes a small random image as ref and returns its digest.
func (r *testRegistry) push(t *testing.T, ref string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	require.NoError(t, err)
	parsed, err := name.ParseReference(ref)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.ca.pem)
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	require.NoError(t, remote.Write(parsed, img, remote.WithTransport(tr),
		remote.WithAuth(&authn.Basic{Username: registryUser, Password: registryPassword})))
	d, err := img.Digest()
	require.NoError(t, err)
	return d.String()
}

// dockerConfigSecret is a kubernetes.io/dockerconfigjson Secret holding
// auths, as `kubectl create secret docker-registry` writes it.
func dockerConfigSecret(t *testing.T, namespace string, auths map[string]map[string]string) *corev1.Secret {
	t.Helper()
	raw, err := json.Marshal(map[string]interface{}{"auths": auths})
	require.NoError(t, err)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: pushSecretName, Namespace: namespace},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: raw},
	}
}

func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// hermeticDockerConfig points the default keychain at an empty directory.
func hermeticDockerConfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", home)
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("XDG_CONFIG_HOME", home)
}

func TestRemoteRegistryAuthenticatesWithPushSecret(t *testing.T) {
	hermeticDockerConfig(t)
	reg := newTestRegistry(t)
	ref := reg.host + "/fabric-cc/mycc:tag"
	digest := reg.push(t, ref)
	otherCA := newTestCA(t)

	secretFor := func(auths map[string]map[string]string) []runtime.Object {
		return []runtime.Object{dockerConfigSecret(t, "builds", auths)}
	}
	right := map[string]string{"username": registryUser, "password": registryPassword}

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
			objects: secretFor(map[string]map[string]string{reg.host: right}),
			want:    digest,
		},
		{
			name:    "auth field under a URL key, as docker login writes it",
			objects: secretFor(map[string]map[string]string{"https://" + reg.host + "/v1/": {"auth": basicAuth(registryUser, registryPassword)}}),
			want:    digest,
		},
		{
			name:    "image not built yet",
			objects: secretFor(map[string]map[string]string{reg.host: right}),
			ref:     reg.host + "/fabric-cc/mycc:other",
			want:    "",
		},
		{
			name:    "wrong password",
			objects: secretFor(map[string]map[string]string{reg.host: {"username": registryUser, "password": "wrong"}}),
			wantErr: []string{
				"cannot look up image " + ref + ": authentication to " + reg.host + " failed with the credentials of Secret builds/regcred (vm.k8s.pushSecret)",
				"401 Unauthorized",
			},
		},
		{
			name:    "no entry for the registry",
			objects: secretFor(map[string]map[string]string{"registry.example.com": right}),
			wantErr: []string{"authentication to " + reg.host + " failed: Secret builds/regcred (vm.k8s.pushSecret) has no credentials for " + reg.host},
		},
		{
			name:     "no push secret: the default keychain",
			noSecret: true,
			wantErr:  []string{"authentication to " + reg.host + " failed with the peer's default credentials (vm.k8s.pushSecret is not set)"},
		},
		{
			name:    "missing Secret",
			wantErr: []string{"cannot look up image " + ref + ": Secret builds/regcred (vm.k8s.pushSecret) does not exist"},
		},
		{
			name: "Secret without .dockerconfigjson",
			objects: []runtime.Object{&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: pushSecretName, Namespace: "builds"},
				Data:       map[string][]byte{"password": []byte(registryPassword)},
			}},
			wantErr: []string{"Secret builds/regcred (vm.k8s.pushSecret) has no key .dockerconfigjson"},
		},
		{
			name: "Secret with invalid JSON",
			objects: []runtime.Object{&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: pushSecretName, Namespace: "builds"},
				Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths": [`)},
			}},
			wantErr: []string{"Secret builds/regcred (vm.k8s.pushSecret): key .dockerconfigjson is not a valid Docker config"},
		},
		{
			name:    "certificate from another CA",
			objects: secretFor(map[string]map[string]string{reg.host: right}),
			caPEM:   otherCA.pem,
			wantErr: []string{
				"cannot look up image " + ref + ": the TLS certificate of " + reg.host + " is not signed by a CA of vm.k8s.registryCA",
				"x509: certificate signed by unknown authority",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caPEM := tt.caPEM
			if caPEM == nil {
				caPEM = reg.ca.pem
			}
			caFile := filepath.Join(t.TempDir(), "ca.crt")
			require.NoError(t, os.WriteFile(caFile, caPEM, 0o644))
			cfg := testConfig()
			cfg.Registry, cfg.BuildNamespace, cfg.RegistryInsecure, cfg.RegistryCA = reg.host+"/fabric-cc", "builds", false, caFile
			if !tt.noSecret {
				cfg.PushSecret = pushSecretName
			}
			r, err := newRemoteRegistry(cfg, fake.NewClientset(tt.objects...).CoreV1())
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
				require.NotContains(t, err.Error(), registryPassword, "no credentials in messages")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRemoteRegistryReadsTheSecretAtEveryLookup(t *testing.T) {
	hermeticDockerConfig(t)
	reg := newTestRegistry(t)
	ref := reg.host + "/fabric-cc/mycc:tag"
	digest := reg.push(t, ref)
	secret := dockerConfigSecret(t, testNamespace, map[string]map[string]string{reg.host: {"username": registryUser, "password": "old"}})
	client := fake.NewClientset(secret)
	cfg := testConfig()
	cfg.Registry, cfg.RegistryInsecure, cfg.PushSecret, cfg.RegistryCA = reg.host+"/fabric-cc", false, pushSecretName, reg.ca.caFile(t)
	r, err := newRemoteRegistry(cfg, client.CoreV1())
	require.NoError(t, err)

	_, err = r.Digest(context.Background(), ref)
	require.ErrorContains(t, err, "authentication to "+reg.host+" failed with the credentials of Secret fabric/regcred")

	rotated := dockerConfigSecret(t, testNamespace, map[string]map[string]string{reg.host: {"username": registryUser, "password": registryPassword}})
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
			_, err := newRemoteRegistry(cfg, fake.NewClientset().CoreV1())
			require.ErrorContains(t, err, tt.wantErr)
		})
	}

	cfg := testConfig()
	r, err := newRemoteRegistry(cfg, fake.NewClientset().CoreV1())
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

// TestBuildAuthenticatesItsCacheCheck runs Build against the registry: a
// cache hit creates nothing but reads the push Secret; refused credentials
// fail the install, naming the registry and the Secret, before any Job.
func TestBuildAuthenticatesItsCacheCheck(t *testing.T) {
	hermeticDockerConfig(t)
	reg := newTestRegistry(t)
	cfg := testConfig()
	cfg.Registry, cfg.RegistryInsecure, cfg.PushSecret = reg.host+"/fabric-cc", false, pushSecretName
	cfg.RegistryCA = reg.ca.caFile(t)
	secret := dockerConfigSecret(t, testNamespace, map[string]map[string]string{reg.host: {"username": registryUser, "password": registryPassword}})
	vm := newTestVM(t, cfg, secret)
	r, err := newRemoteRegistry(cfg, vm.client.CoreV1())
	require.NoError(t, err)
	vm.VM.Registry = r

	code := goCodePackage(t)
	req, err := vm.prepareBuild(testCCID, "GOLANG", goMetadata.Path)
	require.NoError(t, err)
	digest := reg.push(t, req.Ref)

	inst, err := vm.Build(testCCID, goMetadata, bytes.NewReader(code))
	require.NoError(t, err)
	require.Equal(t, req.PullRef+"@"+digest, inst.(*Instance).Image)
	require.Equal(t, 1, vm.metrics.cacheHits.AddCallCount())
	for _, a := range vm.client.Actions() {
		require.True(t, a.Matches("get", "secrets"), "a cache hit only reads the push Secret: %v", a)
	}

	secret = dockerConfigSecret(t, testNamespace, map[string]map[string]string{reg.host: {"username": registryUser, "password": "rotated"}})
	_, err = vm.client.CoreV1().Secrets(testNamespace).Update(context.Background(), secret, metav1.UpdateOptions{})
	require.NoError(t, err)
	vm.client.ClearActions()
	_, err = vm.Build(testCCID, goMetadata, bytes.NewReader(code))
	require.ErrorContains(t, err, "chaincode "+testCCID+": cannot look up image "+req.Ref+": authentication to "+reg.host+
		" failed with the credentials of Secret fabric/regcred (vm.k8s.pushSecret)")
	for _, a := range vm.client.Actions() {
		require.False(t, a.Matches("create", "jobs"), "no build Job when the registry refuses the credentials")
	}
}
