//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Relaunch settings of the self-healing network's peers (vm.k8s.relaunch).
// StableAfter must exceed the time from Start to the exit of a chaincode
// that exits at start-up (1-2s on the local cluster: delete the previous pod,
// create Secret and Pod, start the container, the kubelet notices the exit),
// so that those exits count as fast failures; kills are spaced so that every
// killed chaincode has run longer than StableAfter and never counts towards a
// crash loop. Each cycle waits for it, so it is kept small.
const (
	healInitialBackoff     = 250 * time.Millisecond
	healMaxBackoff         = time.Second
	healCrashLoopThreshold = 3
	healStableAfter        = 4 * time.Second

	// healKills is the number of kills of the recovery measurement (half
	// SIGKILL of the chaincode process, half pod deletion, both peers).
	healKills = 12
	// relaunchTimeout bounds the wait for one re-registration.
	relaunchTimeout = time.Minute
	// crashLoopQuiet is how long no new pod may appear after the CrashLoop
	// Event: 10 times the maximum backoff.
	crashLoopQuiet = 10 * healMaxBackoff
	// sweepBound bounds the time from the restart of SIGKILLed peers until
	// nothing of their previous run is left: the sweep runs when the VM is
	// created at peer start-up.
	sweepBound = 30 * time.Second
)

// healCycles is the number of install/invoke/kill/upgrade cycles (about 10 s
// each): E2E_HEAL_CYCLES, 20 by default; `make soak` runs 200 and watches
// the peer's resources (soak_helpers_test.go).
var healCycles = envInt("E2E_HEAL_CYCLES", 20)

// defaultRelaunchP50Bound is the asserted median kill-to-re-registration
// time (E2E_RELAUNCH_P50_BOUND overrides, e.g. "10s" on a slow cluster).
// The local cluster measures 1.6-1.9s after a SIGKILL (the kubelet's PLEG
// needs up to ~1s to notice the dead container; then pod deletion with grace
// 0, Secret and Pod creation, container start and the chaincode's
// registration) and 0.8-1.2s after a pod deletion (the watch sees it at
// once), so the median is about 1.4s.
const defaultRelaunchP50Bound = 3 * time.Second

