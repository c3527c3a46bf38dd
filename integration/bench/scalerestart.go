/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The scale run's SIGKILL and restart of Org1's peer with every chaincode
// running: the killed run's objects followed until gone, every chaincode
// queried until it answers, the start-up sweep's line, the launches.

// peerObjects are the UIDs of Org1's chaincode pods and secrets.
func (s *scaleRun) peerObjects() (pods, secrets map[types.UID]string, err error) {
	sel := metav1.ListOptions{LabelSelector: network.ChaincodeSelector}
	pl, err := s.kube.Client.CoreV1().Pods(s.ns).List(s.ctx, sel)
	if err != nil {
		return nil, nil, err
	}
	sl, err := s.kube.Client.CoreV1().Secrets(s.ns).List(s.ctx, sel)
	if err != nil {
		return nil, nil, err
	}
	pods, secrets = map[types.UID]string{}, map[types.UID]string{}
	id := s.org1().ID()
	for _, p := range pl.Items {
		if p.Labels[network.LabelPeerID] == id {
			pods[p.UID] = p.Name
		}
	}
	for _, o := range sl.Items {
		if o.Labels[network.LabelPeerID] == id {
			secrets[o.UID] = o.Name
		}
	}
	return pods, secrets, nil
}

// goneTimes is when the killed run's objects were deleted, from the restart.
type goneTimes struct {
	podsDeleting, podsGone, secretsGone *float64
	podsLeft, secretsLeft               int
}

