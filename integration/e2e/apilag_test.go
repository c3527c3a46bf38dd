//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/apiproxy"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	// The targets, reported with every measurement (target_met in
	// its E2E-FAULT line): the next invoke succeeds within lagInvokeTarget
	// of the end of the chaincode (the end of a deleted pod's container;
	// the SIGKILL; the commit of an upgrade), whatever the watch lag;
	// without a transaction the replacement registers within the lag plus
	// lagRelaunchTarget of the API server recording the end (the time this
	// suite's own watch, which no proxy delays, first saw it).
	lagInvokeTarget   = 1500 * time.Millisecond
	lagRelaunchTarget = 2 * time.Second
	// The bounds that fail the spec separate the behaviours rather than
	// time one launch on a busy two-core machine: an invoke that waited
	// for the lagging cache would take at least the smallest lag (5 s);
	// a relaunch that waited for anything but the lagged event (a second
	// event, a resync, a sweep) would come later than lag + 5 s.
	lagInvokeBound   = 3 * time.Second
	lagRelaunchSlack = 5 * time.Second
	// lagSweepInterval is the lag network's vm.k8s.sweepInterval. The
	// configuration takes any interval >= 0 (0: only at start-up); a
	// second makes a sweep run during every launch of the sweep spec.
	lagSweepInterval = time.Second
	// lagDropEvery is how often every watch is cut in the drops spec.
	lagDropEvery = 3 * time.Second
	// lagSweepChurn is how long the sweep spec kills and relaunches
	// chaincode, with every watch event lagSweepLag late.
	lagSweepChurn = time.Minute
	lagSweepLag   = 2 * time.Second
)

