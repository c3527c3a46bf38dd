/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"gopkg.in/yaml.v3"
)

func TestCoreTemplateHasK8sVM(t *testing.T) {
	pc := DefaultPeerConfig("/abs/kubeconfig", "ns-1")
	pc.VM.Extra = map[string]interface{}{"runAsUser": 12345}
	tmpl, err := pc.CoreTemplate()
	if err != nil {
		t.Fatal(err)
	}
	// The result must still be a valid Go template, and the vm section valid YAML.
	if _, err := template.New("core").Funcs(template.FuncMap{
		"Peer": func() interface{} { return nil }, "ToLower": strings.ToLower, "ReplaceAll": strings.ReplaceAll,
	}).Parse(tmpl); err != nil {
		t.Fatalf("template does not parse: %v", err)
	}
	vm, err := pc.VMSectionYAML()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		VM struct {
			Type string                 `yaml:"type"`
			K8s  map[string]interface{} `yaml:"k8s"`
		} `yaml:"vm"`
	}
	if err := yaml.Unmarshal([]byte(vm), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.VM.Type != "k8s" {
		t.Errorf("vm.type = %q", doc.VM.Type)
	}
	for k, want := range map[string]interface{}{
		"kubeconfig": "/abs/kubeconfig", "namespace": "ns-1", "registry": DefaultRegistry,
		"registryInsecure": true, "kanikoImage": DefaultKanikoImage, "hostNetwork": true,
		"buildTimeout": "10m", "runAsUser": 12345,
	} {
		if got := doc.VM.K8s[k]; got != want {
			t.Errorf("vm.k8s.%s = %#v, want %#v", k, got, want)
		}
	}
	if b, _ := doc.VM.K8s["build"].(map[string]interface{}); b["hostNetwork"] != true {
		t.Errorf("vm.k8s.build.hostNetwork = %#v", doc.VM.K8s["build"])
	}
	for _, want := range []string{
		"\n  builder: " + DefaultCCEnvImage + "\n",
		"\n    runtime: " + DefaultBaseOSImage + "\n",
		"\n  node:\n    runtime: " + DefaultNodeEnvImage + "\n",
		"\n  installTimeout: 12m0s\n",
		"\npeer:\n", "\nchaincode:\n", "\nledger:\n",
	} {
		if !strings.Contains(tmpl, want) {
			t.Errorf("template lacks %q", want)
		}
	}
	if strings.Contains(tmpl, "unix:///var/run/docker.sock") || strings.Contains(tmpl, "$(DOCKER_NS)/fabric-ccenv") {
		t.Error("template still has the Docker settings")
	}
}

func TestRelaunchSectionRendered(t *testing.T) {
	pc := DefaultPeerConfig("/abs/kubeconfig", "ns-1")
	if vm, _ := pc.VMSectionYAML(); strings.Contains(vm, "relaunch") || strings.Contains(vm, "sweepInterval") {
		t.Fatalf("defaults must not set vm.k8s.relaunch or sweepInterval:\n%s", vm)
	}
	on := true
	pc.VM.SweepInterval = "0s"
	pc.VM.Relaunch = &K8sRelaunchConfig{Enabled: &on, InitialBackoff: "250ms", MaxBackoff: "1s", CrashLoopThreshold: 3, StableAfter: "5s"}
	vm, err := pc.VMSectionYAML()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		VM struct {
			K8s struct {
				SweepInterval string                 `yaml:"sweepInterval"`
				Relaunch      map[string]interface{} `yaml:"relaunch"`
			} `yaml:"k8s"`
		} `yaml:"vm"`
	}
	if err := yaml.Unmarshal([]byte(vm), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.VM.K8s.SweepInterval != "0s" {
		t.Errorf("vm.k8s.sweepInterval = %q", doc.VM.K8s.SweepInterval)
	}
	for k, want := range map[string]interface{}{
		"enabled": true, "initialBackoff": "250ms", "maxBackoff": "1s", "crashLoopThreshold": 3, "stableAfter": "5s",
	} {
		if got := doc.VM.K8s.Relaunch[k]; got != want {
			t.Errorf("vm.k8s.relaunch.%s = %#v, want %#v", k, got, want)
		}
	}
}

