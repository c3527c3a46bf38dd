/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Command bench measures the peer with the Kubernetes chaincode VM against the
// stock DockerVM, in one run on one machine: the same bin/peer runs a two-org
// network (integration/network) once with vm.type k8s on the local cluster
// and once with vm.type docker against a Docker daemon the bench starts for
// itself. It writes report.json and report.md (and, where it can, charts) to
// BENCH_OUT.
//
// After the closed-loop load phase, Hyperledger Caliper drives kv1 through
// Org1's Fabric Gateway (caliper*.go; the Node.js side, pinned by its
// package-lock.json, in integration/bench/caliper): a create round (put of new
// keys) and a read round (get of keys the creates wrote), each at a fixed rate
// and at a fixed load. Caliper's own report has min/avg/max latency only, so
// the workload module records every transaction (Caliper's TxStatus) and the
// bench computes each round's throughput and latency p50/p95 from those
// records, checks the counts against Caliper's summary, and reports both VMs
// side by side (targets: throughput within 5 %, latency within 10 % of
// DockerVM). Caliper's report.html, its log, its configuration and
// summary.json are kept in BENCH_OUT/caliper-k8s and caliper-docker. The
// installs are kept in BENCH_CALIPER_CACHE, one per lockfile hash, so that
// only the first run runs npm ci. The bench's own Gateway client stays for the
// closed-loop load phase (kept so that its figures and chart stay comparable
// with earlier runs) and for what Caliper's Gateway connector cannot do:
// evaluations targeted at one organization's peer, which the launch and
// relaunch measurements need.
//
// Environment:
//
//	BENCH_QUICK=1        N=2 repetitions, 5 chaincodes at rest, 15 s load, 20 s rest windows
//	BENCH_N, BENCH_MANY  override the repetitions (10) and the chaincode count at rest (50; fewer
//	                     when the node's pod capacity does not admit them, then for both VMs)
//	BENCH_LOAD_SECONDS   duration of each load phase (120; quick 15)
//	BENCH_REST_SECONDS   length of each at-rest window (60; quick 20)
//	BENCH_CALIPER=0      no Caliper phase
//	BENCH_CALIPER_SECONDS  duration of each Caliper round (half a load phase: 60; quick 5)
//	BENCH_CALIPER_WORKERS  Caliper's worker processes (at most the 8 clients; 4)
//	BENCH_CALIPER_CREATE_TPS, BENCH_CALIPER_READ_TPS  rates of the fixed-rate rounds (50, 100);
//	                     the fixed-load rounds keep 8 transactions (the client count) outstanding
//	BENCH_CALIPER_CACHE  Caliper's npm installs (default <repo>/.build/caliper)
//	BENCH_VMS            k8s,docker (default both, in that order)
//	BENCH_OUT            output directory (default <repo>/.build/bench)
//	BENCH_KEEP=1         keep the network directories
//	KUBECONFIG           the cluster (default <repo>/.cluster/kubeconfig)
//	BENCH_RECHART=<dir>  only draw the charts again from <dir>/report.json
//	BENCH_CONTAINERD     containerd socket of the cluster's node, to SIGKILL chaincode
//	                     containers (default $CLUSTER_DIR/run/containerd.sock)
//	BENCH_SCALE=1        the scale run instead (k8s only, scale.go): one peer brought to 100
//	                     chaincodes, SIGKILLed and restarted; SCALE_* settings, output
//	                     SCALE_OUT (default <repo>/.build/scale)
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric-lib-go/common/flogging"
)

type config struct {
	Repo       string `json:"-"`
	Kubeconfig string `json:"-"`
	Out        string `json:"-"`
	Work       string `json:"-"`
	Quick      bool   `json:"quick"`
	N          int    `json:"n"`
	Many       int    `json:"many"`
	// ManyUsed is the count of chaincodes at rest the first VM could run
	// (the node's pod capacity may not admit Many); the second VM uses it too.
	ManyUsed int           `json:"many_used,omitempty"`
	Clients  int           `json:"clients"`
	Load     time.Duration `json:"-"`
	Rest     time.Duration `json:"-"`
	// NoTrafficBound bounds the wait for a SIGKILLed chaincode to register
	// again without any request (DockerVM never does).
	NoTrafficBound time.Duration `json:"-"`
	VMs            []string      `json:"vms"`
	Containerd     string        `json:"-"`
	Keep           bool          `json:"-"`
	RunID          string        `json:"run_id"`
	// Scale selects the scale run (BENCH_SCALE=1, scale.go).
	Scale bool `json:"scale,omitempty"`
	// Caliper configures the Caliper phase (BENCH_CALIPER*, caliper.go).
	Caliper caliperSettings `json:"caliper"`
}

