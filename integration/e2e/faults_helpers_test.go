//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// clusterCtl stops, starts and restarts components of the local cluster
// through integration/cluster/cluster.sh (FAULTS_CLUSTER_SH overrides it).
type clusterCtl struct {
	script string
	env    []string
}

func newClusterCtl(s settings) *clusterCtl {
	script := testkit.FirstNonEmpty(os.Getenv("FAULTS_CLUSTER_SH"), filepath.Join(s.RepoRoot, "integration", "cluster", "cluster.sh"))
	clusterDir := testkit.FirstNonEmpty(os.Getenv("CLUSTER_DIR"), filepath.Join(s.RepoRoot, ".cluster"))
	return &clusterCtl{script: script, env: append(os.Environ(), "CLUSTER_DIR="+clusterDir)}
}

// clusterCtlTimeout bounds one cluster.sh call: a component that does not
// come back fails the spec instead of holding the suite.
const clusterCtlTimeout = 5 * time.Minute

// run runs `cluster.sh <verb> <component>` and returns how long it took.
func (c *clusterCtl) run(verb, component string) time.Duration {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), clusterCtlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.script, verb, component)
	cmd.Env = c.env
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "cluster.sh %s %s (after %s):\n%s", verb, component, time.Since(start).Round(time.Second), out)
	fmt.Fprintf(GinkgoWriter, "cluster.sh %s %s (%.1fs)\n", verb, component, time.Since(start).Seconds())
	return time.Since(start)
}

// shutdownBound bounds the time from the exit of a peer stopped with
// SIGTERM until its chaincode Pods and Secrets are gone (Fabric calls the
// VM's Stop for every running chaincode on the way out).
const shutdownBound = 45 * time.Second

// peerObjects lists the Pods, Secrets and Jobs of the namespace that carry
// p's peer label (network.LabelPeerID), as "kind/name" -> UID; terminating
// and finished pods are included.
func (n *healNet) peerObjects(p *nwo.Peer) map[string]types.UID {
	out := map[string]types.UID{}
	for _, o := range n.labelled(network.LabelPeerID) {
		if o.value == p.ID() {
			out[o.kind+"/"+o.meta.Name] = o.meta.UID
		}
	}
	return out
}

// unsettled says what keeps p's objects from a steady state: a chaincode
// pod of p that is not Running or is terminating, a Job, or a number of
// Secrets other than one per pod. Empty when p runs at least one chaincode
// and nothing of it is in flux.
func (n *healNet) unsettled(p *nwo.Peer) []string {
	var problems []string
	pods, secrets := 0, 0
	for _, o := range n.labelled(network.LabelPeerID) {
		if o.value != p.ID() {
			continue
		}
		switch o.kind {
		case "pod":
			pods++
			if o.meta.DeletionTimestamp != nil || o.phase != corev1.PodRunning {
				problems = append(problems, fmt.Sprintf("pod/%s is %s", o.meta.Name, o.phase))
			}
		case "secret":
			secrets++
		default:
			problems = append(problems, o.kind+"/"+o.meta.Name)
		}
	}
	if pods == 0 || pods != secrets {
		problems = append(problems, fmt.Sprintf("%d pods, %d secrets", pods, secrets))
	}
	return problems
}

// settledObjects waits until p's objects are settled (unsettled is empty)
// and have stayed the same for quiet, and returns them. A peer that has just
// started launches its installed and committed chaincodes one after the
// other, so a moment with nothing in flux comes before the last launch.
func (n *healNet) settledObjects(p *nwo.Peer, quiet time.Duration) map[string]types.UID {
	var last map[string]types.UID
	var since time.Time
	EventuallyWithOffset(1, func() []string {
		cur, problems := n.peerObjects(p), n.unsettled(p)
		if len(problems) > 0 || !reflect.DeepEqual(cur, last) {
			last, since = cur, time.Now()
			return append(problems, "changed")
		}
		if d := time.Since(since); d < quiet {
			return []string{fmt.Sprintf("unchanged for %s of %s", d.Round(100*time.Millisecond), quiet)}
		}
		return nil
	}, 2*time.Minute, 200*time.Millisecond).Should(BeEmpty(), "chaincode pods of %s running, one Secret each, for %s", p.ID(), quiet)
	return last
}

// peerRuns groups p's objects by the peer process (run, network.LabelRun)
// that created them: run -> ["kind/name", ...].
func (n *healNet) peerRuns(p *nwo.Peer) map[string][]string {
	runs := map[string][]string{}
	for _, o := range n.labelled(network.LabelPeerID) {
		if run := o.meta.Labels[network.LabelRun]; o.value == p.ID() && run != "" {
			runs[run] = append(runs[run], o.kind+"/"+o.meta.Name)
		}
	}
	return runs
}

// labelledObject is a Pod, Secret or Job with the value of one label (and,
// for a Pod, its phase).
type labelledObject struct {
	kind, value string
	meta        metav1.ObjectMeta
	phase       corev1.PodPhase
}

// labelled lists the namespace's Pods, Secrets and Jobs that carry label.
func (n *healNet) labelled(label string) []labelledObject {
	inv := n.inventory()
	var out []labelledObject
	add := func(kind string, meta metav1.ObjectMeta, phase corev1.PodPhase) {
		if v, ok := meta.Labels[label]; ok {
			out = append(out, labelledObject{kind: kind, value: v, meta: meta, phase: phase})
		}
	}
	for _, pods := range [][]corev1.Pod{inv.ChaincodePods, inv.BuildPods, inv.OtherPods} {
		for _, p := range pods {
			add("pod", p.ObjectMeta, p.Status.Phase)
		}
	}
	for _, s := range inv.Secrets {
		add("secret", s.ObjectMeta, "")
	}
	for _, j := range inv.Jobs {
		add("job", j.ObjectMeta, "")
	}
	return out
}

