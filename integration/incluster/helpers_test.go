//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package incluster

import (
	"fmt"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// ---------------------------------------------------------------- commands

type result = testkit.Result

// run executes name args... with extra env, bounded by timeout; combined output.
func run(timeout time.Duration, env []string, name string, args ...string) result {
	return testkit.Run(GinkgoWriter, timeout, env, name, args...)
}

// kubectl runs the cluster's kubectl against the suite's kubeconfig.
func kubectl(args ...string) result {
	return run(2*time.Minute, []string{"KUBECONFIG=" + cfg.Kubeconfig}, cfg.Kubectl, args...)
}

func kubectlOK(args ...string) string {
	r := kubectl(args...)
	ExpectWithOffset(1, r.ExitCode).To(Equal(0), r.String())
	return r.Out
}

// ---------------------------------------------------------------- timings and gaps

// report keeps the lines for the summary at the end of the suite.
var report testkit.Record

func recordTiming(name string, d time.Duration) {
	note("INCLUSTER-TIMING name=%s seconds=%.2f", name, d.Seconds())
}

func recordGap(format string, args ...interface{}) {
	note("INCLUSTER-GAP "+format, args...)
}

func recordCheck(format string, args ...interface{}) {
	note("INCLUSTER-OK "+format, args...)
}

func note(format string, args ...interface{}) {
	report.Add(fmt.Sprintf(format, args...))
}

var _ = ReportAfterSuite("summary", func(r Report) {
	testkit.PrintSummary("fabric-peer-k8s in-cluster summary", report.Lines())
})
