/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Command fabric-k8s-demo is the project's main job: it starts a two-org
// Fabric network whose peers run chaincode on Kubernetes (vm.type: k8s) on the
// local cluster of integration/cluster, deploys the kv chaincode (built by a
// Kaniko Job on install, run as pods), invokes put, queries get on both peers
// and prints where to look. By default it then tears everything down; with
// -keep it leaves the network running until Ctrl-C.
//
// It needs `make binaries` (bin/peer, orderer, ...) and a running cluster
// (`make cluster-up`); `make demo` does all of it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
)

const modulePath = "github.com/fabric-peer-k8s/fabric-peer-k8s"

type options struct {
	repo, kubeconfig, namespace, workdir string
	keep                                 bool
	key, value                           string
}

func main() {
	var o options
	// Own flag set: the Ginkgo package (used by nwo) registers its flags on
	// flag.CommandLine.
	fs := flag.NewFlagSet("fabric-k8s-demo", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: fabric-k8s-demo [flags]\n\nStarts a Fabric network with peers in vm.type k8s mode on the local cluster, deploys the kv chaincode\n(Kaniko build on install, chaincode pods), invokes put, queries get, and tears down (unless -keep).\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.repo, "repo", "", "fabric-peer-k8s checkout (default: found from the working directory)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG, else <repo>/.cluster/kubeconfig)")
	fs.StringVar(&o.namespace, "namespace", "", "namespace to create for build Jobs and chaincode Pods (default fabric-k8s-demo-<random>)")
	fs.StringVar(&o.workdir, "workdir", "", "directory for crypto material, configs, ledgers and logs (default: a new temporary directory)")
	fs.BoolVar(&o.keep, "keep", false, "leave the network running until Ctrl-C (default: tear down when done)")
	fs.StringVar(&o.key, "key", "greeting", "key to put")
	fs.StringVar(&o.value, "value", "hello from a chaincode pod", "value to put")
	_ = fs.Parse(os.Args[1:])

	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "\nfabric-k8s-demo: FAILED: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...interface{}) {
	fmt.Printf("==> "+format+"\n", args...)
}

