/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/apiproxy"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
)

// Sample names (seconds unless the name says otherwise).
const (
	sFloor            = "floor"
	sFloorVolumes     = "floor_volumes"
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
	// Phases split samples of some figures (phaseFigures) into phases,
	// by sample key; not every sample need have its split.
	Phases map[string][]Phases `json:"phases,omitempty"`
	// NoTraffic: how many SIGKILLed chaincodes registered again without a
	// request within NoTrafficBoundSeconds.
	NoTrafficKilled       int         `json:"no_traffic_killed"`
	NoTrafficRelaunched   int         `json:"no_traffic_relaunched"`
	NoTrafficBoundSeconds float64     `json:"no_traffic_bound_seconds"`
	Invoke                *LoadResult `json:"invoke,omitempty"`
	Query                 *LoadResult `json:"query,omitempty"`
	// Caliper is the Caliper phase (caliper.go).
	Caliper *CaliperResult `json:"caliper,omitempty"`
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
	proxy map[string]*apiproxy.Proxy // by peer ID (k8s)
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

func (v *vmRun) addPhases(name string, ph Phases) {
	if v.r.Phases == nil {
		v.r.Phases = map[string][]Phases{}
	}
	v.r.Phases[name] = append(v.r.Phases[name], ph)
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
	if c.Caliper.Enabled {
		v.phase(fmt.Sprintf("Caliper: create and read rounds, fixed rate and fixed load, %s each, %d workers", c.Caliper.Round, c.Caliper.Workers), v.caliper)
	}
	if len(v.proxy) > 0 {
		v.r.PeerAPIRequests = map[string]map[string]int64{}
		for id, p := range v.proxy {
			v.r.PeerAPIRequests[id] = p.Counts()
		}
	}
	return v.r
}
