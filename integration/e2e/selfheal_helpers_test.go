//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// healNet is the self-healing suite's network, the recorders watching its
// namespace and the kill measurements taken so far.
type healNet struct {
	sideNetwork
	events *network.EventLog
	pods   *network.PodLog

	ctrBin, ctrAddress string
	kills              killStats
	// memoryLimit, when set, is the memory limit of every chaincode
	// container (vm.k8s.resources).
	memoryLimit string
	// configure, when set, changes the settings further before the network
	// starts.
	configure func(s *settings)
}

// start brings up a two-org network in its own namespace (<E2E_NAMESPACE>-
// <suffix>, or fpk-e2e-<suffix>-<random>) whose peers relaunch chaincode on
// short cycles (the heal* constants), with recorders of the namespace's Jobs,
// Events and Pods.
func (n *healNet) start(suffix string) {
	n.sideNetwork.start(suffix, func(s *settings, kube *network.Kube) {
		on := true
		s.Peer.VM.Relaunch = &network.K8sRelaunchConfig{
			Enabled:            &on,
			InitialBackoff:     healInitialBackoff.String(),
			MaxBackoff:         healMaxBackoff.String(),
			CrashLoopThreshold: healCrashLoopThreshold,
			StableAfter:        healStableAfter.String(),
		}
		if n.memoryLimit != "" {
			if s.Peer.VM.Extra == nil {
				s.Peer.VM.Extra = map[string]interface{}{}
			}
			s.Peer.VM.Extra["resources"] = map[string]interface{}{"limits": map[string]string{"memory": n.memoryLimit}}
		}
		if n.configure != nil {
			n.configure(s)
		}
		n.ctrBin = testkit.FirstNonEmpty(os.Getenv("E2E_CTR"), "ctr")
		n.ctrAddress = testkit.FirstNonEmpty(os.Getenv("E2E_CONTAINERD_ADDRESS"), filepath.Join(s.RepoRoot, ".cluster", "run", "containerd.sock"))
		fmt.Fprintf(GinkgoWriter, "ctr %s --address %s\n", n.ctrBin, n.ctrAddress)
		out, err := exec.Command(n.ctrBin, "--address", n.ctrAddress, "version").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "ctr is needed to SIGKILL chaincode containers (E2E_CTR, E2E_CONTAINERD_ADDRESS): %s", out)
		n.events, err = kube.WatchEvents(n.ctx)
		Expect(err).NotTo(HaveOccurred())
		n.pods, err = kube.WatchPods(n.ctx)
		Expect(err).NotTo(HaveOccurred())
	})
}

// stop stops the network and the recorders and deletes the namespace unless
// a spec failed with E2E_KEEP=1.
func (n *healNet) stop() {
	defer func() {
		if n.events != nil {
			n.events.Stop()
		}
		if n.pods != nil {
			n.pods.Stop()
		}
	}()
	n.sideNetwork.stop()
}

func (n *healNet) inventory() network.Inventory {
	inv, err := n.kube.Inventory(n.ctx)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return inv
}

// runningPod waits for the live, running chaincode pod of ccid on peer p.
func (n *healNet) runningPod(p *nwo.Peer, ccid string) *corev1.Pod {
	var found *corev1.Pod
	EventuallyWithOffset(1, func() string {
		found = nil
		var states []string
		for _, pod := range network.LivePods(n.inventory().ChaincodePods) {
			if pod.Annotations[network.AnnotationCCID] != ccid || pod.Labels[network.LabelPeerID] != p.ID() {
				continue
			}
			cs := pod.Status.ContainerStatuses
			if len(cs) == 1 && cs[0].State.Running != nil && cs[0].ContainerID != "" {
				found = &pod
				return ""
			}
			states = append(states, pod.Name+"["+string(pod.Status.Phase)+"]")
		}
		return fmt.Sprintf("no running pod of %s on %s: %v", ccid, p.ID(), states)
	}, relaunchTimeout, 100*time.Millisecond).Should(BeEmpty())
	return found
}

func relaunchLine(ccid string) string { return "Chaincode " + ccid + ": relaunched " }

// relaunches counts the relaunches of ccid that p logged.
func (n *healNet) relaunches(p *nwo.Peer, ccid string) int {
	return strings.Count(n.h.PeerLog(p), relaunchLine(ccid))
}

// reportedDowntime is the downtime p logged with its last relaunch of ccid
// (from the end of the pod, as its Wait saw it, to the registration of the
// new one).
func (n *healNet) reportedDowntime(p *nwo.Peer, ccid string) string {
	re := regexp.MustCompile(regexp.QuoteMeta(relaunchLine(ccid)) + `([0-9.]+)s after`)
	m := re.FindAllStringSubmatch(n.h.PeerLog(p), -1)
	if len(m) == 0 {
		return "?"
	}
	return m[len(m)-1][1]
}

