/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/kube"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/hyperledger/fabric/core/container/ccintf"
	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// Instance is a chaincode image that can run as a Pod. It implements
// container.Instance. Every Start is a new launch: a Pod and a TLS Secret
// under a name of their own (spec.PodName), so that a launch never waits for
// the objects of the previous one, which are deleted in the background.
type Instance struct {
	VM    *VM
	CCID  string
	Type  string // upper-case chaincode type
	Image string // <pullRegistry>/<repo>:<tag>@<digest>

	mu        sync.Mutex
	launch    *launch // the last Start's
	createdAt time.Time
}

func (vm *VM) newInstance(ccid, ccType, image string) *Instance {
	return &Instance{
		VM:    vm,
		CCID:  ccid,
		Type:  ccType,
		Image: image,
	}
}

// PodName is the name of the Pod (and of its Secret) of the last Start, or
// "" before the first.
func (i *Instance) PodName() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.launch == nil {
		return ""
	}
	return i.launch.name
}

// ChaincodeServerInfo returns nil: the chaincode dials the peer.
func (i *Instance) ChaincodeServerInfo() (*ccintf.ChaincodeServerInfo, error) {
	return nil, nil
}

// Start launches the chaincode: it creates a TLS Secret and a Pod, both named
// for this launch, and returns once the Pod is created. The previous launch
// of the chaincode, if any, is deleted in the background with its grace
// period. Start reads nothing from the informer cache, so a cache that lags
// the API server does not delay it; only the first launches of a run wait
// until the pods of earlier runs are deleted (awaitEarlierRunsSwept).
func (i *Instance) Start(peerConnection *ccintf.PeerConnection) error {
	vm := i.VM
	cfg := vm.Config
	ns := cfg.Namespace
	tls := peerConnection.TLSConfig
	args, env, err := containerLaunch(i.Type, i.CCID, vm.MSPID, peerConnection.Address, vm.LoggingEnv, tls != nil)
	if err != nil {
		return errors.WithMessagef(err, "chaincode %s", i.CCID)
	}

	if err := vm.awaitEarlierRunsSwept(); err != nil {
		return errors.WithMessagef(err, "chaincode %s: cannot launch", i.CCID)
	}
	ctx, cancel := context.WithTimeout(vm.requestContext(), cfg.StopTimeout)
	defer cancel()

	settings, err := vm.chaincodeSettings(ctx, i.CCID)
	if err != nil {
		return errors.WithMessagef(err, "chaincode %s", i.CCID)
	}

	l := &launch{ccid: i.CCID, name: spec.PodName(vm.NetworkID, vm.PeerID, i.CCID, vm.launchID()), tls: tls != nil}
	// A new generation first, so that the end of the previous pod is not
	// taken for a crash.
	l.generation = vm.supervisor.Started(i.CCID)
	previous, done, err := vm.launches.begin(l)
	if err != nil {
		return errors.WithMessagef(err, "chaincode %s: cannot launch", i.CCID)
	}
	vm.retireLaunch(previous)
	i.mu.Lock()
	i.launch, i.createdAt = l, time.Time{}
	i.mu.Unlock()

	created, err := i.create(ctx, l, args, env, settings, tls)
	done()
	if err != nil {
		vm.launches.endIf(l)
		return err
	}

	i.mu.Lock()
	i.createdAt = vm.Clock.Now()
	i.mu.Unlock()
	vm.event(created, corev1.EventTypeNormal, reasonLaunched, "Launched chaincode %s from %s", i.CCID, i.Image)

	if l.tls {
		if err := i.adoptSecret(ctx, created, l); err != nil {
			// The Secret is still deleted by Stop; only garbage collection
			// after a peer crash is affected.
			logger.Warningf("Chaincode %s: %s", i.CCID, err)
		}
	}
	logger.Infof("Chaincode %s: created pod %s/%s running %s", i.CCID, ns, l.name, i.Image)
	return nil
}

