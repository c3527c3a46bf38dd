/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/core/container/dockercontroller"
	"github.com/hyperledger/fabric/integration/nwo"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// chaincodeKiller finds the process of ccid's chaincode on p and returns a
// function that SIGKILLs it, so that the kill itself can be timed.
func (v *vmRun) chaincodeKiller(p *nwo.Peer, ccid string) (func() error, error) {
	switch v.vm {
	case "k8s":
		pod, err := v.runningPod(p, ccid)
		if err != nil {
			return nil, err
		}
		id := strings.TrimPrefix(pod.Status.ContainerStatuses[0].ContainerID, "containerd://")
		return func() error {
			out, err := exec.Command("ctr", "--address", v.c.Containerd, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id).CombinedOutput()
			if err != nil {
				return fmt.Errorf("ctr tasks kill %s (pod %s): %v: %s", id, pod.Name, err, out)
			}
			return nil
		}, nil
	default:
		name := (&dockercontroller.DockerVM{NetworkID: v.n.NetworkID, PeerID: p.ID()}).GetVMName(ccid)
		return func() error {
			_, err := v.dock.Run(time.Minute, "kill", "-s", "KILL", name)
			return err
		}, nil
	}
}

// killChaincode SIGKILLs the process of ccid's chaincode on p.
func (v *vmRun) killChaincode(p *nwo.Peer, ccid string) error {
	kill, err := v.chaincodeKiller(p, ccid)
	if err != nil {
		return err
	}
	return kill()
}

// runningPod is the live, running chaincode pod of ccid on p.
func (v *vmRun) runningPod(p *nwo.Peer, ccid string) (*corev1.Pod, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		pods, err := v.kube.Client.CoreV1().Pods(v.ns).List(v.ctx, metav1.ListOptions{LabelSelector: network.ChaincodeSelector})
		if err != nil {
			return nil, err
		}
		for _, pod := range network.LivePods(pods.Items) {
			cs := pod.Status.ContainerStatuses
			if pod.Annotations[network.AnnotationCCID] == ccid && pod.Labels[network.LabelPeerID] == p.ID() &&
				len(cs) == 1 && cs[0].State.Running != nil && cs[0].ContainerID != "" {
				return &pod, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no running pod of %s on %s", ccid, p.ID())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// relaunchQuiet SIGKILLs each kv chaincode on Org1 and, with no request sent,
// waits for the peer to register it again. The k8s VM relaunches on its own;
// DockerVM does not (Fabric launches chaincode again only for a request), so
// for docker all are killed at once and the bench waits NoTrafficBound.
func (v *vmRun) relaunchQuiet() error {
	v.r.NoTrafficBoundSeconds = v.c.NoTrafficBound.Seconds()
	if v.vm == "k8s" {
		for _, cc := range v.kv {
			before, _, err := v.launches(v.org1(), cc.PackageID)
			if err != nil {
				return err
			}
			kill, err := v.chaincodeKiller(v.org1(), cc.PackageID)
			if err != nil {
				return err
			}
			t0 := time.Now()
			if err := kill(); err != nil {
				return err
			}
			v.r.NoTrafficKilled++
			_, ok, err := v.waitLaunches(v.org1(), cc.PackageID, before, time.Minute)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s not registered again within 1m of the SIGKILL", cc.PackageID)
			}
			v.r.NoTrafficRelaunched++
			v.add(sRelaunchQuiet, time.Since(t0).Seconds())
		}
		return nil
	}
	before := map[string]float64{}
	for _, cc := range v.kv {
		n, _, err := v.launches(v.org1(), cc.PackageID)
		if err != nil {
			return err
		}
		before[cc.PackageID] = n
	}
	t0 := time.Now()
	for _, cc := range v.kv {
		if err := v.killChaincode(v.org1(), cc.PackageID); err != nil {
			return err
		}
		v.r.NoTrafficKilled++
	}
	relaunched := map[string]bool{}
	for time.Since(t0) < v.c.NoTrafficBound {
		for _, cc := range v.kv {
			if relaunched[cc.PackageID] {
				continue
			}
			n, _, err := v.launches(v.org1(), cc.PackageID)
			if err != nil {
				return err
			}
			if n > before[cc.PackageID] {
				relaunched[cc.PackageID] = true
				v.r.NoTrafficRelaunched++
				v.add(sRelaunchQuiet, time.Since(t0).Seconds())
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	step("%s: %d of %d SIGKILLed chaincodes registered again within %s without a request", v.vm, v.r.NoTrafficRelaunched, v.r.NoTrafficKilled, v.c.NoTrafficBound)
	return nil
}

// relaunchOnRequest SIGKILLs each kv chaincode on Org2 and queries it through
// Org2's gateway until it answers again, from the kill.
func (v *vmRun) relaunchOnRequest() error {
	g := v.gw[v.org2().ID()]
	for _, cc := range v.kv {
		kill, err := v.chaincodeKiller(v.org2(), cc.PackageID)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := kill(); err != nil {
			return err
		}
		d, err := v.queryUntilServed(g, v.org2(), cc.Name, t0, 2*time.Minute, 20*time.Millisecond)
		if err != nil {
			return fmt.Errorf("after the SIGKILL: %w", err)
		}
		v.add(sRelaunchRequest, d.Seconds())
	}
	return nil
}

// queryUntilServed queries cc through g, on p's organization only, every
// retry until it answers or bound has passed since t0; it returns the time
// from t0 to the answer.
func (v *vmRun) queryUntilServed(g *gatewayClient, p *nwo.Peer, cc string, t0 time.Time, bound, retry time.Duration) (time.Duration, error) {
	for {
		ctx, cancel := context.WithTimeout(v.ctx, time.Minute)
		_, err := g.EvaluateOn(ctx, v.mspOf(p), cc, "version")
		cancel()
		if err == nil {
			return time.Since(t0), nil
		}
		if time.Since(t0) > bound {
			return 0, fmt.Errorf("%s on %s did not answer within %s: %v", cc, p.ID(), bound, err)
		}
		time.Sleep(retry)
	}
}
