//go:build peertest

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package peerstart starts the peer binary built from the patched vendor tree
// and checks how it reacts to the vm.type and vm.k8s settings.
package peerstart

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/stretchr/testify/require"
)

const (
	startedLine  = "Started peer with ID=[peer0.org1.example.com]"
	startTimeout = 60 * time.Second
)

// fixture is what every peer start shares: binaries, crypto material and the
// stock core.yaml of the pinned Fabric module.
type fixture struct {
	peerBin   string
	cfgDir    string
	mspDir    string
	unreached string // a kubeconfig whose API server nothing listens on
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	// The Fabric line (FABRIC) picks the binaries and the module whose
	// sampleconfig the peer starts with.
	line, err := network.FabricLineFromEnv()
	require.NoError(t, err)
	binDir, err := network.LineBinDir(root, line)
	require.NoError(t, err)
	modDir, err := network.LineModuleDir(root, line)
	require.NoError(t, err)
	peerBin := filepath.Join(binDir, "peer")
	cryptogen := filepath.Join(binDir, "cryptogen")
	for _, b := range []string{peerBin, cryptogen} {
		_, err := os.Stat(b)
		require.NoErrorf(t, err, "%s is missing: run `make binaries FABRIC=%s` first", b, line)
	}
	t.Logf("Fabric %s: %s", line, peerBin)

	dir := t.TempDir()
	list := exec.Command("go", "list", "-mod=mod", "-m", "-f", "{{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}", "github.com/hyperledger/fabric")
	list.Dir = modDir
	out, err := list.Output()
	require.NoError(t, err, "locating the Fabric module")
	coreYAML, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "sampleconfig", "core.yaml"))
	require.NoError(t, err)
	cfgDir := filepath.Join(dir, "config")
	require.NoError(t, os.MkdirAll(cfgDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "core.yaml"), coreYAML, 0o644))

	cryptoCfg := filepath.Join(dir, "crypto-config.yaml")
	require.NoError(t, os.WriteFile(cryptoCfg, []byte(`PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    Template: {Count: 1}
    Users: {Count: 0}
`), 0o644))
	cryptoOut := filepath.Join(dir, "crypto")
	cmdOut, err := exec.Command(cryptogen, "generate", "--config", cryptoCfg, "--output", cryptoOut).CombinedOutput()
	require.NoError(t, err, string(cmdOut))

	port := freePort(t)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: none
  cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}
users:
- name: none
  user: {token: "not-a-token"}
contexts:
- name: none
  context: {cluster: none, user: none}
