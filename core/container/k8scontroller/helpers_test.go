/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config/configtest"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext/buildcontexttest"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/mock"
	"github.com/hyperledger/fabric-lib-go/common/metrics"
	"github.com/hyperledger/fabric-lib-go/common/metrics/metricsfakes"
	"github.com/hyperledger/fabric/core/chaincode/platforms"
	"github.com/hyperledger/fabric/core/chaincode/platforms/golang"
	"github.com/hyperledger/fabric/core/chaincode/platforms/java"
	"github.com/hyperledger/fabric/core/chaincode/platforms/node"
	"github.com/spf13/viper"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/clock"
)

const (
	testNamespace = configtest.Namespace
	testPeerID    = "peer0.org1.example.com"
	testCCID      = "mycc_1.0:3a5f1b2c4d6e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
	testDigest    = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestMain(m *testing.M) {
	// The platforms read their images from the peer's global viper.
	viper.Set("chaincode.builder", "localhost:5000/fabric-peer-k8s/ccenv:3.1")
	viper.Set("chaincode.golang.runtime", "localhost:5000/fabric-peer-k8s/baseos:3.1")
	viper.Set("chaincode.node.runtime", "hyperledger/fabric-nodeenv:2.5")
	viper.Set("chaincode.java.runtime", "hyperledger/fabric-javaenv:2.5")
	os.Exit(m.Run())
}

// testPolicy is a relaunch policy with a low crash loop threshold.
func testPolicy() config.RelaunchPolicy {
	return config.RelaunchPolicy{
		Enabled:            true,
		InitialBackoff:     time.Second,
		MaxBackoff:         8 * time.Second,
		CrashLoopThreshold: 3,
		StableAfter:        30 * time.Second,
	}
}

// testConfig is the configuration the VM's tests start from.
func testConfig() *config.Config {
	return configtest.Config()
}

type testVM struct {
	*VM
	client   *fake.Clientset
	registry *mock.ImageRegistry
	attacher *mock.PodAttacher
	metrics  testMetrics
	watches  *watchCounter
}

// watchCounter counts the watches opened per resource.
type watchCounter struct {
	mu     sync.Mutex
	counts map[string]int
	opened chan struct{} // signalled on every watch
}

func (w *watchCounter) react(a k8stesting.Action) (bool, watch.Interface, error) {
	w.mu.Lock()
	w.counts[a.GetResource().Resource]++
	w.mu.Unlock()
	select {
	case w.opened <- struct{}{}:
	default:
	}
	return false, nil, nil
}

// awaitWatches waits until at least want watches per resource were opened.
func (w *watchCounter) awaitWatches(t *testing.T, want map[string]int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		enough := true
		for r, n := range want {
			enough = enough && w.count(r) >= n
		}
		if enough {
			return
		}
		select {
		case <-w.opened:
		case <-timeout:
			w.mu.Lock()
			got := fmt.Sprint(w.counts)
			w.mu.Unlock()
			t.Fatalf("informers opened watches %s, want %v", got, want)
		}
	}
}

func (w *watchCounter) count(resource string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[resource]
}

type testMetrics struct {
	buildDuration, podStart *metricsfakes.Histogram
	failures, cacheHits     *metricsfakes.Counter
	exits                   *metricsfakes.Counter
}

// provider hands out tm's fakes, by metric name, through NewMetrics, and
// new ones for the other metrics.
func (tm testMetrics) provider() *metricsfakes.Provider {
	p := &metricsfakes.Provider{}
	p.NewCounterCalls(func(o metrics.CounterOpts) metrics.Counter {
		switch o.Name {
		case imageBuildFailures.Name:
			return tm.failures
		case imageCacheHits.Name:
			return tm.cacheHits
		case chaincodeExits.Name:
			return tm.exits
		}
		c := &metricsfakes.Counter{}
		c.WithReturns(c)
		return c
	})
	p.NewHistogramCalls(func(o metrics.HistogramOpts) metrics.Histogram {
		switch o.Name {
		case imageBuildDuration.Name:
			return tm.buildDuration
		case podStartDuration.Name:
			return tm.podStart
		}
		h := &metricsfakes.Histogram{}
		h.WithReturns(h)
		return h
	})
	return p
}