// create creates the Secret (with tls) and the Pod of launch l and records
// their UIDs. When the Pod cannot be created, the Secret is deleted again.
func (i *Instance) create(ctx context.Context, l *launch, args, env []string, settings *config.ChaincodeSettings, tls *ccintf.TLSConfig) (*corev1.Pod, error) {
	vm := i.VM
	ns := vm.Config.Namespace
	secret := ""
	if tls != nil {
		s := spec.NewTLSSecret(vm.Config, spec.TLSSecretParams{
			Name:    l.name,
			PodName: l.name,
			CCID:    i.CCID,
			PeerID:  vm.PeerID,
			TLS:     tls,
			Owner:   vm.Owner,
		})
		vm.stampRun(&s.ObjectMeta)
		secrets := vm.Client.CoreV1().Secrets(ns)
		created, err := createOwn(ctx, vm, "secret", ns, l.name,
			func(ctx context.Context) (*corev1.Secret, error) {
				return secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
			},
			func(ctx context.Context) (*corev1.Secret, error) {
				return secrets.Get(ctx, l.name, metav1.GetOptions{})
			})
		if err != nil {
			return nil, errors.WithMessagef(err, "chaincode %s", i.CCID)
		}
		l.setSecretUID(created.UID)
		secret = l.name
	}

	pod := spec.NewChaincodePod(vm.Config, spec.ChaincodePodParams{
		Name:       l.name,
		SecretName: secret,
		CCID:       i.CCID,
		PeerID:     vm.PeerID,
		Image:      i.Image,
		Args:       args,
		Env:        env,
		Owner:      vm.Owner,
		Settings:   settings,
	})
	vm.stampRun(&pod.ObjectMeta)
	pods := vm.Client.CoreV1().Pods(ns)
	created, err := createOwn(ctx, vm, "pod", ns, l.name,
		func(ctx context.Context) (*corev1.Pod, error) {
			return pods.Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManager})
		},
		func(ctx context.Context) (*corev1.Pod, error) { return pods.Get(ctx, l.name, metav1.GetOptions{}) })
	if err != nil {
		err = errors.WithMessagef(err, "chaincode %s", i.CCID)
		if secret != "" {
			_, secretUID := l.uids()
			cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), vm.Config.StopTimeout)
			defer cancel()
			if derr := kube.DeleteSecret(cleanupCtx, vm.Client, ns, secret, secretUID); derr != nil {
				return nil, errors.WithMessagef(err, "also failed to clean up: %s", derr)
			}
		}
		return nil, err
	}
	l.setPodUID(created.UID)
	return created, nil
}

// adoptSecret makes the chaincode pod the Secret's only owner so that the
// Secret never outlives its pod. The patch names the Secret's UID: it fails
// rather than adopt another Secret of that name.
func (i *Instance) adoptSecret(ctx context.Context, pod *corev1.Pod, l *launch) error {
	_, secretUID := l.uids()
	meta := map[string]interface{}{
		"ownerReferences": []metav1.OwnerReference{{
			APIVersion: "v1",
			Kind:       "Pod",
			Name:       pod.Name,
			UID:        pod.UID,
		}},
	}
	if secretUID != "" {
		meta["uid"] = secretUID
	}
	patch, err := json.Marshal(map[string]interface{}{"metadata": meta})
	if err != nil {
		return errors.Wrap(err, "cannot encode owner patch")
	}
	_, err = i.VM.Client.CoreV1().Secrets(pod.Namespace).Patch(ctx, l.name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: fieldManager})
	return errors.Wrapf(err, "cannot set owner of secret %s/%s to its pod", pod.Namespace, l.name)
}

// Stop deletes the Pod of the chaincode's current launch, with the grace
// period, and its Secret. It does not wait for the pod to be gone: the next
// launch uses new names. Missing objects are not an error.
func (i *Instance) Stop() error {
	vm := i.VM
	vm.supervisor.Stopped(i.CCID)
	l := vm.launches.end(i.CCID)
	if l == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(vm.requestContext(), vm.Config.StopTimeout)
	defer cancel()
	if err := vm.deleteLaunch(ctx, l, vm.gracePeriodSeconds()); err != nil {
		return errors.WithMessagef(err, "chaincode %s: stop failed", i.CCID)
	}
	return nil
}

