/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Command fabric-k8s-demo is the project's main job: a two-org Fabric network
// all in the local cluster of integration/cluster — the orderer and each
// organisation's peer (vm.type: k8s) as Pods, in namespaces of their own — and
// the kv chaincode installed with the stock CLI (built by a Kaniko Job on
// Org1's install, found in the registry on Org2's), approved, committed,
// invoked and queried; then one chaincode Pod is deleted and serves again
// without a transaction. The network keeps running; -down removes it.
//
// It needs `make binaries`, the peer and orderer images (`make peer-image
// orderer-image`) and a running cluster: `make demo` does all of it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/kubenet"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
)

const modulePath = "github.com/fabric-peer-k8s/fabric-peer-k8s"

type options struct {
	repo, kubeconfig, name, workdir string
	down                            bool
	key, value                      string
}

func main() {
	var o options
	// Own flag set: the Ginkgo package (used by nwo) registers its flags on
	// flag.CommandLine.
	fs := flag.NewFlagSet("fabric-k8s-demo", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: fabric-k8s-demo [flags]\n\nRuns a two-org Fabric network as Pods on the local cluster (peers in vm.type k8s mode), deploys the\nkv chaincode (Kaniko build on install, chaincode pods), invokes put, queries get, deletes a chaincode pod\nand queries it again. The network keeps running: -down removes it.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.repo, "repo", "", "fabric-peer-k8s checkout (default: found from the working directory)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default $KUBECONFIG, else <repo>/.cluster/kubeconfig)")
	fs.StringVar(&o.name, "name", "fabric-demo", "the network's name: namespaces <name>-orderer, <name>-org1, <name>-org2")
	fs.StringVar(&o.workdir, "workdir", "", "crypto material, CLI configuration, ledgers and logs (default <repo>/.build/<name>)")
	fs.BoolVar(&o.down, "down", false, "remove the network (namespaces, volumes, work directory) and exit")
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
	if o.workdir == "" {
		o.workdir = filepath.Join(o.repo, ".build", o.name)
	}
	opts := kubenet.Options{
		RepoRoot: o.repo, Kubeconfig: o.kubeconfig, Name: o.name, Orgs: 2,
		RootDir: filepath.Join(o.workdir, "network"), VolumeDir: filepath.Join(o.workdir, "ledgers"),
	}

	ctx := context.Background()
	kube, err := network.NewKube(o.kubeconfig, "")
	if err != nil {
		return err
	}
	step("checking the cluster (%s)", o.kubeconfig)
	if err := kube.Ping(ctx); err != nil {
		return fmt.Errorf("cluster not ready: %w (start it with `make cluster-up`)", err)
	}

	// a previous run's network (or what a failed one left) goes first
	if err := os.MkdirAll(o.workdir, 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(o.workdir, "demo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	opts.Log = logFile
	step("removing any earlier %s network", o.name)
	if err := kubenet.Teardown(opts, 3*time.Minute); err != nil {
		return err
	}
	if err := os.RemoveAll(opts.RootDir); err != nil {
		return err
	}
	if o.down {
		if err := os.RemoveAll(o.workdir); err != nil {
			return err
		}
		fmt.Printf("the %s network is removed\n", o.name)
		return nil
	}
	if err := network.CheckBinaries(filepath.Join(o.repo, "bin")); err != nil {
		return err
	}

	// nwo reports failures through Gomega and writes process output to
	// GinkgoWriter: turn the first into errors and the second into the log.
	network.UsePanicFailHandler()
	network.RedirectGinkgoWriter(logFile)

	d := &demo{o: o, kube: kube, timings: map[string]time.Duration{}}
	if err := network.Try(func() { err = d.run(ctx, opts) }); err != nil {
		return fmt.Errorf("%v\n(log: %s)", err, logPath)
	}
	if err != nil {
		return fmt.Errorf("%v\n(log: %s)", err, logPath)
	}
	d.report(ctx, logPath)
	return nil
}

type demo struct {
	o         options
	kube      *network.Kube
	net       *kubenet.Network
	timings   map[string]time.Duration
	order     []string
	results   []string
	buildInfo string
	relaunch  string
}

func (d *demo) time(name string, f func() error) error {
	start := time.Now()
	err := f()
	d.timings[name] = time.Since(start)
	d.order = append(d.order, name)
	return err
}

func (d *demo) run(ctx context.Context, opts kubenet.Options) error {
	net, err := kubenet.New(opts)
	if err != nil {
		return err
	}
	d.net = net
	defer net.Close()
	org1, org2 := net.Peers[0], net.Peers[1]

	step("generating crypto material and the genesis block of %s (cryptogen, configtxgen)", kubenet.ChannelName)
	net.Generate()
	step("deploying the orderer (%s) and the peers (%s, %s) as Pods, joining them to %s",
		net.Orderer.Namespace, org1.Namespace, org2.Namespace, kubenet.ChannelName)
	if err := d.time("network up (Pods ready, channel joined)", net.Deploy); err != nil {
		return err
	}

	step("vendoring and packaging the kv chaincode")
	// a label of this run: a package of its own, so that Org1's install builds its image (Org2's finds it)
	label := "kv_" + time.Now().UTC().Format("20060102T150405")
	cc := kubenet.Chaincode{Name: "kv", Label: label, Version: "1", Sequence: 1, Path: filepath.Join(opts.RootDir, "kv")}
	if err := network.PrepareGoChaincode(filepath.Join(d.o.repo, "integration", "chaincode", "kv"), cc.Path, nil); err != nil {
		return err
	}
	if err := net.Package(&cc); err != nil {
		return err
	}

	jobs := map[string]*network.JobRecorder{}
	for _, p := range net.Peers {
		k, err := network.NewKube(opts.Kubeconfig, p.Namespace)
		if err != nil {
			return err
		}
		if jobs[p.Org], err = k.RecordJobs(ctx); err != nil {
			return err
		}
		defer jobs[p.Org].Stop()
	}
	for _, p := range net.Peers {
		step("installing on %s's peer (%s)", p.Org, p.Namespace)
		if err := d.time("install on "+p.Org, func() error { return net.Install(p, cc, 15*time.Minute).Err }); err != nil {
			return err
		}
	}
	built := jobs[org1.Org].Created()
	if len(built) == 0 {
		return fmt.Errorf("%s's install of the new package %s ran no build Job", org1.Org, cc.PackageID)
	}
	d.buildInfo = fmt.Sprintf("built on %s's install by Kaniko Job %s/%s -> %s (the peer deletes the Job once the image is pushed)",
		org1.Org, org1.Namespace, built[0], strings.Join(jobs[org1.Org].Destinations(built...), " "))
	if built := jobs[org2.Org].Created(); len(built) > 0 {
		return fmt.Errorf("%s's install ran build Job %v: the image built for %s should have been found", org2.Org, built, org1.Org)
	}
	d.buildInfo += fmt.Sprintf("; %s's install found it in the registry (no Job)", org2.Org)

	step("approving for both organisations and committing kv")
	for _, p := range net.Peers {
		if err := net.Approve(p, cc); err != nil {
			return err
		}
	}
	if err := net.Commit(cc); err != nil {
		return err
	}

	step("invoking put %s=%q (endorsed by both peers' chaincode pods)", d.o.key, d.o.value)
	if err := d.time("first invoke", func() error { return net.Invoke(net.Peers, cc.Name, 8*time.Minute, "put", d.o.key, d.o.value).Err }); err != nil {
		return err
	}
	for _, p := range net.Peers {
		if err := d.query(p, cc.Name); err != nil {
			return err
		}
	}

	step("deleting %s's chaincode pod: the peer relaunches it without waiting for a transaction", org1.Org)
	k1, err := network.NewKube(opts.Kubeconfig, org1.Namespace)
	if err != nil {
		return err
	}
	if err := d.time("chaincode pod deleted -> new pod ready", func() error {
		d.relaunch, err = relaunchAfterDelete(ctx, k1, 3*time.Minute)
		return err
	}); err != nil {
		return err
	}
	return d.query(org1, cc.Name)
}

func (d *demo) query(p kubenet.Node, name string) error {
	r := d.net.Query(p, name, 2*time.Minute, "get", d.o.key)
	if r.Err != nil {
		return r.Err
	}
	got := strings.TrimSpace(r.Stdout)
	d.results = append(d.results, fmt.Sprintf("query get %s on %s (%s) -> %q", d.o.key, p.Org, p.Host, got))
	if got != d.o.value {
		return fmt.Errorf("%s returned %q, want %q", p.Host, got, d.o.value)
	}
	return nil
}

func (d *demo) report(ctx context.Context, logPath string) {
	net := d.net
	fmt.Println()
	fmt.Println("RESULT")
	for _, r := range d.results {
		fmt.Println("  " + r)
	}
	fmt.Println("  " + d.relaunch)
	fmt.Println("IMAGE")
	fmt.Println("  " + d.buildInfo)
	fmt.Println("TIMINGS")
	for _, k := range d.order {
		fmt.Printf("  %-42s %6.1fs\n", k, d.timings[k].Seconds())
	}
	k := net.Kubectl()
	fmt.Println("THE NETWORK (kubectl get pods)")
	for _, ns := range net.Namespaces() {
		out, err := net.Pods(ns)
		if err != nil {
			out = err.Error()
		}
		fmt.Printf("  -n %s\n%s", ns, indent(out, "    "))
	}
	org1 := net.Peers[0]
	fmt.Println("WHERE TO LOOK")
	fmt.Printf("  %s -n %s logs %s                 # Org1's peer\n", k, org1.Namespace, org1.Pod)
	fmt.Printf("  %s -n %s logs -l %s=chaincode   # its chaincode\n", k, org1.Namespace, network.LabelComponent)
	fmt.Printf("  %s -n %s get pods,jobs,secrets -l %s\n", k, org1.Namespace, network.ManagedSelector)
	fmt.Printf("  %s -n %s get events --field-selector involvedObject.kind=Job   # the build Job's history\n", k, org1.Namespace)
	env := filepath.Join(d.o.workdir, "org1.env")
	if err := writeEnv(env, net.AdminEnv(org1)); err == nil {
		fmt.Printf("  Org1's admin CLI (peer names resolve through the cluster's DNS):\n")
		fmt.Printf("    (set -a; . %s; integration/cluster/cluster.sh exec bin/peer chaincode query -C %s -n kv -c '{\"Args\":[\"get\",\"%s\"]}')\n",
			env, kubenet.ChannelName, d.o.key)
	}
	fmt.Printf("  log of every command: %s\n", logPath)
	fmt.Println("The network keeps running. Remove it with: make demo-down")
	fmt.Println()
}

// findRepo walks up from the working directory to the fabric-peer-k8s go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
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

func indent(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}