func run(o options) (err error) {
	if o.repo == "" {
		if o.repo, err = findRepo(); err != nil {
			return err
		}
	}
	if o.kubeconfig == "" {
		o.kubeconfig = os.Getenv("KUBECONFIG")
	}
	if o.kubeconfig == "" {
		o.kubeconfig = filepath.Join(o.repo, ".cluster", "kubeconfig")
	}
	if o.kubeconfig, err = filepath.Abs(o.kubeconfig); err != nil {
		return err
	}
	if o.namespace == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		o.namespace = "fabric-k8s-demo-" + hex.EncodeToString(b)
	}
	if o.workdir == "" {
		if o.workdir, err = os.MkdirTemp("", "fabric-k8s-demo-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(o.workdir, 0o755); err != nil {
		return err
	}
	if err := network.CheckBinaries(filepath.Join(o.repo, "bin")); err != nil {
		return err
	}

	// nwo reports failures through Gomega and writes process output to
	// GinkgoWriter: turn the first into errors and the second into a file.
	network.UsePanicFailHandler()
	logPath := filepath.Join(o.workdir, "network.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	network.RedirectGinkgoWriter(logFile)

	ctx := context.Background()
	kube, err := network.NewKube(o.kubeconfig, o.namespace)
	if err != nil {
		return err
	}
	step("checking the cluster (%s)", o.kubeconfig)
	if err := kube.Ping(ctx); err != nil {
		return fmt.Errorf("cluster not ready: %w (start it with `make cluster-up`)", err)
	}
	step("creating namespace %s", o.namespace)
	if err := kube.CreateNamespace(ctx); err != nil {
		return err
	}

	var h *network.Harness
	var once sync.Once
	teardown := func() {
		once.Do(func() {
			step("tearing down")
			if h != nil {
				if err := h.Stop(); err != nil {
					fmt.Printf("    stopping the network: %v\n", err)
				}
			}
			if inv, err := kube.DeleteManaged(ctx); err == nil {
				if n := len(inv.ChaincodePods) + len(inv.ChaincodeSecrets) + len(inv.Jobs); n > 0 {
					fmt.Printf("    deleted %d chaincode pods, %d secrets, %d jobs the stopped peers left behind\n",
						len(inv.ChaincodePods), len(inv.ChaincodeSecrets), len(inv.Jobs))
				}
			}
			if err := kube.DeleteNamespace(ctx, 2*time.Minute); err != nil {
				fmt.Printf("    deleting namespace %s: %v\n", o.namespace, err)
			} else {
				fmt.Printf("    namespace %s deleted\n", o.namespace)
			}
			if h != nil {
				h.Cleanup()
			}
			fmt.Printf("    logs kept in %s\n", logPath)
		})
	}
	defer teardown()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Printf("\n%s received\n", s)
		teardown()
		if o.keep {
			os.Exit(0)
		}
		os.Exit(130)
	}()

	jobs, err := kube.RecordJobs(ctx)
	if err != nil {
		return err
	}
	defer jobs.Stop()

	netDir := filepath.Join(o.workdir, "network")
	timings := map[string]time.Duration{}
	var kv network.Result
	var results []string
	var buildInfo string
	err = network.Try(func() {
		var err error
		h, err = network.New(network.Options{RepoRoot: o.repo, Kubeconfig: o.kubeconfig, Namespace: o.namespace, RootDir: netDir})
		if err != nil {
			panic(network.Failure{Message: err.Error()})
		}
		step("starting orderer and peers (vm.type: k8s), creating and joining %s (log: %s)", network.ChannelName, logPath)
		start := time.Now()
		h.Start()
		timings["network start"] = time.Since(start)

		step("vendoring the kv chaincode")
		ccDir := filepath.Join(o.workdir, "kv")
		if err := network.PrepareGoChaincode(filepath.Join(o.repo, "integration", "chaincode", "kv"), ccDir, nil); err != nil {
			panic(network.Failure{Message: err.Error()})
		}
		cc := h.GoChaincode("kv", "kv_1", "1", ccDir)
		step("packaging, installing on both peers (Org1 builds the image with a Kaniko Job, Org2 reuses it), approving, committing")
		dt := h.Deploy(&cc)
		timings["install on "+dt.InstallPeer[0]] = dt.Install[dt.InstallPeer[0]]
		timings["install on "+dt.InstallPeer[1]] = dt.Install[dt.InstallPeer[1]]
		if built := jobs.Created(); len(built) > 0 {
			buildInfo = fmt.Sprintf("built by Kaniko Job %s -> %s", built[0], strings.Join(jobs.Destinations(built...), " "))
		} else {
			buildInfo = "image already in the registry from an earlier run: no build Job (same package = same image)"
		}

		step("invoking put %s=%q (the peers launched the chaincode pods when the definition was committed)", o.key, o.value)
		kv = h.InvokeOK("kv", 8*time.Minute, "put", o.key, o.value)
		timings["first invoke"] = kv.Duration
		for _, p := range h.Peers {
			got := h.QueryOK(p, "kv", 2*time.Minute, "get", o.key)
			results = append(results, fmt.Sprintf("query get %s on %s -> %q", o.key, p.ID(), got))
			if got != o.value {
				panic(network.Failure{Message: fmt.Sprintf("%s returned %q, want %q", p.ID(), got, o.value)})
			}
		}
	})
	if err != nil {
		if h != nil {
			for _, p := range h.Peers {
				fmt.Fprintf(os.Stderr, "---- last lines of %s ----\n%s\n", p.ID(), lastLines(h.PeerLog(p), 25))
			}
		}
		return fmt.Errorf("%v\n(full network log: %s)", err, logPath)
	}

	fmt.Println()
	fmt.Println("RESULT")
	for _, r := range results {
		fmt.Println("  " + r)
	}
	fmt.Println("IMAGE")
	fmt.Println("  " + buildInfo)
	fmt.Println("TIMINGS")
	for _, k := range []string{"network start", "install on " + h.Peers[0].ID(), "install on " + h.Peers[1].ID(), "first invoke"} {
		fmt.Printf("  %-30s %6.1fs\n", k, timings[k].Seconds())
	}
	inv, err := kube.Inventory(ctx)
	if err == nil {
		fmt.Println("CHAINCODE PODS")
		for _, p := range network.LivePods(inv.ChaincodePods) {
			fmt.Printf("  %s  peer=%s  phase=%s\n    image=%s\n", p.Name, p.Labels[network.LabelPeerID], p.Status.Phase, p.Spec.Containers[0].Image)
			if logs, err := kube.PodLogs(ctx, p.Name, ""); err == nil && strings.TrimSpace(logs) != "" {
				fmt.Printf("    log: %s\n", firstLine(strings.TrimSpace(logs)))
			}
		}
	}
	kubectl := "kubectl"
	if _, err := os.Stat(filepath.Join(o.repo, ".cluster", "bin", "kubectl")); err == nil {
		kubectl = filepath.Join(o.repo, ".cluster", "bin", "kubectl")
	}
	k := fmt.Sprintf("%s --kubeconfig %s -n %s", kubectl, o.kubeconfig, o.namespace)
	if o.keep {
		fmt.Println("WHERE TO LOOK")
	} else {
		fmt.Println("WHERE TO LOOK (while it runs: pass -keep to leave the network up)")
	}
	fmt.Printf("  %s get pods,jobs,secrets -l %s\n", k, network.ManagedSelector)
	fmt.Printf("  %s logs -l %s=chaincode --prefix\n", k, network.LabelComponent)
	fmt.Printf("  network directory (crypto, core.yaml, ledgers): %s\n", netDir)
	fmt.Printf("  peer/orderer/CLI output: %s\n", logPath)

	if o.keep {
		fmt.Println("\nThe network keeps running (-keep). Press Ctrl-C to stop it and delete the namespace.")
		select {}
	}
	fmt.Println()
	return nil
}

// findRepo walks up from the working directory to the fabric-peer-k8s go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(firstLine(string(b)), modulePath) &&
			strings.TrimSpace(strings.TrimPrefix(firstLine(string(b)), "module")) == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("cannot find the %s checkout above the working directory; use -repo", modulePath)
		}
		dir = parent
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