// Wait blocks until the chaincode container of the last Start terminates
// and returns its exit code. If the pod disappears first, or its container
// cannot start (for example because the image cannot be pulled within
// vm.k8s.imagePullTimeout), it returns -1; in the latter case with an error
// saying why, after deleting the stuck pod and its Secret. It follows the
// pod through the VM's shared informer: waiting chaincodes open no watches
// of their own. Unless the VM shuts down, the supervisor is told of the end
// of the pod, even when following it failed, so that a chaincode is never
// left unsupervised.
func (i *Instance) Wait() (int, error) {
	i.mu.Lock()
	l, createdAt := i.launch, i.createdAt
	i.mu.Unlock()
	if l == nil {
		return -1, errors.Errorf("chaincode %s: not started", i.CCID)
	}
	ns := i.VM.Config.Namespace

	ctx, cancel := context.WithCancel(i.VM.requestContext())
	defer cancel()

	uid, _ := l.uids()
	w := &podWait{
		Instance:  i,
		launch:    l,
		uid:       uid,
		createdAt: createdAt,
		timer:     kube.RecheckTimer{Clock: i.VM.Clock},
		retry:     kube.RecheckTimer{Clock: i.VM.Clock},
	}
	defer w.timer.Stop()
	defer w.retry.Stop()
	exitCode, waitErr, err := w.run(ctx)
	if ctx.Err() != nil {
		// The end of the pod, if it ended, may be the VM's own doing.
		return -1, errors.Wrapf(ctx.Err(), "chaincode %s: stopped watching pod %s/%s: the VM shut down", i.CCID, ns, l.name)
	}
	if w.removed {
		i.VM.supervisor.Removed(i.CCID, l.generation)
	} else {
		i.VM.supervisor.Exited(i.CCID, l.generation)
	}
	if err != nil {
		return -1, errors.WithMessagef(err, "chaincode %s: watching pod %s/%s", i.CCID, ns, l.name)
	}
	return exitCode, errors.WithMessagef(waitErr, "chaincode %s", i.CCID)
}

// Reads of the pod from the API server that fail are retried with a backoff
// from waitRetryInitial to waitRetryMax, waitRetries times, before Wait
// gives up and reports the pod as ended.
const (
	waitRetryInitial = 500 * time.Millisecond
	waitRetryMax     = 8 * time.Second
	waitRetries      = 6
)

// podWait is the state of one Instance.Wait.
type podWait struct {
	*Instance
	launch    *launch
	uid       types.UID
	createdAt time.Time
	timer     kube.RecheckTimer // image pull grace
	grace     *pullGrace
	observed  bool
	last      *corev1.Pod // latest state of our pod; a cached object, read only
	// unschedulable is set once the pod was reported unschedulable.
	unschedulable bool
	// retry fires when a failed read of the pod is due again; failures
	// counts the reads that failed in a row.
	retry    kube.RecheckTimer
	failures int
	// removed is set when the pod ended because it was deleted or evicted
	// rather than by an exit of the chaincode.
	removed bool
}

// run follows the pod until it ends and returns its exit code, or why it
// could not start; err is set when following the pod failed.
func (w *podWait) run(ctx context.Context) (exitCode int, waitErr, err error) {
	ns := w.VM.Config.Namespace
	stopped, err := w.VM.cache.ready(ctx)
	if err != nil {
		return -1, nil, err
	}
	pods := w.VM.cache.pods[ns]
	sub, unsubscribe := pods.Subscribe(ns, w.launch.name)
	defer unsubscribe()

	var unresolved *kube.TrackedEvent // an event whose read failed, to retry
	for {
		var events []kube.TrackedEvent
		select {
		case <-ctx.Done():
			return -1, nil, ctx.Err()
		case <-stopped:
			return -1, nil, errors.New("the Kubernetes object cache stopped")
		case <-sub.Ready():
			events = sub.Drain()
		case <-w.timer.C():
			w.timer.Stop()
			events = []kube.TrackedEvent{{Type: watch.Modified, Object: w.last}}
		case <-w.retry.C():
			w.retry.Stop()
			events = []kube.TrackedEvent{*unresolved}
		}
		for _, ev := range events {
			pod, gone, err := w.resolve(ctx, pods, ev)
			if err != nil {
				if ctx.Err() != nil {
					return -1, nil, ctx.Err()
				}
				w.failures++
				if w.failures > waitRetries {
					return -1, nil, err
				}
				logger.Warningf("Chaincode %s: %s; retrying (%d of %d)", w.CCID, err, w.failures, waitRetries)
				unresolved = &ev
				w.retry.Arm(w.VM.Clock.Now().Add(w.retryDelay()))
				continue
			}
			w.failures = 0
			if gone {
				w.removed = true
				return -1, nil, nil
			}
			if pod == nil {
				continue
			}
			if code, waitErr, done := w.evaluate(pod); done {
				return code, waitErr, nil
			}
		}
	}
}

