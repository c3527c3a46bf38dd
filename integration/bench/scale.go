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
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
	sc, err := loadScaleConfig(os.Getenv, c.Repo, firstNonEmpty(os.Getenv("CLUSTER_DIR"), filepath.Join(c.Repo, ".cluster")))
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

// nodeRooms is the pod room of every node (nodeRoomsOf).
func (v *vmRun) nodeRooms() ([]NodeRoom, error) {
	nodes, err := v.kube.Client.CoreV1().Nodes().List(v.ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	pods, err := v.kube.Client.CoreV1().Pods("").List(v.ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return nodeRoomsOf(nodes.Items, pods.Items), nil
}

// checkRoom fails when the nodes cannot hold the run's pods: the first
// node(s) the chaincodes not pinned, kv1's pods and its build; the second
// node the pinned ones.
func (s *scaleRun) checkRoom() error {
	rooms, err := s.nodeRooms()
	if err != nil {
		return err
	}
	s.rep.Nodes = rooms
	for _, r := range rooms {
		step("k8s: node %s: ready %v, maxPods %d, %d pods bound and not finished, %d free, taints %v", r.Name, r.Ready, r.MaxPods, r.Used, r.Free, r.Taints)
	}
	onMain := s.sc.Chaincodes - s.sc.Node2Chaincodes
	if err := checkMainRoom(rooms, onMain, scaleKVPods+scaleBuildPods); err != nil {
		return err
	}
	if s.sc.Nodes == 2 {
		if err := checkNodeRoom(rooms, s.sc.Node2Name, s.sc.Node2Chaincodes); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(s.sc.ClusterDir, "pki", "ca.crt")); err != nil {
			return fmt.Errorf("the cluster CA (for the peer's lookups in %s): %w", s.sc.Node2Registry, err)
		}
	}
	return nil
}

// pinToNode2 creates the per-chaincode settings ConfigMap pinning the last
// Node2Chaincodes chaincodes to the second node (nodeSelector on its
// hostname, its taints tolerated) and points Org1's peer at it. Chaincode
// there uses the host network of the node's network namespace: it reaches
// the peer at Node2PeerHost (the peer's chaincode address for every
// chaincode) and pulls its image from the registry by its TLS name (the
// peer verifies that registry with the cluster CA).
func (s *scaleRun) pinToNode2() error {
	v, sc := s.vmRun, s.sc
	node, err := v.kube.Client.CoreV1().Nodes().Get(v.ctx, sc.Node2Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	entry := node2Settings(node)
	data := map[string]string{}
	for j := sc.Chaincodes - sc.Node2Chaincodes; j < sc.Chaincodes; j++ {
		data[scaleLabel(j)] = entry
		s.pinned[scaleName(j)] = true
	}
	if _, err := v.kube.Client.CoreV1().ConfigMaps(v.ns).Create(v.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: scaleSettingsConfigMap},
		Data:       data,
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	port := v.n.PeerPort(v.org1(), nwo.ChaincodePort)
	id := v.org1().ID()
	v.h.Opts.PeerEnvByID[id] = append(v.h.Opts.PeerEnvByID[id],
		"CORE_VM_K8S_CHAINCODECONFIGMAP="+scaleSettingsConfigMap,
		"CORE_VM_K8S_REGISTRYCA="+filepath.Join(sc.ClusterDir, "pki", "ca.crt"),
		fmt.Sprintf("CORE_PEER_CHAINCODEADDRESS=%s:%d", sc.Node2PeerHost, port))
	v.note("SCALE_NODES=2: %d of the %d chaincodes are pinned to %s from their first launch (ConfigMap %s: %s); their packages name the image as %s pulls it (%s); every chaincode reaches the peer at %s:%d",
		sc.Node2Chaincodes, sc.Chaincodes, sc.Node2Name, scaleSettingsConfigMap, strings.ReplaceAll(strings.TrimSpace(entry), "\n", " "), sc.Node2Name, sc.Node2Registry, sc.Node2PeerHost, port)
	return nil
}

// scaleSettingsConfigMap is vm.k8s.chaincodeConfigMap with SCALE_NODES=2.
const scaleSettingsConfigMap = "fabric-chaincode-settings"

// node2Settings is the per-chaincode settings entry that places a chaincode
// on node: its hostname and tolerations of its own taints (not of the
// node.kubernetes.io/ conditions).
func node2Settings(node *corev1.Node) string {
	host := node.Labels["kubernetes.io/hostname"]
	if host == "" {
		host = node.Name
	}
	var b strings.Builder
	fmt.Fprintf(&b, "nodeSelector: {kubernetes.io/hostname: %q}\n", host)
	var tol []string
	for _, t := range node.Spec.Taints {
		if strings.HasPrefix(t.Key, "node.kubernetes.io/") {
			continue
		}
		if t.Value != "" {
			tol = append(tol, fmt.Sprintf("- {key: %q, operator: Equal, value: %q, effect: %s}\n", t.Key, t.Value, t.Effect))
		} else {
			tol = append(tol, fmt.Sprintf("- {key: %q, operator: Exists, effect: %s}\n", t.Key, t.Effect))
		}
	}
	if len(tol) > 0 {
		b.WriteString("tolerations:\n" + strings.Join(tol, ""))
	}
	return b.String()
}

func scaleName(j int) string  { return fmt.Sprintf("scale%d", j+1) }
func scaleLabel(j int) string { return fmt.Sprintf("benchscale_%d", j+1) }

// fill writes the packages (kv1's image with an entrypoint, as many.go
// publishes it) and installs them on Org1 in many.go's batches.
func (s *scaleRun) fill() error {
	v, sc := s.vmRun, s.sc
	ref, digest, err := v.prebuiltFromKV1()
	if err != nil {
		return err
	}
	s.rep.Image = ref + "@" + digest
	node2Ref := ""
	if sc.Nodes == 2 {
		host, path, _ := strings.Cut(ref, "/")
		node2Ref = sc.Node2Registry + "/" + path
		if host == sc.Node2Registry {
			node2Ref = ref
		}
	}
	s.ccs = make([]nwo.Chaincode, sc.Chaincodes)
	for j := range s.ccs {
		r := ref
		if s.pinned[scaleName(j)] {
			r = node2Ref
		}
		if s.ccs[j], err = v.k8sPackage(scaleName(j), scaleLabel(j), r, digest); err != nil {
			return err
		}
	}
	v.note("the %d chaincodes are packages of type k8s naming one prebuilt image (%s@%s: kv1's image with an entrypoint), installed without a build", sc.Chaincodes, ref, digest)
	px := v.proxy[v.org1().ID()]
	from := countSample{T: time.Now(), Counts: px.Counts()}
	fr := &FillResult{Chaincodes: sc.Chaincodes}
	s.rep.Fill = fr
	next := 0
	for _, size := range manyBatchSizes(sc.Chaincodes) {
		if err := v.manyBatch(s.ccs[next : next+size]); err != nil {
			return err
		}
		next += size
	}
	to := countSample{T: time.Now(), Counts: px.Counts()}
	fr.Seconds = to.T.Sub(from.T).Seconds()
	fr.Batches = v.r.ManyBatches
	fr.Install, fr.Launch = Summarize(v.r.Samples[sInstallMany]), Summarize(v.r.Samples[sLaunchMany])
	w := apiWindow(s.rates.Samples(), from, to, from.T)
	fr.API = &w
	// A chaincode registers with the peer before its node's kubelet reports
	// the pod running: give the status a moment to catch up.
	live, err := s.awaitRunning(sc.Chaincodes, 30*time.Second)
	if err != nil {
		return err
	}
	fr.RunningPods, fr.OnNode = s.countRunning(live)
	if fr.RunningPods < sc.Chaincodes {
		return fmt.Errorf("%d chaincode pods of the %d chaincodes run on Org1 30s after they registered", fr.RunningPods, sc.Chaincodes)
	}
	return s.checkPlacement(live)
}

// awaitRunning lists Org1's live chaincode pods every 500 ms until want of
// them run or bound passes, and returns the last list.
func (s *scaleRun) awaitRunning(want int, bound time.Duration) ([]corev1.Pod, error) {
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		live, err := s.livePods()
		if err != nil {
			return nil, err
		}
		if n, _ := s.countRunning(live); n >= want {
			return live, nil
		}
		select {
		case <-deadline.C:
			return live, nil
		case <-s.ctx.Done():
			return nil, s.ctx.Err()
		case <-tick.C:
		}
	}
}

// livePods are Org1's live chaincode pods.
func (s *scaleRun) livePods() ([]corev1.Pod, error) {
	pods, err := s.kube.Client.CoreV1().Pods(s.ns).List(s.ctx, metav1.ListOptions{LabelSelector: network.ChaincodeSelector})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range network.LivePods(pods.Items) {
		if p.Labels[network.LabelPeerID] == s.org1().ID() {
			out = append(out, p)
		}
	}
	return out, nil
}

// countRunning counts the live pods of the run's chaincodes (kv1 left out)
// whose container runs, and how many run on each node.
func (s *scaleRun) countRunning(live []corev1.Pod) (int, map[string]int) {
	ids := s.ccids()
	n, on := 0, map[string]int{}
	for _, p := range live {
		cs := p.Status.ContainerStatuses
		if ids[p.Annotations[network.AnnotationCCID]] != "" && len(cs) > 0 && cs[0].State.Running != nil {
			n++
			on[p.Spec.NodeName]++
		}
	}
	return n, on
}

// ccids maps the package IDs of the run's chaincodes to their names.
func (s *scaleRun) ccids() map[string]string {
	m := map[string]string{}
	for _, cc := range s.ccs {
		m[cc.PackageID] = cc.Name
	}
	return m
}

// checkPlacement fails when a pinned chaincode runs elsewhere than on the
// second node, or another one there.
func (s *scaleRun) checkPlacement(live []corev1.Pod) error {
	if s.sc.Nodes != 2 {
		return nil
	}
	ids := s.ccids()
	var wrong []string
	for _, p := range live {
		name := ids[p.Annotations[network.AnnotationCCID]]
		if name == "" || p.Spec.NodeName == "" {
			continue // not scheduled yet
		}
		if on2 := p.Spec.NodeName == s.sc.Node2Name; on2 != s.pinned[name] {
			wrong = append(wrong, fmt.Sprintf("%s on %q", name, p.Spec.NodeName))
		}
	}
	if len(wrong) > 0 {
		sort.Strings(wrong)
		return fmt.Errorf("chaincodes on the wrong node (%d pinned to %s): %s", s.sc.Node2Chaincodes, s.sc.Node2Name, strings.Join(wrong, ", "))
	}
	return nil
}

// peerObjects are the UIDs of Org1's chaincode pods and secrets.
func (s *scaleRun) peerObjects() (pods, secrets map[types.UID]string, err error) {
	sel := metav1.ListOptions{LabelSelector: network.ChaincodeSelector}
	pl, err := s.kube.Client.CoreV1().Pods(s.ns).List(s.ctx, sel)
	if err != nil {
		return nil, nil, err
	}
	sl, err := s.kube.Client.CoreV1().Secrets(s.ns).List(s.ctx, sel)
	if err != nil {
		return nil, nil, err
	}
	pods, secrets = map[types.UID]string{}, map[types.UID]string{}
	id := s.org1().ID()
	for _, p := range pl.Items {
		if p.Labels[network.LabelPeerID] == id {
			pods[p.UID] = p.Name
		}
	}
	for _, o := range sl.Items {
		if o.Labels[network.LabelPeerID] == id {
			secrets[o.UID] = o.Name
		}
	}
	return pods, secrets, nil
}

// goneTimes is when the killed run's objects were deleted, from the restart.
type goneTimes struct {
	podsDeleting, podsGone, secretsGone *float64
	podsLeft, secretsLeft               int
}

// waitGone polls until none of the pods and secrets exists (and notes when
// every pod was being deleted), or ctx ends.
func (s *scaleRun) waitGone(ctx context.Context, pods, secrets map[types.UID]string, t0 time.Time) goneTimes {
	var g goneTimes
	sel := metav1.ListOptions{LabelSelector: network.ChaincodeSelector}
	at := func() *float64 { d := time.Since(t0).Seconds(); return &d }
	for {
		if g.podsGone == nil {
			if pl, err := s.pc.CoreV1().Pods(s.ns).List(ctx, sel); err == nil {
				left, deleting := 0, 0
				for _, p := range pl.Items {
					if _, old := pods[p.UID]; old {
						left++
						if p.DeletionTimestamp != nil {
							deleting++
						}
					}
				}
				g.podsLeft = left
				if g.podsDeleting == nil && left == deleting {
					g.podsDeleting = at()
				}
				if left == 0 {
					g.podsGone = at()
				}
			}
		}
		if g.secretsGone == nil {
			if sl, err := s.pc.CoreV1().Secrets(s.ns).List(ctx, sel); err == nil {
				left := 0
				for _, o := range sl.Items {
					if _, old := secrets[o.UID]; old {
						left++
					}
				}
				g.secretsLeft = left
				if left == 0 {
					g.secretsGone = at()
				}
			}
		}
		if g.podsGone != nil && g.secretsGone != nil {
			return g
		}
		select {
		case <-ctx.Done():
			return g
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// serveAll queries every chaincode of ccs on p (all at once) until each
// answers or the bound passes; it returns the seconds from t0 to the
// answer of each that answered, sorted, and the first error.
func (s *scaleRun) serveAll(g *gatewayClient, p *nwo.Peer, ccs []nwo.Chaincode, t0 time.Time) ([]float64, error) {
	var mu sync.Mutex
	var secs []float64
	err := parallel(len(ccs), len(ccs), func(j int) error {
		d, err := s.queryUntilServed(g, p, ccs[j].Name, t0, s.sc.Bound, 250*time.Millisecond)
		if err != nil {
			return err
		}
		mu.Lock()
		secs = append(secs, d.Seconds())
		mu.Unlock()
		return nil
	})
	sort.Float64s(secs)
	return secs, err
}

// waitSweepLine waits until the restarted peer's log has the start-up
// sweep's line (or one of its warnings), or ctx ends.
func (s *scaleRun) waitSweepLine(ctx context.Context, p *nwo.Peer) []SweepLine {
	for {
		lines := parseSweepLog(s.h.CurrentPeerLog(p))
		for _, l := range lines {
			if l.Kind == sweepEarlier || l.Kind == sweepFailed {
				return lines
			}
		}
		select {
		case <-ctx.Done():
			return lines
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// restart SIGKILLs Org1's peer with every chaincode running and starts it
// again.
func (s *scaleRun) restart() error {
	v, p := s.vmRun, s.org1()
	px := v.proxy[p.ID()]
	pods, secrets, err := s.peerObjects()
	if err != nil {
		return err
	}
	res := &RestartResult{Chaincodes: len(s.ccs), PodsBefore: len(pods), SecretsBefore: len(secrets)}
	s.rep.Restart = res
	step("k8s: SIGKILL of Org1's peer (%d chaincode pods, %d secrets of its own)", len(pods), len(secrets))
	tKill := time.Now()
	if err := v.h.KillPeer(p, time.Minute); err != nil {
		return err
	}
	res.KillSeconds = time.Since(tKill).Seconds()
	from := countSample{T: time.Now(), Counts: px.Counts()}
	t0 := from.T
	ctx, cancel := context.WithTimeout(v.ctx, s.sc.Bound)
	defer cancel()
	goneCh := make(chan goneTimes, 1)
	go func() { goneCh <- s.waitGone(ctx, pods, secrets, t0) }()

	v.h.RestartPeer(p)
	res.ReadySeconds = time.Since(t0).Seconds()
	step("k8s: Org1's peer ready %.1fs after the restart; querying the %d chaincodes", res.ReadySeconds, len(s.ccs))
	g, err := newGatewayClient(v.n, p, "User1", network.ChannelName)
	if err != nil {
		return err
	}
	if old := v.gw[p.ID()]; old != nil {
		old.Close()
	}
	v.gw[p.ID()] = g
	secs, serveErr := s.serveAll(g, p, s.ccs, t0)
	res.Served, res.Serve = len(secs), Summarize(secs)
	if len(secs) == len(s.ccs) {
		res.AllServedSeconds = &secs[len(secs)-1]
	}
	lines := s.waitSweepLine(ctx, p)
	gone := <-goneCh
	to := countSample{T: time.Now(), Counts: px.Counts()}
	res.API = apiWindow(s.rates.Samples(), from, to, t0)
	res.OldPodsDeletingSeconds, res.OldPodsGoneSeconds, res.OldSecretsGoneSeconds = gone.podsDeleting, gone.podsGone, gone.secretsGone
	res.OldPodsLeft, res.OldSecretsLeft = gone.podsLeft, gone.secretsLeft
	for _, l := range lines {
		res.SweepLines = append(res.SweepLines, l.Text)
		switch l.Kind {
		case sweepEarlier:
			if res.SweepDeleted == 0 && !l.Time.IsZero() {
				d := l.Time.Sub(t0).Seconds()
				res.SweepLoggedSeconds = &d
			}
			res.SweepDeleted += l.Deleted
		case sweepFailed:
			v.note("the start-up sweep failed: %s", l.Text)
		}
	}
	if st, err := s.launchStats(p); err == nil {
		res.Launches = st
	} else {
		v.note("launch metrics after the restart: %v", err)
	}
	if live, err := s.livePods(); err == nil {
		res.RunningPodsAfter, _ = s.countRunning(live)
		if err := s.checkPlacement(live); err != nil {
			v.errorf("after the restart: %v", err)
		}
	}
	step("k8s: restart: ready %.1fs, sweep logged %s (%d objects), old pods gone %s, old secrets gone %s, all %d served %s; %d API requests, peak %.0f/s",
		res.ReadySeconds, secsText(res.SweepLoggedSeconds), res.SweepDeleted, secsText(res.OldPodsGoneSeconds), secsText(res.OldSecretsGoneSeconds),
		len(s.ccs), secsText(res.AllServedSeconds), res.API.Total, res.API.PeakPerSecond)
	var problems []string
	if serveErr != nil {
		problems = append(problems, fmt.Sprintf("%d of %d chaincodes answered: %v", res.Served, len(s.ccs), serveErr))
	}
	if gone.podsGone == nil || gone.secretsGone == nil {
		problems = append(problems, fmt.Sprintf("the killed run's objects were not all deleted within %s: %d of %d pods, %d of %d secrets left",
			s.sc.Bound, gone.podsLeft, len(pods), gone.secretsLeft, len(secrets)))
	}
	if res.SweepLoggedSeconds == nil {
		problems = append(problems, fmt.Sprintf("no start-up sweep line (\"deleted N objects left by earlier runs\") in the peer's log within %s", s.sc.Bound))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func secsText(d *float64) string {
	if d == nil {
		return "never"
	}
	return fmt.Sprintf("%.1fs", *d)
}

// launchStats are the peer's successful and failed launches of the run's
// chaincodes (chaincode_launch_duration) since it started, and the pods its
// current run created for them.
func (s *scaleRun) launchStats(p *nwo.Peer) (*LaunchStats, error) {
	smp, err := s.metrics(p)
	if err != nil {
		return nil, err
	}
	st := &LaunchStats{}
	created := podsCreated(s.h.CurrentPeerLog(p))
	var per []float64
	for _, cc := range s.ccs {
		st.PodsCreated += created[cc.PackageID]
		if n := created[cc.PackageID]; n > 1 {
			if st.CreatedMoreThanOnce == nil {
				st.CreatedMoreThanOnce = map[string]int{}
			}
			st.CreatedMoreThanOnce[cc.PackageID] = n
		}
		ok, _ := sumWhere(smp, "chaincode_launch_duration_count", map[string]string{"chaincode": cc.PackageID, "success": "true"})
		sum, _ := sumWhere(smp, "chaincode_launch_duration_sum", map[string]string{"chaincode": cc.PackageID, "success": "true"})
		bad, _ := sumWhere(smp, "chaincode_launch_duration_count", map[string]string{"chaincode": cc.PackageID, "success": "false"})
		st.OK += int(ok)
		st.Failed += int(bad)
		if ok > 0 {
			per = append(per, sum/ok)
		}
	}
	st.Duration = Summarize(per)
	return st, nil
}
