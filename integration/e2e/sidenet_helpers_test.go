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
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// sideNetwork is a two-org network of its own, in a namespace of its own
// (the suite's namespace with a suffix), for a Describe whose peers need
// settings the main network does not have.
type sideNetwork struct {
	s      settings
	kube   *network.Kube
	jobs   *network.JobRecorder
	h      *network.Harness
	ctx    context.Context
	cancel context.CancelFunc
	name   string
	// startedAt is when start was called.
	startedAt time.Time
}

// start creates namespace fpk-e2e-<name>-… (E2E_NAMESPACE-<name> when that
// is set), lets configure change the settings (e.g. s.Peer.VM) and create
// objects in the namespace, and starts the network. Call it from BeforeAll
// on a new sideNetwork and stop from AfterAll: stop also cleans up after a
// start that failed half-way.
func (n *sideNetwork) start(name string, configure func(s *settings, kube *network.Kube)) {
	n.s, n.name, n.startedAt = loadSettings(), name, time.Now()
	if ns := os.Getenv("E2E_NAMESPACE"); ns != "" {
		n.s.Namespace = ns + "-" + name
	} else {
		n.s.Namespace = strings.Replace(n.s.Namespace, "fpk-e2e-", "fpk-e2e-"+name+"-", 1)
	}
	n.s.Peer.VM.Namespace = n.s.Namespace
	n.ctx, n.cancel = context.WithCancel(context.Background())
	fmt.Fprintf(GinkgoWriter, "%s network in namespace %s\n", name, n.s.Namespace)

	ExpectWithOffset(1, network.CheckBinaries(n.s.BinDir)).To(Succeed())
	kube, err := network.NewKube(n.s.Kubeconfig, n.s.Namespace)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, kube.Ping(n.ctx)).To(Succeed(), "the local cluster (%s) is not ready", n.s.Kubeconfig)
	ExpectWithOffset(1, kube.CreateNamespace(n.ctx)).To(Succeed())
	n.kube = kube
	n.jobs, err = n.kube.RecordJobs(n.ctx)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	if configure != nil {
		configure(&n.s, n.kube)
	}

	n.h, err = network.New(network.Options{RepoRoot: n.s.RepoRoot, Kubeconfig: n.s.Kubeconfig, Namespace: n.s.Namespace, Peer: &n.s.Peer})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	start := time.Now()
	n.h.Start()
	recordTiming(name+"_network_start", time.Since(start))
}

// stop stops the network and deletes its namespace (both kept with
// E2E_KEEP=1 after a failure).
func (n *sideNetwork) stop() {
	if n == nil || n.cancel == nil {
		return
	}
	defer n.cancel()
	failed := CurrentSpecReport().Failed() || anySpecFailed()
	stopNetwork(n.h, failed, n.s.Artifacts, n.name+"-")
	if n.jobs != nil {
		n.jobs.Stop()
	}
	if failed && n.s.Keep {
		fmt.Fprintf(GinkgoWriter, "E2E_KEEP=1: keeping namespace %s and the network's directory\n", n.s.Namespace)
		return
	}
	if n.kube != nil {
		if inv, err := n.kube.Inventory(context.Background()); err == nil && failed {
			fmt.Fprintf(GinkgoWriter, "namespace %s before deletion:\n%s\n", n.s.Namespace, inv)
		}
		ExpectWithOffset(1, n.kube.DeleteNamespace(context.Background(), 3*time.Minute)).To(Succeed())
	}
	if n.h != nil {
		n.h.Cleanup()
	}
	recordTiming(n.name+"_total_wall", time.Since(n.startedAt))
}

// packageKV packages, as ccName with label, a copy of the kv chaincode whose
// Build constant is build: a package no peer has built yet.
func (n *sideNetwork) packageKV(ccName, label, build string) nwo.Chaincode {
	dir := prepareChaincode(n.h, n.s, "kv", strings.ReplaceAll(label, "_", "-"), setKVBuild(build))
	cc := n.h.GoChaincode(ccName, label, "1", dir)
	r := n.h.Package(&cc)
	ExpectWithOffset(1, r.OK()).To(BeTrue(), "%s", r)
	return cc
}

// livePodsOf lists the running chaincode pods of packageID.
func (n *sideNetwork) livePodsOf(packageID string) []corev1.Pod {
	inv, err := n.kube.Inventory(n.ctx)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var out []corev1.Pod
	for _, p := range network.LivePods(inv.ChaincodePods) {
		if p.Annotations[network.AnnotationCCID] == packageID {
			out = append(out, p)
		}
	}
	return out
}

// capturedBuild is the build container of one build Job's pod, captured
// when it terminated: the VM deletes a Job (and its pod) once the image is
// pushed.
type capturedBuild struct {
	Log              string
	Started, Stopped time.Time
	ExitCode         int32
}

// buildCapture keeps the build container log of every build pod of the
// namespace, fetched as soon as the container has terminated (the Kaniko
// container runs for several seconds after it).
type buildCapture struct {
	mu     sync.Mutex
	builds map[string]capturedBuild // by Job name
	errs   []string
}

// captureBuilds starts capturing until n's context ends.
func (n *sideNetwork) captureBuilds() *buildCapture {
	c := &buildCapture{builds: map[string]capturedBuild{}}
	factory := informers.NewSharedInformerFactoryWithOptions(n.kube.Client, 0,
		informers.WithNamespace(n.s.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = network.LabelJobName }))
	handle := func(obj interface{}) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		job := pod.Labels[network.LabelJobName]
		for _, st := range pod.Status.InitContainerStatuses {
			if st.Name != "build" || st.State.Terminated == nil {
				continue
			}
			c.mu.Lock()
			_, done := c.builds[job]
			c.mu.Unlock()
			if done {
				return
			}
			log, err := n.kube.PodLogs(n.ctx, pod.Name, "build")
			c.mu.Lock()
			if err != nil {
				c.errs = append(c.errs, fmt.Sprintf("log of %s/build: %v", pod.Name, err))
			} else {
				t := st.State.Terminated
				c.builds[job] = capturedBuild{Log: log, Started: t.StartedAt.Time, Stopped: t.FinishedAt.Time, ExitCode: t.ExitCode}
			}
			c.mu.Unlock()
		}
	}
	_, err := factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, obj interface{}) { handle(obj) },
	})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	factory.Start(n.ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(n.ctx.Done()) {
		ExpectWithOffset(1, ok).To(BeTrue(), "informer of %v did not sync", typ)
	}
	return c
}

// build returns the captured build container of Job job, waiting for it
// for up to a minute.
func (c *buildCapture) build(job string) capturedBuild {
	var b capturedBuild
	EventuallyWithOffset(1, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		var ok bool
		b, ok = c.builds[job]
		return ok
	}, time.Minute, 100*time.Millisecond).Should(BeTrue(), "no build container log of Job %s captured (%v)", job, c.errors())
	return b
}

func (c *buildCapture) errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}