// newTestVM returns a VM on a fake clientset holding objs, with its
// informers started and synced (and stopped when the test ends). The
// informers' LIST and WATCH requests are cleared from the client's actions.
func newTestVM(t *testing.T, cfg *config.Config, objs ...runtime.Object) *testVM {
	t.Helper()
	tm := testMetrics{
		buildDuration: &metricsfakes.Histogram{},
		podStart:      &metricsfakes.Histogram{},
		failures:      &metricsfakes.Counter{},
		cacheHits:     &metricsfakes.Counter{},
		exits:         &metricsfakes.Counter{},
	}
	tm.buildDuration.WithReturns(tm.buildDuration)
	tm.podStart.WithReturns(tm.podStart)
	tm.failures.WithReturns(tm.failures)
	tm.cacheHits.WithReturns(tm.cacheHits)
	tm.exits.WithReturns(tm.exits)

	client := fake.NewClientset(objs...)
	watches := &watchCounter{counts: map[string]int{}, opened: make(chan struct{}, 1)}
	client.PrependWatchReactor("*", watches.react)
	apiServerLike(client)
	registry := &mock.ImageRegistry{}
	attacher := &mock.PodAttacher{}
	vm := &VM{
		PeerID:       testPeerID,
		NetworkID:    "dev",
		MSPID:        "Org1MSP",
		LoggingEnv:   []string{"CORE_CHAINCODE_LOGGING_LEVEL=info"},
		Config:       cfg,
		Client:       client,
		Registry:     registry,
		Attacher:     attacher,
		Platforms:    platforms.NewRegistry(&golang.Platform{}, &node.Platform{}, &java.Platform{}),
		Metrics:      NewMetrics(tm.provider()),
		BuilderImage: "localhost:5000/fabric-peer-k8s/ccenv:3.1",
		Clock:        clock.RealClock{},
		LaunchID:     launchCounter(),
		// A run of its own, as NewVM gives every VM: the sweep of earlier
		// runs deletes what carries no run label.
		RunID: "current",
	}
	vm.cache = newObjectCache(client, cfg, vm.PeerID)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		vm.stopInformers()
	})
	require.NoError(t, vm.startInformers(ctx))
	// The watches start right after the caches are filled.
	want := map[string]int{"pods": 1, "secrets": 1, "jobs": 1}
	if cfg.BuildNamespace != cfg.Namespace {
		want["pods"] = 2
	}
	if cfg.PrePull.Enabled {
		want["daemonsets"] = 1
	}
	watches.awaitWatches(t, want)
	client.ClearActions()
	return &testVM{VM: vm, client: client, registry: registry, attacher: attacher, metrics: tm, watches: watches}
}

// launchCounter returns launch IDs 000001, 000002, ...
func launchCounter() func() string {
	var mu sync.Mutex
	n := 0
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("%06d", n)
	}
}

// apiServerLike makes the fake clientset behave like kube-apiserver where
// the VM relies on it: created objects get a UID, and a delete whose UID
// precondition does not match the stored object fails with a Conflict. Created
// objects are also at generation 1.
func apiServerLike(client *fake.Clientset) {
	var mu sync.Mutex
	n := 0
	client.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if m, ok := a.(k8stesting.CreateAction).GetObject().(metav1.Object); ok && m.GetUID() == "" && a.GetSubresource() == "" {
			mu.Lock()
			n++
			m.SetUID(types.UID(fmt.Sprintf("uid-%s-%d", a.GetResource().Resource, n)))
			mu.Unlock()
			m.SetGeneration(1)
		}
		return false, nil, nil
	})
	client.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteActionImpl)
		pre := d.DeleteOptions.Preconditions
		if pre == nil || pre.UID == nil {
			return false, nil, nil
		}
		obj, err := client.Tracker().Get(d.GetResource(), d.GetNamespace(), d.GetName())
		if err != nil {
			return false, nil, nil // NotFound from the default reactor
		}
		if m, ok := obj.(metav1.Object); ok && m.GetUID() != *pre.UID {
			return true, nil, apierrors.NewConflict(d.GetResource().GroupResource(), d.GetName(),
				fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s)", *pre.UID, m.GetUID()))
		}
		return false, nil, nil
	})
}

func goCodePackage(t *testing.T) []byte {
	return buildcontexttest.CodePackage(t,
		buildcontexttest.Dir("src/"),
		buildcontexttest.File("src/go.mod", "module example.com/cc\n"),
		buildcontexttest.File("src/main.go", "package main\nfunc main() {}\n"),
		buildcontexttest.File("META-INF/statedb/couchdb/indexes/index.json", "{}"),
	)
}
