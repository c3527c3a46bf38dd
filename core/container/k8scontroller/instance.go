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

	"github.com/hyperledger/fabric/core/container/ccintf"
	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// Instance is a chaincode image that can run as a Pod. It implements
// container.Instance.
type Instance struct {
	VM         *VM
	CCID       string
	Type       string // upper-case chaincode type
	Image      string // <pullRegistry>/<repo>:<tag>@<digest>
	PodName    string
	SecretName string

	mu         sync.Mutex
	podUID     types.UID
	createdAt  time.Time
	generation uint64 // of the current launch, for the relaunch supervisor
}

func (vm *VM) newInstance(ccid, ccType, image string) *Instance {
	return &Instance{
		VM:         vm,
		CCID:       ccid,
		Type:       ccType,
		Image:      image,
		PodName:    podName(vm.NetworkID, vm.PeerID, ccid),
		SecretName: secretName(vm.NetworkID, vm.PeerID, ccid),
	}
}

// ChaincodeServerInfo returns nil: the chaincode dials the peer.
func (i *Instance) ChaincodeServerInfo() (*ccintf.ChaincodeServerInfo, error) {
	return nil, nil
}

// Start creates the chaincode's TLS Secret and Pod, replacing leftovers of a
// previous launch. It returns once the Pod is created.
func (i *Instance) Start(peerConnection *ccintf.PeerConnection) error {
	cfg, client := i.VM.Config, i.VM.Client
	ns := cfg.Namespace
	args, env, err := containerLaunch(i.Type, i.CCID, i.VM.MSPID, peerConnection.Address, i.VM.LoggingEnv, peerConnection.TLSConfig != nil)
	if err != nil {
		return errors.WithMessagef(err, "chaincode %s", i.CCID)
	}

	ctx, cancel := context.WithTimeout(i.VM.requestContext(), 2*cfg.StopTimeout)
	defer cancel()

	settings, err := i.VM.chaincodeSettings(ctx, i.CCID)
	if err != nil {
		return errors.WithMessagef(err, "chaincode %s", i.CCID)
	}

	// A new generation first, so that the end of the previous pod, deleted
	// below, is not taken for a crash.
	generation := i.VM.supervisor.started(i.CCID)
	i.mu.Lock()
	i.generation = generation
	i.mu.Unlock()

	if err := i.VM.deletePodAndWait(ctx, ns, i.PodName, "", 0, nil); err != nil {
		return errors.WithMessagef(err, "chaincode %s: cannot remove previous pod", i.CCID)
	}
	if err := deleteSecret(ctx, client, ns, i.SecretName); err != nil {
		return errors.WithMessagef(err, "chaincode %s: cannot remove previous secret", i.CCID)
	}

	secret := ""
	if tls := peerConnection.TLSConfig; tls != nil {
		s := newTLSSecret(i.SecretName, ns, i.PodName, i.VM.PeerID, i.CCID, tls, i.VM.Owner)
		i.VM.stampRun(&s.ObjectMeta)
		if _, err := client.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
			return errors.Wrapf(err, "chaincode %s: cannot create secret %s/%s", i.CCID, ns, i.SecretName)
		}
		secret = i.SecretName
	}

	pod := newChaincodePod(cfg, chaincodePodParams{
		Name:       i.PodName,
		SecretName: secret,
		CCID:       i.CCID,
		PeerID:     i.VM.PeerID,
		Image:      i.Image,
		Args:       args,
		Env:        env,
		Owner:      i.VM.Owner,
		Settings:   settings,
	})
	i.VM.stampRun(&pod.ObjectMeta)
	created, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{FieldManager: fieldManager})
	if err != nil {
		err = errors.Wrapf(err, "chaincode %s: cannot create pod %s/%s", i.CCID, ns, i.PodName)
		if secret != "" {
			if derr := deleteSecret(ctx, client, ns, secret); derr != nil {
				return errors.WithMessagef(err, "also failed to clean up: %s", derr)
			}
		}
		return err
	}

	i.mu.Lock()
	i.podUID, i.createdAt = created.UID, i.VM.Clock.Now()
	i.mu.Unlock()
	i.VM.event(created, corev1.EventTypeNormal, reasonLaunched, "Launched chaincode %s from %s", i.CCID, i.Image)

	if secret != "" {
		if err := i.adoptSecret(ctx, created); err != nil {
			// The Secret is still deleted by Stop; only garbage collection
			// after a peer crash is affected.
			logger.Warningf("Chaincode %s: %s", i.CCID, err)
		}
	}
	logger.Infof("Chaincode %s: created pod %s/%s running %s", i.CCID, ns, i.PodName, i.Image)
	return nil
}