// waitGone polls until none of the pods and secrets exists (and notes when
// every pod was being deleted), or ctx ends.
func (s *scaleRun) waitGone(ctx context.Context, pods, secrets map[types.UID]string, t0 time.Time) goneTimes {
	var g goneTimes
	sel := metav1.ListOptions{LabelSelector: network.ChaincodeSelector}
	at := func() *float64 { d := time.Since(t0).Seconds(); return &d }
	for {
		if g.podsGone == nil {
			if pl, err := s.pc.CoreV1().Pods(s.ns).List(ctx, sel); err == nil {
				left, deleting := 0, 0
				for _, p := range pl.Items {
					if _, old := pods[p.UID]; old {
						left++
						if p.DeletionTimestamp != nil {
							deleting++
						}
					}
				}
				g.podsLeft = left
				if g.podsDeleting == nil && left == deleting {
					g.podsDeleting = at()
				}
				if left == 0 {
					g.podsGone = at()
				}
			}
		}
		if g.secretsGone == nil {
			if sl, err := s.pc.CoreV1().Secrets(s.ns).List(ctx, sel); err == nil {
				left := 0
				for _, o := range sl.Items {
					if _, old := secrets[o.UID]; old {
						left++
					}
				}
				g.secretsLeft = left
				if left == 0 {
					g.secretsGone = at()
				}
			}
		}
		if g.podsGone != nil && g.secretsGone != nil {
			return g
		}
		select {
		case <-ctx.Done():
			return g
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// serveAll queries every chaincode of ccs on p (all at once) until each
// answers or the bound passes; it returns the seconds from t0 to the
// answer of each that answered, sorted, and the first error.
func (s *scaleRun) serveAll(g *gatewayClient, p *nwo.Peer, ccs []nwo.Chaincode, t0 time.Time) ([]float64, error) {
	var mu sync.Mutex
	var secs []float64
	err := parallel(len(ccs), len(ccs), func(j int) error {
		d, err := s.queryUntilServed(g, p, ccs[j].Name, t0, s.sc.Bound, 250*time.Millisecond)
		if err != nil {
			return err
		}
		mu.Lock()
		secs = append(secs, d.Seconds())
		mu.Unlock()
		return nil
	})
	sort.Float64s(secs)
	return secs, err
}

// waitSweepLine waits until the restarted peer's log has the start-up
// sweep's line (or one of its warnings), or ctx ends.
func (s *scaleRun) waitSweepLine(ctx context.Context, p *nwo.Peer) []SweepLine {
	for {
		lines := parseSweepLog(s.h.CurrentPeerLog(p))
		for _, l := range lines {
			if l.Kind == sweepEarlier || l.Kind == sweepFailed {
				return lines
			}
		}
		select {
		case <-ctx.Done():
			return lines
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// restart SIGKILLs Org1's peer with every chaincode running and starts it
// again.
func (s *scaleRun) restart() error {
	v, p := s.vmRun, s.org1()
	px := v.proxy[p.ID()]
	pods, secrets, err := s.peerObjects()
	if err != nil {
		return err
	}
	res := &RestartResult{Chaincodes: len(s.ccs), PodsBefore: len(pods), SecretsBefore: len(secrets)}
	s.rep.Restart = res
	step("k8s: SIGKILL of Org1's peer (%d chaincode pods, %d secrets of its own)", len(pods), len(secrets))
	tKill := time.Now()
	if err := v.h.KillPeer(p, time.Minute); err != nil {
		return err
	}
	res.KillSeconds = time.Since(tKill).Seconds()
	from := countSample{T: time.Now(), Counts: px.Counts()}
	t0 := from.T
	ctx, cancel := context.WithTimeout(v.ctx, s.sc.Bound)
	defer cancel()
	goneCh := make(chan goneTimes, 1)
	go func() { goneCh <- s.waitGone(ctx, pods, secrets, t0) }()

	v.h.RestartPeer(p)
	res.ReadySeconds = time.Since(t0).Seconds()
	step("k8s: Org1's peer ready %.1fs after the restart; querying the %d chaincodes", res.ReadySeconds, len(s.ccs))
	g, err := newGatewayClient(v.n, p, "User1", network.ChannelName)
	if err != nil {
		return err
	}
	if old := v.gw[p.ID()]; old != nil {
		old.Close()
	}
	v.gw[p.ID()] = g
	secs, serveErr := s.serveAll(g, p, s.ccs, t0)
	res.Served, res.Serve = len(secs), Summarize(secs)
	if len(secs) == len(s.ccs) {
		res.AllServedSeconds = &secs[len(secs)-1]
	}
	lines := s.waitSweepLine(ctx, p)
	gone := <-goneCh
	to := countSample{T: time.Now(), Counts: px.Counts()}
	res.API = apiWindow(s.rates.Samples(), from, to, t0)
	res.OldPodsDeletingSeconds, res.OldPodsGoneSeconds, res.OldSecretsGoneSeconds = gone.podsDeleting, gone.podsGone, gone.secretsGone
	res.OldPodsLeft, res.OldSecretsLeft = gone.podsLeft, gone.secretsLeft
	for _, l := range lines {
		res.SweepLines = append(res.SweepLines, l.Text)
		switch l.Kind {
		case sweepEarlier:
			if res.SweepDeleted == 0 && !l.Time.IsZero() {
				d := l.Time.Sub(t0).Seconds()
				res.SweepLoggedSeconds = &d
			}
			res.SweepDeleted += l.Deleted
		case sweepFailed:
			v.note("the start-up sweep failed: %s", l.Text)
		}
	}
	if st, err := s.launchStats(p); err == nil {
		res.Launches = st
	} else {
		v.note("launch metrics after the restart: %v", err)
	}
	if live, err := s.livePods(); err == nil {
		res.RunningPodsAfter, _ = s.countRunning(live)
		if err := s.checkPlacement(live); err != nil {
			v.errorf("after the restart: %v", err)
		}
	}
	step("k8s: restart: ready %.1fs, sweep logged %s (%d objects), old pods gone %s, old secrets gone %s, all %d served %s; %d API requests, peak %.0f/s",
		res.ReadySeconds, secsText(res.SweepLoggedSeconds), res.SweepDeleted, secsText(res.OldPodsGoneSeconds), secsText(res.OldSecretsGoneSeconds),
		len(s.ccs), secsText(res.AllServedSeconds), res.API.Total, res.API.PeakPerSecond)
	var problems []string
	if serveErr != nil {
		problems = append(problems, fmt.Sprintf("%d of %d chaincodes answered: %v", res.Served, len(s.ccs), serveErr))
	}
	if gone.podsGone == nil || gone.secretsGone == nil {
		problems = append(problems, fmt.Sprintf("the killed run's objects were not all deleted within %s: %d of %d pods, %d of %d secrets left",
			s.sc.Bound, gone.podsLeft, len(pods), gone.secretsLeft, len(secrets)))
	}
	if res.SweepLoggedSeconds == nil {
		problems = append(problems, fmt.Sprintf("no start-up sweep line (\"deleted N objects left by earlier runs\") in the peer's log within %s", s.sc.Bound))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func secsText(d *float64) string {
	if d == nil {
		return "never"
	}
	return fmt.Sprintf("%.1fs", *d)
}

// launchStats are the peer's successful and failed launches of the run's
// chaincodes (chaincode_launch_duration) since it started, and the pods its
// current run created for them.
func (s *scaleRun) launchStats(p *nwo.Peer) (*LaunchStats, error) {
	smp, err := s.metrics(p)
	if err != nil {
		return nil, err
	}
	st := &LaunchStats{}
	created := podsCreated(s.h.CurrentPeerLog(p))
	var per []float64
	for _, cc := range s.ccs {
		st.PodsCreated += created[cc.PackageID]
		if n := created[cc.PackageID]; n > 1 {
			if st.CreatedMoreThanOnce == nil {
				st.CreatedMoreThanOnce = map[string]int{}
			}
			st.CreatedMoreThanOnce[cc.PackageID] = n
		}
		ok, _ := sumWhere(smp, "chaincode_launch_duration_count", map[string]string{"chaincode": cc.PackageID, "success": "true"})
		sum, _ := sumWhere(smp, "chaincode_launch_duration_sum", map[string]string{"chaincode": cc.PackageID, "success": "true"})
		bad, _ := sumWhere(smp, "chaincode_launch_duration_count", map[string]string{"chaincode": cc.PackageID, "success": "false"})
		st.OK += int(ok)
		st.Failed += int(bad)
		if ok > 0 {
			per = append(per, sum/ok)
		}
	}
	st.Duration = Summarize(per)
	return st, nil
}
