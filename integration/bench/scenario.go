/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/core/container/dockercontroller"
	"github.com/hyperledger/fabric/integration/nwo"
	"github.com/hyperledger/fabric/integration/nwo/commands"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Sample names (seconds unless the name says otherwise).
const (
	sFloor            = "floor"
	sFirstLaunchPeer  = "first_launch_peer"
	sFirstLaunchQuery = "first_launch_query"
	sFirstLaunchPull  = "first_launch_image_pull"
	sInstallBuild     = "install_build"
	sInstallSecond    = "install_second_peer"
	sRebuild          = "rebuild"
	sRelaunchQuiet    = "relaunch_no_traffic"
	sRelaunchRequest  = "relaunch_on_request"
	sInstallMany      = "install_many"
	sLaunchMany       = "launch_many"
)

// VMResult is everything measured for one VM.
type VMResult struct {
	VM      string               `json:"vm"`
	Samples map[string][]float64 `json:"samples"`
	// NoTraffic: how many SIGKILLed chaincodes registered again without a
	// request within NoTrafficBoundSeconds.
	NoTrafficKilled       int         `json:"no_traffic_killed"`
	NoTrafficRelaunched   int         `json:"no_traffic_relaunched"`
	NoTrafficBoundSeconds float64     `json:"no_traffic_bound_seconds"`
	Invoke                *LoadResult `json:"invoke,omitempty"`
	Query                 *LoadResult `json:"query,omitempty"`
	// ManyBatches: chaincodes installed in one go on one peer and the time
	// from the first install until all had registered.
	ManyBatches []ManyBatch `json:"many_batches,omitempty"`
	Rest        []RestPoint `json:"rest,omitempty"`
	// PeerAPIRequests are all Kubernetes API requests of each peer over the
	// whole run (builds, launches, relaunches, at rest), by verb (k8s).
	PeerAPIRequests map[string]map[string]int64 `json:"peer_api_requests,omitempty"`
	// Builds is what the second-peer install did (k8s: image found in the
	// registry; docker: built again).
	// OtherNamespaces are test namespaces of other runs seen on the shared
	// cluster during this VM's run (k8s), LoadAvg the 1-minute load average
	// at the start of each phase.
	OtherNamespaces []string  `json:"other_namespaces,omitempty"`
	LoadAvg         []float64 `json:"load_avg,omitempty"`
	Notes           []string  `json:"notes,omitempty"`
	Errors          []string  `json:"errors,omitempty"`
	Seconds         float64   `json:"seconds"`
}

// ManyBatch is one batch of the many-chaincodes phase.
type ManyBatch struct {
	Chaincodes            int     `json:"chaincodes"`
	RunningBefore         int     `json:"running_before"`
	AllRegisteredSeconds  float64 `json:"all_registered_seconds"`
	InstallsSeconds       float64 `json:"installs_seconds"`
	RegisteredWithinBound bool    `json:"registered"`
}

// RestPoint is the state at rest with Chaincodes running on Org1's peer.
type RestPoint struct {
	Chaincodes     int     `json:"chaincodes"`
	WindowSeconds  float64 `json:"window_seconds"`
	PeerRSSMiB     float64 `json:"peer_rss_mib"`
	PeerGoroutines float64 `json:"peer_goroutines"`
	PeerFDs        int     `json:"peer_fds"`
	PeerThreads    int     `json:"peer_threads"`
	// APIRequestsPerMin is kube-apiserver's apiserver_request_total over the
	// window, by verb (k8s only; the whole cluster, see OtherNamespaces).
	APIRequestsPerMin      map[string]float64 `json:"api_requests_per_min,omitempty"`
	APIRequestsPerMinTotal *float64           `json:"api_requests_per_min_total,omitempty"`
	// OtherNamespaces counts test namespaces of other runs on the shared
	// cluster during the window (their traffic is in the figures).
	OtherNamespaces *int `json:"other_namespaces,omitempty"`
	// PeerAPIRequestsPerMin are the requests of Org1's peer itself (counted
	// by a proxy in front of the API server), by verb; Org2PeerAPIRequestsPerMin
	// is the total of the other peer.
	PeerAPIRequestsPerMin      map[string]float64 `json:"peer_api_requests_per_min,omitempty"`
	PeerAPIRequestsPerMinTotal *float64           `json:"peer_api_requests_per_min_total,omitempty"`
	Org2APIRequestsPerMinTotal *float64           `json:"org2_peer_api_requests_per_min_total,omitempty"`
	LoadAvg1                   float64            `json:"load_avg_1m"`
	DockerdRSSMiB              *float64           `json:"dockerd_rss_mib,omitempty"`
	ContainerdMiB              *float64           `json:"docker_containerd_rss_mib,omitempty"`
}

