/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"time"

	"k8s.io/utils/clock"
)

// RecheckTimer is a timer that can be re-armed, for a wait that must look
// at an object again at a time of its choosing although no event arrives.
// Its channel is nil while it is not armed, so that a select on it blocks.
// The zero value with Clock set is ready to use.
type RecheckTimer struct {
	Clock clock.Clock

	timer clock.Timer
}

// Arm (re)starts the timer to fire at t; a zero t stops it.
func (r *RecheckTimer) Arm(t time.Time) {
	r.Stop()
	if !t.IsZero() {
		r.timer = r.Clock.NewTimer(t.Sub(r.Clock.Now()))
	}
}

// Stop stops the timer; its channel is nil afterwards.
func (r *RecheckTimer) Stop() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// C is the timer's channel, or nil while it is not armed.
func (r *RecheckTimer) C() <-chan time.Time {
	if r.timer == nil {
		return nil
	}
	return r.timer.C()
}
