//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// authRegistry is a second instance of the local cluster's registry
// (Debian's docker-registry, distribution 2.8) that requires HTTP basic
// authentication (htpasswd, bcrypt) over TLS with a certificate of a CA
// made for the test. Everything it needs lives in Dir; it listens on
// 127.0.0.1 only.
type authRegistry struct {
	Addr     string // 127.0.0.1:<port>
	Host     string // localhost:<port>, the name the peers, Kaniko and the kubelet use
	Dir      string
	CAFile   string
	CAPEM    []byte
	User     string
	Password string

	pool    *x509.CertPool
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // its exit status, once exited is closed
}

const registryBinary = "/usr/bin/docker-registry"

// startAuthRegistry generates the CA, the server certificate (localhost,
// 127.0.0.1) and the htpasswd file in dir and starts the registry on port.
func startAuthRegistry(dir string, port int, user, password string) (*authRegistry, error) {
	r := &authRegistry{
		Addr:     fmt.Sprintf("127.0.0.1:%d", port),
		Host:     fmt.Sprintf("localhost:%d", port),
		Dir:      dir,
		CAFile:   filepath.Join(dir, "ca.crt"),
		User:     user,
		Password: password,
		exited:   make(chan struct{}),
	}
	if _, err := os.Stat(registryBinary); err != nil {
		return nil, fmt.Errorf("%s (Debian package docker-registry, installed by integration/cluster/cluster.sh deps): %w", registryBinary, err)
	}
	if l, err := net.Listen("tcp", r.Addr); err != nil {
		return nil, fmt.Errorf("port of the authenticated registry: %w", err)
	} else {
		l.Close()
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	if err := r.writeCertificates(); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: info
  fields: {service: registry-auth}
storage:
  filesystem: {rootdirectory: %[1]s/data}
  delete: {enabled: true}
http:
  addr: %[2]s
  tls:
    certificate: %[1]s/server.crt
    key: %[1]s/server.key
auth:
  htpasswd:
    realm: fabric-peer-k8s-e2e
    path: %[1]s/htpasswd
`, dir, r.Addr)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(config), 0o644); err != nil {
		return nil, err
	}

	logFile, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	r.cmd = exec.Command(registryBinary, "serve", filepath.Join(dir, "config.yml"))
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	// The registry does not outlive the test process, however that ends.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		logFile.Close()
		close(r.exited)
	}()
	return r, nil
}

// writeCertificates writes ca.crt, server.crt and server.key.
func (r *authRegistry) writeCertificates() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fabric-peer-k8s e2e registry CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	r.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	r.pool = x509.NewCertPool()
	r.pool.AddCert(caCert)
	files := map[string][]byte{
		"ca.crt":     r.CAPEM,
		"server.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(r.Dir, f), b, 0o600); err != nil {
			return err
		}
	}
	return os.Chmod(r.CAFile, 0o644)
}

// client talks to the registry trusting only its CA.
func (r *authRegistry) client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: r.pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// ready is nil once the registry answers /v2/ over TLS, asking for
// credentials.
func (r *authRegistry) ready() error {
	select {
	case <-r.exited:
		return fmt.Errorf("the registry exited (%v); see %s", r.waitErr, filepath.Join(r.Dir, "registry.log"))
	default:
	}
	resp, err := r.client().Get("https://" + r.Addr + "/v2/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("GET /v2/ without credentials: %s, want 401", resp.Status)
	}
	return nil
}

// digest looks ref (in this registry, named by Host) up with user and
// password, trusting only the registry's CA.
func (r *authRegistry) digest(ctx context.Context, ref, user, password string) (string, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(parsed, remote.WithContext(ctx), remote.WithTransport(r.client().Transport),
		remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// stop ends the registry and waits for it; a stopped registry stays so.
func (r *authRegistry) stop() error {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	select {
	case <-r.exited:
		return nil
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		return errors.New("the registry did not stop on SIGTERM; killed")
	}
}

// dockerConfigJSON is the .dockerconfigjson of a kubernetes.io/dockerconfigjson
// Secret for host, as `kubectl create secret docker-registry` writes it.
func dockerConfigJSON(host, user, password string) []byte {
	b, _ := json.Marshal(map[string]interface{}{
		"auths": map[string]interface{}{host: map[string]string{"username": user, "password": password}},
	})
	return b
}

// hostsTOMLMark starts the hosts.toml files trustInContainerd writes.
const hostsTOMLMark = "# written by the fabric-peer-k8s e2e suite (privreg); removed when it ends"

// trustInContainerd makes the cluster's containerd trust the registry's CA
// for hosts: containerd reads <certsDir>/<host>/hosts.toml at every pull,
// so no restart is needed. It returns a function that removes the files.
func trustInContainerd(certsDir, caFile string, hosts ...string) (func(), error) {
	var dirs []string
	undo := func() {
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
	}
	for _, h := range hosts {
		d := filepath.Join(certsDir, h)
		// Left by an earlier run that was killed: ours to replace.
		if b, err := os.ReadFile(filepath.Join(d, "hosts.toml")); err == nil && !strings.HasPrefix(string(b), hostsTOMLMark) {
			undo()
			return nil, fmt.Errorf("%s exists: the cluster already has a configuration for %s", d, h)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			undo()
			return nil, err
		}
		dirs = append(dirs, d)
		toml := fmt.Sprintf(hostsTOMLMark+"\n"+
			"server = \"https://%[1]s\"\n[host.\"https://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = %[2]q\n", h, caFile)
		if err := os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(toml), 0o644); err != nil {
			undo()
			return nil, err
		}
	}
	return undo, nil
}

// containerdCertsDir is the hosts.toml directory of the local cluster
// (integration/cluster renders $CLUSTER_DIR/config/certs.d next to
// $CLUSTER_DIR/kubeconfig), or "" when the kubeconfig is not the local
// cluster's.
func containerdCertsDir(s settings) string {
	d := filepath.Join(filepath.Dir(s.Kubeconfig), "config", "certs.d")
	if fi, err := os.Stat(d); err == nil && fi.IsDir() {
		return d
	}
	return ""
}
