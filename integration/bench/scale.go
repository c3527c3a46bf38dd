/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/hyperledger/fabric/integration/nwo"
	"k8s.io/client-go/kubernetes"
)

// The scale run (BENCH_SCALE=1, `make scale`): Org1's peer, in k8s mode, is
// brought to SCALE_CHAINCODES (100) running chaincodes — the bench's
// prebuilt packages of type k8s naming one image, installed in the batches
// of many.go — then SIGKILLed and restarted. It measures the time from the
// restart until the start-up sweep has deleted the killed run's pods and
// secrets and until every chaincode answers a query again, and the
// Kubernetes API requests the peer made meanwhile (counted by its API
// proxy, sampled every second). Through the whole run it polls the
// chaincode pods and records any moment at which one peer had two live
// pods of one chaincode. With SCALE_NODES=2 (a cluster with a second node),
// SCALE_NODE2_CHAINCODES (50) of them are pinned to that node from the start
// (per-chaincode settings), and the node is stopped and started again after
// the restart.
//
// Environment (besides the bench's KUBECONFIG, CLUSTER_DIR, BENCH_KEEP):
//
//	SCALE_CHAINCODES        chaincodes on Org1's peer (100)
//	SCALE_NODES             1, or 2 for the second-node outage (1)
//	SCALE_NODE2_CHAINCODES  chaincodes pinned to the second node (50)
//	SCALE_NODE2_NAME        the second node (fpk-node2)
//	SCALE_NODE2_PEER_HOST   address at which chaincode on the second node reaches
//	                        the peer on this host (10.243.255.1, the host end of its link)
//	SCALE_NODE2_REGISTRY    the registry as the second node pulls from it
//	                        (registry.fabric-peer-k8s.test:5050)
//	SCALE_BOUND_SECONDS     bound of each wait for recovery (900)
//	SCALE_OUT               output directory (<repo>/.build/scale)

// scaleConfig are the scale run's settings.
type scaleConfig struct {
	Chaincodes      int           `json:"chaincodes"`
	Nodes           int           `json:"nodes"`
	Node2Name       string        `json:"node2_name,omitempty"`
	Node2Chaincodes int           `json:"node2_chaincodes,omitempty"`
	Node2PeerHost   string        `json:"node2_peer_host,omitempty"`
	Node2Registry   string        `json:"node2_registry,omitempty"`
	Bound           time.Duration `json:"-"`
	BoundSeconds    float64       `json:"bound_seconds"`
	PollMillis      int           `json:"duplicate_poll_ms"`
	SampleMillis    int           `json:"rate_sample_ms"`
	ClusterSh       string        `json:"-"`
	ClusterDir      string        `json:"-"`
}

// scaleKVPods are the pods of kv1 (built once on Org1, installed on both
// peers) besides the chaincodes; scaleBuildPods the build pod of kv1.
const (
	scaleKVPods    = 2
	scaleBuildPods = 1
)

// loadScaleConfig reads the SCALE_* settings through getenv.
func loadScaleConfig(getenv func(string) string, repo, clusterDir string) (*scaleConfig, error) {
	sc := &scaleConfig{Chaincodes: 100, Nodes: 1, Node2Name: "fpk-node2", Node2Chaincodes: 50, Node2PeerHost: "10.243.255.1",
		Node2Registry: "registry.fabric-peer-k8s.test:5050", Bound: 15 * time.Minute, PollMillis: 500, SampleMillis: 1000,
		ClusterSh: filepath.Join(repo, "integration", "cluster", "cluster.sh"), ClusterDir: clusterDir}
	bound := 0
	for _, v := range []struct {
		env string
		dst *int
		min int
	}{{"SCALE_CHAINCODES", &sc.Chaincodes, 1}, {"SCALE_NODES", &sc.Nodes, 1}, {"SCALE_NODE2_CHAINCODES", &sc.Node2Chaincodes, 1}, {"SCALE_BOUND_SECONDS", &bound, 1}} {
		if s := getenv(v.env); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < v.min {
				return nil, fmt.Errorf("%s=%q: want an integer of at least %d", v.env, s, v.min)
			}
			*v.dst = n
		}
	}
	if bound > 0 {
		sc.Bound = time.Duration(bound) * time.Second
	}
	sc.BoundSeconds = sc.Bound.Seconds()
	for _, v := range []struct {
		env string
		dst *string
	}{{"SCALE_NODE2_NAME", &sc.Node2Name}, {"SCALE_NODE2_PEER_HOST", &sc.Node2PeerHost}, {"SCALE_NODE2_REGISTRY", &sc.Node2Registry}} {
		if s := strings.TrimSpace(getenv(v.env)); s != "" {
			*v.dst = s
		}
	}
	switch sc.Nodes {
	case 1:
		sc.Node2Name, sc.Node2Chaincodes, sc.Node2PeerHost, sc.Node2Registry = "", 0, "", ""
	case 2:
		if sc.Node2Chaincodes > sc.Chaincodes {
			return nil, fmt.Errorf("SCALE_NODE2_CHAINCODES=%d: more than the %d chaincodes (SCALE_CHAINCODES)", sc.Node2Chaincodes, sc.Chaincodes)
		}
	default:
		return nil, fmt.Errorf("SCALE_NODES=%d: 1, or 2 on a cluster with a second node", sc.Nodes)
	}
	return sc, nil
}