var _ = Describe("Self-healing chaincode", Ordered, ContinueOnFailure, func() {
	var (
		n        = &healNet{}
		p50Bound time.Duration

		kvA, kvB, exitCC nwo.Chaincode
		deployed         bool
		upgraded         bool
		currentKV        nwo.Chaincode // the committed kv definition
		started          time.Time
	)

	requireDeployed := func() {
		if !deployed {
			Skip("needs the chaincodes deployed by the first spec")
		}
	}
	prepare := func(src, name string, edit func(string) error) string {
		return prepareChaincode(n.h, n.s, src, name, edit)
	}
	BeforeAll(func() {
		started = time.Now()
		p50Bound = defaultRelaunchP50Bound
		if v := os.Getenv("E2E_RELAUNCH_P50_BOUND"); v != "" {
			d, err := time.ParseDuration(v)
			Expect(err).NotTo(HaveOccurred(), "E2E_RELAUNCH_P50_BOUND")
			p50Bound = d
		}
		n.start("heal")
	})

	AfterAll(func() {
		if len(n.kills) > 0 {
			n.kills.summaryLine("")
		}
		recordTiming("heal_total_wall", time.Since(started))
		n.stop()
	})

	It("deploys two kv packages and a chaincode that exits at start-up (builds in parallel)", func() {
		kvA = n.h.GoChaincode(ccName, "kvheal_a", "1", prepare("kv", "kvheal-a", setKVBuild("heal-a")))
		kvB = n.h.GoChaincode(ccName, "kvheal_b", "2", prepare("kv", "kvheal-b", setKVBuild("heal-b")))
		exitCC = n.h.GoChaincode("ccexit", "ccexit_1", "1", prepare("exit", "ccexit", nil))
		for _, cc := range []*nwo.Chaincode{&kvA, &kvB, &exitCC} {
			r := n.h.Package(cc)
			Expect(r.OK()).To(BeTrue(), "%s", r)
		}

		By("installing kvheal_a on Org1, kvheal_b on Org2 and ccexit on Org1 at once: three Kaniko builds in parallel")
		start := time.Now()
		var wg sync.WaitGroup
		results := make([]network.Result, 3)
		for i, job := range []struct {
			cc nwo.Chaincode
			p  *nwo.Peer
		}{{kvA, n.h.Org1Peer()}, {kvB, n.h.Org2Peer()}, {exitCC, n.h.Org1Peer()}} {
			wg.Add(1)
			go func(i int, cc nwo.Chaincode, p *nwo.Peer) {
				defer GinkgoRecover()
				defer wg.Done()
				results[i] = n.h.Install(cc, p)
			}(i, job.cc, job.p)
		}
		wg.Wait()
		for _, r := range results {
			Expect(r.OK()).To(BeTrue(), "%s", r)
		}
		recordTiming("heal_parallel_builds", time.Since(start))
		n.h.InstallOK(kvA, n.h.Org2Peer())
		n.h.InstallOK(kvB, n.h.Org1Peer())

		By("committing kvheal_a (sequence 1)")
		n.h.ApproveAndCommit(kvA)
		n.h.InvokeOK(ccName, invokeTimeout, "put", "heal", "0")
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, ccName, queryTimeout, "version")).To(Equal("heal-a"))
		}
		deployed = true
		currentKV = kvA
	})

	It("re-registers the chaincode after a SIGKILL of its process or a deletion of its pod, without any transaction", func() {
		requireDeployed()
		for i := 0; i < healKills; i++ {
			p := n.h.Peers[i%2]
			method := "sigkill"
			if (i/2)%2 == 1 {
				method = "delete"
			}
			n.killAndWait("kill", i+1, p, kvA, method, "heal", "0")
		}
		p50, max := n.kills.summaryLine("kill")
		for _, m := range []string{"sigkill", "delete"} {
			fmt.Fprintf(os.Stdout, "E2E-INFO relaunch-after-kill %s seconds (sorted): %v\n", m, n.kills.seconds("", m))
		}

		By("checking that every relaunch was also reported as a Relaunched Event on the chaincode pod")
		Eventually(func() int {
			return n.events.Count("Relaunched", func(e *corev1.Event) bool {
				return e.Source.Component == network.ManagedByValue && strings.Contains(e.Message, kvA.PackageID)
			})
		}, 30*time.Second, 500*time.Millisecond).Should(BeNumerically(">=", healKills))

		By("invoking once: the relaunched chaincode commits transactions on both peers")
		n.h.InvokeOK(ccName, invokeTimeout, "put", "after-kills", "ok")
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, ccName, queryTimeout, "get", "after-kills")).To(Equal("ok"))
		}
		Expect(p50).To(BeNumerically("<=", p50Bound.Seconds()),
			"median kill-to-re-registration %.2fs (max %.2fs) exceeds %s (E2E_RELAUNCH_P50_BOUND)", p50, max, p50Bound)
	})

	It("reports a crash loop of a chaincode that exits at start-up and stops relaunching it", func() {
		requireDeployed()
		isExitPod := func(p *corev1.Pod) bool {
			return network.IsChaincodePod(p) && p.Annotations[network.AnnotationCCID] == exitCC.PackageID
		}
		t0 := time.Now()
		n.h.ApproveAndCommit(exitCC)
		crash := testkit.WaitForCrashLoop(n.events, exitCC.PackageID)
		recordTiming("heal_commit_to_crashloop_event", time.Since(t0))
		fmt.Fprintf(os.Stdout, "E2E-INFO CrashLoop event: %s/%s: %s\n", crash[0].InvolvedObject.Kind, crash[0].InvolvedObject.Name, crash[0].Message)
		Expect(crash[0].Type).To(Equal(corev1.EventTypeWarning))
		Expect(crash[0].Source.Component).To(Equal(network.ManagedByValue))
		Expect(crash[0].Message).To(ContainSubstring(fmt.Sprintf("failed %d times in a row", healCrashLoopThreshold)))
		Expect(n.h.PeerLog(n.h.Org1Peer())).To(ContainSubstring(fmt.Sprintf("Chaincode %s: crash loop after %d consecutive failures", exitCC.PackageID, healCrashLoopThreshold)))

		By("checking that the first launch and the relaunches each ran a pod that exited with status 3")
		launched := n.pods.Find(isExitPod)
		Expect(launched).To(HaveLen(healCrashLoopThreshold+1), "one launch at commit and %d relaunches expected", healCrashLoopThreshold)
		for _, l := range launched {
			Expect(l.Pod.Labels[network.LabelPeerID]).To(Equal(n.h.Org1Peer().ID()), "ccexit is installed on Org1 only")
		}
		last := launched[len(launched)-1].Pod
		Expect(last.Status.ContainerStatuses).To(HaveLen(1))
		Expect(last.Status.ContainerStatuses[0].State.Terminated).NotTo(BeNil(), "last pod %s: %+v", last.Name, last.Status)
		Expect(last.Status.ContainerStatuses[0].State.Terminated.ExitCode).To(BeEquivalentTo(3))

		By(fmt.Sprintf("checking that no pod is created for %s after the CrashLoop Event", crashLoopQuiet))
		Consistently(func() int { return len(n.pods.Find(isExitPod)) }, crashLoopQuiet, 250*time.Millisecond).Should(Equal(healCrashLoopThreshold + 1))
		Expect(n.events.Count("Relaunched", func(e *corev1.Event) bool { return strings.Contains(e.Message, exitCC.PackageID) })).To(BeZero())

		By("checking that the other chaincode still serves")
		Expect(n.h.QueryOK(n.h.Org1Peer(), ccName, queryTimeout, "get", "after-kills")).To(Equal("ok"))
	})

	It("upgrades: the superseded package is stopped and only the new version's pods and Secrets remain", func() {
		requireDeployed()
		relaunchedA := n.relaunches(n.h.Org1Peer(), kvA.PackageID) + n.relaunches(n.h.Org2Peer(), kvA.PackageID)
		t0 := time.Now()
		n.h.ApproveAndCommit(kvB)
		n.h.InvokeOK(ccName, invokeTimeout, "put", "upgraded", "b")
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, ccName, queryTimeout, "version")).To(Equal("heal-b"), "on %s", p.ID())
		}
		Eventually(func() []string { return n.kvProblems(kvB, kvA.Label, kvB.Label) }, time.Minute, 200*time.Millisecond).Should(BeEmpty())
		recordTiming("heal_upgrade_commit_to_only_new_pods", time.Since(t0))
		upgraded = true
		currentKV = kvB

		By("checking that the old package is not relaunched: its end was asked for (Stop)")
		gone := time.Now()
		Consistently(func() []string {
			var again []string
			for _, l := range n.pods.Find(func(p *corev1.Pod) bool { return p.Annotations[network.AnnotationCCID] == kvA.PackageID }) {
				if l.FirstSeen.After(gone) {
					again = append(again, l.Pod.Name)
				}
			}
			return again
		}, 3*time.Second, 250*time.Millisecond).Should(BeEmpty())
		Expect(n.relaunches(n.h.Org1Peer(), kvA.PackageID) + n.relaunches(n.h.Org2Peer(), kvA.PackageID)).To(Equal(relaunchedA))
		Expect(n.kvProblems(kvB, kvA.Label, kvB.Label)).To(BeEmpty())
	})

	It(fmt.Sprintf("returns to the same Pods, Secrets and Jobs after %d install/invoke/kill/upgrade cycles", healCycles), func() {
		requireDeployed()
		if !upgraded {
			Skip("needs the upgrade to kvheal_b")
		}
		type counts struct{ Pods, Secrets, Jobs int }
		count := func() counts {
			inv := n.inventory()
			return counts{
				Pods:    len(inv.ChaincodePods) + len(inv.BuildPods) + len(inv.OtherPods),
				Secrets: len(inv.Secrets),
				Jobs:    len(inv.Jobs),
			}
		}
		var before counts
		Eventually(func() []string {
			before = count()
			return n.kvProblems(kvB, kvA.Label, kvB.Label)
		}, time.Minute, 500*time.Millisecond).Should(BeEmpty())
		jobsBefore := n.jobs.Count()
		fmt.Fprintf(os.Stdout, "E2E-INFO before %d cycles: %+v\n%s\n", healCycles, before, n.inventory())

		soak := newSoakRecorder(n, n.h.Org1Peer(), healCycles)
		start := time.Now()
		current := kvB
		seq := 2
		for i := 1; i <= healCycles; i++ {
			next := kvA
			if current.PackageID == kvA.PackageID {
				next = kvB
			}
			seq++
			next.Sequence = strconv.Itoa(seq)
			By(fmt.Sprintf("cycle %d: %s at sequence %d", i, next.Label, seq))
			// install: both packages are installed on both peers (and
			// their images built) by the first spec; an upgrade to an
			// installed package needs no new install or build.
			nwo.EnsureInstalled(n.h.Network, next.Label, next.PackageID, n.h.Peers...)
			n.h.ApproveAndCommit(next)
			n.h.InvokeOK(ccName, invokeTimeout, "put", "cycle", strconv.Itoa(i))
			method := "sigkill"
			if i%2 == 0 {
				method = "delete"
			}
			currentKV = next
			n.killAndWait("cycle", i, n.h.Peers[(i/2)%2], next, method, "cycle", strconv.Itoa(i))
			current = next
			soak.after(i)
		}
		recordTiming("heal_cycles_total", time.Since(start))
		n.kills.summaryLine("cycle")

		By("checking that the last version serves and nothing accumulated")
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, ccName, queryTimeout, "version")).To(Equal(map[string]string{kvA.Label: "heal-a", kvB.Label: "heal-b"}[current.Label]))
		}
		settle := time.Now()
		Eventually(func() []string {
			problems := n.kvProblems(current, kvA.Label, kvB.Label)
			if c := count(); c != before {
				problems = append(problems, fmt.Sprintf("counts %+v, before the cycles %+v", c, before))
			}
			return problems
		}, time.Minute, 500*time.Millisecond).Should(BeEmpty())
		recordTiming("heal_cycles_settle", time.Since(settle))
		Expect(n.jobs.Count()).To(Equal(jobsBefore), "no build Job during the cycles")
		soak.expectFlat()
		fmt.Fprintf(os.Stdout, "E2E-INFO after %d cycles: %+v (before: %+v)\n", healCycles, count(), before)
	})

	It("sweeps the objects of a SIGKILLed peer's run when it restarts", func() {
		requireDeployed()
		runsOf := func(inv network.Inventory) map[string][]string {
			runs := map[string][]string{}
			add := func(kind string, meta metav1.ObjectMeta) {
				if r := meta.Labels[network.LabelRun]; r != "" {
					runs[r] = append(runs[r], kind+"/"+meta.Name)
				}
			}
			for _, p := range append(append([]corev1.Pod(nil), inv.ChaincodePods...), inv.BuildPods...) {
				add("pod", p.ObjectMeta)
			}
			for _, sec := range inv.Secrets {
				add("secret", sec.ObjectMeta)
			}
			for _, j := range inv.Jobs {
				add("job", j.ObjectMeta)
			}
			return runs
		}
		oldRuns := runsOf(n.inventory())
		Expect(oldRuns).NotTo(BeEmpty(), "chaincode objects carry %s", network.LabelRun)
		fmt.Fprintf(os.Stdout, "E2E-INFO before SIGKILL of the peers: objects by run: %v\n", oldRuns)
		left := func() []string {
			var out []string
			for run, objs := range runsOf(n.inventory()) {
				if _, old := oldRuns[run]; old {
					out = append(out, objs...)
				}
			}
			sort.Strings(out)
			return out
		}

		By("SIGKILL of both peer processes: no shutdown path runs")
		t0 := time.Now()
		Expect(n.h.KillPeers(time.Minute)).To(Succeed())
		recordTiming("heal_peer_sigkill_exit", time.Since(t0))
		fmt.Fprintf(os.Stdout, "E2E-INFO right after SIGKILL of the peers: %d objects of the killed runs\n", len(left()))

		By("restarting the peers")
		t1 := time.Now()
		n.h.RestartPeers()
		recordTiming("heal_peer_restart_ready", time.Since(t1))
		Eventually(left, sweepBound, 200*time.Millisecond).Should(BeEmpty(), "objects of the killed peers' runs")
		recordTiming("heal_peer_restart_to_old_run_objects_gone", time.Since(t1))

		runRE := regexp.MustCompile(`Kubernetes chaincode VM: .* run (\S+)`)
		newRuns := map[string]string{}
		for _, p := range n.h.Peers {
			m := runRE.FindStringSubmatch(n.h.CurrentPeerLog(p))
			Expect(m).NotTo(BeNil(), "run ID in the log of %s", p.ID())
			Expect(oldRuns).NotTo(HaveKey(m[1]))
			newRuns[p.ID()] = m[1]
		}

		By("invoking: the new run launches the chaincode on demand")
		n.h.InvokeOK(ccName, invokeTimeout, "put", "after-restart", "ok")
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, ccName, queryTimeout, "get", "after-restart")).To(Equal("ok"))
			pod := n.runningPod(p, currentKV.PackageID)
			Expect(pod.Labels).To(HaveKeyWithValue(network.LabelRun, newRuns[p.ID()]), "pod %s", pod.Name)
		}
	})
})