// The API-server lag fault: the peers of a network of their own talk to
// kube-apiserver through a proxy (integration/internal/apiproxy) that
// delivers every watch event late (5 s, then 30 s) and then cuts every watch
// again and again. The peers' informer caches lag the API server; launches
// must not wait for them, relaunches follow them, and nothing may be
// launched twice or left behind. The peers sweep every second, and a last
// spec checks that nothing deletes a fresh pod or Secret, or the pod of a
// running build, while chaincode is killed and launched for a minute.
var _ = Describe("API-server lag", Ordered, ContinueOnFailure, Label("faults"), func() {
	var (
		n        = &healNet{}
		px       *apiproxy.Proxy
		pxDir    string
		labels   = []string{"kvlag_a", "kvlag_b"}
		builds   = []string{"lag-a", "lag-b"}
		pkgs     = make([]nwo.Chaincode, 2)
		cur      int // index in pkgs of the committed package
		seq      int // its sequence
		value    int // last value put under key "lag"
		deployed bool
	)

	requireDeployed := func() {
		if !deployed {
			Skip("needs the chaincode deployed by the first spec")
		}
	}

	BeforeAll(func() {
		n.configure = func(s *settings) {
			var err error
			px, err = apiproxy.Start(s.Kubeconfig)
			Expect(err).NotTo(HaveOccurred())
			pxDir, err = os.MkdirTemp("", "fpk-e2e-apilag-")
			Expect(err).NotTo(HaveOccurred())
			kc := filepath.Join(pxDir, "kubeconfig")
			Expect(px.WriteKubeconfig(kc)).To(Succeed())
			s.Peer.VM.Kubeconfig = kc
			s.Peer.VM.SweepInterval = lagSweepInterval.String()
			fmt.Fprintf(GinkgoWriter, "the peers talk to the API server through %s\n", px.Addr())
		}
		n.start("lag")
	})

	AfterAll(func() {
		if px != nil {
			px.SetWatchLag(0)
			px.DropWatches()
		}
		n.stop()
		if px != nil {
			fmt.Fprintf(GinkgoWriter, "API requests of both peers through the proxy: %v; watches cut: %d\n", px.Counts(), px.Dropped())
			px.Close()
		}
		if pxDir != "" {
			_ = os.RemoveAll(pxDir)
		}
	})

	It("deploys kv through the proxy from two packages whose images an earlier run built", func() {
		org1, org2 := n.h.Org1Peer(), n.h.Org2Peer()
		var wg sync.WaitGroup
		for i := range pkgs {
			wg.Add(1)
			go func(i int) {
				defer GinkgoRecover()
				defer wg.Done()
				pkgs[i] = n.stablePackage(labels[i], builds[i])
			}(i)
		}
		wg.Wait()

		jobs := n.jobs.Count()
		t0 := time.Now()
		for _, p := range []*nwo.Peer{org1, org2} {
			var results []<-chan network.Result
			for _, cc := range pkgs {
				results = append(results, n.installAsync(cc, p))
			}
			for i, ch := range results {
				r := <-ch
				Expect(r.OK()).To(BeTrue(), "install of %s on %s: %s", labels[i], p.ID(), r)
			}
		}
		recordLine(fmt.Sprintf("E2E-TIMING name=lag_install_two_packages seconds=%.2f build_jobs=%d", time.Since(t0).Seconds(), n.jobs.Count()-jobs))

		cur, seq = 0, 1
		n.h.ApproveAndCommit(pkgs[cur])
		n.h.InvokeOK(ccName, invokeTimeout, "put", "lag", "0")
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, ccName, queryTimeout, "get", "lag")).To(Equal("0"))
		}
		deployed = true
		n.expectNoLeaks(pkgs[cur], labels...)
		Expect(px.Counts()["WATCH"]).To(BeNumerically(">", 0), "the peers watch through the proxy")

		// What an invoke on one peer costs without any fault.
		value++
		d, _ := n.invokeUntilOK(time.Now(), org1, "lag", strconv.Itoa(value))
		recordTiming("lag_invoke_one_peer_baseline", d)
	})

	for _, lag := range []time.Duration{5 * time.Second, 30 * time.Second} {
		lag := lag
		It(fmt.Sprintf("with every watch event %s late: the next invoke is served at once, a relaunch without traffic follows the lag, after a pod deletion, a SIGKILL and an upgrade; nothing twice, nothing left", lag), func() {
			requireDeployed()
			org1, org2 := n.h.Org1Peer(), n.h.Org2Peer()
			tag := fmt.Sprintf("apiserver-lag-%ds", int(lag.Seconds()))
			start := time.Now()
			px.SetWatchLag(lag)
			defer px.SetWatchLag(0)
			var missed []string

			By("deleting Org1's chaincode pod and SIGKILL of Org2's chaincode container; no transaction until both relaunched")
			missed = append(missed, n.quietKills(tag, lag, true, pkgs[cur], map[string]string{org1.ID(): "delete", org2.ID(): "sigkill"}, strconv.Itoa(value))...)
			By("deleting Org1's chaincode pod, then SIGKILL of Org2's chaincode container, each peer invoked on at once")
			missed = append(missed, n.trafficKill(tag, true, pkgs[cur], org1, "delete", &value)...)
			missed = append(missed, n.trafficKill(tag, true, pkgs[cur], org2, "sigkill", &value)...)
			By("upgrading to the other installed package: Org1 invoked on at once after the commit, Org2 left without a transaction")
			from := cur
			cur, seq = 1-cur, seq+1
			missed = append(missed, n.lagUpgrade(tag, lag, true, pkgs[from], &pkgs[cur], seq, builds[cur], org1, org2, &value)...)

			By("letting the peers catch up (lag off, every watch cut: the events held back come again on the new watches)")
			px.SetWatchLag(0)
			px.DropWatches()
			for _, p := range n.h.Peers {
				Consistently(func() []string { return n.podsCreatedSince(p, start) }, 5*time.Second, 100*time.Millisecond).
					Should(HaveLen(3), "pods of %s since the lag was set: one per kill (2) and one for the upgrade, none twice", p.ID())
			}
			n.expectNoLeaks(pkgs[cur], labels...)
			Expect(missed).To(BeEmpty(), "bounds missed with every watch event %s late", lag)
		})
	}

	It("keeps serving and relaunching while every watch is cut every 3 s", func() {
		requireDeployed()
		org1, org2 := n.h.Org1Peer(), n.h.Org2Peer()
		tag := "apiserver-watch-drops"
		px.SetWatchLag(0)
		open, watches, cut0 := px.OpenWatches(), px.Counts()["WATCH"], px.Dropped()
		t0 := time.Now()
		stop := px.DropWatchesEvery(lagDropEvery)
		defer stop()
		Eventually(px.Dropped, 3*lagDropEvery, 50*time.Millisecond).Should(BeNumerically(">", cut0), "no watch was cut")

		n.quietKills(tag, 0, false, pkgs[cur], map[string]string{org1.ID(): "sigkill", org2.ID(): "delete"}, strconv.Itoa(value))
		n.trafficKill(tag, false, pkgs[cur], org1, "delete0", &value)
		n.trafficKill(tag, false, pkgs[cur], org2, "delete", &value)
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, ccName, queryTimeout, "get", "lag")).NotTo(BeEmpty(), "query on %s", p.ID())
		}
		cut := stop()
		d := time.Since(t0)
		Expect(cut).To(BeNumerically(">=", 2), "watches cut")
		// Every cut watch was opened again.
		Eventually(px.OpenWatches, time.Minute, 100*time.Millisecond).Should(BeNumerically(">=", open), "open watches (%d before the cuts)", open)
		rewatches := px.Counts()["WATCH"] - watches
		Expect(rewatches).To(BeNumerically(">=", cut), "watches opened after %d cuts", cut)
		n.expectNoLeaks(pkgs[cur], labels...)
		n.recordFault(tag, d, fmt.Sprintf("watches_cut=%d;watches_opened=%d;open_before=%d;every=%s", cut, rewatches, open, lagDropEvery))
	})

	It("never deletes a fresh pod or Secret, nor a running build, while the peers sweep every second through a minute of kills and launches", func() {
		requireDeployed()
		px.SetWatchLag(lagSweepLag)
		defer px.SetWatchLag(0)
		churn := n.recordChurn()
		defer churn.stopChurn()
		swept := map[string]int{}
		for _, p := range n.h.Peers {
			swept[p.ID()] = n.sweepDeletions(p)
		}
		// A build runs through the churn: its Job's pod is this run's too,
		// and no sweep may take it while the Job runs.
		built := n.packageKV(ccName, "kvlag_build", "lag-build")
		jobs := n.jobs.Count()
		installed := n.installAsync(built, n.h.Org1Peer())

		byTest := map[types.UID]bool{}
		methods := []string{"delete", "delete0", "sigkill"}
		t0 := time.Now()
		kills := 0
		for time.Since(t0) < lagSweepChurn {
			p := n.h.Peers[kills%len(n.h.Peers)]
			pod := n.runningPod(p, pkgs[cur].PackageID)
			n.waitStable(pod)
			byTest[pod.UID] = true
			n.killPod(pod, methods[kills%len(methods)])
			kills++
			value++
			n.invokeUntilOK(time.Now(), p, "lag", strconv.Itoa(value))
		}
		d := time.Since(t0)
		r := <-installed
		px.SetWatchLag(0)
		px.DropWatches()
		n.expectNoLeaks(pkgs[cur], labels...)
		for _, p := range n.h.Peers {
			Eventually(func() string {
				return n.queryOut(p, "get", "lag")
			}, time.Minute, 200*time.Millisecond).Should(Equal(strconv.Itoa(value)), "query on %s", p.ID())
		}

		sweptNow := 0
		for _, p := range n.h.Peers {
			sweptNow += n.sweepDeletions(p) - swept[p.ID()]
		}
		pods, secrets, podsDeleted, secretsDeleted := churn.counts()
		fresh := churn.freshDeletions(t0, byTest, time.Second)
		n.recordFault("sweep-every-1s-during-launches", d, fmt.Sprintf("kills=%d;pods_seen=%d;pods_deleted=%d;secrets_seen=%d;secrets_deleted=%d;sweep_reported_deleted=%d;fresh_deleted=%d;watch_lag=%s;install_with_build_ok=%t_after_%.1fs",
			kills, pods, podsDeleted, secrets, secretsDeleted, sweptNow, len(fresh), lagSweepLag, r.OK(), r.Duration.Seconds()))
		Expect(fresh).To(BeEmpty(), "pods or Secrets of a current launch deleted")
		Expect(r.OK()).To(BeTrue(), "install of a package built during the churn: %s", r)
		Expect(n.jobs.Count()-jobs).To(Equal(1), "build Jobs: %v", n.jobs.Created()[jobs:])
	})
})