// faultRecord is one line of the fault table: how long until chaincode
// served again and what was left of this namespace's objects afterwards.
func (n *healNet) recordFault(fault string, recovery time.Duration, note string) {
	inv := n.inventory()
	live := network.LivePods(inv.ChaincodePods)
	line := fmt.Sprintf("E2E-FAULT fault=%s recovery_seconds=%.2f chaincode_pods=%d secrets=%d jobs=%d build_pods=%d",
		fault, recovery.Seconds(), len(live), len(inv.ChaincodeSecrets), len(inv.Jobs), len(inv.BuildPods))
	if note != "" {
		line += " note=" + strings.ReplaceAll(note, " ", "_")
	}
	recordLine(line)
}

// queryUntilOK queries p until it answers want and returns how long that
// took from t0.
func (n *healNet) queryUntilOK(t0 time.Time, p *nwo.Peer, key, want string) time.Duration {
	EventuallyWithOffset(1, func() string {
		r := n.h.Query(p, ccName, 30*time.Second, "get", key)
		if r.OK() && strings.TrimSpace(r.Stdout) == want {
			return ""
		}
		return r.String()
	}, 4*time.Minute, 500*time.Millisecond).Should(BeEmpty(), "query on %s", p.ID())
	return time.Since(t0)
}

// expectSettled waits until exactly cc's running pod and Secret exist per
// peer (of the packages labelled labels) and no build Job or build pod is
// left.
func (n *healNet) expectSettled(cc nwo.Chaincode, labels ...string) {
	EventuallyWithOffset(1, func() []string {
		problems := n.kvProblems(cc, labels...)
		inv := n.inventory()
		for _, j := range inv.Jobs {
			problems = append(problems, "job/"+j.Name)
		}
		for _, p := range inv.BuildPods {
			problems = append(problems, "build pod/"+p.Name)
		}
		return problems
	}, 2*time.Minute, 250*time.Millisecond).Should(BeEmpty())
}

// installAsync installs cc on p in the background; the result arrives on
// the returned channel.
func (n *healNet) installAsync(cc nwo.Chaincode, p *nwo.Peer) <-chan network.Result {
	ch := make(chan network.Result, 1)
	go func() {
		defer GinkgoRecover()
		ch <- n.h.Install(cc, p)
	}()
	return ch
}

// waitNewJob waits until a build Job beyond the first before ones was
// created and returns its name.
func (n *healNet) waitNewJob(before int) string {
	EventuallyWithOffset(1, func() int { return n.jobs.Count() }, 3*time.Minute, 50*time.Millisecond).
		Should(BeNumerically(">", before), "no build Job was created")
	return n.jobs.Created()[before]
}

// imageOnNode lists the containerd image references of the node that
// carry digest.
func (n *healNet) imageOnNode(digest string) []string {
	out, err := exec.Command(n.ctrBin, "--address", n.ctrAddress, "-n", "k8s.io", "images", "ls", "-q").CombinedOutput()
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "ctr images ls: %s", out)
	var refs []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, digest) {
			refs = append(refs, l)
		}
	}
	return refs
}

// removeImageFromNode deletes every reference to the image of pod from the
// node's containerd, so that the next pod with it has to pull.
func (n *healNet) removeImageFromNode(pod *corev1.Pod) {
	image := pod.Spec.Containers[0].Image
	_, digest, found := strings.Cut(image, "@")
	ExpectWithOffset(1, found).To(BeTrue(), "pod %s runs %s, not image@digest", pod.Name, image)
	refs := n.imageOnNode(digest)
	ExpectWithOffset(1, refs).NotTo(BeEmpty(), "image %s is not on the node", image)
	// The image ID (sha256:<config>) is listed too; removing every name
	// that points at the digest drops the content's last reference.
	args := append([]string{"--address", n.ctrAddress, "-n", "k8s.io", "images", "rm", "--sync"}, refs...)
	out, err := exec.Command(n.ctrBin, args...).CombinedOutput()
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "ctr images rm: %s", out)
	ExpectWithOffset(1, n.imageOnNode(digest)).To(BeEmpty())
}

// healthz fetches the peer's operations /healthz and returns the status
// code and body.
func (n *healNet) healthz(p *nwo.Peer) (int, string) {
	_, client := nwo.PeerOperationalClients(n.h.Network, p)
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", n.h.Network.PeerPort(p, nwo.OperationsPort))
	ctx, cancel := context.WithTimeout(n.ctx, 45*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err.Error()
	}
	return resp.StatusCode, string(b)
}

// writeRawPackage writes a chaincode package the way `peer lifecycle
// chaincode package` lays it out (testkit.ChaincodePackage), with whatever
// metadata and code it is given, so that the peer's refusal of hostile input
// can be seen.
func writeRawPackage(file, label, ccType, path string, code []testkit.TarEntry) error {
	pkg, err := testkit.ChaincodePackage(map[string]string{"path": path, "type": ccType, "label": label}, code...)
	if err != nil {
		return err
	}
	return os.WriteFile(file, pkg, 0o644)
}