// adoptSecret makes the chaincode pod the Secret's only owner so that the
// Secret never outlives its pod.
func (i *Instance) adoptSecret(ctx context.Context, pod *corev1.Pod) error {
	patch, err := json.Marshal(map[string]interface{}{
		"metadata": map[string]interface{}{
			"ownerReferences": []metav1.OwnerReference{{
				APIVersion: "v1",
				Kind:       "Pod",
				Name:       pod.Name,
				UID:        pod.UID,
			}},
		},
	})
	if err != nil {
		return errors.Wrap(err, "cannot encode owner patch")
	}
	_, err = i.VM.Client.CoreV1().Secrets(pod.Namespace).Patch(ctx, i.SecretName, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: fieldManager})
	return errors.Wrapf(err, "cannot set owner of secret %s/%s to its pod", pod.Namespace, i.SecretName)
}

// Stop deletes the chaincode Pod, waits until it is gone and deletes its
// Secret. Missing objects are not an error.
func (i *Instance) Stop() error {
	i.VM.supervisor.stopped(i.CCID)
	cfg := i.VM.Config
	ctx, cancel := context.WithTimeout(i.VM.requestContext(), cfg.StopTimeout)
	defer cancel()
	grace := int64(cfg.GracePeriod.Seconds())
	// The Secret goes as soon as the pod is being deleted (its container
	// keeps the copy it mounted), so that a peer that exits before the
	// pod's grace period ends leaves only a terminating pod behind.
	deleteSecret := func(ctx context.Context) error {
		return deleteSecret(ctx, i.VM.Client, cfg.Namespace, i.SecretName)
	}
	if err := i.VM.deletePodAndWait(ctx, cfg.Namespace, i.PodName, "", grace, deleteSecret); err != nil {
		return errors.WithMessagef(err, "chaincode %s: stop failed", i.CCID)
	}
	return nil
}

// Wait blocks until the chaincode container terminates and returns its exit
// code. If the pod disappears first, or its container cannot start (for
// example because the image cannot be pulled within vm.k8s.imagePullTimeout),
// it returns -1; in the latter case with an error saying why, after deleting
// the stuck pod and its Secret. It follows the pod through the VM's shared
// informer: waiting chaincodes open no watches of their own.
func (i *Instance) Wait() (int, error) {
	cfg := i.VM.Config
	i.mu.Lock()
	uid, createdAt, generation := i.podUID, i.createdAt, i.generation
	i.mu.Unlock()

	ctx, cancel := context.WithCancel(i.VM.requestContext())
	defer cancel()

	w := &podWait{
		Instance:  i,
		uid:       uid,
		createdAt: createdAt,
		timer:     recheckTimer{clock: i.VM.Clock},
	}
	defer w.timer.stop()
	exitCode, waitErr, err := w.run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return -1, errors.Wrapf(ctx.Err(), "chaincode %s: stopped watching pod %s/%s: the VM shut down", i.CCID, cfg.Namespace, i.PodName)
		}
		return -1, errors.WithMessagef(err, "chaincode %s: watching pod %s/%s", i.CCID, cfg.Namespace, i.PodName)
	}
	if !w.replaced {
		i.VM.supervisor.exited(i.CCID, generation)
	}
	return exitCode, errors.WithMessagef(waitErr, "chaincode %s", i.CCID)
}