// vmRun is one VM's network and the clients measuring it.
type vmRun struct {
	c     *config
	vm    string
	r     *VMResult
	h     *network.Harness
	n     *nwo.Network
	kube  *network.Kube
	dock  *Dockerd
	proxy map[string]*apiProxy // by peer ID (k8s)
	seen  map[string]bool
	ops   map[string]*http.Client
	gw    map[string]*gatewayClient
	ctx   context.Context
	kvDir string
	// buildCache is the host directory of the k8s peers' build cache.
	buildCache string

	kv []nwo.Chaincode // the N kv chaincodes, kv1..kvN
	// running counts chaincodes running on Org1.
	running int
	// otherNS are namespaces of other runs seen at the start (k8s).
	ns string
}

func (v *vmRun) org1() *nwo.Peer { return v.h.Org1Peer() }
func (v *vmRun) org2() *nwo.Peer { return v.h.Org2Peer() }

// mspOf is the MSP ID of p's organization (for targeted evaluations: a
// query must not launch the chaincode on the other peer).
func (v *vmRun) mspOf(p *nwo.Peer) []string {
	return []string{v.n.Organization(p.Organization).MSPID}
}

func (v *vmRun) errorf(format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	v.r.Errors = append(v.r.Errors, msg)
	step("%s: ERROR %s", v.vm, msg)
}

func (v *vmRun) note(format string, args ...interface{}) {
	v.r.Notes = append(v.r.Notes, fmt.Sprintf(format, args...))
}

// phase runs f, turning a Gomega failure (nwo, harness) or an error into an
// entry of Errors; it reports whether f succeeded.
func (v *vmRun) phase(name string, f func() error) (ok bool) {
	step("%s: %s", v.vm, name)
	v.r.LoadAvg = append(v.r.LoadAvg, loadAvg1())
	v.noteOtherNamespaces()
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			if fl, isFailure := r.(network.Failure); isFailure {
				v.errorf("%s: %s", name, firstLines(fl.Message, 12))
			} else {
				v.errorf("%s: panic: %v\n%s", name, r, debug.Stack())
			}
			ok = false
		}
	}()
	if err := f(); err != nil {
		v.errorf("%s: %v", name, err)
		return false
	}
	step("%s: %s done in %s", v.vm, name, time.Since(start).Round(100*time.Millisecond))
	return true
}

func firstLines(s string, n int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > n {
		parts = append(parts[:n], "...")
	}
	return strings.Join(parts, "\n")
}

func (v *vmRun) add(name string, secs float64) {
	v.r.Samples[name] = append(v.r.Samples[name], secs)
}

