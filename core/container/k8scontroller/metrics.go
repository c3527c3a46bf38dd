/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/hyperledger/fabric-lib-go/common/metrics"
)

// The metrics below are labelled by chaincode, and the "chaincode" label's
// value is the chaincode's package label ("kv_1" of package ID
// "kv_1:<hash>"), not the package ID. Callers pass the package ID;
// NewMetrics's metrics keep its label part (see packageLabelValues).
//
// A series lives as long as the peer process: fabric-lib-go's metrics have
// no way to delete one. Labelled by package ID, every rebuild of a
// chaincode would add a series per metric (histograms one per bucket) that
// never goes away; the package label is what operators choose when they
// package chaincode, and so what they recognise in dashboards and key
// alerts on (it also keys the per-chaincode settings ConfigMap and names
// the chaincode's image repository and pods), and the number of series is
// bounded by the labels an operator deploys. Packages that share a label
// (the same label installed with other code) share their series. Fabric's
// own chaincode_launch_* metrics label by package ID; PromQL's
// label_replace(..., "chaincode", "$1", "chaincode", "(.*):[^:]*") maps
// them onto these.
var (
	imageBuildDuration = metrics.HistogramOpts{
		Namespace:    "k8scontroller",
		Name:         "chaincode_image_build_duration",
		Help:         "The time to build a chaincode image with a Kaniko Job in seconds.",
		LabelNames:   []string{"chaincode", "success"},
		StatsdFormat: "%{#fqname}.%{chaincode}.%{success}",
	}
	imageBuildFailures = metrics.CounterOpts{
		Namespace:    "k8scontroller",
		Name:         "chaincode_image_build_failures",
		Help:         "The number of failed chaincode image builds.",
		LabelNames:   []string{"chaincode"},
		StatsdFormat: "%{#fqname}.%{chaincode}",
	}
	imageCacheHits = metrics.CounterOpts{
		Namespace:    "k8scontroller",
		Name:         "chaincode_image_cache_hits",
		Help:         "The number of chaincode builds satisfied by an image already in the registry.",
		LabelNames:   []string{"chaincode"},
		StatsdFormat: "%{#fqname}.%{chaincode}",
	}
	imagePrePullDuration = metrics.HistogramOpts{
		Namespace:    "k8scontroller",
		Name:         "chaincode_image_prepull_duration",
		Help:         "The time to make a new chaincode image present on the nodes its pods may run on (success=false: some did not get it within vm.k8s.prePull.timeout), in seconds.",
		LabelNames:   []string{"chaincode", "success"},
		StatsdFormat: "%{#fqname}.%{chaincode}.%{success}",
	}
	podStartDuration = metrics.HistogramOpts{
		Namespace:    "k8scontroller",
		Name:         "chaincode_pod_start_duration",
		Help:         "The time from creating a chaincode pod until it runs (or fails) in seconds.",
		LabelNames:   []string{"chaincode", "success"},
		StatsdFormat: "%{#fqname}.%{chaincode}.%{success}",
	}
)

var (
	relaunches = metrics.CounterOpts{
		Namespace:    "k8scontroller",
		Name:         "chaincode_relaunches",
		Help:         "The number of chaincode pods relaunched after they ended without the peer asking.",
		LabelNames:   []string{"chaincode"},
		StatsdFormat: "%{#fqname}.%{chaincode}",
	}
	crashLoops = metrics.CounterOpts{
		Namespace:    "k8scontroller",
		Name:         "chaincode_crash_loops",
		Help:         "The number of times a chaincode was reported crash looping and left to launch-on-demand.",
		LabelNames:   []string{"chaincode"},
		StatsdFormat: "%{#fqname}.%{chaincode}",
	}
	chaincodeExits = metrics.CounterOpts{
		Namespace:    "k8scontroller",
		Name:         "chaincode_exits",
		Help:         "The number of chaincode containers seen terminated, by the reason Kubernetes gives (OOMKilled, Error, Completed, or Unknown).",
		LabelNames:   []string{"chaincode", "reason"},
		StatsdFormat: "%{#fqname}.%{chaincode}.%{reason}",
	}
	relaunchDuration = metrics.HistogramOpts{
		Namespace:    "k8scontroller",
		Name:         "chaincode_relaunch_duration",
		Help:         "The time from a chaincode pod ending until its relaunched chaincode registered, in seconds.",
		LabelNames:   []string{"chaincode"},
		StatsdFormat: "%{#fqname}.%{chaincode}",
	}
)

// Metrics are the k8scontroller metrics. Those of NewMetrics record the
// value given for the "chaincode" label, a package ID, as its package
// label.
type Metrics struct {
	ImageBuildDuration metrics.Histogram
	ImageBuildFailures metrics.Counter
	ImageCacheHits     metrics.Counter
	ImagePrePull       metrics.Histogram
	PodStartDuration   metrics.Histogram
	Relaunches         metrics.Counter
	CrashLoops         metrics.Counter
	RelaunchDuration   metrics.Histogram
	ChaincodeExits     metrics.Counter
}

// NewMetrics registers the k8scontroller metrics with p.
func NewMetrics(p metrics.Provider) *Metrics {
	return &Metrics{
		ImageBuildDuration: byPackageLabelHistogram{p.NewHistogram(imageBuildDuration)},
		ImageBuildFailures: byPackageLabelCounter{p.NewCounter(imageBuildFailures)},
		ImageCacheHits:     byPackageLabelCounter{p.NewCounter(imageCacheHits)},
		ImagePrePull:       byPackageLabelHistogram{p.NewHistogram(imagePrePullDuration)},
		PodStartDuration:   byPackageLabelHistogram{p.NewHistogram(podStartDuration)},
		Relaunches:         byPackageLabelCounter{p.NewCounter(relaunches)},
		CrashLoops:         byPackageLabelCounter{p.NewCounter(crashLoops)},
		RelaunchDuration:   byPackageLabelHistogram{p.NewHistogram(relaunchDuration)},
		ChaincodeExits:     byPackageLabelCounter{p.NewCounter(chaincodeExits)},
	}
}

// metricChaincodeLabel is the label of every metric above that names the
// chaincode.
const metricChaincodeLabel = "chaincode"

// packageLabelValues returns labelValues (name, value, name, value, ...)
// with the value of the "chaincode" label, a package ID, replaced by its
// package label. A value without ":" is kept as it is.
func packageLabelValues(labelValues []string) []string {
	out := make([]string, len(labelValues))
	copy(out, labelValues)
	for i := 0; i+1 < len(out); i += 2 {
		if out[i] == metricChaincodeLabel {
			out[i+1] = spec.ChaincodeLabel(out[i+1])
		}
	}
	return out
}

// byPackageLabelCounter is a counter whose "chaincode" label holds package
// labels.
type byPackageLabelCounter struct{ metrics.Counter }

func (c byPackageLabelCounter) With(labelValues ...string) metrics.Counter {
	return byPackageLabelCounter{c.Counter.With(packageLabelValues(labelValues)...)}
}

// byPackageLabelHistogram is a histogram whose "chaincode" label holds
// package labels.
type byPackageLabelHistogram struct{ metrics.Histogram }

func (h byPackageLabelHistogram) With(labelValues ...string) metrics.Histogram {
	return byPackageLabelHistogram{h.Histogram.With(packageLabelValues(labelValues)...)}
}