func loadConfig() (*config, error) {
	c := &config{Quick: os.Getenv("BENCH_QUICK") == "1", Keep: os.Getenv("BENCH_KEEP") == "1", Clients: 8, Scale: os.Getenv("BENCH_SCALE") == "1"}
	repo, err := testkit.RepoRoot()
	if err != nil {
		return nil, err
	}
	c.Repo = repo
	c.N, c.Many, c.Load, c.Rest, c.NoTrafficBound = 10, 50, 2*time.Minute, time.Minute, 30*time.Second
	if c.Quick {
		c.N, c.Many, c.Load, c.Rest, c.NoTrafficBound = 2, 5, 15*time.Second, 20*time.Second, 10*time.Second
	}
	for _, v := range []struct {
		env string
		dst *int
	}{{"BENCH_N", &c.N}, {"BENCH_MANY", &c.Many}} {
		if s := os.Getenv(v.env); s != "" {
			if *v.dst, err = strconv.Atoi(s); err != nil || *v.dst < 1 {
				return nil, fmt.Errorf("%s=%q: want a positive integer", v.env, s)
			}
		}
	}
	for _, v := range []struct {
		env string
		dst *time.Duration
	}{{"BENCH_LOAD_SECONDS", &c.Load}, {"BENCH_REST_SECONDS", &c.Rest}} {
		if s := os.Getenv(v.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%s=%q: want a positive number of seconds", v.env, s)
			}
			*v.dst = time.Duration(n) * time.Second
		}
	}
	c.VMs = []string{"k8s", "docker"}
	if s := os.Getenv("BENCH_VMS"); s != "" {
		c.VMs = nil
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "k8s" && v != "docker" {
				return nil, fmt.Errorf("BENCH_VMS: unknown VM %q (k8s, docker)", v)
			}
			c.VMs = append(c.VMs, strings.TrimSpace(v))
		}
	}
	if c.Caliper, err = caliperSettingsFrom(c, os.Getenv); err != nil {
		return nil, err
	}
	c.Out = testkit.FirstNonEmpty(os.Getenv("BENCH_OUT"), filepath.Join(repo, ".build", "bench"))
	if c.Scale {
		c.Out = testkit.FirstNonEmpty(os.Getenv("SCALE_OUT"), filepath.Join(repo, ".build", "scale"))
	}
	if c.Kubeconfig, err = testkit.Kubeconfig(repo); err != nil {
		return nil, err
	}
	clusterDir := testkit.FirstNonEmpty(os.Getenv("CLUSTER_DIR"), filepath.Join(repo, ".cluster"))
	c.Containerd = testkit.FirstNonEmpty(os.Getenv("BENCH_CONTAINERD"), filepath.Join(clusterDir, "run", "containerd.sock"))
	c.RunID = testkit.RandomHex(3)
	return c, nil
}

var logMu sync.Mutex

// step prints a progress line with the time since the start.
func step(format string, args ...interface{}) {
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Printf("%s ==> %s\n", time.Since(startTime).Truncate(time.Second), fmt.Sprintf(format, args...))
}

var startTime = time.Now()

// cleanups run in reverse order at the end and on SIGINT/SIGTERM.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func atExit(f func()) {
	cleanupMu.Lock()
	cleanups = append(cleanups, f)
	cleanupMu.Unlock()
}