// podWait is the state of one Instance.Wait.
type podWait struct {
	*Instance
	uid       types.UID
	createdAt time.Time
	timer     recheckTimer
	grace     *pullGrace
	observed  bool
	replaced  bool
	last      *corev1.Pod // latest state of our pod; a cached object, read only
	// unschedulable is set once the pod was reported unschedulable.
	unschedulable bool
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
	sub, unsubscribe := pods.subscribe(ns, w.PodName)
	defer unsubscribe()

	for {
		var events []trackedEvent
		select {
		case <-ctx.Done():
			return -1, nil, ctx.Err()
		case <-stopped:
			return -1, nil, errors.New("the Kubernetes object cache stopped")
		case <-sub.ready():
			events = sub.drain()
		case <-w.timer.C():
			w.timer.stop()
			events = []trackedEvent{{Type: watch.Modified, Object: w.last}}
		}
		for _, ev := range events {
			pod, gone, err := w.resolve(ctx, pods, ev)
			if err != nil {
				return -1, nil, err
			}
			if gone {
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

// resolve turns an event into the current state of our pod, or gone when it
// no longer exists (with replaced set when a later launch replaced it). The
// pod is nil, and not gone, for the deletion of an earlier pod of that name.
// When the cache does not show our pod, the API server is asked: the cache
// may not have caught up with Start yet.
func (w *podWait) resolve(ctx context.Context, pods *tracker, ev trackedEvent) (pod *corev1.Pod, gone bool, err error) {
	pod, _ = ev.Object.(*corev1.Pod)
	ours := pod != nil && (w.uid == "" || pod.UID == w.uid)
	switch {
	case ours && ev.Type == watch.Deleted:
		return nil, true, nil
	case ours:
		return pod, false, nil
	case pod != nil && ev.Type == watch.Deleted:
		return nil, false, nil
	}
	live, gone, err := pods.confirmGone(ctx, w.PodName, string(w.uid))
	if err != nil {
		return nil, false, errors.Wrapf(err, "cannot get pod %s/%s", w.VM.Config.Namespace, w.PodName)
	}
	if !gone {
		return live.(*corev1.Pod), false, nil
	}
	w.replaced = live != nil
	return nil, true, nil
}

// evaluate returns done when pod has ended or cannot start.
func (w *podWait) evaluate(pod *corev1.Pod) (exitCode int, waitErr error, done bool) {
	w.last = pod
	cs := containerStatus(pod, chaincodeContainer)
	switch {
	case cs != nil && cs.State.Running != nil:
		w.observeStart(true)
	case cs != nil && cs.State.Terminated != nil:
		w.observeStart(cs.State.Terminated.StartedAt.After(w.createdAt))
		w.reportExit(pod, cs.State.Terminated)
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
		w.timer.stop()
		return -1, w.removeStuck(pod, err), true
	}
	w.timer.arm(recheck)
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		w.observeStart(false)
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

	container := fmt.Sprintf("container %s of pod %s/%s", chaincodeContainer, pod.Namespace, pod.Name)
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

// memoryLimit returns the memory limit of the chaincode container of pod, or
// "" when it has none.
func memoryLimit(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name != chaincodeContainer {
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
	if err := w.VM.deletePodAndWait(ctx, pod.Namespace, pod.Name, pod.UID, 0, nil); err != nil {
		return errors.WithMessagef(cause, "also failed to delete the pod: %s", err)
	}
	if err := w.deleteSecret(ctx, pod.UID); err != nil {
		return errors.WithMessagef(cause, "also failed to delete its secret: %s", err)
	}
	return cause
}

// deleteSecret deletes the Secret of the pod with uid unless it belongs to
// another (later) pod of this chaincode.
func (w *podWait) deleteSecret(ctx context.Context, uid types.UID) error {
	ns := w.VM.Config.Namespace
	secret, err := w.VM.cache.secrets.Secrets(ns).Get(w.SecretName)
	if apierrors.IsNotFound(err) {
		// The cache may not have caught up with Start yet.
		secret, err = w.VM.Client.CoreV1().Secrets(ns).Get(ctx, w.SecretName, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return errors.Wrapf(err, "cannot get secret %s/%s", ns, w.SecretName)
	}
	for _, o := range secret.OwnerReferences {
		if o.Kind == "Pod" && o.UID != uid {
			return nil
		}
	}
	opts := metav1.DeleteOptions{}
	if secret.UID != "" {
		opts.Preconditions = metav1.NewUIDPreconditions(string(secret.UID))
	}
	err = w.VM.Client.CoreV1().Secrets(ns).Delete(ctx, w.SecretName, opts)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return errors.Wrapf(err, "cannot delete secret %s/%s", ns, w.SecretName)
	}
	return nil
}