// quietKills ends the running pod of cc on each peer of kills (peer ID ->
// "delete", "delete0" or "sigkill") at the same time and sends no
// transaction until each peer logged its relaunch. Each is recorded as an
// E2E-FAULT line; with bounded, the bounds missed are returned.
func (n *healNet) quietKills(tag string, lag time.Duration, bounded bool, cc nwo.Chaincode, kills map[string]string, value string) []string {
	type victim struct {
		p          *nwo.Peer
		pod        *corev1.Pod
		method     string
		before     int
		t0         time.Time
		relaunched <-chan time.Duration
	}
	var victims []*victim
	for _, p := range n.h.Peers {
		if m, ok := kills[p.ID()]; ok {
			victims = append(victims, &victim{p: p, pod: n.runningPod(p, cc.PackageID), method: m})
		}
	}
	for _, v := range victims {
		n.waitStable(v.pod)
	}
	for _, v := range victims {
		v.before = n.relaunches(v.p, cc.PackageID)
		v.t0 = time.Now()
		n.killPod(v.pod, v.method)
		v.relaunched = n.measureAsync(v.t0, lag+relaunchTimeout, func() bool { return n.relaunches(v.p, cc.PackageID) > v.before })
	}
	var missed []string
	for _, v := range victims {
		d := <-v.relaunched
		ExpectWithOffset(1, d).To(BeNumerically(">=", 0), "%s of %s on %s: no relaunch logged within %s\n%s", v.method, v.pod.Name, v.p.ID(),
			lag+relaunchTimeout, testkit.LastLines(n.h.PeerLog(v.p), 30))
		// From the end as the API server recorded it: the time the
		// kubelet takes to report a SIGKILL is no part of the lag.
		ended := time.Duration(0)
		if s, ok := n.pods.Seen(v.pod.UID); ok && !s.Ended.IsZero() && s.Ended.After(v.t0) {
			ended = s.Ended.Sub(v.t0)
		}
		fromEnd := d - ended
		n.recordFault(fmt.Sprintf("%s-%s-relaunch-no-traffic", tag, v.method), d,
			fmt.Sprintf("peer=%s;peer_reported_downtime=%ss;%.2fs_from_the_end_recorded_%.2fs_after_the_kill;target_met=%t", v.p.ID(),
				n.reportedDowntime(v.p, cc.PackageID), fromEnd.Seconds(), ended.Seconds(), fromEnd <= lag+lagRelaunchTarget))
		if bounded && fromEnd > lag+lagRelaunchSlack {
			missed = append(missed, fmt.Sprintf("%s on %s: relaunch without traffic %.2fs after the end (%.2fs after the kill; bound %s)",
				v.method, v.p.ID(), fromEnd.Seconds(), d.Seconds(), lag+lagRelaunchSlack))
		}
	}
	for _, v := range victims {
		EventuallyWithOffset(1, func() string { return n.queryOut(v.p, "get", "lag") }, time.Minute, 200*time.Millisecond).
			Should(Equal(value), "query on %s after its relaunch", v.p.ID())
		ExpectWithOffset(1, n.runningPod(v.p, cc.PackageID).UID).NotTo(Equal(v.pod.UID), "%s relaunched in a new pod", v.p.ID())
	}
	return missed
}