func runCleanups() {
	cleanupMu.Lock()
	cs := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

func main() {
	if dir := os.Getenv("BENCH_RECHART"); dir != "" {
		// Draws the charts again from an earlier run's report.json (the
		// latency chart needs the samples of the run and is kept).
		if err := rechart(dir); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if dir := os.Getenv("BENCH_README"); dir != "" {
		// Writes the README's table from a run's report.json.
		if err := writeReadme(dir, "README.md"); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "\nbench: FAILED: %v\n", err)
		runCleanups()
		os.Exit(1)
	}
	runCleanups()
}

func rechart(dir string) error {
	r, err := readReport(dir)
	if err != nil {
		return err
	}
	files, err := writeCharts(r, dir)
	fmt.Printf("charts written to %s: %v\n", dir, files)
	return err
}

func run() error {
	c, err := loadConfig()
	if err != nil {
		return err
	}
	if err := network.CheckBinaries(filepath.Join(c.Repo, "bin")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(c.Out, "logs"), 0o755); err != nil {
		return err
	}
	if c.Work, err = os.MkdirTemp("", "fpk-bench-"); err != nil {
		return err
	}
	atExit(func() {
		if c.Keep {
			fmt.Printf("BENCH_KEEP=1: network directories kept in %s\n", c.Work)
			return
		}
		os.RemoveAll(c.Work)
	})

	network.UsePanicFailHandler()
	logPath := filepath.Join(c.Out, "logs", "network.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	network.RedirectGinkgoWriter(logFile)
	// Fabric's logging (which gRPC logs through in this process) goes to the
	// same file, warnings and errors only.
	flogging.Init(flogging.Config{LogSpec: "warning", Writer: logFile})

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Printf("\n%s received: cleaning up\n", s)
		runCleanups()
		os.Exit(130)
	}()

	if c.Scale {
		return runScale(c)
	}
	rep := &Report{Config: c, Started: time.Now(), Machine: machineInfo(), VMs: map[string]*VMResult{}}
	step("bench %s: N=%d, %d chaincodes at rest, %d clients for %s, rest windows %s; VMs %v (output %s)",
		map[bool]string{true: "quick", false: "full"}[c.Quick], c.N, c.Many, c.Clients, c.Load, c.Rest, c.VMs, c.Out)

	kvDir, err := prepareKV(c)
	if err != nil {
		return err
	}

	monitor := startQuietMonitor(os.Getenv("CLUSTER_DIR"))
	for _, vm := range c.VMs {
		r := runVM(context.Background(), c, vm, kvDir)
		rep.VMs[vm] = r
		rep.Finished = time.Now()
		if err := rep.Write(c.Out); err != nil {
			return err
		}
	}
	quiet := monitor.Stop()
	for _, vm := range c.VMs {
		quiet.OtherNamespaces = append(quiet.OtherNamespaces, rep.VMs[vm].OtherNamespaces...)
	}
	quiet.judge()
	rep.Quiet = &quiet
	step("%s", quiet.sentence())
	rep.Finished = time.Now()
	if err := rep.Write(c.Out); err != nil {
		return err
	}
	step("done in %s: %s", time.Since(startTime).Truncate(time.Second), filepath.Join(c.Out, "report.md"))
	var failed []string
	for _, vm := range c.VMs {
		if r := rep.VMs[vm]; len(r.Errors) > 0 {
			failed = append(failed, fmt.Sprintf("%s: %s", vm, strings.Join(r.Errors, "; ")))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("some measurements failed (see the report):\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
}

// prepareKV vendors the kv chaincode into the work directory.
func prepareKV(c *config) (string, error) {
	kvDir := filepath.Join(c.Work, "kv")
	step("vendoring the kv chaincode into %s", kvDir)
	return kvDir, network.PrepareGoChaincode(filepath.Join(c.Repo, "integration", "chaincode", "kv"), kvDir, func(d string) error {
		// A file naming this run makes its packages new: the registry keeps
		// the images of earlier runs, which would turn builds into cache hits.
		src := fmt.Sprintf("package main\n\n// Added by the bench: makes this run's package unique.\nvar benchRun = %q\n", c.RunID+"/"+time.Now().UTC().Format(time.RFC3339Nano))
		return os.WriteFile(filepath.Join(d, "zz_bench_run.go"), []byte(src), 0o644)
	})
}

// Machine describes where the figures were taken.
type Machine struct {
	CPUs      int    `json:"cpus"`
	MemoryMiB int64  `json:"memory_mib"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go"`
	CPUModel  string `json:"cpu_model,omitempty"`
}

func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if out, err := exec.Command("nproc").Output(); err == nil {
		m.CPUs, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemoryMiB = kb / 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