// waitStable waits until the running pod has existed longer than
// StableAfter, so that killing it is not a fast failure.
func (n *healNet) waitStable(pod *corev1.Pod) {
	since := time.Now()
	if seen, ok := n.pods.Seen(pod.UID); ok {
		since = seen.FirstSeen
	}
	if d := time.Until(since.Add(healStableAfter + 300*time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
}

// kill ends a chaincode pod: "sigkill" kills its process through containerd,
// "delete" deletes the pod.
func (n *healNet) kill(pod *corev1.Pod, method string) {
	switch method {
	case "sigkill":
		id := pod.Status.ContainerStatuses[0].ContainerID
		ExpectWithOffset(1, id).To(HavePrefix("containerd://"), "pod %s", pod.Name)
		out, err := exec.Command(n.ctrBin, "--address", n.ctrAddress, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL",
			strings.TrimPrefix(id, "containerd://")).CombinedOutput()
		ExpectWithOffset(1, err).NotTo(HaveOccurred(), "ctr tasks kill: %s", out)
	case "delete":
		testkit.DeletePod(n.ctx, n.kube.Client, pod)
	default:
		Fail("unknown kill method " + method)
	}
}

// killAndWait kills the chaincode pod of cc on p and waits, without any
// transaction, until the peer logs that the relaunched chaincode registered;
// then a query on p confirms that the chaincode serves.
func (n *healNet) killAndWait(phase string, i int, p *nwo.Peer, cc nwo.Chaincode, method, key, want string) {
	pod := n.runningPod(p, cc.PackageID)
	n.waitStable(pod)
	before := n.relaunches(p, cc.PackageID)
	t0 := time.Now()
	n.kill(pod, method)
	EventuallyWithOffset(1, func() int { return n.relaunches(p, cc.PackageID) }, relaunchTimeout, 25*time.Millisecond).
		Should(BeNumerically(">", before), func() string {
			return fmt.Sprintf("%s kill %d (%s of %s on %s): no relaunch logged\n%s", phase, i, method, pod.Name, p.ID(),
				testkit.LastLines(n.h.PeerLog(p), 30))
		})
	d := time.Since(t0)
	n.kills = append(n.kills, killRecord{phase: phase, method: method, peer: p.ID(), seconds: d.Seconds()})
	recordLine(fmt.Sprintf("E2E-TIMING name=relaunch-after-kill phase=%s n=%d method=%s peer=%s seconds=%.2f peer_reported_downtime=%ss",
		phase, i, method, p.ID(), d.Seconds(), n.reportedDowntime(p, cc.PackageID)))

	nw := n.runningPod(p, cc.PackageID)
	ExpectWithOffset(1, nw.UID).NotTo(Equal(pod.UID), "the relaunched chaincode runs in a new pod")
	ExpectWithOffset(1, n.h.QueryOK(p, ccName, queryTimeout, "get", key)).To(Equal(want), "query on %s after the relaunch", p.ID())
}

// kvProblems lists, as "kind/label/peer[phase]", the pods (any phase) and
// Secrets of the packages labelled labels that are not exactly those of
// cc's running pods, one per peer.
func (n *healNet) kvProblems(cc nwo.Chaincode, labels ...string) []string {
	ours := func(meta metav1.ObjectMeta) bool {
		id := meta.Annotations[network.AnnotationCCID]
		for _, l := range labels {
			if strings.HasPrefix(id, l+":") {
				return true
			}
		}
		return false
	}
	inv := n.inventory()
	var problems []string
	perPeer := map[string]int{}
	for _, p := range inv.ChaincodePods {
		if !ours(p.ObjectMeta) {
			continue
		}
		desc := fmt.Sprintf("pod/%s/%s[%s]", strings.SplitN(p.Annotations[network.AnnotationCCID], ":", 2)[0], p.Labels[network.LabelPeerID], p.Status.Phase)
		if p.Annotations[network.AnnotationCCID] != cc.PackageID || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			problems = append(problems, "unexpected "+desc)
			continue
		}
		perPeer[p.Labels[network.LabelPeerID]]++
	}
	for _, peer := range n.h.Peers {
		if perPeer[peer.ID()] != 1 {
			problems = append(problems, fmt.Sprintf("%d running pods of %s on %s", perPeer[peer.ID()], cc.Label, peer.ID()))
		}
	}
	secrets := 0
	for _, sec := range inv.ChaincodeSecrets {
		if !ours(sec.ObjectMeta) {
			continue
		}
		if sec.Annotations[network.AnnotationCCID] != cc.PackageID {
			problems = append(problems, "unexpected secret/"+sec.Name)
		}
		secrets++
	}
	if secrets != len(n.h.Peers) {
		problems = append(problems, fmt.Sprintf("%d secrets of %v, want %d", secrets, labels, len(n.h.Peers)))
	}
	return problems
}

// killRecord is one kill-to-re-registration measurement.
type killRecord struct {
	phase, method, peer string
	seconds             float64
}

type killStats []killRecord

// seconds returns the sorted measurements of phase ("" for all) and method
// ("" for all).
func (k killStats) seconds(phase, method string) []float64 {
	var v []float64
	for _, r := range k {
		if (phase == "" || r.phase == phase) && (method == "" || r.method == method) {
			v = append(v, r.seconds)
		}
	}
	sort.Float64s(v)
	return v
}

// summaryLine records and returns the median and maximum of phase ("" for
// all phases).
func (k killStats) summaryLine(phase string) (p50, max float64) {
	v := k.seconds(phase, "")
	if n := len(v); n > 0 {
		p50, max = v[n/2], v[n-1]
		if n%2 == 0 {
			p50 = (v[n/2-1] + v[n/2]) / 2
		}
	}
	label := phase
	if label == "" {
		label = "all"
	}
	recordLine(fmt.Sprintf("E2E-TIMING name=relaunch-after-kill-summary phase=%s kills=%d sigkill=%d delete=%d p50=%.2f max=%.2f",
		label, len(v), len(k.seconds(phase, "sigkill")), len(k.seconds(phase, "delete")), p50, max))
	return p50, max
}
