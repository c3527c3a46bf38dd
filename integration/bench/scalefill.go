/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The scale run's first phase: room on the nodes, chaincodes pinned to the
// second node, 100 chaincodes brought up and checked running where they
// belong.

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
