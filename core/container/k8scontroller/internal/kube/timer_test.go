/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestRecheckTimer(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	r := RecheckTimer{Clock: clk}
	require.Nil(t, r.C(), "not armed")

	r.Arm(clk.Now().Add(time.Minute))
	r.Arm(clk.Now().Add(2 * time.Minute)) // re-armed: the first time is dropped
	clk.Step(time.Minute)
	select {
	case <-r.C():
		t.Fatal("fired at the time it was re-armed from")
	default:
	}
	clk.Step(time.Minute)
	select {
	case at := <-r.C():
		require.Equal(t, clk.Now(), at)
	default:
		t.Fatal("did not fire")
	}

	r.Arm(time.Time{})
	require.Nil(t, r.C(), "a zero time stops it")
	r.Arm(clk.Now().Add(time.Second))
	r.Stop()
	require.Nil(t, r.C())
	require.False(t, clk.HasWaiters(), "stopped timers are released")
}
