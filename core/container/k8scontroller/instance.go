/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/hyperledger/fabric/core/container/ccintf"
	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"
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
	args, err := chaincodeArgs(i.Type, peerConnection.Address)
	if err != nil {
		return errors.WithMessagef(err, "chaincode %s", i.CCID)
	}

	ctx, cancel := context.WithTimeout(i.VM.requestContext(), 2*cfg.StopTimeout)
	defer cancel()

	// A new generation first, so that the end of the previous pod, deleted
	// below, is not taken for a crash.
	generation := i.VM.supervisor.started(i.CCID)
	i.mu.Lock()
	i.generation = generation
	i.mu.Unlock()

	if err := deletePodAndWait(ctx, client, ns, i.PodName, 0); err != nil {
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
		Env:        chaincodeEnv(i.CCID, i.VM.MSPID, i.VM.LoggingEnv, secret != ""),
		Owner:      i.VM.Owner,
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
	i.podUID, i.createdAt = created.UID, time.Now()
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
	if err := deletePodAndWait(ctx, i.VM.Client, cfg.Namespace, i.PodName, grace); err != nil {
		return errors.WithMessagef(err, "chaincode %s: stop failed", i.CCID)
	}
	if err := deleteSecret(ctx, i.VM.Client, cfg.Namespace, i.SecretName); err != nil {
		return errors.WithMessagef(err, "chaincode %s: stop failed", i.CCID)
	}
	return nil
}

// Wait blocks until the chaincode container terminates and returns its exit
// code. If the pod disappears first, or its container cannot start (for
// example because the image cannot be pulled), it returns -1; in the latter
// case with an error saying why.
func (i *Instance) Wait() (int, error) {
	cfg := i.VM.Config
	i.mu.Lock()
	uid, createdAt, generation := i.podUID, i.createdAt, i.generation
	i.mu.Unlock()

	ctx, cancel := context.WithCancel(i.VM.requestContext())
	defer cancel()

	exitCode := -1
	var waitErr error
	replaced := false
	observed := false
	observeStart := func(success bool) {
		if observed || createdAt.IsZero() {
			return
		}
		observed = true
		i.VM.Metrics.PodStartDuration.With("chaincode", i.CCID, "success", strconv.FormatBool(success)).
			Observe(time.Since(createdAt).Seconds())
	}

	_, err := watchtools.UntilWithSync(ctx, podListWatch(i.VM.Client, cfg.Namespace, byName(i.PodName)), &corev1.Pod{},
		absent(cfg.Namespace, i.PodName),
		func(ev watch.Event) (bool, error) {
			if deletedEvent(ev, i.PodName) {
				return true, nil
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || pod.Name != i.PodName {
				return false, nil
			}
			if uid != "" && pod.UID != uid {
				// a later launch replaced our pod
				replaced = true
				return true, nil
			}
			cs := containerStatus(pod, chaincodeContainer)
			switch {
			case cs != nil && cs.State.Running != nil:
				observeStart(true)
			case cs != nil && cs.State.Terminated != nil:
				observeStart(cs.State.Terminated.StartedAt.After(createdAt))
				exitCode = int(cs.State.Terminated.ExitCode)
				return true, nil
			}
			if err := stuckContainer(pod); err != nil {
				observeStart(false)
				waitErr = err
				return true, nil
			}
			if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
				observeStart(false)
				waitErr = errors.Errorf("pod %s/%s is %s: %s %s", pod.Namespace, pod.Name, pod.Status.Phase, pod.Status.Reason, pod.Status.Message)
				return true, nil
			}
			return false, nil
		})
	if err != nil {
		if ctx.Err() != nil {
			return -1, errors.Wrapf(ctx.Err(), "chaincode %s: stopped watching pod %s/%s: the VM shut down", i.CCID, cfg.Namespace, i.PodName)
		}
		return -1, errors.Wrapf(err, "chaincode %s: watching pod %s/%s", i.CCID, cfg.Namespace, i.PodName)
	}
	if !replaced {
		i.VM.supervisor.exited(i.CCID, generation)
	}
	return exitCode, errors.WithMessagef(waitErr, "chaincode %s", i.CCID)
}
