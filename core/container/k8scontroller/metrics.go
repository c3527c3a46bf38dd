/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import "github.com/hyperledger/fabric-lib-go/common/metrics"

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

// Metrics are the k8scontroller metrics.
type Metrics struct {
	ImageBuildDuration metrics.Histogram
	ImageBuildFailures metrics.Counter
	ImageCacheHits     metrics.Counter
	PodStartDuration   metrics.Histogram
	Relaunches         metrics.Counter
	CrashLoops         metrics.Counter
	RelaunchDuration   metrics.Histogram
	ChaincodeExits     metrics.Counter
}

// NewMetrics registers the k8scontroller metrics with p.
func NewMetrics(p metrics.Provider) *Metrics {
	return &Metrics{
		ImageBuildDuration: p.NewHistogram(imageBuildDuration),
		ImageBuildFailures: p.NewCounter(imageBuildFailures),
		ImageCacheHits:     p.NewCounter(imageCacheHits),
		PodStartDuration:   p.NewHistogram(podStartDuration),
		Relaunches:         p.NewCounter(relaunches),
		CrashLoops:         p.NewCounter(crashLoops),
		RelaunchDuration:   p.NewHistogram(relaunchDuration),
		ChaincodeExits:     p.NewCounter(chaincodeExits),
	}
}
