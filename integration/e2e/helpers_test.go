//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	. "github.com/onsi/ginkgo/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func metaDeleteNow() metav1.DeleteOptions {
	zero := int64(0)
	return metav1.DeleteOptions{GracePeriodSeconds: &zero}
}

func metaGet() metav1.GetOptions { return metav1.GetOptions{} }

// anySpecFailed is true once any spec of the suite has failed.
func anySpecFailed() bool {
	return CurrentSpecReport().Failed() || suiteFailed
}

var suiteFailed bool

var _ = ReportAfterEach(func(r SpecReport) {
	if r.Failed() {
		suiteFailed = true
	}
})
