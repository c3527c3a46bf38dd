/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	"github.com/hyperledger/fabric/integration/nwo/commands"
)

// cli runs a peer CLI command as user on p.
func (v *vmRun) cli(p *nwo.Peer, user string, cmd nwo.Command, timeout time.Duration) network.Result {
	start := time.Now()
	sess, err := v.n.PeerUserSession(p, user, cmd)
	if err != nil {
		return network.Result{ExitCode: -1, Stderr: err.Error(), Duration: time.Since(start)}
	}
	select {
	case <-sess.Exited:
	case <-time.After(timeout):
		sess.Kill().Wait()
	}
	return network.Result{ExitCode: sess.ExitCode(), Stdout: string(sess.Out.Contents()), Stderr: string(sess.Err.Contents()), Duration: time.Since(start)}
}

func (v *vmRun) approve(cc nwo.Chaincode, p *nwo.Peer) network.Result {
	return v.cli(p, "Admin", commands.ChaincodeApproveForMyOrg{
		ChannelID: network.ChannelName, Orderer: v.n.OrdererAddress(v.h.Orderer, nwo.ListenPort),
		Name: cc.Name, Version: cc.Version, PackageID: cc.PackageID, Sequence: cc.Sequence,
		SignaturePolicy: cc.SignaturePolicy, WaitForEventTimeout: v.n.EventuallyTimeout,
	}, v.n.EventuallyTimeout+time.Minute)
}

func (v *vmRun) commit(cc nwo.Chaincode) network.Result {
	var addrs []string
	for _, p := range v.h.Peers {
		addrs = append(addrs, v.n.PeerAddress(p, nwo.ListenPort))
	}
	return v.cli(v.org1(), "Admin", commands.ChaincodeCommit{
		ChannelID: network.ChannelName, Orderer: v.n.OrdererAddress(v.h.Orderer, nwo.ListenPort),
		Name: cc.Name, Version: cc.Version, Sequence: cc.Sequence, SignaturePolicy: cc.SignaturePolicy,
		PeerAddresses: addrs, WaitForEventTimeout: v.n.EventuallyTimeout,
	}, v.n.EventuallyTimeout+time.Minute)
}

