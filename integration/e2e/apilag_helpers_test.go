//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	"github.com/hyperledger/fabric/integration/nwo/commands"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// stablePackage packages, as ccName with label, a copy of the kv chaincode
// whose Build constant is build, without the file naming this run that
// prepareChaincode adds: the package, and so the image tag, is the same in
// every run, so the image an earlier run pushed is found in the registry and
// nothing is built.
func (n *healNet) stablePackage(label, build string) nwo.Chaincode {
	dir := filepath.Join(n.h.Opts.RootDir, "chaincode", strings.ReplaceAll(label, "_", "-"))
	ExpectWithOffset(1, network.PrepareGoChaincode(filepath.Join(n.s.RepoRoot, "integration", "chaincode", "kv"), dir, setKVBuild(build))).To(Succeed())
	cc := n.h.GoChaincode(ccName, label, "1", dir)
	r := n.h.Package(&cc)
	ExpectWithOffset(1, r.OK()).To(BeTrue(), "%s", r)
	return cc
}

// invokeOn submits fn(args) to cc endorsed by p alone (the definitions'
// policy is any one org) and waits for its commit: a transaction that
// reaches no other peer's chaincode.
func (n *healNet) invokeOn(p *nwo.Peer, timeout time.Duration, fn string, args ...string) network.Result {
	start := time.Now()
	sess, err := n.h.Network.PeerUserSession(p, "User1", commands.ChaincodeInvoke{
		ChannelID:     network.ChannelName,
		Orderer:       n.h.Network.OrdererAddress(n.h.Orderer, nwo.ListenPort),
		Name:          ccName,
		Ctor:          network.Ctor(fn, args...),
		PeerAddresses: []string{n.h.Network.PeerAddress(p, nwo.ListenPort)},
		WaitForEvent:  true,
	})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	select {
	case <-sess.Exited:
	case <-time.After(timeout):
		sess.Kill().Wait()
	}
	return network.Result{ExitCode: sess.ExitCode(), Stdout: string(sess.Out.Contents()), Stderr: string(sess.Err.Contents()), Duration: time.Since(start)}
}

func invokeSucceeded(r network.Result) bool {
	return r.OK() && strings.Contains(r.Stderr, "Chaincode invoke successful. result: status:200") &&
		strings.Contains(r.Stderr, "committed with status (VALID)")
}

// invokeUntilOK invokes put(key, value) on p alone until it succeeds and
// returns the time from t0 until then and the number of attempts.
func (n *healNet) invokeUntilOK(t0 time.Time, p *nwo.Peer, key, value string) (time.Duration, int) {
	return n.invokeUntilOKAfter(t0, p, key, value, nil)
}

// invokeUntilOKAfter is invokeUntilOK counting only invokes begun once
// ready (when not nil) held.
func (n *healNet) invokeUntilOKAfter(t0 time.Time, p *nwo.Peer, key, value string, ready func() bool) (time.Duration, int) {
	attempts := 0
	var last network.Result
	EventuallyWithOffset(2, func() bool {
		attempts++
		counts := ready == nil || ready()
		last = n.invokeOn(p, time.Minute, "put", key, value)
		return invokeSucceeded(last) && counts
	}, 3*time.Minute, 10*time.Millisecond).Should(BeTrue(), func() string { return fmt.Sprintf("invoke on %s: %s", p.ID(), last) })
	return time.Since(t0), attempts
}

// podEnded reports whether this test saw pod's container terminate or pod
// go.
func (n *healNet) podEnded(pod *corev1.Pod) bool {
	s, ok := n.pods.Seen(pod.UID)
	if !ok {
		return false
	}
	return s.Gone || network.ContainerTerminated(s.Pod)
}

// killPod ends a chaincode pod: "sigkill" and "delete" as kill does,
// "delete0" deletes it with grace period 0.
func (n *healNet) killPod(pod *corev1.Pod, method string) {
	if method != "delete0" {
		n.kill(pod, method)
		return
	}
	zero := int64(0)
	err := n.kube.Client.CoreV1().Pods(n.s.Namespace).Delete(n.ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "delete pod %s with grace 0", pod.Name)
}