// runVM runs every measurement on a fresh network of the given VM.
func runVM(ctx context.Context, c *config, vm, kvDir string) *VMResult {
	v := &vmRun{c: c, vm: vm, r: &VMResult{VM: vm, Samples: map[string][]float64{}}, ctx: ctx, kvDir: kvDir}
	start := time.Now()
	defer func() { v.r.Seconds = time.Since(start).Seconds() }()

	var teardown []func()
	done := func() {
		for i := len(teardown) - 1; i >= 0; i-- {
			teardown[i]()
		}
		teardown = nil
	}
	var once sync.Once
	stop := func() { once.Do(done) }
	atExit(stop)
	defer stop()

	if !v.phase("setting up", func() error { return v.setup(&teardown) }) {
		return v.r
	}
	if !v.phase("starting the network", func() error { v.h.Start(); return v.clients() }) {
		return v.r
	}
	v.phase("at rest with no chaincode", func() error { return v.rest(0) })
	v.phase("floor: "+map[string]string{"k8s": "bare pod create → Running", "docker": "bare docker run --network host"}[vm], v.floor)
	if !v.phase(fmt.Sprintf("deploying %d kv chaincodes (install with build on Org1, install on Org2, commit → launch)", c.N), v.deploy) {
		return v.r
	}
	v.phase(fmt.Sprintf("rebuilding %d one-line changes on Org1", c.N), v.rebuild)
	v.phase("SIGKILL of Org1's chaincode processes, no traffic", v.relaunchQuiet)
	v.phase("SIGKILL of Org2's chaincode processes, then requests until served", v.relaunchOnRequest)
	v.phase(fmt.Sprintf("at rest with %d chaincodes", v.running), func() error { return v.rest(v.running) })
	v.phase(fmt.Sprintf("%d more chaincodes on Org1", c.Many), v.many)
	v.phase(fmt.Sprintf("load: %d clients invoking, then querying, %s each", c.Clients, c.Load), v.load)
	if len(v.proxy) > 0 {
		v.r.PeerAPIRequests = map[string]map[string]int64{}
		for id, p := range v.proxy {
			v.r.PeerAPIRequests[id] = p.Counts()
		}
	}
	return v.r
}

// setup creates the namespace (k8s) or starts dockerd (docker) and prepares
// the harness.
func (v *vmRun) setup(teardown *[]func()) error {
	pc := network.DefaultPeerConfig(v.c.Kubeconfig, "")
	opts := network.Options{RepoRoot: v.c.Repo, RootDir: filepath.Join(v.c.Work, v.vm), EventuallyTimeout: 3 * time.Minute}
	switch v.vm {
	case "k8s":
		v.ns = "fpk-bench-" + v.c.RunID
		kube, err := network.NewKube(v.c.Kubeconfig, v.ns)
		if err != nil {
			return err
		}
		if err := kube.Ping(v.ctx); err != nil {
			return fmt.Errorf("cluster (%s): %w", v.c.Kubeconfig, err)
		}
		if out, err := exec.Command("ctr", "--address", v.c.Containerd, "version").CombinedOutput(); err != nil {
			return fmt.Errorf("ctr cannot reach the node's containerd at %s (BENCH_CONTAINERD): %v: %s", v.c.Containerd, err, out)
		}
		if err := kube.CreateNamespace(v.ctx); err != nil {
			return err
		}
		v.kube = kube
		*teardown = append(*teardown, func() {
			step("k8s: deleting namespace %s", v.ns)
			_, _ = kube.DeleteManaged(context.Background())
			if err := kube.DeleteNamespace(context.Background(), 3*time.Minute); err != nil {
				step("k8s: %v", err)
			}
		})
		pc.VM.Namespace = v.ns
		opts.Kubeconfig, opts.Namespace = v.c.Kubeconfig, v.ns
		// The build cache is a directory on the node, which is this
		// machine; deploy empties it before each cold build.
		v.buildCache = filepath.Join(v.c.Work, "build-cache")
		pc.VM.Build.Extra = map[string]interface{}{"cache": map[string]interface{}{"hostPath": v.buildCache}}
		v.note("vm.k8s.build.cache: hostPath %s, emptied before each install with a build; the rebuilds find it warm", v.buildCache)
	case "docker":
		dir, err := os.MkdirTemp("", "fpk-bench-docker-")
		if err != nil {
			return err
		}
		d, err := StartDockerd(dir)
		if err != nil {
			os.RemoveAll(dir)
			return err
		}
		v.dock = d
		*teardown = append(*teardown, func() {
			step("docker: stopping dockerd and removing %s", d.Dir)
			_ = os.WriteFile(filepath.Join(v.c.Out, "logs", "dockerd.log"), []byte(tailFile(filepath.Join(d.Dir, "dockerd.log"), 2000)), 0o644)
			if err := d.Stop(); err != nil {
				step("docker: %v", err)
			}
		})
		ver, _ := d.Run(10*time.Second, "version", "--format", "{{.Server.Version}}")
		v.note("Docker Engine %s (%s), started by the bench: --iptables=false --bridge=none, chaincode containers on the host network", ver, d.CLI)
		// The images the peer names (chaincode.builder, chaincode.golang.runtime)
		// come from the cluster's registry under the same names.
		for _, img := range []string{pc.CCEnvImage, pc.BaseOSImage} {
			src := strings.Replace(img, "localhost:5000/", network.DefaultRegistryAddr+"/", 1)
			if _, err := d.Run(5*time.Minute, "pull", "-q", src); err != nil {
				return err
			}
			if src != img {
				if _, err := d.Run(time.Minute, "tag", src, img); err != nil {
					return err
				}
			}
		}
		pc.Docker = &network.DockerVMConfig{Endpoint: d.Endpoint()}
	}
	opts.Peer = &pc
	h, err := network.New(opts)
	if err != nil {
		return err
	}
	v.h, v.n = h, h.Network
	if v.vm == "k8s" {
		// Each peer talks to the API server through a counting proxy.
		v.proxy = map[string]*apiProxy{}
		h.Opts.PeerEnvByID = map[string][]string{}
		for _, p := range h.Peers {
			px, err := startAPIProxy(v.c.Kubeconfig)
			if err != nil {
				return err
			}
			v.proxy[p.ID()] = px
			*teardown = append(*teardown, px.Close)
			kc := filepath.Join(v.c.Work, "kubeconfig-"+p.ID())
			if err := px.WriteKubeconfig(kc); err != nil {
				return err
			}
			h.Opts.PeerEnvByID[p.ID()] = []string{"CORE_VM_K8S_KUBECONFIG=" + kc}
		}
	}
	*teardown = append(*teardown, func() {
		step("%s: stopping the network", v.vm)
		_ = h.Stop()
		for _, e := range []string{v.org1().ID() + ".log", v.org2().ID() + ".log", "orderer.log"} {
			if b, err := os.ReadFile(filepath.Join(h.LogDir(), e)); err == nil {
				_ = os.WriteFile(filepath.Join(v.c.Out, "logs", v.vm+"-"+e), b, 0o644)
			}
		}
		for _, g := range v.gw {
			g.Close()
		}
		if !v.c.Keep {
			h.Cleanup()
		}
	})
	return nil
}

