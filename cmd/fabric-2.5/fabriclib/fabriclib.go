/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package fabriclib puts the logging and metrics of fabric-lib-go, which the
// Kubernetes VM uses as Fabric v3 does, onto a Fabric 2.5 peer's own: the
// VM's metrics are registered with the peer's metrics provider (Prometheus,
// StatsD or disabled, as the operations system is configured) and its log
// records follow the peer's logging spec and format.
//
// It lives in the Fabric 2.5 module because it imports Fabric 2.5's
// packages, which Fabric v3 no longer has.
package fabriclib

import (
	"io"

	libflogging "github.com/hyperledger/fabric-lib-go/common/flogging"
	libmetrics "github.com/hyperledger/fabric-lib-go/common/metrics"
	"github.com/hyperledger/fabric/common/metrics"
	"github.com/pkg/errors"
)

// MetricsProvider returns a fabric-lib-go metrics provider that creates its
// counters, gauges and histograms with p.
func MetricsProvider(p metrics.Provider) libmetrics.Provider {
	return provider{p: p}
}

type provider struct{ p metrics.Provider }

func (p provider) NewCounter(o libmetrics.CounterOpts) libmetrics.Counter {
	return counter{c: p.p.NewCounter(metrics.CounterOpts(o))}
}

func (p provider) NewGauge(o libmetrics.GaugeOpts) libmetrics.Gauge {
	return gauge{g: p.p.NewGauge(metrics.GaugeOpts(o))}
}

func (p provider) NewHistogram(o libmetrics.HistogramOpts) libmetrics.Histogram {
	return histogram{h: p.p.NewHistogram(metrics.HistogramOpts(o))}
}

type counter struct{ c metrics.Counter }

func (c counter) With(labelValues ...string) libmetrics.Counter {
	return counter{c: c.c.With(labelValues...)}
}
func (c counter) Add(delta float64) { c.c.Add(delta) }

type gauge struct{ g metrics.Gauge }

func (g gauge) With(labelValues ...string) libmetrics.Gauge {
	return gauge{g: g.g.With(labelValues...)}
}
func (g gauge) Add(delta float64) { g.g.Add(delta) }
func (g gauge) Set(value float64) { g.g.Set(value) }

type histogram struct{ h metrics.Histogram }

func (h histogram) With(labelValues ...string) libmetrics.Histogram {
	return histogram{h: h.h.With(labelValues...)}
}
func (h histogram) Observe(value float64) { h.h.Observe(value) }

// InitLogging applies to fabric-lib-go's logging the format, spec and writer
// that the peer applies to Fabric 2.5's (FABRIC_LOGGING_FORMAT and
// FABRIC_LOGGING_SPEC), so that the VM logs as the rest of the peer does.
func InitLogging(format, spec string, w io.Writer) error {
	err := libflogging.Global.Apply(libflogging.Config{Format: format, LogSpec: spec, Writer: w})
	return errors.WithMessage(err, "cannot apply the logging configuration to fabric-lib-go's logging")
}