// podsCreatedSince lists, as "name[phase]", the chaincode pods of p that
// this test first saw at or after t.
func (n *healNet) podsCreatedSince(p *nwo.Peer, t time.Time) []string {
	var out []string
	for _, s := range n.pods.Find(func(pod *corev1.Pod) bool {
		return network.IsChaincodePod(pod) && pod.Labels[network.LabelPeerID] == p.ID()
	}) {
		if !s.FirstSeen.Before(t) {
			out = append(out, s.Pod.Name+"["+string(s.Pod.Status.Phase)+"]")
		}
	}
	return out
}

// ownerProblems lists chaincode Secrets that belong to no live chaincode
// pod (label app.kubernetes.io/instance) and live chaincode pods without a
// Secret.
func (n *healNet) ownerProblems() []string {
	inv := n.inventory()
	live := map[string]bool{}
	for _, p := range network.LivePods(inv.ChaincodePods) {
		live[p.Name] = false
	}
	var problems []string
	for _, s := range inv.ChaincodeSecrets {
		pod := s.Labels[network.LabelInstance]
		if _, ok := live[pod]; !ok {
			problems = append(problems, fmt.Sprintf("orphan secret/%s (pod %q)", s.Name, pod))
			continue
		}
		live[pod] = true
	}
	for pod, has := range live {
		if !has {
			problems = append(problems, "pod/"+pod+" without its secret")
		}
	}
	sort.Strings(problems)
	return problems
}

// expectNoLeaks waits until cc's running pod and Secret are all there is
// per peer (expectSettled) and every chaincode Secret belongs to a live pod.
func (n *healNet) expectNoLeaks(cc nwo.Chaincode, labels ...string) {
	n.expectSettled(cc, labels...)
	EventuallyWithOffset(1, n.ownerProblems, time.Minute, 250*time.Millisecond).Should(BeEmpty())
}

// sweepLine matches the peer's report of objects its sweep deleted.
func sweepLine(namespace string) *regexp.Regexp {
	return regexp.MustCompile(`Sweep of namespace ` + regexp.QuoteMeta(namespace) + `: deleted (\d+) `)
}

// sweepDeletions sums what p's sweeps reported deleting so far.
func (n *healNet) sweepDeletions(p *nwo.Peer) int {
	total := 0
	for _, m := range sweepLine(n.s.Namespace).FindAllStringSubmatch(n.h.PeerLog(p), -1) {
		v, _ := strconv.Atoi(m[1])
		total += v
	}
	return total
}

// churnObject is a chaincode Pod or Secret as this test saw it come and go.
type churnObject struct {
	kind, name, peer, ccid, instance string
	uid                              types.UID
	owner                            types.UID // a Secret's owner Pod, once set
	// firstSeen: created; ended: the pod's container terminated (phase
	// Failed or Succeeded); deleted: deletion started or the object gone.
	firstSeen, ended, deleted time.Time
}

// churnLog records the chaincode Pods and Secrets of the namespace with the
// times this test saw them created, ended and deleted.
type churnLog struct {
	mu       sync.Mutex
	objs     map[types.UID]*churnObject
	stop     chan struct{}
	stopOnce sync.Once
}

// recordChurn starts a churnLog (its own informers, straight to the API
// server); stop it with stopChurn.
func (n *healNet) recordChurn() *churnLog {
	c := &churnLog{objs: map[types.UID]*churnObject{}, stop: make(chan struct{})}
	factory := informers.NewSharedInformerFactoryWithOptions(n.kube.Client, 0, informers.WithNamespace(n.s.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = network.ChaincodeSelector }))
	put := func(obj interface{}, gone bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj, gone = d.Obj, true
		}
		now := time.Now()
		var meta metav1.Object
		kind, ended := "", false
		switch o := obj.(type) {
		case *corev1.Pod:
			meta, kind = o, "pod"
			ended = o.Status.Phase == corev1.PodFailed || o.Status.Phase == corev1.PodSucceeded || network.ContainerTerminated(o)
		case *corev1.Secret:
			meta, kind = o, "secret"
		default:
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		r, ok := c.objs[meta.GetUID()]
		if !ok {
			r = &churnObject{kind: kind, name: meta.GetName(), uid: meta.GetUID(), firstSeen: now,
				peer: meta.GetLabels()[network.LabelPeerID], ccid: meta.GetAnnotations()[network.AnnotationCCID],
				instance: meta.GetLabels()[network.LabelInstance]}
			c.objs[meta.GetUID()] = r
		}
		if ended && r.ended.IsZero() {
			r.ended = now
		}
		for _, o := range meta.GetOwnerReferences() {
			if o.Kind == "Pod" {
				r.owner = o.UID
			}
		}
		if (gone || meta.GetDeletionTimestamp() != nil) && r.deleted.IsZero() {
			r.deleted = now
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { put(obj, false) },
		UpdateFunc: func(_, obj interface{}) { put(obj, false) },
		DeleteFunc: func(obj interface{}) { put(obj, true) },
	}
	for _, inf := range []cache.SharedIndexInformer{factory.Core().V1().Pods().Informer(), factory.Core().V1().Secrets().Informer()} {
		_, err := inf.AddEventHandler(handler)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
	}
	factory.Start(c.stop)
	for typ, ok := range factory.WaitForCacheSync(c.stop) {
		ExpectWithOffset(1, ok).To(BeTrue(), "informer of %v did not sync", typ)
	}
	return c
}