// trafficKill ends the running pod of cc on p ("delete": deleted through
// the API, as `kubectl delete pod` does; "delete0": deleted with grace
// period 0; "sigkill": its process killed) and invokes on p at once, the
// transaction endorsed by p alone, until an invoke succeeds that began once
// the old container had ended (or its pod was gone), so that the old
// process cannot have served it. Recorded, as an E2E-FAULT line, is the
// time until then from the SIGKILL, or from the end of the deleted pod's
// container (the kubelet's SIGTERM takes a few hundred milliseconds that no
// peer can save; the time from the delete is in the note); with bounded,
// the bound missed is returned.
func (n *healNet) trafficKill(tag string, bounded bool, cc nwo.Chaincode, p *nwo.Peer, method string, value *int) []string {
	pod := n.runningPod(p, cc.PackageID)
	n.waitStable(pod)
	t0 := time.Now()
	endedSeen := n.measureAsync(t0, time.Minute, func() bool { return n.podEnded(pod) })
	n.killPod(pod, method)
	*value++
	total, attempts := n.invokeUntilOKAfter(t0, p, "lag", strconv.Itoa(*value), func() bool { return method == "sigkill" || n.podEnded(pod) })
	ended := <-endedSeen
	d, from := total, "from_the_kill"
	if method != "sigkill" {
		d, from = total-ended, fmt.Sprintf("from_the_end_of_the_old_container_%.2fs_after_the_delete;%.2fs_from_the_delete", ended.Seconds(), total.Seconds())
	}
	n.recordFault(fmt.Sprintf("%s-%s-next-invoke", tag, method), d, fmt.Sprintf("peer=%s;attempts=%d;%s;target_met=%t", p.ID(), attempts, from, d <= lagInvokeTarget))
	ExpectWithOffset(1, n.runningPod(p, cc.PackageID).UID).NotTo(Equal(pod.UID), "the invoke on %s ran in a new pod", p.ID())
	if bounded && d > lagInvokeBound {
		return []string{fmt.Sprintf("%s on %s: the next invoke took %.2fs (bound %s; %s)", method, p.ID(), d.Seconds(), lagInvokeBound, from)}
	}
	return nil
}