// retryDelay is the backoff before the next read after w.failures failures.
func (w *podWait) retryDelay() time.Duration {
	d := waitRetryInitial
	for n := 1; n < w.failures && d < waitRetryMax; n++ {
		d *= 2
	}
	return min(d, waitRetryMax)
}

// resolve turns an event into the current state of our pod, or gone when it
// no longer exists. When the cache does not show our pod, the API server is
// asked: the cache may not have caught up with Start yet.
func (w *podWait) resolve(ctx context.Context, pods *kube.Tracker, ev kube.TrackedEvent) (pod *corev1.Pod, gone bool, err error) {
	pod, _ = ev.Object.(*corev1.Pod)
	ours := pod != nil && (w.uid == "" || pod.UID == w.uid)
	switch {
	case ours && ev.Type == watch.Deleted:
		return nil, true, nil
	case ours:
		return pod, false, nil
	}
	live, gone, err := pods.ConfirmGone(ctx, w.launch.name, string(w.uid))
	if err != nil {
		return nil, false, errors.Wrapf(err, "cannot get pod %s/%s", w.VM.Config.Namespace, w.launch.name)
	}
	if gone {
		return nil, true, nil
	}
	return live.(*corev1.Pod), false, nil
}

// evaluate returns done when pod has ended or cannot start.
func (w *podWait) evaluate(pod *corev1.Pod) (exitCode int, waitErr error, done bool) {
	w.last = pod
	cs := kube.ContainerStatus(pod, spec.ChaincodeContainer)
	switch {
	case cs != nil && cs.State.Running != nil:
		w.observeStart(true)
	case cs != nil && cs.State.Terminated != nil:
		w.observeStart(cs.State.Terminated.StartedAt.After(w.createdAt))
		w.reportExit(pod, cs.State.Terminated)
		w.removed = removedByCluster(pod)
		return int(cs.State.Terminated.ExitCode), nil, true
	}
	w.reportUnschedulable(pod)
	if w.grace == nil {
		start := pod.CreationTimestamp.Time
		if start.IsZero() {
			start = w.createdAt
		}
		if start.IsZero() {
			start = w.VM.Clock.Now()
		}
		w.grace = &pullGrace{Clock: w.VM.Clock, Timeout: w.VM.Config.ImagePullTimeout, Start: start}
	}
	recheck, err := w.grace.check(pod)
	if err != nil {
		w.observeStart(false)
		w.timer.Stop()
		return -1, w.removeStuck(pod, err), true
	}
	w.timer.Arm(recheck)
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		w.observeStart(false)
		w.removed = removedByCluster(pod)
		return -1, errors.Errorf("pod %s/%s is %s: %s %s", pod.Namespace, pod.Name, pod.Status.Phase, pod.Status.Reason, pod.Status.Message), true
	}
	return 0, nil, false
}

