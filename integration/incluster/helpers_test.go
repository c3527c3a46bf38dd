//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package incluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func registryAnswers(addr string) bool {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + "/v2/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// ---------------------------------------------------------------- commands

type result struct {
	Cmd      string
	ExitCode int
	Out      string // stdout and stderr
	Stdout   string
	Duration time.Duration
	TimedOut bool
}

func (r result) String() string {
	return fmt.Sprintf("$ %s\n(exit %d after %s, timed out: %v)\n%s", r.Cmd, r.ExitCode, r.Duration.Round(time.Millisecond), r.TimedOut, r.Out)
}

// run executes name args... with extra env, bounded by timeout; combined output.
func run(timeout time.Duration, env []string, stdin io.Reader, name string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var out, stdout bytes.Buffer
	all := &lockedWriter{w: &out}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(all, &stdout), all
	start := time.Now()
	err := cmd.Run()
	r := result{Cmd: filepath.Base(name) + " " + strings.Join(args, " "), Out: out.String(), Stdout: stdout.String(), Duration: time.Since(start)}
	r.TimedOut = ctx.Err() != nil
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	default:
		r.ExitCode = -1
		r.Out += "\n" + err.Error()
	}
	fmt.Fprintf(GinkgoWriter, "%s\n", r)
	return r
}

// lockedWriter serialises the stdout and stderr copiers of exec.Cmd.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// kubectl runs the cluster's kubectl against the suite's kubeconfig.
func kubectl(args ...string) result {
	return run(2*time.Minute, []string{"KUBECONFIG=" + cfg.Kubeconfig}, nil, cfg.Kubectl, args...)
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
