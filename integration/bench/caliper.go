/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
)

// The Caliper phase: Hyperledger Caliper (integration/bench/caliper, pinned by
// its package-lock.json) drives create and read rounds against kv1 through
// Org1's Fabric Gateway, at a fixed rate and at a fixed load, for both VMs.
// The files are split by concern: caliperconfig.go writes Caliper's network and
// benchmark configuration, caliperinstall.go installs the Node.js packages
// once per lockfile, caliperrun.go runs the manager, caliperresult.go turns the
// workload's per-transaction records into TPS and p50/p95 and checks them
// against Caliper's summary, caliperreport.go puts the rounds into the report.

// caliperSettings configure the Caliper phase (BENCH_CALIPER_*).
type caliperSettings struct {
	Enabled bool `json:"enabled"`
	// Round is the duration of each round.
	Round        time.Duration `json:"-"`
	RoundSeconds float64       `json:"round_seconds"`
	// Workers are Caliper's worker processes (at most Clients).
	Workers int `json:"workers"`
	// CreateTPS and ReadTPS are the fixed-rate rounds' rates (all workers).
	CreateTPS int `json:"create_tps"`
	ReadTPS   int `json:"read_tps"`
	// Load is the fixed-load rounds' backlog of outstanding transactions
	// (all workers): the closed-loop load's client count.
	Load int `json:"transaction_load"`
	// Cache holds the installs, one directory per lockfile hash.
	Cache string `json:"-"`
}

// caliperSettingsFrom derives the settings from the bench's configuration
// and the environment: rounds of half a load phase (5 s in a quick run), at
// most 4 workers (each is a Node.js process on the machine the peers run on).
func caliperSettingsFrom(c *config, getenv func(string) string) (caliperSettings, error) {
	s := caliperSettings{
		Enabled:   getenv("BENCH_CALIPER") != "0",
		Round:     c.Load / 2,
		Workers:   min(c.Clients, 4),
		CreateTPS: 50,
		ReadTPS:   100,
		Load:      c.Clients,
		Cache:     getenv("BENCH_CALIPER_CACHE"),
	}
	if c.Quick {
		s.Round = 5 * time.Second
	}
	s.Round = max(s.Round.Truncate(time.Second), 5*time.Second)
	if s.Cache == "" {
		s.Cache = filepath.Join(c.Repo, ".build", "caliper")
	}
	for _, v := range []struct {
		env string
		dst *int
		max int
	}{{"BENCH_CALIPER_WORKERS", &s.Workers, c.Clients}, {"BENCH_CALIPER_CREATE_TPS", &s.CreateTPS, 0}, {"BENCH_CALIPER_READ_TPS", &s.ReadTPS, 0}} {
		if e := getenv(v.env); e != "" {
			n, err := strconv.Atoi(e)
			if err != nil || n < 1 || (v.max > 0 && n > v.max) {
				if v.max > 0 {
					return s, fmt.Errorf("%s=%q: want an integer from 1 to %d (the client count)", v.env, e, v.max)
				}
				return s, fmt.Errorf("%s=%q: want a positive integer", v.env, e)
			}
			*v.dst = n
		}
	}
	if e := getenv("BENCH_CALIPER_SECONDS"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 {
			return s, fmt.Errorf("BENCH_CALIPER_SECONDS=%q: want a positive number of seconds", e)
		}
		s.Round = time.Duration(n) * time.Second
	}
	if s.Workers < 1 {
		return s, fmt.Errorf("caliper: %d clients: want at least one worker", c.Clients)
	}
	s.RoundSeconds = s.Round.Seconds()
	return s, nil
}

// caliperNetwork is what Caliper's configuration needs of the network.
func (v *vmRun) caliperNetwork() caliperNet {
	n := v.n
	net := caliperNet{
		Name:      "fabric-peer-k8s-bench-" + v.vm,
		Channel:   network.ChannelName,
		Chaincode: v.kv[0].Name,
		Invoker:   n.Organization(v.org1().Organization).MSPID,
		Identity:  "User1",
	}
	// The organizations in the order of the harness's peers (nwo's
	// PeerOrgs has none), so that the files do not change from run to run.
	index := map[string]int{}
	for _, p := range v.h.Peers {
		org := n.Organization(p.Organization)
		i, ok := index[org.Name]
		if !ok {
			i = len(net.Orgs)
			index[org.Name] = i
			net.Orgs = append(net.Orgs, caliperOrg{Name: org.Name, MSPID: org.MSPID, Identity: net.Identity,
				Cert: n.PeerUserCert(p, net.Identity), Key: n.PeerUserKey(p, net.Identity)})
		}
		net.Orgs[i].Peers = append(net.Orgs[i].Peers, caliperPeer{
			Name:    p.Name + "." + org.Domain,
			Address: n.PeerAddress(p, nwo.ListenPort),
			TLSCA:   filepath.Join(n.PeerLocalTLSDir(p), "ca.crt"),
		})
	}
	return net
}

