/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite testdata/caliper/*.golden.yaml")

func TestCaliperSettings(t *testing.T) {
	full := &config{Repo: "/repo", Clients: 8, Load: 2 * time.Minute}
	quick := &config{Repo: "/repo", Clients: 8, Load: 15 * time.Second, Quick: true}
	for _, tc := range []struct {
		name string
		c    *config
		env  map[string]string
		want caliperSettings
		err  string
	}{
		{name: "full", c: full, want: caliperSettings{Enabled: true, Round: time.Minute, Workers: 4, CreateTPS: 50, ReadTPS: 100, Load: 8, Cache: "/repo/.build/caliper"}},
		{name: "quick", c: quick, want: caliperSettings{Enabled: true, Round: 5 * time.Second, Workers: 4, CreateTPS: 50, ReadTPS: 100, Load: 8, Cache: "/repo/.build/caliper"}},
		{name: "fewer clients than workers", c: &config{Repo: "/repo", Clients: 2, Load: 30 * time.Second},
			want: caliperSettings{Enabled: true, Round: 15 * time.Second, Workers: 2, CreateTPS: 50, ReadTPS: 100, Load: 2, Cache: "/repo/.build/caliper"}},
		{name: "overrides", c: full, env: map[string]string{"BENCH_CALIPER": "0", "BENCH_CALIPER_SECONDS": "7", "BENCH_CALIPER_WORKERS": "8",
			"BENCH_CALIPER_CREATE_TPS": "20", "BENCH_CALIPER_READ_TPS": "300", "BENCH_CALIPER_CACHE": "/cache"},
			want: caliperSettings{Enabled: false, Round: 7 * time.Second, Workers: 8, CreateTPS: 20, ReadTPS: 300, Load: 8, Cache: "/cache"}},
		{name: "more workers than clients", c: full, env: map[string]string{"BENCH_CALIPER_WORKERS": "9"}, err: "from 1 to 8"},
		{name: "bad rate", c: full, env: map[string]string{"BENCH_CALIPER_READ_TPS": "fast"}, err: "BENCH_CALIPER_READ_TPS"},
		{name: "bad seconds", c: full, env: map[string]string{"BENCH_CALIPER_SECONDS": "0"}, err: "BENCH_CALIPER_SECONDS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := caliperSettingsFrom(tc.c, func(k string) string { return tc.env[k] })
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			tc.want.RoundSeconds = tc.want.Round.Seconds()
			require.Equal(t, tc.want, s)
		})
	}
}

// syntheticCaliperNet is a two-org network as caliperNetwork derives it from nwo.
func syntheticCaliperNet() caliperNet {
	org := func(n int, port string) caliperOrg {
		o := "org" + string(rune('0'+n))
		return caliperOrg{
			Name: "Org" + string(rune('0'+n)), MSPID: "Org" + string(rune('0'+n)) + "MSP", Identity: "User1",
			Cert: "/net/crypto/peerOrganizations/" + o + ".example.com/users/User1@" + o + ".example.com/msp/signcerts/User1@" + o + ".example.com-cert.pem",
			Key:  "/net/crypto/peerOrganizations/" + o + ".example.com/users/User1@" + o + ".example.com/msp/keystore/priv_sk",
			Peers: []caliperPeer{{Name: "peer0." + o + ".example.com", Address: "127.0.0.1:" + port,
				TLSCA: "/net/crypto/peerOrganizations/" + o + ".example.com/peers/peer0." + o + ".example.com/tls/ca.crt"}},
		}
	}
	// Org2 first: the invoker's organization must come first all the same.
	return caliperNet{Name: "fabric-peer-k8s-bench-k8s", Channel: "testchannel", Chaincode: "kv1", Invoker: "Org1MSP", Identity: "User1",
		Orgs: []caliperOrg{org(2, "20061"), org(1, "20051")}}
}

func TestCaliperConfigGolden(t *testing.T) {
	n := syntheticCaliperNet()
	s := caliperSettings{Round: 5 * time.Second, Workers: 4, CreateTPS: 50, ReadTPS: 100, Load: 8}
	rounds := caliperRounds(s)
	dir := t.TempDir()
	files, err := writeCaliperConfig(dir, n, s, rounds, "/repo/integration/bench/caliper/workload/kv.js", "/work/caliper-k8s/records")
	require.NoError(t, err)
	require.Len(t, files.Profiles, 2)
	for _, name := range []string{"networkconfig.yaml", "benchconfig.yaml", "connection-org1.yaml", "connection-org2.yaml"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		// The profiles' directory is this test's.
		got = []byte(strings.ReplaceAll(string(got), dir, "/out/caliper-k8s"))
		golden := filepath.Join("testdata", "caliper", strings.TrimSuffix(name, ".yaml")+".golden.yaml")
		if *update {
			require.NoError(t, os.WriteFile(golden, got, 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "go test -update writes %s", golden)
		require.Equal(t, string(want), string(got), "%s differs from %s (go test -update rewrites it)", name, golden)
	}

	// What Caliper reads of them.
	var nc calNetworkConfig
	b, err := os.ReadFile(files.Network)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &nc))
	require.Equal(t, "2.0.0", nc.Version)
	require.Equal(t, "fabric", nc.Caliper.Blockchain)
	require.Equal(t, []calChannel{{ChannelName: "testchannel", Contracts: []calContract{{ID: "kv1"}}}}, nc.Channels)
	require.Len(t, nc.Organizations, 2)
	require.Equal(t, "Org1MSP", nc.Organizations[0].MSPID, "the invoker's organization is Caliper's default")
	require.Equal(t, filepath.Join(dir, "connection-org1.yaml"), nc.Organizations[0].ConnectionProfile.Path)
	require.Equal(t, n.Orgs[1].Key, nc.Organizations[0].Identities.Certificates[0].ClientPrivateKey.Path)

	var cp calProfile
	b, err = os.ReadFile(nc.Organizations[0].ConnectionProfile.Path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &cp))
	require.Equal(t, []string{"peer0.org1.example.com"}, cp.Organizations["Org1"].Peers)
	require.Equal(t, "grpcs://127.0.0.1:20051", cp.Peers["peer0.org1.example.com"].URL)
	require.Equal(t, "peer0.org1.example.com", cp.Peers["peer0.org1.example.com"].GRPCOptions["ssl-target-name-override"])

	var bc calBenchConfig
	b, err = os.ReadFile(files.Bench)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &bc))
	require.Equal(t, 4, bc.Test.Workers.Number)
	var got []string
	for _, r := range bc.Test.Rounds {
		got = append(got, r.Label+" "+r.RateControl.Type)
		require.Equal(t, 5, r.TxDuration)
		require.Equal(t, r.Label, r.Workload.Arguments.Round)
		require.Equal(t, "Org1MSP", r.Workload.Arguments.InvokerMSPID)
	}
	require.Equal(t, []string{"create-fixed-rate fixed-rate", "create-fixed-load fixed-load", "read-fixed-rate fixed-rate", "read-fixed-load fixed-load"}, got)
	require.Equal(t, map[string]int{"tps": 50}, bc.Test.Rounds[0].RateControl.Opts)
	require.Equal(t, map[string]int{"transactionLoad": 8}, bc.Test.Rounds[3].RateControl.Opts)
	require.Equal(t, []string{"create-fixed-rate", "create-fixed-load"}, bc.Test.Rounds[2].Workload.Arguments.KeysFrom)
}

// TestCaliperNetworkFromNwo derives Caliper's view of the bench's network
// from nwo's (configured, not started) with the users' keys where cryptogen
// leaves them.
func TestCaliperNetworkFromNwo(t *testing.T) {
	network.UsePanicFailHandler()
	n := nwo.New(nwo.BasicEtcdRaft(), t.TempDir(), nil, 30000, &nwo.Components{})
	peers := []*nwo.Peer{n.Peer("Org1", "peer0"), n.Peer("Org2", "peer0")}
	for _, p := range peers {
		ks := filepath.Join(n.PeerUserMSPDir(p, "User1"), "keystore")
		require.NoError(t, os.MkdirAll(ks, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(ks, "priv_sk"), nil, 0o600))
	}
	v := &vmRun{vm: "docker", n: n, h: &network.Harness{Network: n, Peers: peers}, kv: []nwo.Chaincode{{Name: "kv1"}, {Name: "kv2"}}}
	got := v.caliperNetwork()
	require.Equal(t, "fabric-peer-k8s-bench-docker", got.Name)
	require.Equal(t, network.ChannelName, got.Channel)
	require.Equal(t, "kv1", got.Chaincode)
	require.Equal(t, "Org1MSP", got.Invoker)
	require.Equal(t, "User1", got.Identity)
	require.Len(t, got.Orgs, 2)
	for i, o := range got.Orgs {
		p := peers[i]
		require.Equal(t, p.Organization, o.Name)
		require.Equal(t, p.Organization+"MSP", o.MSPID)
		require.Equal(t, n.PeerUserCert(p, "User1"), o.Cert)
		require.Equal(t, filepath.Join(n.PeerUserMSPDir(p, "User1"), "keystore", "priv_sk"), o.Key)
		require.Equal(t, []caliperPeer{{
			Name:    "peer0." + strings.ToLower(p.Organization) + ".example.com",
			Address: n.PeerAddress(p, nwo.ListenPort),
			TLSCA:   filepath.Join(n.PeerLocalTLSDir(p), "ca.crt"),
		}}, o.Peers)
		require.True(t, strings.HasPrefix(o.Peers[0].Address, "127.0.0.1:"), o.Peers[0].Address)
	}
	_, err := writeCaliperConfig(t.TempDir(), got, caliperSettings{Round: 5 * time.Second, Workers: 4}, caliperRounds(caliperSettings{CreateTPS: 1, ReadTPS: 1, Load: 1}), "/w.js", "/r")
	require.NoError(t, err)
}

func TestCaliperConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*caliperNet)
		err  string
	}{
		{"no key", func(n *caliperNet) { n.Orgs[0].Key = "" }, "no identity certificate and key"},
		{"no peer", func(n *caliperNet) { n.Orgs[1].Peers = nil }, "Org1MSP has no peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := syntheticCaliperNet()
			tc.edit(&n)
			_, err := writeCaliperConfig(t.TempDir(), n, caliperSettings{Round: time.Second, Workers: 1}, caliperRounds(caliperSettings{}), "/w.js", "/r")
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestCaliperRoundStats(t *testing.T) {
	dir := filepath.Join("testdata", "caliper", "records")
	for _, tc := range []struct {
		round             string
		files             int
		ok, failed, errs  int
		tps, send, secs   float64
		min, p50, p95, mx float64
	}{
		// Successful latencies 40, 30, 50, 20, 10 ms; first create 1000,
		// last final 2000, last create 1990.
		{round: "create-fixed-rate", files: 2, ok: 5, failed: 1, tps: 5, send: 6 / 0.99, secs: 1, min: 10, p50: 30, p95: 48, mx: 50},
		// The error record counts for neither the span nor the latencies.
		{round: "read-fixed-rate", files: 1, ok: 1, errs: 1, tps: 250, secs: 0.004, min: 4, p50: 4, p95: 4, mx: 4},
		{round: "read-fixed-load"},
	} {
		t.Run(tc.round, func(t *testing.T) {
			recs, files, err := readCaliperRecords(dir, tc.round)
			require.NoError(t, err)
			require.Equal(t, tc.files, files)
			r := caliperRoundStats(caliperRound{Label: tc.round, Rate: "fixed-rate", TPS: 10}, recs)
			require.Equal(t, "fixed-rate, 10 tx/s", r.RateControl)
			require.Equal(t, []int{tc.ok, tc.failed, tc.errs}, []int{r.OK, r.Failed, r.Errors})
			require.InDelta(t, tc.tps, r.TPS, 1e-9)
			require.InDelta(t, tc.send, r.SendRate, 1e-9)
			require.InDelta(t, tc.secs, r.Seconds, 1e-9)
			if tc.ok == 0 {
				require.Nil(t, r.LatencyMs)
				return
			}
			require.Equal(t, tc.ok, r.LatencyMs.N)
			require.InDeltaSlice(t, []float64{tc.min, tc.p50, tc.p95, tc.mx}, []float64{r.LatencyMs.Min, r.LatencyMs.P50, r.LatencyMs.P95, r.LatencyMs.Max}, 1e-9)
		})
	}
	_, _, err := readCaliperRecords(t.TempDir(), "x")
	require.NoError(t, err)
	bad := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bad, "x.w0.jsonl"), []byte("{\"status\":\"success\"}\nnot json\n"), 0o644))
	_, _, err = readCaliperRecords(bad, "x")
	require.ErrorContains(t, err, "x.w0.jsonl:2")
}

func TestParseCaliperLog(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "caliper", "caliper.log"))
	require.NoError(t, err)
	l := parseCaliperLog(string(b))
	require.Equal(t, []string{"create-fixed-rate", "read-fixed-rate"}, l.Started)
	require.Equal(t, map[string]bool{"create-fixed-rate": true}, l.Finished)
	require.Equal(t, map[string]string{"read-fixed-rate": "Error: No contracts for invokerIdentity User9"}, l.Failed)
	require.Equal(t, map[string]*CaliperSummary{"create-fixed-rate": {Succ: 5, Fail: 1, SendRate: 6.1, MaxLatency: 0.05, MinLatency: 0.01, AvgLatency: 0.03, Throughput: 6}}, l.Summary)
	require.Equal(t, "", l.Current())

	for _, tc := range []struct {
		log, current string
	}{
		{"", ""},
		{"x [round-orchestrator] \tStarted round 1 (create-fixed-rate)\n", "create-fixed-rate"},
		{"Started round 1 (a)\nFinished round 1 (a) in 3.1 seconds\nStarted round 2 (b)\n", "b"},
		{"Started round 1 (a)\nFailed round 1 (a): boom\n", ""},
	} {
		require.Equal(t, tc.current, parseCaliperLog(tc.log).Current(), "%q", tc.log)
	}
	// A round with no successful transaction has "-" latencies.
	l = parseCaliperLog("| Name | Succ | Fail | Send Rate (TPS) | Max Latency (s) | Min Latency (s) | Avg Latency (s) | Throughput (TPS) |\n| r | 0 | 7 | 3.5 | - | - | - | 3.4 |\n")
	require.Equal(t, &CaliperSummary{Fail: 7, SendRate: 3.5, Throughput: 3.4}, l.Summary["r"])
}

func TestCrossCheck(t *testing.T) {
	r := CaliperRound{OK: 5, Failed: 1, Seconds: 1, LatencyMs: &CaliperLatency{Avg: 30}}
	for _, tc := range []struct {
		name string
		s    *CaliperSummary
		want string
	}{
		{"agrees", &CaliperSummary{Succ: 5, Fail: 1, Throughput: 6.0, AvgLatency: 0.03}, "ok"},
		{"rounding", &CaliperSummary{Succ: 5, Fail: 1, Throughput: 6.05, AvgLatency: 0.035}, "ok"},
		{"missing", nil, "no row in Caliper's summary"},
		{"counts", &CaliperSummary{Succ: 4, Fail: 2, Throughput: 6.0, AvgLatency: 0.03}, "mismatch: Caliper counted 4 ok and 2 failed, the records 5 and 1"},
		{"throughput", &CaliperSummary{Succ: 5, Fail: 1, Throughput: 7.2, AvgLatency: 0.03}, "mismatch: throughput 7.2 tx/s (Caliper) against 6.00 (records)"},
		{"latency", &CaliperSummary{Succ: 5, Fail: 1, Throughput: 6.0, AvgLatency: 0.05}, "mismatch: average latency 0.05 s (Caliper) against 0.0300 s (records)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, crossCheck(r, tc.s))
		})
	}
}

func TestCollectCaliper(t *testing.T) {
	log := filepath.Join("testdata", "caliper", "caliper.log")
	rounds := []caliperRound{
		{Label: "create-fixed-rate", Op: "create", Rate: "fixed-rate", TPS: 10},
		{Label: "read-fixed-rate", Op: "read", Rate: "fixed-rate", TPS: 10},
		{Label: "read-fixed-load", Op: "read", Rate: "fixed-load", Load: 8},
	}
	res, err := collectCaliper(rounds, filepath.Join("testdata", "caliper", "records"), log)
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "caliper round read-fixed-rate failed (log "+log+"): Error: No contracts for invokerIdentity User9")
	require.Contains(t, msg, "caliper round read-fixed-load: no records in")
	require.NotContains(t, msg, "create-fixed-rate")
	require.Len(t, res.Rounds, 2)
	require.Equal(t, "ok", res.Rounds[0].CrossCheck)
	require.Equal(t, "no row in Caliper's summary", res.Rounds[1].CrossCheck)

	_, err = collectCaliper(rounds, t.TempDir(), filepath.Join(t.TempDir(), "caliper.log"))
	require.ErrorContains(t, err, "caliper's log")
}

// TestCaliperLaunchErrors runs the manager as a stand-in npx that fails or
// hangs in a round: the error names the round and the log.
func TestCaliperLaunchErrors(t *testing.T) {
	bin := t.TempDir()
	script := "#!/bin/sh\necho \"x info [round-orchestrator] \tStarted round 1 (create-fixed-rate)\"\nif [ -n \"$FAKE_HANG\" ]; then sleep 30; fi\necho 'Error: boom' >&2\nexit 3\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "npx"), []byte(script), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, tc := range []struct {
		name, hang string
		want       []string
	}{
		{"exit", "", []string{"caliper manager failed (exit status 3) in round create-fixed-rate (log ", "Error: boom"}},
		{"timeout", "1", []string{"caliper manager timed out after 1s in round create-fixed-rate (log "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("FAKE_HANG", tc.hang)
			dir := t.TempDir()
			l := caliperLaunch{Install: dir, Workspace: dir, Log: filepath.Join(dir, "caliper.log"), Timeout: time.Second}
			start := time.Now()
			err := l.launch(context.Background())
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.Contains(t, err.Error(), l.Log)
			require.Less(t, time.Since(start), 20*time.Second, "the process group is killed at the timeout")
		})
	}
}

// fakeCaliperInstall writes a package.json and lockfile to src and, under
// cache, what caliperInstall leaves there; it returns the install's key.
func fakeCaliperInstall(t *testing.T, src, cache string) string {
	for f, s := range map[string]string{"package.json": `{"name":"x"}`, "package-lock.json": `{"lockfileVersion":3}`} {
		require.NoError(t, os.WriteFile(filepath.Join(src, f), []byte(s), 0o644))
	}
	key, err := caliperInstallKey(src)
	require.NoError(t, err)
	dir := filepath.Join(cache, key)
	for pkg, v := range map[string]string{"@hyperledger/caliper-cli": "0.6.0", "@hyperledger/fabric-gateway": "1.5.0"} {
		p := filepath.Join(dir, "node_modules", pkg)
		require.NoError(t, os.MkdirAll(p, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(p, "package.json"), []byte(`{"version":"`+v+`"}`), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".installed"), nil, 0o644))
	return key
}

// TestCaliperJobManagerFails runs a job whose manager dies in its first
// round: the error is the manager's, naming the round and the log.
func TestCaliperJobManagerFails(t *testing.T) {
	src, cache, out := t.TempDir(), t.TempDir(), t.TempDir()
	fakeCaliperInstall(t, src, cache)
	bin := t.TempDir()
	script := "#!/bin/sh\necho \"x info [round-orchestrator] \tStarted round 1 (create-fixed-rate)\"\nexit 1\n"
	require.NoError(t, os.WriteFile(filepath.Join(bin, "npx"), []byte(script), 0o755))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	j := caliperJob{Settings: caliperSettings{Round: time.Second, Workers: 1, CreateTPS: 1, ReadTPS: 1, Load: 1, Cache: cache},
		Net: syntheticCaliperNet(), Source: src, Out: filepath.Join(out, "caliper-k8s"), Records: filepath.Join(out, "records"), NpmLog: filepath.Join(out, "npm.log")}
	res, err := j.run(context.Background())
	require.EqualError(t, err, "caliper manager failed (exit status 1) in round create-fixed-rate (log "+filepath.Join(j.Out, "caliper.log")+"):\n"+
		"x info [round-orchestrator] \tStarted round 1 (create-fixed-rate)")
	require.NotNil(t, res)
	require.Empty(t, res.Rounds)
	require.Equal(t, "caliper-k8s", res.Dir)
	for _, f := range []string{"networkconfig.yaml", "benchconfig.yaml", "connection-org1.yaml", "summary.json"} {
		require.FileExists(t, filepath.Join(j.Out, f))
	}
}

// TestCaliperInstallCached finds an install keyed on the lockfile without
// running npm.
func TestCaliperInstallCached(t *testing.T) {
	src, cache := t.TempDir(), t.TempDir()
	key := fakeCaliperInstall(t, src, cache)
	require.Regexp(t, `^lock-[0-9a-f]{16}$`, key)
	dir := filepath.Join(cache, key)
	t.Setenv("PATH", t.TempDir()) // no npm: the install must not run it
	inst, err := caliperInstall(context.Background(), src, cache, filepath.Join(t.TempDir(), "npm.log"))
	require.NoError(t, err)
	require.Equal(t, caliperInstalled{Dir: dir, Caliper: "0.6.0", Gateway: "1.5.0"}, inst)
	require.Equal(t, "cached, "+key, inst.Summary())

	// Another lockfile is another install.
	require.NoError(t, os.WriteFile(filepath.Join(src, "package-lock.json"), []byte(`{"lockfileVersion":3,"x":1}`), 0o644))
	other, err := caliperInstallKey(src)
	require.NoError(t, err)
	require.NotEqual(t, key, other)
	_, err = caliperInstall(context.Background(), src, cache, filepath.Join(t.TempDir(), "npm.log"))
	require.ErrorContains(t, err, "npm ci")
}

func TestCaliperReport(t *testing.T) {
	round := func(label, op string, tps, p50, p95 float64) CaliperRound {
		return CaliperRound{Label: label, Op: op, RateControl: "fixed-rate, 50 tx/s", OK: 100, TPS: tps, SendRate: tps,
			LatencyMs: &CaliperLatency{N: 100, Min: 1, P50: p50, P95: p95, Avg: p50, Max: 2 * p95}, CrossCheck: "ok",
			Summary: &CaliperSummary{Succ: 100, Throughput: tps, AvgLatency: p50 / 1000}}
	}
	cal := func(rounds ...CaliperRound) *CaliperResult {
		return &CaliperResult{Caliper: "0.6.0", Gateway: "1.5.0", Install: "cached", Workers: 4, RoundSeconds: 5, Rounds: rounds}
	}
	for _, tc := range []struct {
		name      string
		k, d      *CaliperResult
		tps, lat  string
		measured  string
		figureKey string
		ratio     float64
	}{
		{name: "met", k: cal(round("create-fixed-rate", "create", 49, 40, 60), round("read-fixed-load", "read", 980, 5, 9)),
			d:   cal(round("create-fixed-rate", "create", 50, 38, 58), round("read-fixed-load", "read", 1000, 5, 9)),
			tps: "met", lat: "met", measured: "create-fixed-rate 49.0 vs 50.0 tx/s (×0.98)", figureKey: "caliper_create_fixed_rate_latency_p50", ratio: 40.0 / 38},
		{name: "missed", k: cal(round("create-fixed-rate", "create", 40, 50, 90)), d: cal(round("create-fixed-rate", "create", 50, 40, 60)),
			tps: "missed", lat: "missed", measured: "create-fixed-rate p50 50.0 vs 40.0 ms (×1.25), p95 90.0 vs 60.0 ms (×1.50)", figureKey: "caliper_create_fixed_rate_tps", ratio: 0.8},
		{name: "one round missing", k: cal(round("create-fixed-rate", "create", 50, 40, 60), round("read-fixed-rate", "read", 100, 4, 6)),
			d:   cal(round("create-fixed-rate", "create", 50, 40, 60)),
			tps: "unknown", lat: "unknown", measured: "not measured: read-fixed-rate", figureKey: "caliper_read_fixed_rate_latency_p95"},
		{name: "docker not run", k: cal(round("create-fixed-rate", "create", 50, 40, 60)),
			tps: "unknown", lat: "unknown", measured: "not measured", figureKey: "caliper_create_fixed_rate_tps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Config: &config{Clients: 8}, VMs: map[string]*VMResult{
				"k8s":    {VM: "k8s", Samples: map[string][]float64{}, Caliper: tc.k},
				"docker": {VM: "docker", Samples: map[string][]float64{}, Caliper: tc.d},
			}}
			if tc.d == nil {
				delete(r.VMs, "docker")
			}
			r.compute()
			status := map[string]Target{}
			for _, tg := range r.Targets {
				status[tg.Name] = tg
			}
			tpsT := status["Caliper throughput within 5 % of DockerVM, every round"]
			latT := status["Caliper latency p50 and p95 within 10 % of DockerVM, every round"]
			require.Equal(t, tc.tps, tpsT.Status, "%+v", tpsT)
			require.Equal(t, tc.lat, latT.Status, "%+v", latT)
			require.Contains(t, tpsT.Measured+" | "+latT.Measured, tc.measured)
			f := r.figure(tc.figureKey)
			require.NotNil(t, f, tc.figureKey)
			if tc.ratio != 0 {
				require.NotNil(t, f.Ratio)
				require.InDelta(t, tc.ratio, *f.Ratio, 1e-9)
			}
			md := r.Markdown()
			require.Contains(t, md, "## Caliper")
			require.Contains(t, md, "| k8s | create-fixed-rate | fixed-rate, 50 tx/s | 100 | 0 |")
			require.Contains(t, md, "Caliper 0.6.0, fabric-gateway 1.5.0")
		})
	}
	// No Caliper phase: no section, the targets unknown.
	r := &Report{Config: &config{}, VMs: map[string]*VMResult{}}
	r.compute()
	require.NotContains(t, r.Markdown(), "## Caliper")
	require.Nil(t, r.figure("caliper_create_fixed_rate_tps"))
}