// lagUpgrade commits to (at sequence seq, installed on both peers) in place
// of from: the traffic peer is invoked on at once after the commit, the
// quiet peer gets no transaction until its pod of the new package runs.
func (n *healNet) lagUpgrade(tag string, lag time.Duration, bounded bool, from nwo.Chaincode, to *nwo.Chaincode, seq int, build string, traffic, quiet *nwo.Peer, value *int) []string {
	to.Sequence = strconv.Itoa(seq)
	n.runningPod(quiet, from.PackageID)
	n.h.ApproveAndCommit(*to)
	tc := time.Now()
	launched := n.measureAsync(tc, lag+relaunchTimeout, func() bool { return n.hasRunningPod(quiet, to.PackageID) })
	*value++
	d, attempts := n.invokeUntilOK(tc, traffic, "lag", strconv.Itoa(*value))
	n.recordFault(tag+"-upgrade-next-invoke", d, fmt.Sprintf("peer=%s;attempts=%d;from_the_commit;target_met=%t", traffic.ID(), attempts, d <= lagInvokeTarget))
	var missed []string
	if bounded && d > lagInvokeBound {
		missed = append(missed, fmt.Sprintf("upgrade on %s: the next invoke took %.2fs (bound %s)", traffic.ID(), d.Seconds(), lagInvokeBound))
	}
	ExpectWithOffset(1, n.h.QueryOK(traffic, ccName, queryTimeout, "version")).To(Equal(build), "the upgraded chaincode on %s", traffic.ID())

	dq := <-launched
	ExpectWithOffset(1, dq).To(BeNumerically(">=", 0), "no running pod of %s on %s within %s after the commit\n%s", to.PackageID, quiet.ID(),
		lag+relaunchTimeout, testkit.LastLines(n.h.PeerLog(quiet), 30))
	n.recordFault(tag+"-upgrade-launch-no-traffic", dq, fmt.Sprintf("peer=%s;from_the_commit_to_the_pod_running;target_met=%t", quiet.ID(), dq <= lag+lagRelaunchTarget))
	if bounded && dq > lag+lagRelaunchSlack {
		missed = append(missed, fmt.Sprintf("upgrade on %s: pod of the new package running %.2fs after the commit (bound %s)", quiet.ID(), dq.Seconds(), lag+lagRelaunchSlack))
	}
	EventuallyWithOffset(1, func() string {
		return n.queryOut(quiet, "version")
	}, time.Minute, 200*time.Millisecond).Should(Equal(build), "the upgraded chaincode on %s", quiet.ID())
	return missed
}

// measureAsync polls cond every 50 ms in the background and sends the time
// from t0 until it first held, or -1 after timeout.
func (n *healNet) measureAsync(t0 time.Time, timeout time.Duration, cond func() bool) <-chan time.Duration {
	ch := make(chan time.Duration, 1)
	go func() {
		defer GinkgoRecover()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(timeout)
		for {
			if cond() {
				ch <- time.Since(t0)
				return
			}
			select {
			case <-tick.C:
			case <-deadline:
				ch <- -1
				return
			}
		}
	}()
	return ch
}

// queryOut is the answer of a query on p, or the failed query's output.
func (n *healNet) queryOut(p *nwo.Peer, fn string, args ...string) string {
	r := n.h.Query(p, ccName, queryTimeout, fn, args...)
	if !r.OK() {
		return r.String()
	}
	return strings.TrimSpace(r.Stdout)
}

// hasRunningPod reports whether a live pod of ccid on p has its container
// running.
func (n *healNet) hasRunningPod(p *nwo.Peer, ccid string) bool {
	inv, err := n.kube.Inventory(n.ctx)
	if err != nil {
		return false
	}
	for _, pod := range network.LivePods(inv.ChaincodePods) {
		cs := pod.Status.ContainerStatuses
		if pod.Annotations[network.AnnotationCCID] == ccid && pod.Labels[network.LabelPeerID] == p.ID() && len(cs) == 1 && cs[0].State.Running != nil {
			return true
		}
	}
	return false
}