// reportUnschedulable logs, and records as a Warning event, the first time
// the scheduler finds no node for the pod: the launch keeps waiting (a node
// may free up or join), but the peer's log should say why it waits.
func (w *podWait) reportUnschedulable(pod *corev1.Pod) {
	if w.unschedulable {
		return
	}
	for _, c := range pod.Status.Conditions {
		if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable {
			continue
		}
		w.unschedulable = true
		msg := truncateMessage(fmt.Sprintf("pod %s/%s cannot be scheduled yet (the launch waits for it until chaincode.startuptimeout): %s",
			pod.Namespace, pod.Name, c.Message))
		logger.Warningf("Chaincode %s: %s", w.CCID, msg)
		w.VM.event(pod, corev1.EventTypeWarning, reasonUnschedulable, "Chaincode %s: %s", w.CCID, msg)
	}
}

func (w *podWait) observeStart(success bool) {
	if w.observed || w.createdAt.IsZero() {
		return
	}
	w.observed = true
	w.VM.Metrics.PodStartDuration.With("chaincode", w.CCID, "success", strconv.FormatBool(success)).
		Observe(w.VM.Clock.Since(w.createdAt).Seconds())
}

// reportExit reports the termination of the chaincode container of pod: it
// is counted by the reason Kubernetes gives, and a container killed for
// running out of memory, or failing while its pod is not being deleted, is
// logged and recorded as a Warning event on the pod. evaluate calls it on the
// first terminated status it sees and Wait then returns, so each terminated
// container is reported once however often the informer delivers its pod.
func (w *podWait) reportExit(pod *corev1.Pod, term *corev1.ContainerStateTerminated) {
	reason := term.Reason
	if reason == "" {
		reason = "Unknown"
	}
	w.VM.Metrics.ChaincodeExits.With("chaincode", w.CCID, "reason", reason).Add(1)

	container := fmt.Sprintf("container %s of pod %s/%s", spec.ChaincodeContainer, pod.Namespace, pod.Name)
	switch {
	case term.Reason == reasonOOMKilled:
		msg := container + " was killed for running out of memory (no memory limit is set)"
		if limit := memoryLimit(pod); limit != "" {
			msg = container + " was killed for exceeding its memory limit " + limit
		}
		logger.Warningf("Chaincode %s: %s", w.CCID, msg)
		w.VM.event(pod, corev1.EventTypeWarning, reasonOOMKilled, "Chaincode %s: %s", w.CCID, msg)
	case term.ExitCode != 0 && pod.DeletionTimestamp == nil:
		msg := fmt.Sprintf("%s exited with code %d (%s)", container, term.ExitCode, reason)
		if term.Message != "" {
			msg += ": " + term.Message
		}
		msg = truncateMessage(msg)
		logger.Warningf("Chaincode %s: %s", w.CCID, msg)
		w.VM.event(pod, corev1.EventTypeWarning, reasonExited, "Chaincode %s: %s", w.CCID, msg)
	default:
		// A clean exit, or the end of a pod being deleted (by Stop, for
		// example).
		logger.Infof("Chaincode %s: %s exited with code %d (%s)", w.CCID, container, term.ExitCode, reason)
	}
}

// reasonEvicted is the reason the kubelet gives a pod it evicted under node
// pressure.
const reasonEvicted = "Evicted"

// removedByCluster tells whether pod ends because it was deleted (by a user,
// a drain, the node lifecycle controller) or evicted, rather than because
// its chaincode exited: its end is no failure of the chaincode.
func removedByCluster(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Reason == reasonEvicted {
		return true
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// memoryLimit returns the memory limit of the chaincode container of pod, or
// "" when it has none.
func memoryLimit(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name != spec.ChaincodeContainer {
			continue
		}
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && !q.IsZero() {
			return q.String()
		}
	}
	return ""
}

// removeStuck deletes a pod that cannot start, and its Secret, so that
// nothing is left pulling forever. It returns cause, with any failure to
// clean up.
func (w *podWait) removeStuck(pod *corev1.Pod, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.VM.requestContext()), w.VM.Config.StopTimeout)
	defer cancel()
	logger.Warningf("Chaincode %s: deleting pod %s/%s: %s", w.CCID, pod.Namespace, pod.Name, cause)
	w.VM.launches.endIf(w.launch)
	if err := w.VM.deleteLaunch(ctx, w.launch, 0); err != nil {
		return errors.WithMessagef(cause, "also failed to delete it: %s", err)
	}
	return cause
}
