/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/apiproxy"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
)

// setup creates the namespace (k8s) or starts dockerd (docker) and prepares
// the harness.
func (v *vmRun) setup(teardown *[]func()) error {
	pc := network.DefaultPeerConfig(v.c.Kubeconfig, "")
	opts := network.Options{RepoRoot: v.c.Repo, RootDir: filepath.Join(v.c.Work, v.vm), EventuallyTimeout: 3 * time.Minute}
	switch v.vm {
	case "k8s":
		v.ns = "fpk-bench-" + v.c.RunID
		kube, err := network.NewKube(v.c.Kubeconfig, v.ns)
		if err != nil {
			return err
		}
		if err := kube.Ping(v.ctx); err != nil {
			return fmt.Errorf("cluster (%s): %w", v.c.Kubeconfig, err)
		}
		if out, err := exec.Command("ctr", "--address", v.c.Containerd, "version").CombinedOutput(); err != nil {
			return fmt.Errorf("ctr cannot reach the node's containerd at %s (BENCH_CONTAINERD): %v: %s", v.c.Containerd, err, out)
		}
		if err := kube.CreateNamespace(v.ctx); err != nil {
			return err
		}
		v.kube = kube
		*teardown = append(*teardown, func() {
			step("k8s: deleting namespace %s", v.ns)
			_, _ = kube.DeleteManaged(context.Background())
			if err := kube.DeleteNamespace(context.Background(), 3*time.Minute); err != nil {
				step("k8s: %v", err)
			}
		})
		pc.VM.Namespace = v.ns
		opts.Kubeconfig, opts.Namespace = v.c.Kubeconfig, v.ns
		// The build cache is a directory on the node, which is this
		// machine; deploy empties it before each cold build.
		v.buildCache = filepath.Join(v.c.Work, "build-cache")
		pc.VM.Build.Extra = map[string]interface{}{"cache": map[string]interface{}{"hostPath": v.buildCache}}
		v.note("vm.k8s.build.cache: hostPath %s, emptied before each install with a build; the rebuilds find it warm", v.buildCache)
	case "docker":
		dir, err := os.MkdirTemp("", "fpk-bench-docker-")
		if err != nil {
			return err
		}
		d, err := StartDockerd(dir)
		if err != nil {
			os.RemoveAll(dir)
			return err
		}
		v.dock = d
		*teardown = append(*teardown, func() {
			step("docker: stopping dockerd and removing %s", d.Dir)
			_ = os.WriteFile(filepath.Join(v.c.Out, "logs", "dockerd.log"), []byte(tailFile(filepath.Join(d.Dir, "dockerd.log"), 2000)), 0o644)
			if err := d.Stop(); err != nil {
				step("docker: %v", err)
			}
		})
		ver, _ := d.Run(10*time.Second, "version", "--format", "{{.Server.Version}}")
		v.note("Docker Engine %s (%s), started by the bench: --iptables=false --bridge=none, chaincode containers on the host network", ver, d.CLI)
		// The images the peer names (chaincode.builder, chaincode.golang.runtime)
		// come from the cluster's registry under the same names.
		for _, img := range []string{pc.CCEnvImage, pc.BaseOSImage} {
			src := strings.Replace(img, "localhost:5000/", network.DefaultRegistryAddr+"/", 1)
			if _, err := d.Run(5*time.Minute, "pull", "-q", src); err != nil {
				return err
			}
			if src != img {
				if _, err := d.Run(time.Minute, "tag", src, img); err != nil {
					return err
				}
			}
		}
		pc.Docker = &network.DockerVMConfig{Endpoint: d.Endpoint()}
	}
	opts.Peer = &pc
	h, err := network.New(opts)
	if err != nil {
		return err
	}
	v.h, v.n = h, h.Network
	if v.vm == "k8s" {
		// Each peer talks to the API server through a counting proxy.
		v.proxy = map[string]*apiproxy.Proxy{}
		h.Opts.PeerEnvByID = map[string][]string{}
		for _, p := range h.Peers {
			px, err := apiproxy.Start(v.c.Kubeconfig)
			if err != nil {
				return err
			}
			v.proxy[p.ID()] = px
			*teardown = append(*teardown, px.Close)
			kc := filepath.Join(v.c.Work, "kubeconfig-"+p.ID())
			if err := px.WriteKubeconfig(kc); err != nil {
				return err
			}
			h.Opts.PeerEnvByID[p.ID()] = []string{"CORE_VM_K8S_KUBECONFIG=" + kc}
		}
	}
	*teardown = append(*teardown, func() {
		step("%s: stopping the network", v.vm)
		_ = h.Stop()
		for _, e := range []string{v.org1().ID() + ".log", v.org2().ID() + ".log", "orderer.log"} {
			if b, err := os.ReadFile(filepath.Join(h.LogDir(), e)); err == nil {
				_ = os.WriteFile(filepath.Join(v.c.Out, "logs", v.vm+"-"+e), b, 0o644)
			}
		}
		for _, g := range v.gw {
			g.Close()
		}
		if !v.c.Keep {
			h.Cleanup()
		}
	})
	return nil
}

func (v *vmRun) clients() error {
	v.ops = map[string]*http.Client{}
	v.gw = map[string]*gatewayClient{}
	for _, p := range v.h.Peers {
		auth, _ := nwo.PeerOperationalClients(v.n, p)
		v.ops[p.ID()] = auth
		g, err := newGatewayClient(v.n, p, "User1", network.ChannelName)
		if err != nil {
			return err
		}
		v.gw[p.ID()] = g
	}
	return nil
}

func (v *vmRun) metrics(p *nwo.Peer) ([]Sample, error) {
	return scrape(v.ctx, v.ops[p.ID()], "https://"+v.n.PeerAddress(p, nwo.OperationsPort)+"/metrics")
}
