/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// relaunchAfterDelete deletes the namespace's running chaincode pod and waits
// for the peer to start another one (no transaction is sent meanwhile).
func relaunchAfterDelete(ctx context.Context, k *network.Kube, timeout time.Duration) (string, error) {
	pods := k.Client.CoreV1().Pods(k.Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: network.ChaincodeSelector})
	if err != nil {
		return "", err
	}
	live := network.LivePods(list.Items)
	if len(live) != 1 {
		return "", fmt.Errorf("%d running chaincode pods in %s, want 1", len(live), k.Namespace)
	}
	old := live[0]
	start := time.Now()
	if err := pods.Delete(ctx, old.Name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(old.UID))}); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lw := &cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = network.ChaincodeSelector
			return pods.List(ctx, o)
		},
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = network.ChaincodeSelector
			return pods.Watch(ctx, o)
		},
	}
	var fresh *corev1.Pod
	_, err = watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(e watch.Event) (bool, error) {
		p, ok := e.Object.(*corev1.Pod)
		if !ok || p.UID == old.UID || p.DeletionTimestamp != nil {
			return false, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				fresh = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return "", fmt.Errorf("no new chaincode pod ready in %s within %s after deleting %s: %w", k.Namespace, timeout, old.Name, err)
	}
	return fmt.Sprintf("chaincode pod %s deleted; %s ready %.1fs later, before any transaction", old.Name, fresh.Name,
		time.Since(start).Seconds()), nil
}

// writeEnv writes KEY=VALUE lines for `set -a; . FILE`.
func writeEnv(path string, env []string) error {
	var b strings.Builder
	for _, e := range env {
		kv := strings.SplitN(e, "=", 2)
		fmt.Fprintf(&b, "%s=%q\n", kv[0], kv[1])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