// caliper runs the Caliper rounds against kv1 (committed and warm: the load
// phase ran before) and keeps the result, also when a round failed.
func (v *vmRun) caliper() error {
	if len(v.kv) == 0 {
		return errors.New("no kv chaincode deployed")
	}
	dir := filepath.Join(v.c.Out, "caliper-"+v.vm)
	job := caliperJob{
		Settings: v.c.Caliper,
		Net:      v.caliperNetwork(),
		Source:   filepath.Join(v.c.Repo, "integration", "bench", "caliper"),
		Out:      dir,
		Records:  filepath.Join(v.c.Work, "caliper-"+v.vm, "records"),
		NpmLog:   filepath.Join(v.c.Out, "logs", "caliper-npm-ci.log"),
		OnStart:  atExit,
	}
	res, err := job.run(v.ctx)
	if res != nil {
		v.r.Caliper = res
		for _, r := range res.Rounds {
			step("%s: Caliper %s: %d ok, %d failed, %.1f tx/s, latency p50 %s ms, p95 %s ms (%s)", v.vm, r.Label, r.OK, r.Failed, r.TPS,
				fmtNum(r.LatencyMs.p50()), fmtNum(r.LatencyMs.p95()), r.CrossCheck)
		}
	}
	return err
}

// caliperJob is one Caliper run: install, configuration, manager, results.
type caliperJob struct {
	Settings caliperSettings
	Net      caliperNet
	// Rounds default to caliperRounds(Settings).
	Rounds []caliperRound
	// Source is integration/bench/caliper (package.json, package-lock.json
	// and the workload module).
	Source string
	// Out receives the configuration, caliper.log, report.html and
	// summary.json; Records the workload's per-transaction files.
	Out, Records string
	NpmLog       string
	// OnStart registers a function that stops the manager's process group
	// when the bench is interrupted (atExit).
	OnStart func(func())
}

// run installs Caliper if needed, writes its configuration, runs the rounds
// and reads their records. The result holds what could be measured even when
// err says that a round failed.
func (j caliperJob) run(ctx context.Context) (*CaliperResult, error) {
	start := time.Now()
	for _, d := range []string{j.Out, j.Records} {
		// Files of an earlier run must not pass for this one's.
		if err := os.RemoveAll(d); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	inst, err := caliperInstall(ctx, j.Source, j.Settings.Cache, j.NpmLog)
	if err != nil {
		return nil, fmt.Errorf("installing Caliper (log %s): %w", j.NpmLog, err)
	}
	rounds := j.Rounds
	if rounds == nil {
		rounds = caliperRounds(j.Settings)
	}
	files, err := writeCaliperConfig(j.Out, j.Net, j.Settings, rounds, filepath.Join(j.Source, "workload", "kv.js"), j.Records)
	if err != nil {
		return nil, fmt.Errorf("writing Caliper's configuration: %w", err)
	}
	run := caliperLaunch{
		Install:       inst.Dir,
		Workspace:     j.Out,
		NetworkConfig: files.Network,
		BenchConfig:   files.Bench,
		Report:        filepath.Join(j.Out, "report.html"),
		Log:           filepath.Join(j.Out, "caliper.log"),
		Timeout:       caliperTimeout(j.Settings.Round, len(rounds)),
		OnStart:       j.OnStart,
	}
	runErr := run.launch(ctx)
	res, err := collectCaliper(rounds, j.Records, run.Log)
	if runErr != nil {
		// The rounds that did not run have no records: the manager's
		// error, which names the round it was in, says it all.
		err = runErr
	}
	if res == nil {
		return nil, err
	}
	res.Caliper, res.Gateway, res.Install = inst.Caliper, inst.Gateway, inst.Summary()
	res.Dir = filepath.Base(j.Out)
	res.Workers, res.RoundSeconds = j.Settings.Workers, j.Settings.Round.Seconds()
	res.Seconds = time.Since(start).Seconds()
	b, merr := json.MarshalIndent(res, "", "  ")
	if merr == nil {
		merr = os.WriteFile(filepath.Join(j.Out, "summary.json"), b, 0o644)
	}
	if merr != nil {
		err = errors.Join(err, fmt.Errorf("writing summary.json: %w", merr))
	}
	return res, err
}

// caliperTimeout bounds a manager run: each round, Caliper's 5 s between
// rounds, a minute per round for preparing the workers and draining the
// outstanding transactions, and two minutes for starting and reporting.
func caliperTimeout(round time.Duration, rounds int) time.Duration {
	return time.Duration(rounds)*(round+5*time.Second+time.Minute) + 2*time.Minute
}