func (c *churnLog) stopChurn() { c.stopOnce.Do(func() { close(c.stop) }) }

// counts returns how many pods and Secrets were seen and how many of them
// were deleted.
func (c *churnLog) counts() (pods, secrets, podsDeleted, secretsDeleted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.objs {
		switch o.kind {
		case "pod":
			pods++
			if !o.deleted.IsZero() {
				podsDeleted++
			}
		case "secret":
			secrets++
			if !o.deleted.IsZero() {
				secretsDeleted++
			}
		}
	}
	return
}

// freshDeletions lists the deletions, seen after from, of a pod or Secret
// of a chaincode's current launch: a pod is current until its container
// ended, a newer pod of the same peer and package appeared, or the test
// itself deleted or killed it (byTest); a Secret is current while its pod
// is. slack allows for the order in which two watches report.
func (c *churnLog) freshDeletions(from time.Time, byTest map[types.UID]bool, slack time.Duration) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pods []*churnObject
	for _, o := range c.objs {
		if o.kind == "pod" {
			pods = append(pods, o)
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].firstSeen.Before(pods[j].firstSeen) })
	// notCurrent is when pod p stopped being its chaincode's current launch
	// (zero: never).
	notCurrent := func(p *churnObject) time.Time {
		var t time.Time
		earlier := func(c time.Time) {
			if !c.IsZero() && (t.IsZero() || c.Before(t)) {
				t = c
			}
		}
		earlier(p.ended)
		if byTest[p.uid] {
			earlier(p.deleted)
		}
		for _, q := range pods {
			if q != p && q.peer == p.peer && q.ccid == p.ccid && q.firstSeen.After(p.firstSeen) {
				// A launch may retire its predecessor just before its own
				// pod is created.
				earlier(q.firstSeen.Add(-slack))
				break
			}
		}
		return t
	}
	at := func(t time.Time) string { return fmt.Sprintf("+%.2fs", t.Sub(from).Seconds()) }
	var out []string
	for _, p := range pods {
		if p.deleted.IsZero() || p.deleted.Before(from) {
			continue
		}
		if t := notCurrent(p); t.IsZero() || t.After(p.deleted) {
			out = append(out, fmt.Sprintf("pod %s (%s) deleted at %s while current (first seen %s)", p.name, p.peer, at(p.deleted), at(p.firstSeen)))
		}
	}
	for _, s := range c.objs {
		if s.kind != "secret" || s.deleted.IsZero() || s.deleted.Before(from) {
			continue
		}
		// Its pod: its owner, or else the first pod of its name seen after
		// it (the Secret is created just before its pod; names may be
		// reused by later launches).
		var owner *churnObject
		for _, p := range pods {
			if s.owner != "" && p.uid == s.owner {
				owner = p
				break
			}
			if s.owner == "" && owner == nil && p.name == s.instance && !p.firstSeen.Before(s.firstSeen.Add(-slack)) {
				owner = p
			}
		}
		if owner == nil {
			continue // a pod that was never created
		}
		t := notCurrent(owner)
		if !owner.deleted.IsZero() && (t.IsZero() || owner.deleted.Before(t)) {
			t = owner.deleted
		}
		if t.IsZero() || t.After(s.deleted.Add(slack)) {
			out = append(out, fmt.Sprintf("secret %s (%s) deleted at %s while its pod %s was current", s.name, s.peer, at(s.deleted), owner.name))
		}
	}
	sort.Strings(out)
	return out
}
