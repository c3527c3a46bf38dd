/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/hyperledger/fabric/integration/nwo"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// clusterSh runs integration/cluster/cluster.sh with args; its output goes
// to the logs directory.
func (s *scaleRun) clusterSh(timeout time.Duration, args ...string) error {
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.sc.ClusterSh, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+s.c.Kubeconfig, "CLUSTER_DIR="+s.sc.ClusterDir)
	out, err := cmd.CombinedOutput()
	f, ferr := os.OpenFile(filepath.Join(s.c.Out, "logs", "cluster-sh.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if ferr == nil {
		fmt.Fprintf(f, "== %s cluster.sh %s\n%s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "), out)
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("cluster.sh %s: %v: %s", strings.Join(args, " "), err, testkit.LastLinesElided(string(out), 6))
	}
	return nil
}

// nodeReady is the status of the node's Ready condition.
func (s *scaleRun) nodeReady(name string) (bool, error) {
	n, err := s.kube.Client.CoreV1().Nodes().Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

// waitNodeReady polls until the node's readiness is want, or bound.
func (s *scaleRun) waitNodeReady(name string, want bool, bound time.Duration) (time.Duration, error) {
	t0 := time.Now()
	for {
		ready, err := s.nodeReady(name)
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
		if err == nil && ready == want {
			return time.Since(t0), nil
		}
		if time.Since(t0) > bound {
			return 0, fmt.Errorf("node %s not %s within %s", name, map[bool]string{true: "Ready", false: "NotReady"}[want], bound)
		}
		time.Sleep(time.Second)
	}
}

// node2Outage stops the second node (kubelet and containerd, its containers
// killed), waits until it is NotReady, starts it and waits until every
// chaincode pinned to it answers again.
func (s *scaleRun) node2Outage() error {
	v, sc := s.vmRun, s.sc
	p := v.org1()
	px := v.proxy[p.ID()]
	var pinned []nwo.Chaincode
	for _, cc := range s.ccs {
		if s.pinned[cc.Name] {
			pinned = append(pinned, cc)
		}
	}
	res := &Node2Result{Node: sc.Node2Name, Chaincodes: len(pinned)}
	s.rep.Node2 = res
	live, err := s.livePods()
	if err != nil {
		return err
	}
	_, on := s.countRunning(live)
	res.RunningOnNodeBefore = on[sc.Node2Name]

	step("k8s: stopping %s (cluster.sh stop node2)", sc.Node2Name)
	down := countSample{T: time.Now(), Counts: px.Counts()}
	atExit(func() {
		if ready, _ := s.nodeReady(sc.Node2Name); !ready {
			_ = s.clusterSh(3*time.Minute, "start", "node2")
		}
	})
	if err := s.clusterSh(2*time.Minute, "stop", "node2"); err != nil {
		return err
	}
	res.StopSeconds = time.Since(down.T).Seconds()
	if _, err := s.waitNodeReady(sc.Node2Name, false, 3*time.Minute); err != nil {
		return err
	}
	res.NotReadySeconds = time.Since(down.T).Seconds()
	back := countSample{T: time.Now(), Counts: px.Counts()}
	res.DownSeconds = back.T.Sub(down.T).Seconds()
	step("k8s: %s NotReady after %.1fs; starting it (cluster.sh start node2)", sc.Node2Name, res.NotReadySeconds)
	if err := s.clusterSh(3*time.Minute, "start", "node2"); err != nil {
		return err
	}
	res.StartSeconds = time.Since(back.T).Seconds()
	readyCh := make(chan error, 1)
	go func() {
		_, err := s.waitNodeReady(sc.Node2Name, true, 3*time.Minute)
		if err == nil {
			secs := time.Since(back.T).Seconds()
			res.ReadySeconds = &secs
		}
		readyCh <- err
	}()
	secs, serveErr := s.serveAll(v.gw[p.ID()], p, pinned, back.T)
	readyErr := <-readyCh
	end := countSample{T: time.Now(), Counts: px.Counts()}
	res.Served, res.Serve = len(secs), Summarize(secs)
	if len(secs) == len(pinned) && len(secs) > 0 {
		res.AllServedSeconds = &secs[len(secs)-1]
	}
	all := s.rates.Samples()
	res.DownAPI = apiWindow(all, down, back, down.T)
	res.RecoveryAPI = apiWindow(all, back, end, back.T)
	if live, err := s.livePods(); err == nil {
		_, on := s.countRunning(live)
		res.RunningOnNodeAfter = on[sc.Node2Name]
		if err := s.checkPlacement(live); err != nil {
			v.errorf("after %s came back: %v", sc.Node2Name, err)
		}
	}
	step("k8s: %s back: all %d pinned chaincodes served %s after the start; %d API requests, peak %.0f/s",
		sc.Node2Name, len(pinned), secsText(res.AllServedSeconds), res.RecoveryAPI.Total, res.RecoveryAPI.PeakPerSecond)
	if readyErr != nil {
		return readyErr
	}
	if serveErr != nil {
		return fmt.Errorf("%d of %d pinned chaincodes answered: %v", res.Served, len(pinned), serveErr)
	}
	return nil
}
