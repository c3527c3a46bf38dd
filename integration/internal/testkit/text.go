/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package testkit holds what the integration suites (integration/e2e,
// integration/incluster), the test network (integration/network) and the
// bench (integration/bench) have in common: the last lines of a log or of a
// command's output, gzipped tar archives and chaincode packages, deleting a
// pod and waiting until it is gone, waiting for a CrashLoop Event, and the
// bootstrap of a Ginkgo suite (the checkout, the kubeconfig, the lines a
// suite reports and summarises at its end).
package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"strings"
	"sync"
)

// LastLines returns the last n lines of s (a log, a command's output),
// without the final newline: all of s when it has n lines or fewer.
func LastLines(s string, n int) string {
	lines, _ := lastLines(s, n)
	return strings.Join(lines, "\n")
}

// LastLinesElided is LastLines with a first line "..." when lines were left
// out.
func LastLinesElided(s string, n int) string {
	lines, cut := lastLines(s, n)
	if cut {
		lines = append([]string{"..."}, lines...)
	}
	return strings.Join(lines, "\n")
}

// lastLines splits s into lines and keeps the last n, reporting whether
// any were left out.
func lastLines(s string, n int) ([]string, bool) {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		return lines[len(lines)-n:], true
	}
	return lines, false
}

// FirstNonEmpty returns the first of v that is not empty, "" when all are:
// a setting from the first environment variable that is set, else a
// default.
func FirstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// RandomHex returns n random bytes in hexadecimal (2n characters): the
// suffix of a namespace or run of its own, or a digest nothing has.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// SyncWriter serialises writes to W: exec.Cmd copies a command's stdout and
// stderr in goroutines of their own when they are different writers.
type SyncWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (s *SyncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.W.Write(p)
}
