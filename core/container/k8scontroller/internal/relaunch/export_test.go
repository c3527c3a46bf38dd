/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package relaunch

import "time"

// Backoff is p.backoff, for the tests.
func Backoff(p Policy, failures int) time.Duration {
	return p.backoff(failures)
}

// SetSpawn replaces how s starts a relaunch loop (go f()), so that a test
// can hold a loop.
func SetSpawn(s *Supervisor, spawn func(f func())) {
	s.spawn = spawn
}

// RecordCount is the number of chaincodes s keeps state for.
func RecordCount(s *Supervisor) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}
