//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// faultsMemoryLimit is the memory limit of the fault suite's chaincode
// containers: ample for kv, which its hog function then exceeds.
const faultsMemoryLimit = "128Mi"

// The fault matrix: components of the cluster fail under a running
// two-org network (one namespace shared by both peers) whose peers relaunch
// chaincode on short cycles. Each fault records an E2E-FAULT line: time
// until chaincode served again and the namespace's objects afterwards.
var _ = Describe("Faults", Ordered, ContinueOnFailure, Label("faults"), func() {
	var (
		n        = &healNet{memoryLimit: faultsMemoryLimit}
		cl       *clusterCtl
		kv       nwo.Chaincode // the committed kv definition
		deployed bool
		// ccexit exits at start-up; it is installed on Org1 only.
		ccexit          nwo.Chaincode
		ccexitInstalled bool
		labels          = []string{"kvfault_1"}
		serial          int // of the packages prepared so far
	)

	requireDeployed := func() {
		if !deployed {
			Skip("needs the chaincode deployed by the first spec")
		}
	}
	// newPackage packages a kv chaincode no peer has built yet.
	newPackage := func() nwo.Chaincode {
		serial++
		label := fmt.Sprintf("kvfault_%d", serial)
		build := fmt.Sprintf("fault-%d", serial)
		return n.packageKV(ccName, label, build)
	}

	BeforeAll(func() {
		n.start("faults")
		cl = newClusterCtl(n.s)
	})

	AfterAll(func() {
		n.stop()
	})

	It("deploys the kv chaincode on both peers", func() {
		// ccexit is built alongside kv for the shared-namespace spec; its
		// install ends within this spec, so no later one sees its build.
		ccexit = n.h.GoChaincode("ccexit", "ccexit_1", "1", prepareChaincode(n.h, n.s, "exit", "ccexit", nil))
		r := n.h.Package(&ccexit)
		Expect(r.OK()).To(BeTrue(), "%s", r)
		exitInstall := n.installAsync(ccexit, n.h.Org1Peer())

		kv = newPackage()
		n.h.Deploy(&kv)
		n.h.InvokeOK(ccName, invokeTimeout, "put", "fault", "0")
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, ccName, queryTimeout, "get", "fault")).To(Equal("0"))
		}
		deployed = true

		r = <-exitInstall
		Expect(r.OK()).To(BeTrue(), "install of ccexit on %s: %s", n.h.Org1Peer().ID(), r)
		ccexitInstalled = true
		n.expectSettled(kv, labels...)
	})

	It("refuses hostile packages within seconds with a clear error, creating nothing, and keeps serving", func() {
		requireDeployed()
		main := testkit.TarEntry{Name: "src/main.go", Body: "package main\n\nfunc main() {}\n"}
		for _, tc := range []struct {
			name, ccType, path string
			code               []testkit.TarEntry
			want               string
		}{
			{"shell in the Go path", "golang", "example.com/cc$(touch /tmp/fpk-pwned)", []testkit.TarEntry{main}, "is not a valid Go import path"},
			{"quote and newline in the Go path", "golang", "example.com/cc\"\necho pwned", []testkit.TarEntry{main}, "is not a valid Go import path"},
			{"symlink out of the package", "golang", "example.com/cc", []testkit.TarEntry{main, {Name: "src/evil", Link: "../../../../etc/passwd"}}, "src/evil"},
		} {
			By(tc.name)
			label := "hostile_" + strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(tc.name))
			cc := n.h.GoChaincode("hostile", label, "1", "")
			Expect(writeRawPackage(cc.PackageFile, label, tc.ccType, tc.path, tc.code)).To(Succeed())
			cc.SetPackageIDFromPackageFile()
			before := n.jobs.Count()
			r := n.h.Install(cc, n.h.Org1Peer())
			Expect(r.OK()).To(BeFalse(), "a hostile package installed: %s", r)
			Expect(r.Duration).To(BeNumerically("<", 30*time.Second), "%s", r)
			Expect(r.Output()).To(ContainSubstring(tc.want), "%s", r)
			Expect(n.jobs.Count()).To(Equal(before), "no build Job for a hostile package")
			_, why, _ := strings.Cut(testkit.LastLines(strings.TrimSpace(r.Output()), 1), cc.PackageID+": ")
			recordLine(fmt.Sprintf("E2E-FAULT fault=hostile-package case=%s recovery_seconds=%.2f note=%s",
				strings.ReplaceAll(tc.name, " ", "_"), r.Duration.Seconds(), strings.ReplaceAll(why, " ", "_")))
		}
		Expect(n.h.QueryOK(n.h.Org1Peer(), ccName, queryTimeout, "get", "fault")).To(Equal("0"), "the peer keeps serving")
		n.expectSettled(kv, labels...)
	})

	It("survives a kube-apiserver restart while chaincode runs: watches resume, nothing launched twice", func() {
		requireDeployed()
		t0 := time.Now()
		cl.run("restart", "kube-apiserver")
		d := n.queryUntilOK(t0, n.h.Org1Peer(), "fault", "0")
		n.killAndWait("apiserver", 1, n.h.Org1Peer(), kv, "delete", "fault", "0")
		n.expectSettled(kv, labels...)
		n.recordFault("apiserver-restart-running", d, "")
	})

	It("survives a kube-apiserver restart during a launch", func() {
		requireDeployed()
		pod := n.runningPod(n.h.Org2Peer(), kv.PackageID)
		n.waitStable(pod)
		before := n.relaunches(n.h.Org2Peer(), kv.PackageID)
		t0 := time.Now()
		n.kill(pod, "delete")
		cl.run("restart", "kube-apiserver")
		Eventually(func() int { return n.relaunches(n.h.Org2Peer(), kv.PackageID) }, 3*time.Minute, 100*time.Millisecond).
			Should(BeNumerically(">", before), "no relaunch after the restart")
		d := n.queryUntilOK(t0, n.h.Org2Peer(), "fault", "0")
		n.expectSettled(kv, labels...)
		n.recordFault("apiserver-restart-launch", d, "")
	})

	It("survives a kube-apiserver restart during a build: the install succeeds or fails clearly, the next one succeeds", func() {
		requireDeployed()
		cc := newPackage()
		before := n.jobs.Count()
		t0 := time.Now()
		result := n.installAsync(cc, n.h.Org1Peer())
		job := n.waitNewJob(before)
		cl.run("restart", "kube-apiserver")
		r := <-result
		note := "install_succeeded"
		if !r.OK() {
			note = "install_failed"
			Expect(r.Output()).To(ContainSubstring(cc.PackageID), "the error names the chaincode")
			fmt.Fprintf(GinkgoWriter, "install during the restart failed (job %s): %s\n", job, r)
			n.h.InstallOK(cc, n.h.Org1Peer())
		}
		d := time.Since(t0)
		n.h.InstallOK(cc, n.h.Org2Peer())
		n.expectSettled(kv, labels...)
		n.recordFault("apiserver-restart-build", d, note)
	})

	It("survives an etcd restart under the running network", func() {
		requireDeployed()
		t0 := time.Now()
		cl.run("restart", "etcd")
		d := n.queryUntilOK(t0, n.h.Org2Peer(), "fault", "0")
		n.killAndWait("etcd", 1, n.h.Org2Peer(), kv, "sigkill", "fault", "0")
		n.h.InvokeOK(ccName, invokeTimeout, "put", "fault", "1")
		n.expectSettled(kv, labels...)
		n.recordFault("etcd-restart", d, "")
	})

	It("registers every chaincode again after containerd and the kubelet restart (every container dies)", func() {
		requireDeployed()
		before := map[string]int{}
		for _, p := range n.h.Peers {
			before[p.ID()] = n.relaunches(p, kv.PackageID)
		}
		t0 := time.Now()
		cl.run("restart", "runtime")
		for _, p := range n.h.Peers {
			Eventually(func() int { return n.relaunches(p, kv.PackageID) }, 4*time.Minute, 100*time.Millisecond).
				Should(BeNumerically(">", before[p.ID()]), "%s did not relaunch its chaincode", p.ID())
		}
		d := time.Since(t0)
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, ccName, queryTimeout, "get", "fault")).To(Equal("1"))
		}
		n.expectSettled(kv, labels...)
		n.recordFault("runtime-restart", d, "all_registered_again_without_a_transaction")
	})

	It("fails the install clearly when its build Job is deleted mid-build; the next install builds", func() {
		requireDeployed()
		cc := newPackage()
		before := n.jobs.Count()
		result := n.installAsync(cc, n.h.Org1Peer())
		job := n.waitNewJob(before)
		background := metav1.DeletePropagationBackground
		err := n.kube.Client.BatchV1().Jobs(n.s.Namespace).Delete(n.ctx, job, metav1.DeleteOptions{PropagationPolicy: &background})
		Expect(err == nil || apierrors.IsNotFound(err)).To(BeTrue(), "delete job %s: %v", job, err)
		r := <-result
		Expect(r.OK()).To(BeFalse(), "install succeeded although its build Job was deleted: %s", r)
		Expect(r.Output()).To(ContainSubstring(job), "the error names the build Job")
		Expect(r.Output()).To(ContainSubstring("chaincode build failed"))
		n.expectSettled(kv, labels...)

		t0 := time.Now()
		n.h.InstallOK(cc, n.h.Org1Peer())
		Expect(n.jobs.Count()).To(Equal(before+2), "the second install built again")
		n.expectSettled(kv, labels...)
		n.recordFault("build-job-deleted", time.Since(t0), "install_failed_naming_the_job;next_install_built")
	})

	It("fails an install clearly while the registry is down and leaves nothing; installs once it is back", func() {
		requireDeployed()
		cc := newPackage()
		before := n.jobs.Count()
		cl.run("stop", "registry")
		stopped := true
		defer func() {
			if stopped {
				cl.run("start", "registry")
			}
		}()
		r := n.h.Install(cc, n.h.Org1Peer())
		Expect(r.OK()).To(BeFalse(), "install succeeded with the registry down: %s", r)
		Expect(r.Output()).To(ContainSubstring("cannot look up image"))
		Expect(r.Output()).To(ContainSubstring(cc.PackageID))
		Expect(n.jobs.Count()).To(Equal(before), "no build Job without a registry")
		n.expectSettled(kv, labels...)

		t0 := time.Now()
		cl.run("start", "registry")
		stopped = false
		n.h.InstallOK(cc, n.h.Org1Peer())
		n.recordFault("registry-down-install", time.Since(t0), "install_failed_naming_the_image;nothing_created")
	})

	It("relaunches chaincode while the registry is down when the image is on the node", func() {
		requireDeployed()
		cl.run("stop", "registry")
		defer cl.run("start", "registry")
		t0 := time.Now()
		n.killAndWait("registry-down", 1, n.h.Org1Peer(), kv, "delete", "fault", "1")
		n.expectSettled(kv, labels...)
		n.recordFault("registry-down-relaunch-image-cached", time.Since(t0), "")
	})

	It("reports a relaunch that cannot pull its image while the registry is down, and relaunches once it is back", func() {
		requireDeployed()
		p := n.h.Org1Peer()
		pod := n.runningPod(p, kv.PackageID)
		n.waitStable(pod)
		cl.run("stop", "registry")
		stopped := true
		defer func() {
			if stopped {
				cl.run("start", "registry")
			}
		}()
		before := n.relaunches(p, kv.PackageID)
		// The peer is paused while its pod goes and the image is removed
		// from the node: it relaunches at once, and the next pod would start
		// from the image still there.
		pid := n.h.PeerPID(p)
		Expect(syscall.Kill(pid, syscall.SIGSTOP)).To(Succeed())
		paused := true
		defer func() {
			if paused {
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
		}()
		n.kill(pod, "delete")
		// Only now: the kubelet may not drop an image a running container uses.
		testkit.WaitPodGone(n.ctx, n.kube.Client, pod, time.Minute, 100*time.Millisecond)
		n.removeImageFromNode(pod)
		Expect(syscall.Kill(pid, syscall.SIGCONT)).To(Succeed())
		paused = false

		By("waiting for the kubelet to report the failed pull of the relaunched pod")
		// Every launch has a pod of its own: "<name of the chaincode's pods>-<launch id>".
		podsOfChaincode := pod.Name[:strings.LastIndex(pod.Name, "-")+1]
		Eventually(func() int {
			return n.events.Count("", func(e *corev1.Event) bool {
				return e.InvolvedObject.Kind == "Pod" && strings.HasPrefix(e.InvolvedObject.Name, podsOfChaincode) && e.InvolvedObject.UID != pod.UID &&
					e.Type == corev1.EventTypeWarning && (strings.Contains(e.Message, "pull") || strings.Contains(e.Reason, "Pull"))
			})
		}, 2*time.Minute, 200*time.Millisecond).Should(BeNumerically(">", 0), "no pull failure event")

		t0 := time.Now()
		cl.run("start", "registry")
		stopped = false
		Eventually(func() int { return n.relaunches(p, kv.PackageID) }, 4*time.Minute, 100*time.Millisecond).
			Should(BeNumerically(">", before), "no relaunch after the registry returned")
		d := n.queryUntilOK(t0, p, "fault", "1")
		n.expectSettled(kv, labels...)
		n.recordFault("registry-down-relaunch-image-missing", d, "pull_failure_event;relaunched_after_registry_returned")
	})

	It("relaunches chaincode evicted through the Eviction API", func() {
		requireDeployed()
		p, other := n.h.Org2Peer(), n.h.Org1Peer()
		otherPod := n.runningPod(other, kv.PackageID)
		pod := n.runningPod(p, kv.PackageID)
		n.waitStable(pod)
		before := n.relaunches(p, kv.PackageID)
		t0 := time.Now()
		Expect(n.kube.Client.PolicyV1().Evictions(n.s.Namespace).Evict(n.ctx, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: n.s.Namespace},
		})).To(Succeed())
		Eventually(func() int { return n.relaunches(p, kv.PackageID) }, relaunchTimeout, 50*time.Millisecond).
			Should(BeNumerically(">", before))
		d := time.Since(t0)
		Expect(n.runningPod(other, kv.PackageID).UID).To(Equal(otherPod.UID), "the other peer's chaincode pod was not touched")
		n.expectSettled(kv, labels...)
		n.recordFault("eviction", d, "")
	})

	It("relaunches chaincode OOMKilled by its memory limit and reports why", func() {
		requireDeployed()
		p := n.h.Org1Peer()
		pod := n.runningPod(p, kv.PackageID)
		n.waitStable(pod)
		value := n.h.QueryOK(p, ccName, queryTimeout, "get", "fault")
		before := n.relaunches(p, kv.PackageID)
		t0 := time.Now()
		r := n.h.Query(p, ccName, queryTimeout, "hog", "512")
		Expect(r.OK()).To(BeFalse(), "512 MiB held under a %s limit: %s", faultsMemoryLimit, r)
		Eventually(func() int { return n.relaunches(p, kv.PackageID) }, relaunchTimeout, 50*time.Millisecond).
			Should(BeNumerically(">", before), "no relaunch after the OOM kill")
		d := time.Since(t0)
		var oom []corev1.Event
		Eventually(func() []corev1.Event {
			oom = n.events.Find("OOMKilled", func(e *corev1.Event) bool { return e.InvolvedObject.UID == pod.UID })
			return oom
		}, time.Minute, 100*time.Millisecond).ShouldNot(BeEmpty(), "no OOMKilled event for pod %s", pod.Name)
		Expect(oom[0].Type).To(Equal(corev1.EventTypeWarning))
		Expect(oom[0].Message).To(SatisfyAll(ContainSubstring(kv.PackageID), ContainSubstring(pod.Name), ContainSubstring(faultsMemoryLimit)))
		Expect(n.h.PeerLog(p)).To(ContainSubstring("was killed for exceeding its memory limit " + faultsMemoryLimit))
		Expect(n.h.QueryOK(p, ccName, queryTimeout, "get", "fault")).To(Equal(value))
		n.expectSettled(kv, labels...)
		n.recordFault("oom-killed", d, "OOMKilled_event;relaunched")
	})

	It("builds exactly once when two peers install the same package at the same instant", func() {
		requireDeployed()
		cc := newPackage()
		before := n.jobs.Count()
		t0 := time.Now()
		var wg sync.WaitGroup
		results := make([]network.Result, len(n.h.Peers))
		for i, p := range n.h.Peers {
			wg.Add(1)
			go func(i int, p *nwo.Peer) {
				defer GinkgoRecover()
				defer wg.Done()
				results[i] = n.h.Install(cc, p)
			}(i, p)
		}
		wg.Wait()
		for i, r := range results {
			Expect(r.OK()).To(BeTrue(), "install on %s: %s", n.h.Peers[i].ID(), r)
		}
		Expect(n.jobs.Count()-before).To(Equal(1), "build Jobs: %v", n.jobs.Created()[before:])
		n.expectSettled(kv, labels...)
		n.recordFault("same-package-two-peers", time.Since(t0), "one_build_job")
	})

	It("fails /healthz naming a deleted namespace and recovers when it is recreated", func() {
		requireDeployed()
		t0 := time.Now()
		Expect(n.kube.DeleteNamespace(n.ctx, 3*time.Minute)).To(Succeed())
		for _, p := range n.h.Peers {
			Eventually(func() string {
				code, body := n.healthz(p)
				return fmt.Sprintf("%d %s", code, body)
			}, time.Minute, 250*time.Millisecond).Should(SatisfyAll(HavePrefix("503"), ContainSubstring(n.s.Namespace)),
				"/healthz of %s", p.ID())
		}
		Expect(n.kube.CreateNamespace(n.ctx)).To(Succeed())
		for _, p := range n.h.Peers {
			Eventually(func() int { code, _ := n.healthz(p); return code }, 2*time.Minute, 250*time.Millisecond).
				Should(Equal(200), "/healthz of %s after the namespace returned", p.ID())
		}
		n.h.InvokeOK(ccName, invokeTimeout, "put", "fault", "2")
		d := time.Since(t0)
		n.expectSettled(kv, labels...)
		n.recordFault("namespace-deleted", d, "healthz_503_naming_it;recovered_on_recreation")
	})

	It("removes every chaincode Pod and Secret when the peers stop with SIGTERM while several chaincodes run", func() {
		requireDeployed()
		By("committing the packages built so far under chaincode names of their own and launching them")
		var names []string
		for i := 2; i <= serial; i++ {
			label := fmt.Sprintf("kvfault_%d", i)
			name := fmt.Sprintf("kvf%d", i)
			cc := n.h.GoChaincode(name, label, "1", "")
			cc.SetPackageIDFromPackageFile()
			for _, p := range n.h.Peers {
				r := n.h.Install(cc, p)
				Expect(r.OK() || strings.Contains(r.Output(), "already successfully installed")).To(BeTrue(), "install %s on %s: %s", label, p.ID(), r)
			}
			n.h.ApproveAndCommit(cc)
			n.h.InvokeOK(name, invokeTimeout, "put", "k", name)
			names = append(names, name)
		}
		inv := n.inventory()
		running := len(network.LivePods(inv.ChaincodePods))
		Expect(running).To(Equal(2*(len(names)+1)), "%s", inv)

		t0 := time.Now()
		Expect(n.h.StopPeers(2 * time.Minute)).To(Succeed())
		exited := time.Since(t0)
		atExit := n.inventory()
		left := len(network.LivePods(atExit.ChaincodePods)) + len(atExit.ChaincodeSecrets)
		how := "deleted_before_the_peers_exited"
		if left > 0 {
			// Not all gone at exit: the next start's sweep must remove them.
			how = fmt.Sprintf("%d_left_at_exit_swept_at_next_start", left)
			n.h.RestartPeers()
		}
		Eventually(func() int {
			inv := n.inventory()
			return len(inv.ChaincodePods) + len(inv.ChaincodeSecrets)
		}, time.Minute, 100*time.Millisecond).Should(BeZero(), "%s", n.inventory())
		recordLine(fmt.Sprintf("E2E-FAULT fault=sigterm-%d-chaincode-pods recovery_seconds=%.2f chaincode_pods=0 secrets=0 jobs=0 build_pods=0 note=peers_exited_after_%.2fs;%s",
			running, time.Since(t0).Seconds(), exited.Seconds(), how))
		if left == 0 {
			n.h.RestartPeers()
		}
	})

	It("keeps two peers in one namespace apart: one peer's stop, SIGKILL and crash loop never touch the other's objects", func() {
		requireDeployed()
		if !ccexitInstalled {
			Skip("needs ccexit installed on Org1 by the first spec")
		}
		org1, org2 := n.h.Org1Peer(), n.h.Org2Peer()
		defer func() {
			// Whatever failed, the next spec finds both peers running.
			if !n.h.PeerRunning(org1) {
				n.h.RestartPeer(org1)
			}
		}()

		By("running kv on both peers")
		n.h.InvokeOK(ccName, invokeTimeout, "put", "shared", "1")
		for _, p := range n.h.Peers {
			n.runningPod(p, kv.PackageID)
		}
		// Earlier specs may have left other chaincode committed: Fabric
		// launches every installed and committed chaincode at peer start, so
		// Org2 may run several, launched one after the other. Wait until
		// each of its pods runs and has its Secret and nothing has changed
		// for 5 s, then take that set as Org2's.
		org2Objects := n.settledObjects(org2, 5*time.Second)
		org2Relaunches := n.relaunches(org2, kv.PackageID)
		fmt.Fprintf(GinkgoWriter, "objects of %s: %v\nobjects of %s: %v\n", org1.ID(), n.peerObjects(org1), org2.ID(), org2Objects)
		org2Untouched := func(step string) {
			ExpectWithOffset(1, n.peerObjects(org2)).To(Equal(org2Objects), "%s: the objects of %s changed", step, org2.ID())
			ExpectWithOffset(1, n.h.QueryOK(org2, ccName, queryTimeout, "get", "shared")).NotTo(BeEmpty(), "%s: query on %s", step, org2.ID())
			ExpectWithOffset(1, n.relaunches(org2, kv.PackageID)).To(Equal(org2Relaunches), "%s: %s relaunched its chaincode", step, org2.ID())
		}

		By("stopping Org1's peer with SIGTERM: its own Pods and Secrets go, Org2's stay")
		t0 := time.Now()
		Expect(n.h.StopPeer(org1, 2*time.Minute)).To(Succeed())
		Expect(n.h.PeerRunning(org2)).To(BeTrue())
		Eventually(func() map[string]types.UID { return n.peerObjects(org1) }, shutdownBound, 200*time.Millisecond).
			Should(BeEmpty(), "objects of %s after its SIGTERM", org1.ID())
		n.recordFault("shared-ns-sigterm-one-peer", time.Since(t0), "own_objects_deleted;other_peer_untouched")
		org2Untouched("after the SIGTERM of " + org1.ID())

		By("restarting Org1's peer: kv launches again under its new run")
		n.h.RestartPeer(org1)
		n.h.InvokeOK(ccName, invokeTimeout, "put", "shared", "2")
		n.runningPod(org1, kv.PackageID)
		org2Untouched("after the restart of " + org1.ID())

		By("SIGKILL of Org1's peer and a restart: the sweep removes only Org1's objects of the killed run")
		killedRuns := n.peerRuns(org1)
		Expect(killedRuns).NotTo(BeEmpty(), "objects of %s carry %s", org1.ID(), network.LabelRun)
		for run := range n.peerRuns(org2) {
			Expect(killedRuns).NotTo(HaveKey(run), "the peers share a run ID")
		}
		Expect(n.h.KillPeer(org1, time.Minute)).To(Succeed())
		org2Untouched("after the SIGKILL of " + org1.ID())
		t1 := time.Now()
		n.h.RestartPeer(org1)
		Eventually(func() []string {
			var left []string
			for run, objs := range n.peerRuns(org1) {
				if _, killed := killedRuns[run]; killed {
					left = append(left, objs...)
				}
			}
			return left
		}, sweepBound, 200*time.Millisecond).Should(BeEmpty(), "objects of the killed run of %s", org1.ID())
		n.recordFault("shared-ns-sigkill-one-peer", time.Since(t1), "killed_run_swept_at_restart;other_peer_untouched")
		org2Untouched("after the sweep of " + org1.ID())
		n.h.InvokeOK(ccName, invokeTimeout, "put", "shared", "3")
		Expect(n.h.QueryOK(org1, ccName, queryTimeout, "get", "shared")).To(Equal("3"))

		By("committing ccexit, installed on Org1 only: Org1 launches it at commit and it crash-loops")
		isExitPod := func(p *corev1.Pod) bool {
			return network.IsChaincodePod(p) && p.Annotations[network.AnnotationCCID] == ccexit.PackageID
		}
		t2 := time.Now()
		n.h.ApproveAndCommit(ccexit)
		testkit.WaitForCrashLoop(n.events, ccexit.PackageID)
		Expect(n.h.PeerLog(org1)).To(ContainSubstring(fmt.Sprintf("Chaincode %s: crash loop after %d consecutive failures", ccexit.PackageID, healCrashLoopThreshold)))
		Eventually(func() []string {
			var live []string
			for _, p := range network.LivePods(n.inventory().ChaincodePods) {
				if isExitPod(&p) {
					live = append(live, p.Name+"["+string(p.Status.Phase)+"]")
				}
			}
			return live
		}, time.Minute, 200*time.Millisecond).Should(BeEmpty(), "live ccexit pods after the crash loop")
		launched := n.pods.Find(isExitPod)
		Expect(launched).To(HaveLen(healCrashLoopThreshold+1), "one launch at commit and %d relaunches", healCrashLoopThreshold)
		for _, l := range launched {
			Expect(l.Pod.Labels[network.LabelPeerID]).To(Equal(org1.ID()), "ccexit is installed on %s only", org1.ID())
		}
		n.recordFault("shared-ns-crash-loop-one-peer", time.Since(t2), "crash_loop_on_one_peer;other_peer_untouched")
		fmt.Fprintf(os.Stdout, "E2E-INFO after the crash loop of %s on %s:\n%s\n", ccexit.PackageID, org1.ID(), n.inventory())
		Expect(n.h.PeerLog(org2)).NotTo(ContainSubstring("Chaincode "+ccexit.PackageID+":"), "%s has not installed ccexit", org2.ID())
		org2Untouched("after the crash loop on " + org1.ID())
		n.h.InvokeOK(ccName, invokeTimeout, "put", "shared", "4")
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, ccName, queryTimeout, "get", "shared")).To(Equal("4"))
		}
		Expect(n.peerObjects(org2)).To(Equal(org2Objects), "the objects of %s changed", org2.ID())
	})
})
