/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"testing"
	"time"

	"github.com/hyperledger/fabric-lib-go/common/metrics"
	"github.com/hyperledger/fabric-lib-go/common/metrics/metricsfakes"
	"github.com/stretchr/testify/require"
)

// fakeMetrics are the fakes a metricsfakes.Provider handed out, by name.
type fakeMetrics struct {
	counters   map[string]*metricsfakes.Counter
	histograms map[string]*metricsfakes.Histogram
}

func newFakeMetrics() (*fakeMetrics, *Metrics) {
	f := &fakeMetrics{counters: map[string]*metricsfakes.Counter{}, histograms: map[string]*metricsfakes.Histogram{}}
	p := &metricsfakes.Provider{}
	p.NewCounterCalls(func(o metrics.CounterOpts) metrics.Counter {
		c := &metricsfakes.Counter{}
		c.WithReturns(c)
		f.counters[o.Name] = c
		return c
	})
	p.NewHistogramCalls(func(o metrics.HistogramOpts) metrics.Histogram {
		h := &metricsfakes.Histogram{}
		h.WithReturns(h)
		f.histograms[o.Name] = h
		return h
	})
	return f, NewMetrics(p)
}

func TestMetricsAreLabelledByPackageLabel(t *testing.T) {
	f, m := newFakeMetrics()
	m.ImageBuildDuration.With("chaincode", testCCID, "success", "true").Observe(1)
	m.ImageBuildFailures.With("chaincode", testCCID).Add(1)
	m.ImageCacheHits.With("chaincode", testCCID).Add(1)
	m.PodStartDuration.With("chaincode", testCCID, "success", "false").Observe(1)
	m.ImagePrePull.With("chaincode", testCCID, "success", "true").Observe(1)
	m.Relaunches.With("chaincode", testCCID).Add(1)
	m.CrashLoops.With("chaincode", testCCID).Add(1)
	m.RelaunchDuration.With("chaincode", testCCID).Observe(1)
	m.ChaincodeExits.With("reason", "OOMKilled", "chaincode", testCCID).Add(1)

	for name, want := range map[string][]string{
		"chaincode_image_build_duration":   {"chaincode", testCCLabel, "success", "true"},
		"chaincode_pod_start_duration":     {"chaincode", testCCLabel, "success", "false"},
		"chaincode_image_prepull_duration": {"chaincode", testCCLabel, "success", "true"},
		"chaincode_relaunch_duration":      {"chaincode", testCCLabel},
	} {
		h := f.histograms[name]
		require.NotNil(t, h, name)
		require.Equal(t, want, h.WithArgsForCall(0), name)
		require.Equal(t, 1, h.ObserveCallCount(), name)
	}
	for name, want := range map[string][]string{
		"chaincode_image_build_failures": {"chaincode", testCCLabel},
		"chaincode_image_cache_hits":     {"chaincode", testCCLabel},
		"chaincode_relaunches":           {"chaincode", testCCLabel},
		"chaincode_crash_loops":          {"chaincode", testCCLabel},
		"chaincode_exits":                {"reason", "OOMKilled", "chaincode", testCCLabel},
	} {
		c := f.counters[name]
		require.NotNil(t, c, name)
		require.Equal(t, want, c.WithArgsForCall(0), name)
		require.Equal(t, 1, c.AddCallCount(), name)
	}
	require.Len(t, f.histograms, 4)
	require.Len(t, f.counters, 5)
}

// Every build of a chaincode has a new package ID: the series must not
// follow them.
func TestMetricSeriesBoundedByPackageLabels(t *testing.T) {
	f, m := newFakeMetrics()
	for _, ccid := range []string{
		"mycc_1.0:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"mycc_1.0:" + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
		"other:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"legacy", // no package hash: kept as it is
	} {
		m.ImageCacheHits.With("chaincode", ccid).Add(1)
	}
	c := f.counters["chaincode_image_cache_hits"]
	series := map[string]bool{}
	for k := 0; k < c.WithCallCount(); k++ {
		series[c.WithArgsForCall(k)[1]] = true
	}
	require.Equal(t, map[string]bool{"mycc_1.0": true, "other": true, "legacy": true}, series)
}

func TestRelaunchReportMetricsByPackageLabel(t *testing.T) {
	f, m := newFakeMetrics()
	r := relaunchReport{VM: &VM{Metrics: m, Config: testConfig(), PeerID: testPeerID, NetworkID: "dev"}}
	r.Relaunched(testCCID, 2*time.Second)
	r.CrashLoop(testCCID, 5)
	require.Equal(t, []string{"chaincode", testCCLabel}, f.counters["chaincode_relaunches"].WithArgsForCall(0))
	require.Equal(t, []string{"chaincode", testCCLabel}, f.histograms["chaincode_relaunch_duration"].WithArgsForCall(0))
	require.Equal(t, 2.0, f.histograms["chaincode_relaunch_duration"].ObserveArgsForCall(0))
	require.Equal(t, []string{"chaincode", testCCLabel}, f.counters["chaincode_crash_loops"].WithArgsForCall(0))
}
