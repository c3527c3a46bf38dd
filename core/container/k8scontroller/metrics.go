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

// Metrics are the k8scontroller metrics.
type Metrics struct {
	ImageBuildDuration metrics.Histogram
	ImageBuildFailures metrics.Counter
	ImageCacheHits     metrics.Counter
	PodStartDuration   metrics.Histogram
}

// NewMetrics registers the k8scontroller metrics with p.
func NewMetrics(p metrics.Provider) *Metrics {
	return &Metrics{
		ImageBuildDuration: p.NewHistogram(imageBuildDuration),
		ImageBuildFailures: p.NewCounter(imageBuildFailures),
		ImageCacheHits:     p.NewCounter(imageCacheHits),
		PodStartDuration:   p.NewHistogram(podStartDuration),
	}
}
