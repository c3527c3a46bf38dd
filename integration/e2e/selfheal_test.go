//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

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
	// healCycles is the number of install/invoke/kill/upgrade cycles.
	healCycles = 20
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
		s      settings
		kube   *network.Kube
		jobs   *network.JobRecorder
		events *network.EventLog
		pods   *network.PodLog
		h      *network.Harness
		ctx    context.Context
		cancel context.CancelFunc

		ctrBin, ctrAddress string
		p50Bound           time.Duration

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
		return prepareChaincode(h, s, src, name, edit)
	}
	inventory := func() network.Inventory {
		inv, err := kube.Inventory(ctx)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		return inv
	}

	// runningPod waits for the live, running chaincode pod of ccid on peer p.
	runningPod := func(p *nwo.Peer, ccid string) *corev1.Pod {
		var found *corev1.Pod
		EventuallyWithOffset(1, func() string {
			found = nil
			var states []string
			for _, pod := range network.LivePods(inventory().ChaincodePods) {
				if pod.Annotations[network.AnnotationCCID] != ccid || pod.Labels[network.LabelPeerID] != p.ID() {
					continue
				}
				cs := pod.Status.ContainerStatuses
				if len(cs) == 1 && cs[0].State.Running != nil && cs[0].ContainerID != "" {
					pod := pod
					found = &pod
					return ""
				}
				states = append(states, pod.Name+"["+string(pod.Status.Phase)+"]")
			}
			return fmt.Sprintf("no running pod of %s on %s: %v", ccid, p.ID(), states)
		}, relaunchTimeout, 100*time.Millisecond).Should(BeEmpty())
		return found
	}

	relaunchLine := func(ccid string) string { return "Chaincode " + ccid + ": relaunched " }
	relaunches := func(p *nwo.Peer, ccid string) int { return strings.Count(h.PeerLog(p), relaunchLine(ccid)) }
	// reportedDowntime is the downtime the peer logged with its last
	// relaunch of ccid (from the end of the pod, as its Wait saw it, to the
	// registration of the new one).
	reportedDowntime := func(p *nwo.Peer, ccid string) string {
		re := regexp.MustCompile(regexp.QuoteMeta(relaunchLine(ccid)) + `([0-9.]+)s after`)
		m := re.FindAllStringSubmatch(h.PeerLog(p), -1)
		if len(m) == 0 {
			return "?"
		}
		return m[len(m)-1][1]
	}

	// waitStable sleeps until the running pod has existed longer than
	// StableAfter, so that killing it is not a fast failure.
	waitStable := func(pod *corev1.Pod) {
		since := time.Now()
		if seen, ok := pods.Seen(pod.UID); ok {
			since = seen.FirstSeen
		}
		if d := time.Until(since.Add(healStableAfter + 300*time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
	}

	kill := func(pod *corev1.Pod, method string) {
		switch method {
		case "sigkill":
			id := pod.Status.ContainerStatuses[0].ContainerID
			Expect(id).To(HavePrefix("containerd://"), "pod %s", pod.Name)
			out, err := exec.Command(ctrBin, "--address", ctrAddress, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL",
				strings.TrimPrefix(id, "containerd://")).CombinedOutput()
			ExpectWithOffset(1, err).NotTo(HaveOccurred(), "ctr tasks kill: %s", out)
		case "delete":
			ExpectWithOffset(1, kube.Client.CoreV1().Pods(s.Namespace).Delete(ctx, pod.Name, metaDelete())).To(Succeed())
		default:
			Fail("unknown kill method " + method)
		}
	}

	type killRecord struct {
		phase, method, peer string
		seconds             float64
	}
	var kills []killRecord

	// killAndWait kills the chaincode pod of cc on p and waits, without any
	// transaction, until the peer logs that the relaunched chaincode
	// registered; then a query on p confirms that the chaincode serves.
	killAndWait := func(phase string, n int, p *nwo.Peer, cc nwo.Chaincode, method, key, want string) {
		pod := runningPod(p, cc.PackageID)
		waitStable(pod)
		before := relaunches(p, cc.PackageID)
		t0 := time.Now()
		kill(pod, method)
		deadline := t0.Add(relaunchTimeout)
		for relaunches(p, cc.PackageID) == before {
			if time.Now().After(deadline) {
				Fail(fmt.Sprintf("%s kill %d (%s of %s on %s): no relaunch logged within %s\n%s", phase, n, method, pod.Name, p.ID(),
					relaunchTimeout, lastLines(h.PeerLog(p), 30)))
			}
			time.Sleep(25 * time.Millisecond)
		}
		d := time.Since(t0)
		kills = append(kills, killRecord{phase: phase, method: method, peer: p.ID(), seconds: d.Seconds()})
		recordLine(fmt.Sprintf("E2E-TIMING name=relaunch-after-kill phase=%s n=%d method=%s peer=%s seconds=%.2f peer_reported_downtime=%ss",
			phase, n, method, p.ID(), d.Seconds(), reportedDowntime(p, cc.PackageID)))

		nw := runningPod(p, cc.PackageID)
		Expect(nw.UID).NotTo(Equal(pod.UID), "the relaunched chaincode runs in a new pod")
		Expect(h.QueryOK(p, ccName, queryTimeout, "get", key)).To(Equal(want), "query on %s after the relaunch", p.ID())
	}

	summarize := func(phase string) (p50, max float64, n int) {
		var v []float64
		for _, k := range kills {
			if phase == "" || k.phase == phase {
				v = append(v, k.seconds)
			}
		}
		if len(v) == 0 {
			return 0, 0, 0
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			p50 = v[len(v)/2]
		} else {
			p50 = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return p50, v[len(v)-1], len(v)
	}
	summaryLine := func(phase string) (float64, float64) {
		p50, max, n := summarize(phase)
		counts := map[string]int{}
		for _, k := range kills {
			if phase == "" || k.phase == phase {
				counts[k.method]++
			}
		}
		if phase == "" {
			phase = "all"
		}
		recordLine(fmt.Sprintf("E2E-TIMING name=relaunch-after-kill-summary phase=%s kills=%d sigkill=%d delete=%d p50=%.2f max=%.2f",
			phase, n, counts["sigkill"], counts["delete"], p50, max))
		return p50, max
	}

	BeforeAll(func() {
		started = time.Now()
		s = loadSettings()
		if ns := os.Getenv("E2E_NAMESPACE"); ns != "" {
			s.Namespace = ns + "-heal"
		} else {
			s.Namespace = strings.Replace(s.Namespace, "fpk-e2e-", "fpk-e2e-heal-", 1)
		}
		s.Peer.VM.Namespace = s.Namespace
		on := true
		s.Peer.VM.Relaunch = &network.K8sRelaunchConfig{
			Enabled:            &on,
			InitialBackoff:     healInitialBackoff.String(),
			MaxBackoff:         healMaxBackoff.String(),
			CrashLoopThreshold: healCrashLoopThreshold,
			StableAfter:        healStableAfter.String(),
		}
		ctrBin = firstNonEmpty(os.Getenv("E2E_CTR"), "ctr")
		ctrAddress = firstNonEmpty(os.Getenv("E2E_CONTAINERD_ADDRESS"), filepath.Join(s.RepoRoot, ".cluster", "run", "containerd.sock"))
		p50Bound = defaultRelaunchP50Bound
		if v := os.Getenv("E2E_RELAUNCH_P50_BOUND"); v != "" {
			d, err := time.ParseDuration(v)
			Expect(err).NotTo(HaveOccurred(), "E2E_RELAUNCH_P50_BOUND")
			p50Bound = d
		}
		ctx, cancel = context.WithCancel(context.Background())
		fmt.Fprintf(GinkgoWriter, "self-healing network in namespace %s, ctr %s --address %s\n", s.Namespace, ctrBin, ctrAddress)

		Expect(network.CheckBinaries(filepath.Join(s.RepoRoot, "bin"))).To(Succeed())
		out, err := exec.Command(ctrBin, "--address", ctrAddress, "version").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "ctr is needed to SIGKILL chaincode containers (E2E_CTR, E2E_CONTAINERD_ADDRESS): %s", out)

		kube, err = network.NewKube(s.Kubeconfig, s.Namespace)
		Expect(err).NotTo(HaveOccurred())
		Expect(kube.Ping(ctx)).To(Succeed(), "the local cluster (%s) is not ready", s.Kubeconfig)
		Expect(kube.CreateNamespace(ctx)).To(Succeed())
		jobs, err = kube.RecordJobs(ctx)
		Expect(err).NotTo(HaveOccurred())
		events, err = kube.WatchEvents(ctx)
		Expect(err).NotTo(HaveOccurred())
		pods, err = kube.WatchPods(ctx)
		Expect(err).NotTo(HaveOccurred())

		h, err = network.New(network.Options{RepoRoot: s.RepoRoot, Kubeconfig: s.Kubeconfig, Namespace: s.Namespace, Peer: &s.Peer})
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		h.Start()
		recordTiming("heal_network_start", time.Since(start))
	})

	AfterAll(func() {
		failed := CurrentSpecReport().Failed() || anySpecFailed()
		stopNetwork(h, failed, s.Artifacts, "heal-")
		if jobs != nil {
			jobs.Stop()
		}
		if events != nil {
			events.Stop()
		}
		if pods != nil {
			pods.Stop()
		}
		if len(kills) > 0 {
			summaryLine("")
		}
		recordTiming("heal_total_wall", time.Since(started))
		if failed && s.Keep {
			fmt.Fprintf(GinkgoWriter, "E2E_KEEP=1: keeping namespace %s and %s\n", s.Namespace, h.Opts.RootDir)
			cancel()
			return
		}
		if kube != nil {
			if inv, err := kube.Inventory(context.Background()); err == nil {
				fmt.Fprintf(GinkgoWriter, "namespace %s before deletion:\n%s\n", s.Namespace, inv)
			}
			Expect(kube.DeleteNamespace(context.Background(), 3*time.Minute)).To(Succeed())
		}
		if h != nil {
			h.Cleanup()
		}
		cancel()
	})

	It("deploys two kv packages and a chaincode that exits at start-up (builds in parallel)", func() {
		kvA = h.GoChaincode(ccName, "kvheal_a", "1", prepare("kv", "kvheal-a", setKVBuild("heal-a")))
		kvB = h.GoChaincode(ccName, "kvheal_b", "2", prepare("kv", "kvheal-b", setKVBuild("heal-b")))
		exitCC = h.GoChaincode("ccexit", "ccexit_1", "1", prepare("exit", "ccexit", nil))
		for _, cc := range []*nwo.Chaincode{&kvA, &kvB, &exitCC} {
			r := h.Package(cc)
			Expect(r.OK()).To(BeTrue(), "%s", r)
		}

		By("installing kvheal_a on Org1, kvheal_b on Org2 and ccexit on Org1 at once: three Kaniko builds in parallel")
		start := time.Now()
		var wg sync.WaitGroup
		results := make([]network.Result, 3)
		for i, job := range []struct {
			cc nwo.Chaincode
			p  *nwo.Peer
		}{{kvA, h.Org1Peer()}, {kvB, h.Org2Peer()}, {exitCC, h.Org1Peer()}} {
			wg.Add(1)
			go func(i int, cc nwo.Chaincode, p *nwo.Peer) {
				defer GinkgoRecover()
				defer wg.Done()
				results[i] = h.Install(cc, p)
			}(i, job.cc, job.p)
		}
		wg.Wait()
		for _, r := range results {
			Expect(r.OK()).To(BeTrue(), "%s", r)
		}
		recordTiming("heal_parallel_builds", time.Since(start))
		h.InstallOK(kvA, h.Org2Peer())
		h.InstallOK(kvB, h.Org1Peer())

		By("committing kvheal_a (sequence 1)")
		h.ApproveAndCommit(kvA)
		h.InvokeOK(ccName, invokeTimeout, "put", "heal", "0")
		for _, p := range h.Peers {
			Expect(h.QueryOK(p, ccName, queryTimeout, "version")).To(Equal("heal-a"))
		}
		deployed = true
		currentKV = kvA
	})

	It("re-registers the chaincode after a SIGKILL of its process or a deletion of its pod, without any transaction", func() {
		requireDeployed()
		for i := 0; i < healKills; i++ {
			p := h.Peers[i%2]
			method := "sigkill"
			if (i/2)%2 == 1 {
				method = "delete"
			}
			killAndWait("kill", i+1, p, kvA, method, "heal", "0")
		}
		p50, max := summaryLine("kill")
		for _, m := range []string{"sigkill", "delete"} {
			var v []float64
			for _, k := range kills {
				if k.method == m {
					v = append(v, k.seconds)
				}
			}
			sort.Float64s(v)
			fmt.Fprintf(os.Stdout, "E2E-INFO relaunch-after-kill %s seconds (sorted): %v\n", m, v)
		}

		By("checking that every relaunch was also reported as a Relaunched Event on the chaincode pod")
		Eventually(func() int {
			return events.Count("Relaunched", func(e *corev1.Event) bool {
				return e.Source.Component == network.ManagedByValue && strings.Contains(e.Message, kvA.PackageID)
			})
		}, 30*time.Second, 500*time.Millisecond).Should(BeNumerically(">=", healKills))

		By("invoking once: the relaunched chaincode commits transactions on both peers")
		h.InvokeOK(ccName, invokeTimeout, "put", "after-kills", "ok")
		for _, p := range h.Peers {
			Expect(h.QueryOK(p, ccName, queryTimeout, "get", "after-kills")).To(Equal("ok"))
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
		h.ApproveAndCommit(exitCC)
		var crash []corev1.Event
		Eventually(func() []corev1.Event {
			crash = events.Find("CrashLoop", func(e *corev1.Event) bool { return strings.Contains(e.Message, exitCC.PackageID) })
			return crash
		}, 2*time.Minute, 100*time.Millisecond).ShouldNot(BeEmpty(), "no CrashLoop Event for %s", exitCC.PackageID)
		recordTiming("heal_commit_to_crashloop_event", time.Since(t0))
		fmt.Fprintf(os.Stdout, "E2E-INFO CrashLoop event: %s/%s: %s\n", crash[0].InvolvedObject.Kind, crash[0].InvolvedObject.Name, crash[0].Message)
		Expect(crash[0].Type).To(Equal(corev1.EventTypeWarning))
		Expect(crash[0].Source.Component).To(Equal(network.ManagedByValue))
		Expect(crash[0].Message).To(ContainSubstring(fmt.Sprintf("failed %d times in a row", healCrashLoopThreshold)))
		Expect(h.PeerLog(h.Org1Peer())).To(ContainSubstring(fmt.Sprintf("Chaincode %s: crash loop after %d consecutive failures", exitCC.PackageID, healCrashLoopThreshold)))

		By("checking that the first launch and the relaunches each ran a pod that exited with status 3")
		launched := pods.Find(isExitPod)
		Expect(launched).To(HaveLen(healCrashLoopThreshold+1), "one launch at commit and %d relaunches expected", healCrashLoopThreshold)
		for _, l := range launched {
			Expect(l.Pod.Labels[network.LabelPeerID]).To(Equal(h.Org1Peer().ID()), "ccexit is installed on Org1 only")
		}
		last := launched[len(launched)-1].Pod
		Expect(last.Status.ContainerStatuses).To(HaveLen(1))
		Expect(last.Status.ContainerStatuses[0].State.Terminated).NotTo(BeNil(), "last pod %s: %+v", last.Name, last.Status)
		Expect(last.Status.ContainerStatuses[0].State.Terminated.ExitCode).To(BeEquivalentTo(3))

		By(fmt.Sprintf("checking that no pod is created for %s after the CrashLoop Event", crashLoopQuiet))
		Consistently(func() int { return len(pods.Find(isExitPod)) }, crashLoopQuiet, 250*time.Millisecond).Should(Equal(healCrashLoopThreshold + 1))
		Expect(events.Count("Relaunched", func(e *corev1.Event) bool { return strings.Contains(e.Message, exitCC.PackageID) })).To(BeZero())

		By("checking that the other chaincode still serves")
		Expect(h.QueryOK(h.Org1Peer(), ccName, queryTimeout, "get", "after-kills")).To(Equal("ok"))
	})

	isKVObject := func(meta metav1.ObjectMeta) bool {
		id := meta.Annotations[network.AnnotationCCID]
		return strings.HasPrefix(id, kvA.Label+":") || strings.HasPrefix(id, kvB.Label+":")
	}
	// kvProblems lists, as "kind/label/peer[phase]", the kv pods (any
	// phase) and Secrets that are not exactly those of cc's running pods.
	kvProblems := func(cc nwo.Chaincode) []string {
		inv := inventory()
		var problems []string
		perPeer := map[string]int{}
		for _, p := range inv.ChaincodePods {
			if !isKVObject(p.ObjectMeta) {
				continue
			}
			desc := fmt.Sprintf("pod/%s/%s[%s]", strings.SplitN(p.Annotations[network.AnnotationCCID], ":", 2)[0], p.Labels[network.LabelPeerID], p.Status.Phase)
			if p.Annotations[network.AnnotationCCID] != cc.PackageID || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				problems = append(problems, "unexpected "+desc)
				continue
			}
			perPeer[p.Labels[network.LabelPeerID]]++
		}
		for _, peer := range h.Peers {
			if perPeer[peer.ID()] != 1 {
				problems = append(problems, fmt.Sprintf("%d running pods of %s on %s", perPeer[peer.ID()], cc.Label, peer.ID()))
			}
		}
		secrets := 0
		for _, sec := range inv.ChaincodeSecrets {
			if !isKVObject(sec.ObjectMeta) {
				continue
			}
			if sec.Annotations[network.AnnotationCCID] != cc.PackageID {
				problems = append(problems, "unexpected secret/"+sec.Name)
			}
			secrets++
		}
		if secrets != len(h.Peers) {
			problems = append(problems, fmt.Sprintf("%d kv secrets, want %d", secrets, len(h.Peers)))
		}
		return problems
	}

	It("upgrades: the superseded package is stopped and only the new version's pods and Secrets remain", func() {
		requireDeployed()
		relaunchedA := relaunches(h.Org1Peer(), kvA.PackageID) + relaunches(h.Org2Peer(), kvA.PackageID)
		t0 := time.Now()
		h.ApproveAndCommit(kvB)
		h.InvokeOK(ccName, invokeTimeout, "put", "upgraded", "b")
		for _, p := range h.Peers {
			Expect(h.QueryOK(p, ccName, queryTimeout, "version")).To(Equal("heal-b"), "on %s", p.ID())
		}
		Eventually(func() []string { return kvProblems(kvB) }, time.Minute, 200*time.Millisecond).Should(BeEmpty())
		recordTiming("heal_upgrade_commit_to_only_new_pods", time.Since(t0))
		upgraded = true
		currentKV = kvB

		By("checking that the old package is not relaunched: its end was asked for (Stop)")
		gone := time.Now()
		Consistently(func() []string {
			var again []string
			for _, l := range pods.Find(func(p *corev1.Pod) bool { return p.Annotations[network.AnnotationCCID] == kvA.PackageID }) {
				if l.FirstSeen.After(gone) {
					again = append(again, l.Pod.Name)
				}
			}
			return again
		}, 3*time.Second, 250*time.Millisecond).Should(BeEmpty())
		Expect(relaunches(h.Org1Peer(), kvA.PackageID) + relaunches(h.Org2Peer(), kvA.PackageID)).To(Equal(relaunchedA))
		Expect(kvProblems(kvB)).To(BeEmpty())
	})

	It(fmt.Sprintf("returns to the same Pods, Secrets and Jobs after %d install/invoke/kill/upgrade cycles", healCycles), func() {
		requireDeployed()
		if !upgraded {
			Skip("needs the upgrade to kvheal_b")
		}
		type counts struct{ Pods, Secrets, Jobs int }
		count := func() counts {
			inv := inventory()
			return counts{
				Pods:    len(inv.ChaincodePods) + len(inv.BuildPods) + len(inv.OtherPods),
				Secrets: len(inv.Secrets),
				Jobs:    len(inv.Jobs),
			}
		}
		var before counts
		Eventually(func() []string {
			before = count()
			return kvProblems(kvB)
		}, time.Minute, 500*time.Millisecond).Should(BeEmpty())
		jobsBefore := jobs.Count()
		fmt.Fprintf(os.Stdout, "E2E-INFO before %d cycles: %+v\n%s\n", healCycles, before, inventory())

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
			nwo.EnsureInstalled(h.Network, next.Label, next.PackageID, h.Peers...)
			h.ApproveAndCommit(next)
			h.InvokeOK(ccName, invokeTimeout, "put", "cycle", strconv.Itoa(i))
			method := "sigkill"
			if i%2 == 0 {
				method = "delete"
			}
			currentKV = next
			killAndWait("cycle", i, h.Peers[(i/2)%2], next, method, "cycle", strconv.Itoa(i))
			current = next
		}
		recordTiming("heal_cycles_total", time.Since(start))
		summaryLine("cycle")

		By("checking that the last version serves and nothing accumulated")
		for _, p := range h.Peers {
			Expect(h.QueryOK(p, ccName, queryTimeout, "version")).To(Equal(map[string]string{kvA.Label: "heal-a", kvB.Label: "heal-b"}[current.Label]))
		}
		settle := time.Now()
		Eventually(func() []string {
			problems := kvProblems(current)
			if c := count(); c != before {
				problems = append(problems, fmt.Sprintf("counts %+v, before the cycles %+v", c, before))
			}
			return problems
		}, time.Minute, 500*time.Millisecond).Should(BeEmpty())
		recordTiming("heal_cycles_settle", time.Since(settle))
		Expect(jobs.Count()).To(Equal(jobsBefore), "no build Job during the cycles")
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
		oldRuns := runsOf(inventory())
		Expect(oldRuns).NotTo(BeEmpty(), "chaincode objects carry %s", network.LabelRun)
		fmt.Fprintf(os.Stdout, "E2E-INFO before SIGKILL of the peers: objects by run: %v\n", oldRuns)
		left := func() []string {
			var out []string
			for run, objs := range runsOf(inventory()) {
				if _, old := oldRuns[run]; old {
					out = append(out, objs...)
				}
			}
			sort.Strings(out)
			return out
		}

		By("SIGKILL of both peer processes: no shutdown path runs")
		t0 := time.Now()
		Expect(h.KillPeers(time.Minute)).To(Succeed())
		recordTiming("heal_peer_sigkill_exit", time.Since(t0))
		fmt.Fprintf(os.Stdout, "E2E-INFO right after SIGKILL of the peers: %d objects of the killed runs\n", len(left()))

		By("restarting the peers")
		t1 := time.Now()
		h.RestartPeers()
		recordTiming("heal_peer_restart_ready", time.Since(t1))
		Eventually(left, sweepBound, 200*time.Millisecond).Should(BeEmpty(), "objects of the killed peers' runs")
		recordTiming("heal_peer_restart_to_old_run_objects_gone", time.Since(t1))

		runRE := regexp.MustCompile(`Kubernetes chaincode VM: .* run (\S+)`)
		newRuns := map[string]string{}
		for _, p := range h.Peers {
			m := runRE.FindStringSubmatch(h.CurrentPeerLog(p))
			Expect(m).NotTo(BeNil(), "run ID in the log of %s", p.ID())
			Expect(oldRuns).NotTo(HaveKey(m[1]))
			newRuns[p.ID()] = m[1]
		}

		By("invoking: the new run launches the chaincode on demand")
		h.InvokeOK(ccName, invokeTimeout, "put", "after-restart", "ok")
		for _, p := range h.Peers {
			Expect(h.QueryOK(p, ccName, queryTimeout, "get", "after-restart")).To(Equal("ok"))
			pod := runningPod(p, currentKV.PackageID)
			Expect(pod.Labels).To(HaveKeyWithValue(network.LabelRun, newRuns[p.ID()]), "pod %s", pod.Name)
		}
	})
})

// recordLine records a preformatted E2E-TIMING line like recordTiming.
func recordLine(line string) {
	reportMu.Lock()
	timings = append(timings, line)
	reportMu.Unlock()
	fmt.Fprintln(GinkgoWriter, line)
	fmt.Fprintln(os.Stdout, line)
	AddReportEntry(line)
}