func (v *vmRun) clients() error {
	v.ops = map[string]*http.Client{}
	v.gw = map[string]*gatewayClient{}
	for _, p := range v.h.Peers {
		auth, _ := nwo.PeerOperationalClients(v.n, p)
		v.ops[p.ID()] = auth
		g, err := newGatewayClient(v.n, p, "User1", network.ChannelName)
		if err != nil {
			return err
		}
		v.gw[p.ID()] = g
	}
	return nil
}

func (v *vmRun) metrics(p *nwo.Peer) ([]Sample, error) {
	return scrape(v.ctx, v.ops[p.ID()], "https://"+v.n.PeerAddress(p, nwo.OperationsPort)+"/metrics")
}

// launches returns the count and sum of successful chaincode_launch_duration
// observations for ccid on p: Fabric observes one when a launch (by the
// custodian at commit or install, by a request, or by the k8s VM's relaunch)
// ends with the chaincode registered.
func (v *vmRun) launches(p *nwo.Peer, ccid string) (count, sum float64, err error) {
	s, err := v.metrics(p)
	if err != nil {
		return 0, 0, err
	}
	m := map[string]string{"chaincode": ccid, "success": "true"}
	count, _ = sumWhere(s, "chaincode_launch_duration_count", m)
	sum, _ = sumWhere(s, "chaincode_launch_duration_sum", m)
	return count, sum, nil
}

