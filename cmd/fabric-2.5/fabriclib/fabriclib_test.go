/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package fabriclib

import (
	"bytes"
	"testing"

	libflogging "github.com/hyperledger/fabric-lib-go/common/flogging"
	libmetrics "github.com/hyperledger/fabric-lib-go/common/metrics"
	"github.com/hyperledger/fabric/common/metrics"
	"github.com/hyperledger/fabric/common/metrics/metricsfakes"
	"github.com/stretchr/testify/require"
)

func TestMetricsProvider(t *testing.T) {
	fabric := &metricsfakes.Provider{}
	c, g, h := &metricsfakes.Counter{}, &metricsfakes.Gauge{}, &metricsfakes.Histogram{}
	c.WithReturns(c)
	g.WithReturns(g)
	h.WithReturns(h)
	fabric.NewCounterReturns(c)
	fabric.NewGaugeReturns(g)
	fabric.NewHistogramReturns(h)
	p := MetricsProvider(fabric)

	opts := libmetrics.CounterOpts{
		Namespace: "k8scontroller", Name: "chaincode_relaunches", Help: "relaunches",
		LabelNames: []string{"chaincode"}, StatsdFormat: "%{#fqname}.%{chaincode}",
	}
	p.NewCounter(opts).With("cc", "kv:1").Add(2)
	require.Equal(t, 1, fabric.NewCounterCallCount())
	require.Equal(t, metrics.CounterOpts{
		Namespace: "k8scontroller", Name: "chaincode_relaunches", Help: "relaunches",
		LabelNames: []string{"chaincode"}, StatsdFormat: "%{#fqname}.%{chaincode}",
	}, fabric.NewCounterArgsForCall(0))
	require.Equal(t, []string{"cc", "kv:1"}, c.WithArgsForCall(0))
	require.Equal(t, 2.0, c.AddArgsForCall(0))

	gauge := p.NewGauge(libmetrics.GaugeOpts{Name: "g", LabelNames: []string{"x"}}).With("x", "1")
	gauge.Add(3)
	gauge.Set(7)
	require.Equal(t, "g", fabric.NewGaugeArgsForCall(0).Name)
	require.Equal(t, []string{"x", "1"}, g.WithArgsForCall(0))
	require.Equal(t, 3.0, g.AddArgsForCall(0))
	require.Equal(t, 7.0, g.SetArgsForCall(0))

	p.NewHistogram(libmetrics.HistogramOpts{Name: "h", Buckets: []float64{1, 5}}).With("y", "2").Observe(0.5)
	require.Equal(t, []float64{1, 5}, fabric.NewHistogramArgsForCall(0).Buckets)
	require.Equal(t, []string{"y", "2"}, h.WithArgsForCall(0))
	require.Equal(t, 0.5, h.ObserveArgsForCall(0))
}

func TestInitLogging(t *testing.T) {
	defer libflogging.Reset()
	logger := libflogging.MustGetLogger("k8scontroller")

	var out bytes.Buffer
	require.NoError(t, InitLogging("%{module} %{level} %{message}", "warning:k8scontroller=debug", &out))
	logger.Debug("pod created")
	libflogging.MustGetLogger("other").Info("not shown")
	require.Equal(t, "k8scontroller DEBUG pod created\n", out.String())

	require.ErrorContains(t, InitLogging("", "k8scontroller=loud", &out), "cannot apply the logging configuration")
}