// command is how this run was started, as make and as go run.
func (sc *scaleConfig) command() string {
	mk := "make scale"
	env := []string{"BENCH_SCALE=1"}
	for _, k := range []string{"SCALE_CHAINCODES", "SCALE_NODES", "SCALE_NODE2_CHAINCODES", "SCALE_NODE2_NAME", "SCALE_NODE2_PEER_HOST",
		"SCALE_NODE2_REGISTRY", "SCALE_BOUND_SECONDS"} {
		if v := os.Getenv(k); v != "" {
			mk += " " + k + "=" + v
			env = append(env, k+"="+v)
		}
	}
	return fmt.Sprintf("%s  (%s go run -mod=vendor ./integration/bench)", mk, strings.Join(env, " "))
}

// scaleRun is the scale run on one k8s network.
type scaleRun struct {
	*vmRun
	sc  *scaleConfig
	rep *ScaleReport
	ccs []nwo.Chaincode
	// pinned are the chaincodes (by name) pinned to the second node.
	pinned map[string]bool
	dups   *dupWatcher
	rates  *rateSampler
	// pc reads protobuf, for the polls during the measured windows.
	pc kubernetes.Interface
	// phaseName is the phase running, for the duplicate watcher.
	phaseName atomic.Value
}

func runScale(c *config) error {
	sc, err := loadScaleConfig(os.Getenv, c.Repo, testkit.FirstNonEmpty(os.Getenv("CLUSTER_DIR"), filepath.Join(c.Repo, ".cluster")))
	if err != nil {
		return err
	}
	c.N, c.Many, c.VMs = 1, sc.Chaincodes, []string{"k8s"}
	rep := &ScaleReport{Config: sc, RunID: c.RunID, Command: sc.command(), Started: time.Now(), Machine: machineInfo()}
	step("scale: %d chaincodes on Org1's peer, SIGKILL and restart; second node: %s (output %s)", sc.Chaincodes,
		map[bool]string{true: fmt.Sprintf("%d chaincodes on %s, stopped and started", sc.Node2Chaincodes, sc.Node2Name), false: "no (SCALE_NODES=2 for it)"}[sc.Nodes == 2], c.Out)
	kvDir, err := prepareKV(c)
	if err != nil {
		return err
	}
	s := &scaleRun{sc: sc, rep: rep, pinned: map[string]bool{}}
	s.vmRun = &vmRun{c: c, vm: "k8s", r: &VMResult{VM: "k8s", Samples: map[string][]float64{}}, ctx: context.Background(), kvDir: kvDir}
	s.run()
	rep.Finished = time.Now()
	rep.Seconds = rep.Finished.Sub(rep.Started).Seconds()
	rep.Notes, rep.Errors = s.r.Notes, s.r.Errors
	rep.OtherNamespaces, rep.LoadAvg = s.r.OtherNamespaces, s.r.LoadAvg
	if err := rep.Write(c.Out); err != nil {
		return err
	}
	step("scale: done in %s: %s", time.Since(startTime).Truncate(time.Second), filepath.Join(c.Out, "report.md"))
	var failed []string
	failed = append(failed, rep.Errors...)
	if n := len(rep.Duplicates.Violations); n > 0 {
		failed = append(failed, fmt.Sprintf("%d duplicates: two live pods of one chaincode for one peer (see the report)", n))
	}
	if len(failed) > 0 {
		return fmt.Errorf("the scale run failed (see the report):\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
}

func (s *scaleRun) phase(name string, f func() error) bool {
	s.phaseName.Store(name)
	return s.vmRun.phase(name, f)
}

func (s *scaleRun) currentPhase() string {
	p, _ := s.phaseName.Load().(string)
	return p
}

func (s *scaleRun) run() {
	v, sc := s.vmRun, s.sc
	if sc.Nodes != 2 {
		s.rep.Node2Skipped = "not run: SCALE_NODES=1 (SCALE_NODES=2 on a cluster with a second node runs it)"
	}
	var teardown []func()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			for i := len(teardown) - 1; i >= 0; i-- {
				teardown[i]()
			}
		})
	}
	atExit(stop)
	defer stop()

	if !s.phase("setting up", func() error { return v.setup(&teardown) }) {
		return
	}
	s.rep.Namespace = v.ns
	if !s.phase("checking the nodes' room for the chaincode pods", s.checkRoom) {
		return
	}
	pc, err := newProtoClient(v.c.Kubeconfig)
	if err != nil {
		v.errorf("duplicate watcher: %v", err)
		return
	}
	s.pc = pc
	s.dups = startDupWatcher(v.ctx, pc, v.ns, time.Duration(sc.PollMillis)*time.Millisecond, s.currentPhase)
	s.rates = startRateSampler(v.proxy[v.org1().ID()], time.Duration(sc.SampleMillis)*time.Millisecond)
	// Before the teardown (deferred earlier, run later): the watchers stop
	// while the namespace still exists.
	defer func() {
		s.phaseName.Store("done")
		s.rep.PeerAPIRequests = v.proxy[v.org1().ID()].Counts()
		s.rep.Duplicates = s.dups.Stop()
		s.rates.Stop()
	}()
	if sc.Nodes == 2 && !s.phase("pinning chaincodes to "+sc.Node2Name+" (per-chaincode settings)", s.pinToNode2) {
		return
	}
	if !s.phase("starting the network", func() error { v.h.Start(); return v.clients() }) {
		return
	}
	if !s.phase("deploying kv1 (its image becomes the prebuilt image of every chaincode)", v.deploy) {
		return
	}
	if !s.phase(fmt.Sprintf("%d chaincodes on Org1, in batches", sc.Chaincodes), s.fill) {
		return
	}
	if !s.phase(fmt.Sprintf("SIGKILL of Org1's peer with %d chaincodes and restart", sc.Chaincodes), s.restart) {
		return
	}
	if sc.Nodes == 2 {
		s.phase(fmt.Sprintf("%s stopped and started with %d chaincodes on it", sc.Node2Name, sc.Node2Chaincodes), s.node2Outage)
	}
}