// waitLaunches polls until p has observed more than `above` successful
// launches of ccid, or bound passes; it returns the time it took.
func (v *vmRun) waitLaunches(p *nwo.Peer, ccid string, above float64, bound time.Duration) (time.Duration, bool, error) {
	start := time.Now()
	for {
		n, _, err := v.launches(p, ccid)
		if err != nil {
			return 0, false, err
		}
		if n > above {
			return time.Since(start), true, nil
		}
		if time.Since(start) > bound {
			return time.Since(start), false, nil
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// rest samples the idle state for one window: kube-apiserver request counts
// (k8s), the peer's memory, goroutines and descriptors, dockerd's memory.
func (v *vmRun) rest(count int) error {
	pt := RestPoint{Chaincodes: count, WindowSeconds: v.c.Rest.Seconds()}
	pt.LoadAvg1 = loadAvg1()
	var before []Sample
	var err error
	var proxyBefore map[string]map[string]int64
	if v.kube != nil {
		if before, err = v.apiserverMetrics(); err != nil {
			return err
		}
		proxyBefore = map[string]map[string]int64{}
		for id, p := range v.proxy {
			proxyBefore[id] = p.Counts()
		}
	}
	t0 := time.Now()
	time.Sleep(v.c.Rest)
	if v.kube != nil {
		win := time.Since(t0).Minutes()
		for id, p := range v.proxy {
			after := p.Counts()
			per := map[string]float64{}
			total := 0.0
			for verb, n := range after {
				if d := n - proxyBefore[id][verb]; d > 0 {
					per[verb] = float64(d) / win
					total += float64(d) / win
				}
			}
			if id == v.org1().ID() {
				pt.PeerAPIRequestsPerMin, pt.PeerAPIRequestsPerMinTotal = per, &total
			} else {
				pt.Org2APIRequestsPerMinTotal = &total
			}
		}
		after, err := v.apiserverMetrics()
		if err != nil {
			return err
		}
		b, a := sumBy(before, "apiserver_request_total", "verb"), sumBy(after, "apiserver_request_total", "verb")
		pt.APIRequestsPerMin = map[string]float64{}
		total := 0.0
		for verb, n := range a {
			if d := n - b[verb]; d > 0 {
				pt.APIRequestsPerMin[verb] = d / win
				total += d / win
			}
		}
		pt.APIRequestsPerMinTotal = &total
		other := v.otherNamespaces()
		pt.OtherNamespaces = &other
	}
	pid := v.h.PeerPID(v.org1())
	st, err := procStats(pid)
	if err != nil {
		return fmt.Errorf("peer %d: %w", pid, err)
	}
	pt.PeerRSSMiB, pt.PeerFDs, pt.PeerThreads = float64(st.RSSKiB)/1024, st.FDs, st.Threads
	if s, err := v.metrics(v.org1()); err == nil {
		pt.PeerGoroutines, _ = sumWhere(s, "go_goroutines", nil)
	} else {
		return err
	}
	if v.dock != nil {
		d, c := dockerdTreeRSS(v.dock)
		dm, cm := float64(d)/1024, float64(c)/1024
		pt.DockerdRSSMiB, pt.ContainerdMiB = &dm, &cm
	}
	v.r.Rest = append(v.r.Rest, pt)
	msg := fmt.Sprintf("%s: at rest with %d chaincodes: peer RSS %.1f MiB, %v goroutines, %d fds", v.vm, count, pt.PeerRSSMiB, pt.PeerGoroutines, pt.PeerFDs)
	if pt.APIRequestsPerMinTotal != nil {
		msg += fmt.Sprintf(", the peer's API requests %.1f/min, kube-apiserver %.1f requests/min (other test namespaces: %d)", *pt.PeerAPIRequestsPerMinTotal, *pt.APIRequestsPerMinTotal, *pt.OtherNamespaces)
	}
	if pt.DockerdRSSMiB != nil {
		msg += fmt.Sprintf(", dockerd %.1f MiB", *pt.DockerdRSSMiB)
	}
	step("%s", msg)
	return nil
}

func (v *vmRun) apiserverMetrics() ([]Sample, error) {
	ctx, cancel := context.WithTimeout(v.ctx, 30*time.Second)
	defer cancel()
	b, err := v.kube.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver /metrics: %w", err)
	}
	return parseMetrics(strings.NewReader(string(b)))
}

// noteOtherNamespaces remembers test namespaces of other runs (k8s).
func (v *vmRun) noteOtherNamespaces() {
	if v.kube == nil {
		return
	}
	for _, ns := range v.otherNamespaceNames() {
		if v.seen == nil {
			v.seen = map[string]bool{}
		}
		if !v.seen[ns] {
			v.seen[ns] = true
			v.r.OtherNamespaces = append(v.r.OtherNamespaces, ns)
		}
	}
}

// loadAvg1 is the 1-minute load average.
func loadAvg1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// otherNamespaces counts namespaces other than ours that look like test runs
// of this project (their requests are in the API server's counters too).
func (v *vmRun) otherNamespaces() int {
	return len(v.otherNamespaceNames())
}

func (v *vmRun) otherNamespaceNames() []string {
	l, err := v.kube.Client.CoreV1().Namespaces().List(v.ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, ns := range l.Items {
		if ns.Name == v.ns {
			continue
		}
		if ns.Labels["fabric-peer-k8s/test"] == "true" || strings.HasPrefix(ns.Name, "fpk-") || strings.HasPrefix(ns.Name, "fabric-") {
			out = append(out, ns.Name)
		}
	}
	return out
}

func (v *vmRun) floor() error {
	var s []float64
	var err error
	switch v.vm {
	case "k8s":
		s, err = podFloor(v.ctx, v.kube.Client, v.ns, v.h.PeerConfig.BaseOSImage, v.c.N)
	case "docker":
		s, err = dockerFloor(v.dock, v.h.PeerConfig.BaseOSImage, v.c.N)
	}
	v.r.Samples[sFloor] = s
	return err
}

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
	return fmt.Errorf("%s: exit %d after %s: %s", what, r.ExitCode, r.Duration.Round(time.Millisecond), lastLines(r.Output(), 6))
}

func lastLines(s string, n int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > n {
		parts = append([]string{"..."}, parts[len(parts)-n:]...)
	}
	return strings.Join(parts, "\n")
}

// deploy packages N kv chaincodes and, one at a time: installs on Org1 (a
// build), on Org2 (k8s: the image is in the registry; docker: another
// build), approves for both orgs and commits. Fabric launches a chaincode as
// soon as its definition is committed where it is installed; the launch is
// measured by Org1's peer (chaincode_launch_duration, from the start of the
// launch to the registration) and by a client querying Org2 from the start
// of the commit until the first answer.
func (v *vmRun) deploy() error {
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
		r := v.h.Install(cc, v.org1())
		if err := resultErr("install on Org1", r); err != nil {
			return err
		}
		v.add(sInstallBuild, r.Duration.Seconds())
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
		queried := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(v.ctx, 5*time.Minute)
			defer cancel()
			for {
				qctx, qcancel := context.WithTimeout(ctx, time.Minute)
				_, err := v.gw[v.org2().ID()].EvaluateOn(qctx, v.mspOf(v.org2()), cc.Name, "version")
				qcancel()
				if err == nil {
					v.add(sFirstLaunchQuery, time.Since(t0).Seconds())
					queried <- nil
					return
				}
				if ctx.Err() != nil {
					queried <- fmt.Errorf("no answer from %s on Org2 within 5m: %v", cc.Name, err)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		if err := resultErr("commit", v.commit(cc)); err != nil {
			return err
		}
		if _, ok, err := v.waitLaunches(v.org1(), cc.PackageID, 0, 5*time.Minute); err != nil || !ok {
			return fmt.Errorf("%s did not register on Org1 within 5m after its commit (%v)", cc.PackageID, err)
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
		if err := <-queried; err != nil {
			return err
		}
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
		if err := setKVBuild(dir, fmt.Sprintf("rebuild-%d", i)); err != nil {
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

// setKVBuild changes the kv chaincode's Build constant in dir: one line.
func setKVBuild(dir, build string) error {
	f := filepath.Join(dir, "kv.go")
	b, err := os.ReadFile(f)
	if err != nil {
		return err
	}
	const line = `const Build = "kv-1"`
	if !bytes.Contains(b, []byte(line)) {
		return fmt.Errorf("%s: %q not found", f, line)
	}
	return os.WriteFile(f, bytes.Replace(b, []byte(line), []byte(fmt.Sprintf("const Build = %q", build)), 1), 0o644)
}

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

// pulledRE finds the pull time in the kubelet's Pulled event ("Successfully
// pulled image "x" in 1.02s (1.02s including waiting)...").
var pulledRE = regexp.MustCompile(`Successfully pulled image .* in ([0-9.]+[a-zµ]*s) `)

// imagePull is how long the kubelet took to pull the image of ccid's pod on
// p, from its Pulled event (0 when the image was already on the node).
func (v *vmRun) imagePull(p *nwo.Peer, ccid string) (time.Duration, error) {
	pod, err := v.runningPod(p, ccid)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := v.kube.Client.CoreV1().Events(v.ns).List(v.ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.name=" + pod.Name + ",reason=Pulled",
		})
		if err != nil {
			return 0, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.UID != pod.UID {
				continue
			}
			if strings.Contains(e.Message, "already present") {
				return 0, nil
			}
			if m := pulledRE.FindStringSubmatch(e.Message); m != nil {
				return time.ParseDuration(m[1])
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no Pulled event for pod %s", pod.Name)
		}
		time.Sleep(200 * time.Millisecond)
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
		var last error
		for {
			ctx, cancel := context.WithTimeout(v.ctx, time.Minute)
			_, last = g.EvaluateOn(ctx, v.mspOf(v.org2()), cc.Name, "version")
			cancel()
			if last == nil {
				v.add(sRelaunchRequest, time.Since(t0).Seconds())
				break
			}
			if time.Since(t0) > 2*time.Minute {
				return fmt.Errorf("%s on Org2 did not answer within 2m of the SIGKILL: %v", cc.Name, last)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// load runs closed-loop invokes (endorse on Org1 through its gateway, order,
// wait for the commit) and then queries of kv1 from c.Clients clients.
func (v *vmRun) load() error {
	if len(v.kv) == 0 {
		return errors.New("no kv chaincode deployed")
	}
	cc := v.kv[0].Name
	g := v.gw[v.org1().ID()]
	// Org1's kv1 was SIGKILLed without traffic: DockerVM launches it on this
	// first request; with k8s it is already back.
	ctx, cancel := context.WithTimeout(v.ctx, 3*time.Minute)
	defer cancel()
	for i := 0; i < v.c.Clients; i++ {
		if err := g.Submit(ctx, cc, "put", fmt.Sprintf("key%d", i), "0"); err != nil {
			return fmt.Errorf("warm-up invoke: %w", err)
		}
	}
	v.r.Invoke = runLoad(v.c.Clients, v.c.Load, func(ctx context.Context, i, k int) error {
		return g.Submit(ctx, cc, "put", fmt.Sprintf("key%d", i), strconv.Itoa(k))
	})
	step("%s: invoke: %d ok, %d errors, %.1f tx/s, latency p50 %.1f ms", v.vm, v.r.Invoke.OK, v.r.Invoke.Errors, v.r.Invoke.PerSecond, p50(v.r.Invoke.LatencyMs))
	v.r.Query = runLoad(v.c.Clients, v.c.Load, func(ctx context.Context, i, k int) error {
		_, err := g.Evaluate(ctx, cc, "get", fmt.Sprintf("key%d", i))
		return err
	})
	step("%s: query: %d ok, %d errors, %.1f q/s, latency p50 %.1f ms", v.vm, v.r.Query.OK, v.r.Query.Errors, v.r.Query.PerSecond, p50(v.r.Query.LatencyMs))
	if v.r.Invoke.OK == 0 || v.r.Query.OK == 0 {
		return fmt.Errorf("load produced no successful operation (invoke: %s; query: %s)", v.r.Invoke.FirstErr, v.r.Query.FirstErr)
	}
	return nil
}

func p50(s *Summary) float64 {
	if s == nil {
		return 0
	}
	return s.P50
}