// parallel runs f for 0..n-1 with at most width at once and returns the
// first error.
func parallel(n, width int, f func(i int) error) error {
	sem := make(chan struct{}, width)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			var err error
			if ferr := network.Try(func() { err = f(i) }); ferr != nil {
				err = ferr
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	return first
}

func resultErr(what string, r network.Result) error {
	if r.OK() {
		return nil
	}
	// The CLI's own error is its last line; the lines before are mostly
	// gRPC's logging.
	return fmt.Errorf("%s: exit %d after %s: %s", what, r.ExitCode, r.Duration.Round(time.Millisecond), testkit.LastLinesElided(r.Output(), 6))
}

// deploy packages N kv chaincodes and, one at a time: installs on Org1 (a
// build), on Org2 (k8s: the image is in the registry; docker: another
// build), approves for both orgs and commits. Fabric launches a chaincode as
// soon as its definition is committed where it is installed; the launch is
// measured by Org1's peer (chaincode_launch_duration, from the start of the
// launch to the registration) and by a client querying Org2 from the start
// of the commit until the first answer. Org1's build and launch are then
// split into phases (phases_collect.go) after their measurement.
func (v *vmRun) deploy() error {
	// The namespace is watched meanwhile so that the builds and launches
	// can be split into phases (k8s); without the watch the measurements
	// stand and the phases say what they lack.
	w, err := v.startPhaseWatch()
	if err != nil {
		v.note("phases of builds and launches without a watch of the namespace: %v", err)
	}
	defer w.stop()
	for i := 1; i <= v.c.N; i++ {
		cc := v.h.GoChaincode(fmt.Sprintf("kv%d", i), fmt.Sprintf("benchkv_%d", i), "1", v.kvDir)
		if err := resultErr("package "+cc.Label, v.h.Package(&cc)); err != nil {
			return err
		}
		if v.buildCache != "" {
			if err := os.RemoveAll(v.buildCache); err != nil {
				return fmt.Errorf("emptying the build cache: %w", err)
			}
		}
		installed := time.Now()
		r := v.h.Install(cc, v.org1())
		if err := resultErr("install on Org1", r); err != nil {
			return err
		}
		v.add(sInstallBuild, r.Duration.Seconds())
		v.buildPhases(w, v.org1(), cc, installed, installed.Add(r.Duration))
		r = v.h.Install(cc, v.org2())
		if err := resultErr("install on Org2", r); err != nil {
			return err
		}
		v.add(sInstallSecond, r.Duration.Seconds())
		if err := parallel(2, 2, func(j int) error { return resultErr("approve", v.approve(cc, v.h.Peers[j])) }); err != nil {
			return err
		}
		nwo.CheckCommitReadinessUntilReady(v.n, network.ChannelName, cc, v.n.PeerOrgs(), v.h.Peers...)
		if n, _, err := v.launches(v.org1(), cc.PackageID); err != nil || n != 0 {
			return fmt.Errorf("%s launched before its commit (%v launches, %v)", cc.PackageID, n, err)
		}

		// A client asks Org2's gateway from the start of the commit until
		// the chaincode answers (before the definition lands it fails at once).
		t0 := time.Now()
		queried := make(chan firstAnswer, 1)
		go func() {
			ctx, cancel := context.WithTimeout(v.ctx, 5*time.Minute)
			defer cancel()
			for {
				qctx, qcancel := context.WithTimeout(ctx, time.Minute)
				_, err := v.gw[v.org2().ID()].EvaluateOn(qctx, v.mspOf(v.org2()), cc.Name, "version")
				qcancel()
				if err == nil {
					queried <- firstAnswer{after: time.Since(t0)}
					return
				}
				if ctx.Err() != nil {
					queried <- firstAnswer{err: fmt.Errorf("no answer from %s on Org2 within 5m: %v", cc.Name, err)}
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		// Org1's launch is watched from the start of the commit too: the
		// time the bench sees it end is the registration of the launch's
		// phases, which must not wait for the commit CLI to return.
		registered := make(chan launchSeen, 1)
		go func() {
			_, ok, err := v.waitLaunches(v.org1(), cc.PackageID, 0, v.n.EventuallyTimeout+6*time.Minute)
			registered <- launchSeen{at: time.Now(), ok: ok, err: err}
		}()
		if err := resultErr("commit", v.commit(cc)); err != nil {
			return err
		}
		seen := <-registered
		if seen.err != nil || !seen.ok {
			return fmt.Errorf("%s did not register on Org1 within 5m after its commit (%v)", cc.PackageID, seen.err)
		}
		_, sum, err := v.launches(v.org1(), cc.PackageID)
		if err != nil {
			return err
		}
		v.add(sFirstLaunchPeer, sum)
		if v.vm == "k8s" {
			// The image was built by a Job and pushed; the node pulls it at
			// the first launch (DockerVM builds it on its own daemon).
			if d, err := v.imagePull(v.org1(), cc.PackageID); err != nil {
				v.note("image pull of %s not found: %v", cc.Label, err)
			} else {
				v.add(sFirstLaunchPull, d.Seconds())
			}
		}
		q := <-queried
		if q.err != nil {
			return q.err
		}
		v.add(sFirstLaunchQuery, q.after.Seconds())
		v.launchPhases(w, v.org1(), cc, seen.at, time.Duration(sum*float64(time.Second)))
		v.kv = append(v.kv, cc)
		v.running++
		step("%s: %s: install %.1fs (Org1), %.1fs (Org2); launch %.2fs (peer), commit → first answer %.2fs",
			v.vm, cc.Label, v.r.Samples[sInstallBuild][i-1], v.r.Samples[sInstallSecond][i-1], sum, v.r.Samples[sFirstLaunchQuery][i-1])
	}
	if v.vm == "docker" {
		v.note("DockerVM names images after the peer (<network>-<peer>-<package ID>-<hash>), so the second peer's install builds the image again")
	} else {
		v.note("the k8s VM names images after the package, so the second peer's install finds the image in the registry and builds nothing")
	}
	return nil
}

// firstAnswer is when a client first had an answer from a chaincode, from
// the start of its commit.
type firstAnswer struct {
	after time.Duration
	err   error
}

// launchSeen is when the bench first saw a launch in the peer's metrics.
type launchSeen struct {
	at  time.Time
	ok  bool
	err error
}

// rebuild installs on Org1, one after another, N packages that each differ
// from the package built before them by one source line (kv's Build
// constant), with the same vendored dependencies. With the k8s VM's build
// cache only the changed package is compiled again; DockerVM has no cache
// and builds from scratch. The packages are installed only (not committed).
func (v *vmRun) rebuild() error {
	for i := 1; i <= v.c.N; i++ {
		dir := filepath.Join(v.c.Work, fmt.Sprintf("%s-rebuild-%d", v.vm, i))
		// CopyTree leaves vendor/ out (it copies sources); the build has no
		// module proxy, so the vendored dependencies are copied too.
		if err := network.CopyTree(v.kvDir, dir); err != nil {
			return err
		}
		if err := network.CopyTree(filepath.Join(v.kvDir, "vendor"), filepath.Join(dir, "vendor")); err != nil {
			return err
		}
		if err := network.SetKVBuild(dir, fmt.Sprintf("rebuild-%d", i)); err != nil {
			return err
		}
		cc := v.h.GoChaincode(fmt.Sprintf("rb%d", i), fmt.Sprintf("benchrb_%d", i), "1", dir)
		if err := resultErr("package "+cc.Label, v.h.Package(&cc)); err != nil {
			return err
		}
		r := v.h.Install(cc, v.org1())
		if err := resultErr("install on Org1", r); err != nil {
			return err
		}
		v.add(sRebuild, r.Duration.Seconds())
		step("%s: %s: rebuild %.1fs", v.vm, cc.Label, r.Duration.Seconds())
	}
	return nil
}