current-context: none
`, port)), 0o600))

	return &fixture{
		peerBin:   peerBin,
		cfgDir:    cfgDir,
		mspDir:    filepath.Join(cryptoOut, "peerOrganizations", "org1.example.com", "peers", "peer0.org1.example.com", "msp"),
		unreached: kubeconfig,
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// k8sEnv is a valid k8s VM configuration against an API server that is not there.
func (f *fixture) k8sEnv() []string {
	return []string{
		"CORE_VM_TYPE=k8s",
		"CORE_VM_ENDPOINT=",
		"CORE_VM_K8S_KUBECONFIG=" + f.unreached,
		"CORE_VM_K8S_NAMESPACE=fabric-chaincode",
		"CORE_VM_K8S_REGISTRY=localhost:5000/fabric-cc",
		"CORE_VM_K8S_KANIKOIMAGE=localhost:5000/fabric-peer-k8s/kaniko-executor:v1.25.1",
	}
}

// peerProcess is a running `peer node start`.
type peerProcess struct {
	cmd     *exec.Cmd
	opsAddr string
	mu      sync.Mutex
	output  bytes.Buffer
	exited  chan struct{}
	exitErr error
}

func (p *peerProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.Write(b)
}

func (p *peerProcess) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

func (f *fixture) start(t *testing.T, extraEnv ...string) *peerProcess {
	t.Helper()
	fsPath := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ccListen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := &peerProcess{opsAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), exited: make(chan struct{})}

	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + fsPath,
		"FABRIC_CFG_PATH=" + f.cfgDir,
		"FABRIC_LOGGING_SPEC=info",
		"CORE_PEER_ID=peer0.org1.example.com",
		"CORE_PEER_LOCALMSPID=Org1MSP",
		"CORE_PEER_MSPCONFIGPATH=" + f.mspDir,
		"CORE_PEER_FILESYSTEMPATH=" + filepath.Join(fsPath, "production"),
		"CORE_LEDGER_SNAPSHOTS_ROOTDIR=" + filepath.Join(fsPath, "snapshots"),
		"CORE_PEER_LISTENADDRESS=" + listen,
		"CORE_PEER_ADDRESS=" + listen,
		"CORE_PEER_GOSSIP_BOOTSTRAP=" + listen,
		"CORE_PEER_CHAINCODELISTENADDRESS=" + ccListen,
		"CORE_PEER_CHAINCODEADDRESS=" + ccListen,
		"CORE_PEER_TLS_ENABLED=false",
		"CORE_OPERATIONS_LISTENADDRESS=" + p.opsAddr,
		"CORE_METRICS_PROVIDER=prometheus",
	}
	p.cmd = exec.Command(f.peerBin, "node", "start")
	p.cmd.Env = append(env, extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	require.NoError(t, p.cmd.Start())
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("peer output:\n%s", p.Output())
		}
	})
	return p
}

// waitStarted waits for the "Started peer" line; it fails when the peer exits first.
func (p *peerProcess) waitStarted(t *testing.T) {
	t.Helper()
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(p.Output(), startedLine) {
		select {
		case <-p.exited:
			t.Fatalf("peer exited before starting (%v):\n%s", p.exitErr, p.Output())
		case <-deadline.C:
			t.Fatalf("peer did not start within %s:\n%s", startTimeout, p.Output())
		case <-tick.C:
		}
	}
}

// waitExit waits for the peer to exit and returns its output.
func (p *peerProcess) waitExit(t *testing.T) string {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(startTimeout):
		t.Fatalf("peer still running after %s:\n%s", startTimeout, p.Output())
	}
	require.Error(t, p.exitErr, "peer should exit with a non-zero status")
	return p.Output()
}

func (p *peerProcess) healthz(t *testing.T) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.opsAddr+"/healthz", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestPeerStartsWithK8sVM(t *testing.T) {
	f := newFixture(t)
	p := f.start(t, f.k8sEnv()...)
	p.waitStarted(t)

	require.NotContains(t, p.Output(), "VMEndpoint not set")
	// The API server in the kubeconfig is not there: the k8s health check
	// registered with the operations system must say so.
	code, body := p.healthz(t)
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, `"component":"k8s"`)
}

func TestPeerStartsWithDefaultDockerVM(t *testing.T) {
	f := newFixture(t)
	p := f.start(t)
	p.waitStarted(t)
	code, body := p.healthz(t)
	// No Docker daemon here: the docker checker is registered and failing,
	// and no k8s checker exists.
	require.Equal(t, http.StatusServiceUnavailable, code, body)
	require.Contains(t, body, `"component":"docker"`)
	require.NotContains(t, body, `"component":"k8s"`)
}

func TestPeerRejectsBadVMConfig(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		env     []string
		wantErr string
	}{
		{name: "unknown vm.type", env: []string{"CORE_VM_TYPE=podman"}, wantErr: `invalid vm.type "podman"`},
		{name: "bad namespace", env: append(f.k8sEnv(), "CORE_VM_K8S_NAMESPACE=Bad_NS"), wantErr: "vm.k8s.namespace"},
		{name: "missing registry", env: append(f.k8sEnv(), "CORE_VM_K8S_REGISTRY="), wantErr: "vm.k8s.registry"},
		{name: "missing kaniko image", env: append(f.k8sEnv(), "CORE_VM_K8S_KANIKOIMAGE="), wantErr: "vm.k8s.kanikoImage"},
		{name: "bad build timeout", env: append(f.k8sEnv(), "CORE_VM_K8S_BUILDTIMEOUT=-1s"), wantErr: "vm.k8s.buildTimeout"},
		{name: "missing kubeconfig file", env: append(f.k8sEnv(), "CORE_VM_K8S_KUBECONFIG=/nonexistent/kubeconfig"), wantErr: "/nonexistent/kubeconfig"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := f.start(t, tc.env...)
			out := p.waitExit(t)
			require.Contains(t, out, tc.wantErr)
			require.NotContains(t, out, "panic:", "bad configuration must not crash the peer with a panic")
			require.NotContains(t, out, startedLine)
		})
	}
}