func TestComponentServer(t *testing.T) {
	dir := t.TempDir()
	if _, err := StartComponentServer(dir); err == nil || !strings.Contains(err.Error(), "make binaries") {
		t.Fatalf("missing binaries: err = %v", err)
	}
	for _, n := range FabricCommands {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, err := StartComponentServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.Components().ServerAddress + "/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("github.com/hyperledger/fabric/cmd/peer"); code != 200 || body != filepath.Join(dir, "peer") {
		t.Errorf("peer: %d %q", code, body)
	}
	if code, body := get("github.com/hyperledger/fabric/cmd/discover"); code != 404 || !strings.Contains(body, "make binaries") {
		t.Errorf("discover: %d %q", code, body)
	}
	if code, _ := get("github.com/hyperledger/fabric/integration/chaincode/simple/cmd"); code != 404 {
		t.Errorf("chaincode path: %d", code)
	}
}

func TestPrepareGoChaincodeVendors(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Go module cache or proxy")
	}
	dst := filepath.Join(t.TempDir(), "kv")
	edited := false
	if err := PrepareGoChaincode(filepath.Join("..", "chaincode", "kv"), dst, func(dir string) error {
		edited = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !edited {
		t.Error("edit not called")
	}
	for _, f := range []string{"go.mod", "kv.go", "vendor/modules.txt", "vendor/github.com/hyperledger/fabric-chaincode-go/v2/shim/shim.go"} {
		if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	broken := filepath.Join(t.TempDir(), "broken")
	if err := PrepareGoChaincode(filepath.Join("..", "chaincode", "broken"), broken, nil); err != nil {
		t.Fatalf("broken chaincode (no dependencies): %v", err)
	}
}

func TestRegistrySplitImageRef(t *testing.T) {
	rc := NewRegistryClient(DefaultRegistryAddr, "localhost:5000")
	for ref, want := range map[string][2]string{
		"localhost:5000/fabric-cc/kv_1:abc":           {"fabric-cc/kv_1", "abc"},
		"localhost:5000/fabric-cc/kv:abc@sha256:0123": {"fabric-cc/kv", "sha256:0123"},
		"localhost:5000/fabric-peer-k8s/ccenv:3.1":    {"fabric-peer-k8s/ccenv", "3.1"},
		"localhost:5000/fabric-cc/kv@sha256:feed":     {"fabric-cc/kv", "sha256:feed"},
	} {
		repo, m, err := rc.SplitImageRef(ref)
		if err != nil || repo != want[0] || m != want[1] {
			t.Errorf("%s -> %q %q %v, want %v", ref, repo, m, err, want)
		}
	}
	if _, _, err := rc.SplitImageRef("docker.io/library/busybox:1"); err == nil {
		t.Error("foreign registry accepted")
	}
}

func TestCoreTemplateDockerVM(t *testing.T) {
	pc := DefaultPeerConfig("", "")
	pc.Docker = &DockerVMConfig{Endpoint: "unix:///tmp/bench/docker.sock"}
	tmpl, err := pc.CoreTemplate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := template.New("core").Funcs(template.FuncMap{
		"Peer": func() interface{} { return nil }, "ToLower": strings.ToLower, "ReplaceAll": strings.ReplaceAll,
	}).Parse(tmpl); err != nil {
		t.Fatalf("template does not parse: %v", err)
	}
	start, end := strings.Index(tmpl, "\nvm:\n"), strings.Index(tmpl, "\nchaincode:\n")
	var doc struct {
		VM struct {
			Type     string                 `yaml:"type"`
			Endpoint string                 `yaml:"endpoint"`
			K8s      map[string]interface{} `yaml:"k8s"`
			Docker   struct {
				HostConfig map[string]interface{} `yaml:"hostConfig"`
			} `yaml:"docker"`
		} `yaml:"vm"`
	}
	if err := yaml.Unmarshal([]byte(tmpl[start+1:end+1]), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.VM.Type != "docker" || doc.VM.Endpoint != "unix:///tmp/bench/docker.sock" || doc.VM.K8s != nil {
		t.Errorf("vm section = %+v", doc.VM)
	}
	if doc.VM.Docker.HostConfig["NetworkMode"] != "host" {
		t.Errorf("vm.docker.hostConfig = %v", doc.VM.Docker.HostConfig)
	}
	for _, want := range []string{"\n  builder: " + DefaultCCEnvImage + "\n", "\n    runtime: " + DefaultBaseOSImage + "\n"} {
		if !strings.Contains(tmpl, want) {
			t.Errorf("template lacks %q", want)
		}
	}
	pc.Docker.Endpoint = "unix:///x\n"
	if _, err := pc.CoreTemplate(); err == nil {
		t.Error("an endpoint with a newline is accepted")
	}
}
