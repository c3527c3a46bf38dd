/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package relaunch_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/relaunch"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/relaunch/mock"
	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"
)

const testCCID = "mycc_1.0:3a5f1b2c4d6e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"

func testPolicy() relaunch.Policy {
	return relaunch.Policy{
		Enabled:            true,
		InitialBackoff:     time.Second,
		MaxBackoff:         8 * time.Second,
		CrashLoopThreshold: 3,
		StableAfter:        30 * time.Second,
	}
}

func TestRelaunchBackoff(t *testing.T) {
	p := testPolicy()
	for failures, want := range map[int]time.Duration{
		0: 0, 1: 0, 2: time.Second, 3: 2 * time.Second, 4: 4 * time.Second, 5: 8 * time.Second, 6: 8 * time.Second, 40: 8 * time.Second,
	} {
		require.Equal(t, want, relaunch.Backoff(p, failures), "failures=%d", failures)
	}
}

// harness drives a supervisor with a fake clock; its launch function plays
// the peer's launch path according to the test's script.
type harness struct {
	t        *testing.T
	clock    *clocktesting.FakeClock
	reporter *mock.Reporter
	sup      *relaunch.Supervisor
	gen      atomic.Uint64 // generation of the last start

	mu       sync.Mutex
	launches int
	script   func(n int) error // what launch number n (1-based) does
	done     chan struct{}     // receives after every launch
}

func newHarness(t *testing.T, p relaunch.Policy) *harness {
	h := &harness{
		t:        t,
		clock:    clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		reporter: &mock.Reporter{},
		done:     make(chan struct{}, 100),
	}
	h.sup = relaunch.New(p, h.clock, h.reporter)
	h.sup.SetLaunch(func(ccid string) error {
		require.Equal(t, testCCID, ccid)
		h.mu.Lock()
		h.launches++
		n, script := h.launches, h.script
		h.mu.Unlock()
		err := script(n)
		h.done <- struct{}{}
		return err
	})
	return h
}

// start simulates a pod start that registers.
func (h *harness) start() error {
	h.gen.Store(h.sup.Started(testCCID))
	return nil
}

// crash simulates a pod that starts and ends before registering.
func (h *harness) crash() error {
	h.gen.Store(h.sup.Started(testCCID))
	h.sup.Exited(testCCID, h.gen.Load())
	return errors.New("chaincode registration failed: container exited with 3")
}

// exitAfterStableRun launches testCCID, lets it run a minute (stable: its
// exit is relaunched at once) and ends its pod.
func (h *harness) exitAfterStableRun() {
	h.gen.Store(h.sup.Started(testCCID))
	h.clock.Step(time.Minute)
	h.sup.Exited(testCCID, h.gen.Load())
}

// crashIntoBackoff has testCCID relaunched after a stable run and crash
// on that launch: the loop then waits out its backoff on the fake clock.
func (h *harness) crashIntoBackoff() {
	h.t.Helper()
	h.script = func(int) error { return h.crash() }
	h.exitAfterStableRun()
	h.awaitLaunch()
	require.Eventually(h.t, h.clock.HasWaiters, 5*time.Second, time.Millisecond, "the relaunch loop is not in its backoff")
}

func (h *harness) awaitLaunch() {
	h.t.Helper()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		h.t.Fatal("no launch happened")
	}
}

// stepWhenWaiting advances the fake clock by d once the loop sleeps on it.
func (h *harness) stepWhenWaiting(d time.Duration) {
	h.t.Helper()
	require.Eventually(h.t, h.clock.HasWaiters, 5*time.Second, time.Millisecond, "the relaunch loop is not waiting for %s", d)
	h.clock.Step(d)
}

func (h *harness) launchCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.launches
}

func (h *harness) loopEnded() bool {
	return !h.sup.Looping(testCCID)
}

func TestRelaunchAfterCrashIsImmediate(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(int) error { return h.start() }

	h.exitAfterStableRun()
	h.awaitLaunch()

	require.Eventually(t, func() bool { return h.reporter.RelaunchedCallCount() == 1 }, 5*time.Second, time.Millisecond)
	ccid, downtime := h.reporter.RelaunchedArgsForCall(0)
	require.Equal(t, testCCID, ccid)
	require.Zero(t, downtime, "the first relaunch does not wait")
	require.Equal(t, 1, h.launchCount())
	require.Zero(t, h.reporter.CrashLoopCallCount())
	require.Eventually(t, h.loopEnded, 5*time.Second, time.Millisecond)
}

func TestNoRelaunchAfterDeliberateStop(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(int) error { return h.start() }

	h.gen.Store(h.sup.Started(testCCID))
	h.sup.Stopped(testCCID)
	h.sup.Exited(testCCID, h.gen.Load())

	require.Never(t, func() bool { return h.launchCount() > 0 }, 100*time.Millisecond, time.Millisecond)

	// A later launch by the peer re-arms the supervisor.
	h.exitAfterStableRun()
	h.awaitLaunch()
	require.Equal(t, 1, h.launchCount())
}

func TestNoRelaunchWhenDisabledOrNotArmed(t *testing.T) {
	p := testPolicy()
	p.Enabled = false
	h := newHarness(t, p)
	h.script = func(int) error { return h.start() }
	h.gen.Store(h.sup.Started(testCCID))
	h.sup.Exited(testCCID, h.gen.Load())

	unarmed := relaunch.New(testPolicy(), h.clock, h.reporter)
	unarmed.Exited(testCCID, unarmed.Started(testCCID))

	var none *relaunch.Supervisor // a VM without relaunch set up
	none.Exited(testCCID, none.Started(testCCID))

	require.Never(t, func() bool { return h.launchCount() > 0 }, 100*time.Millisecond, time.Millisecond)
	require.Zero(t, h.reporter.CrashLoopCallCount())
}

func TestCrashLoopStopsRelaunching(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(int) error { return h.crash() }

	h.gen.Store(h.sup.Started(testCCID))
	h.sup.Exited(testCCID, h.gen.Load()) // failure 1: a fast exit, relaunched after InitialBackoff
	h.stepWhenWaiting(time.Second)
	h.awaitLaunch() // failure 2
	h.stepWhenWaiting(time.Second)
	h.awaitLaunch() // failure 3
	h.stepWhenWaiting(2 * time.Second)
	h.awaitLaunch() // failure 4: over the threshold

	require.Eventually(t, func() bool { return h.reporter.CrashLoopCallCount() == 1 }, 5*time.Second, time.Millisecond)
	ccid, failures := h.reporter.CrashLoopArgsForCall(0)
	require.Equal(t, testCCID, ccid)
	require.Equal(t, 3, failures)
	require.Equal(t, 3, h.launchCount())
	require.Zero(t, h.reporter.RelaunchedCallCount())
	require.Eventually(t, h.loopEnded, 5*time.Second, time.Millisecond)

	// Launch-on-demand takes over: a launch by a transaction that crashes
	// fast again is reported, not relaunched.
	h.gen.Store(h.sup.Started(testCCID))
	h.sup.Exited(testCCID, h.gen.Load())
	require.Equal(t, 2, h.reporter.CrashLoopCallCount())
	require.Never(t, func() bool { return h.launchCount() > 3 }, 100*time.Millisecond, time.Millisecond)
}

func TestStableRunResetsFailures(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(n int) error {
		if n == 1 {
			return h.crash()
		}
		return h.start()
	}

	h.gen.Store(h.sup.Started(testCCID))
	h.sup.Exited(testCCID, h.gen.Load()) // failure 1, a fast exit
	h.stepWhenWaiting(time.Second)
	h.awaitLaunch() // crashes: failure 2
	h.stepWhenWaiting(time.Second)
	h.awaitLaunch() // registers
	require.Eventually(t, func() bool { return h.reporter.RelaunchedCallCount() == 1 }, 5*time.Second, time.Millisecond)
	_, downtime := h.reporter.RelaunchedArgsForCall(0)
	require.Equal(t, 2*time.Second, downtime)

	// It then runs for longer than StableAfter: the next crash is a first failure.
	h.clock.Step(time.Minute)
	h.sup.Exited(testCCID, h.gen.Load())
	h.awaitLaunch()
	require.Eventually(t, func() bool { return h.reporter.RelaunchedCallCount() == 2 }, 5*time.Second, time.Millisecond)
	require.Equal(t, 3, h.launchCount())
}

func TestRelaunchRetriesWhenNoPodStarts(t *testing.T) {
	h := newHarness(t, testPolicy())
	buildErr := errors.New("error building chaincode: registry unavailable")
	h.script = func(n int) error {
		if n == 1 {
			return buildErr
		}
		return h.start()
	}

	h.exitAfterStableRun()
	h.awaitLaunch()
	require.Eventually(t, func() bool { return h.reporter.RelaunchFailedCallCount() == 1 }, 5*time.Second, time.Millisecond)
	ccid, attempt, err := h.reporter.RelaunchFailedArgsForCall(0)
	require.Equal(t, testCCID, ccid)
	require.Equal(t, 1, attempt)
	require.Equal(t, buildErr, err)

	h.stepWhenWaiting(time.Second)
	h.awaitLaunch()
	require.Eventually(t, func() bool { return h.reporter.RelaunchedCallCount() == 1 }, 5*time.Second, time.Millisecond)
}

func TestRelaunchLoopYieldsToLaunchOnDemand(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(int) error { return errors.New("registry unavailable") }

	h.exitAfterStableRun()
	h.awaitLaunch() // fails without a pod: the loop backs off

	require.Eventually(t, h.clock.HasWaiters, 5*time.Second, time.Millisecond)
	h.sup.Started(testCCID) // a transaction launched it meanwhile
	h.clock.Step(time.Second)

	require.Eventually(t, h.loopEnded, 5*time.Second, time.Millisecond)
	require.Equal(t, 1, h.launchCount())
	require.Zero(t, h.reporter.CrashLoopCallCount())
}

func TestExitOfReplacedLaunchIsIgnored(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(int) error { return h.start() }

	old := h.sup.Started(testCCID)
	h.sup.Started(testCCID) // the peer launches again and deletes the old pod
	h.sup.Exited(testCCID, old)
	require.Never(t, func() bool { return h.launchCount() > 0 }, 100*time.Millisecond, time.Millisecond)
}

func TestStopDuringBackoffEndsLoop(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.crashIntoBackoff()

	h.sup.Stopped(testCCID)
	h.clock.Step(time.Second)

	require.Eventually(t, h.loopEnded, 5*time.Second, time.Millisecond)
	require.Equal(t, 1, h.launchCount())
}

// A transaction can launch the chaincode between its exit and the start of
// the relaunch loop: the loop must see that launch as someone else's and
// neither launch again nor count the healthy chaincode as a failure.
func TestRelaunchLoopStartingAfterLaunchOnDemandYields(t *testing.T) {
	h := newHarness(t, testPolicy())
	// Like ChaincodeSupport.Launch of a chaincode that is already running
	// and registered: no new pod, no error.
	h.script = func(int) error { return nil }
	held := make(chan func(), 1)
	relaunch.SetSpawn(h.sup, func(f func()) { held <- f })

	h.exitAfterStableRun()
	loop := <-held

	h.sup.Started(testCCID) // a transaction launches it before the loop runs

	ended := make(chan struct{})
	go func() {
		loop()
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatalf("the relaunch loop did not end; launches: %d, failed relaunches: %d",
			h.launchCount(), h.reporter.RelaunchFailedCallCount())
	}
	require.Zero(t, h.launchCount())
	require.Zero(t, h.reporter.RelaunchFailedCallCount())
	require.Zero(t, h.reporter.CrashLoopCallCount())
	require.True(t, h.loopEnded())
}

func TestShutdownEndsRelaunchLoopAfterLaunchInProgress(t *testing.T) {
	h := newHarness(t, testPolicy())
	done := make(chan struct{})
	h.sup.Run(done)
	launching, release := make(chan struct{}), make(chan struct{})
	h.script = func(int) error {
		close(launching)
		<-release
		return errors.New("context canceled")
	}

	h.exitAfterStableRun()
	<-launching
	close(done)
	ended := h.sup.Shutdown()
	close(release)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the relaunch loop did not end")
	}

	require.Equal(t, 1, h.launchCount())
	require.True(t, h.loopEnded())
	require.Zero(t, h.reporter.RelaunchFailedCallCount(), "a launch cut short by the shutdown is no failure")
	require.Zero(t, h.reporter.CrashLoopCallCount())
}

func TestFirstRelaunchAfterFastExitWaitsForTheFailingLaunch(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(int) error { return h.start() }

	// The pod ends right after its launch: Fabric's launch of it is still
	// failing, and a launch at once would join it.
	h.gen.Store(h.sup.Started(testCCID))
	h.sup.Exited(testCCID, h.gen.Load())
	require.Eventually(t, h.clock.HasWaiters, 5*time.Second, time.Millisecond, "the loop does not wait before its first launch")
	require.Zero(t, h.launchCount(), "relaunched while the failing launch may still be in flight")

	h.clock.Step(testPolicy().InitialBackoff)
	h.awaitLaunch()
	require.Eventually(t, func() bool { return h.reporter.RelaunchedCallCount() == 1 }, 5*time.Second, time.Millisecond)
	require.Zero(t, h.reporter.RelaunchFailedCallCount())
}

// Every upgrade launches a new package ID and stops the old one: the
// supervisor must not keep a record per package ID ever launched.
func TestRecordsOfStoppedChaincodesAreDropped(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(int) error { return h.start() }
	for k := 0; k < 100; k++ {
		ccid := fmt.Sprintf("mycc_%d:%064d", k, k)
		gen := h.sup.Started(ccid)
		h.sup.Stopped(ccid)
		h.sup.Exited(ccid, gen) // the stopped pod ends
	}
	require.Zero(t, relaunch.RecordCount(h.sup))

	// Stopped before its pod ended, or after: either way nothing is kept.
	for k := 0; k < 100; k++ {
		ccid := fmt.Sprintf("other_%d:%064d", k, k)
		gen := h.sup.Started(ccid)
		h.sup.Exited(ccid, gen+1) // an exit of an older pod: ignored
		h.sup.Stopped(ccid)
	}
	require.Zero(t, relaunch.RecordCount(h.sup))
	require.Zero(t, h.launchCount())
}

func TestRecordsDroppedWhenNothingRelaunches(t *testing.T) {
	p := testPolicy()
	p.Enabled = false
	h := newHarness(t, p)
	unarmed := relaunch.New(testPolicy(), h.clock, h.reporter)
	for k := 0; k < 100; k++ {
		ccid := fmt.Sprintf("mycc_%d:%064d", k, k)
		h.sup.Exited(ccid, h.sup.Started(ccid))
		unarmed.Exited(ccid, unarmed.Started(ccid))
	}
	require.Zero(t, relaunch.RecordCount(h.sup))
	require.Zero(t, relaunch.RecordCount(unarmed))
}

// A record dropped and created again must not take the exit of a pod of
// the dropped record for the exit of its own launch.
func TestExitOfDroppedRecordIsIgnored(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(int) error { return h.start() }

	old := h.sup.Started(testCCID)
	h.sup.Stopped(testCCID) // dropped
	h.sup.Started(testCCID) // launched again: a new record
	h.clock.Step(time.Minute)
	h.sup.Exited(testCCID, old) // the stopped pod ends late
	require.Never(t, func() bool { return h.launchCount() > 0 }, 100*time.Millisecond, time.Millisecond)
	require.Equal(t, 1, relaunch.RecordCount(h.sup))
}

func TestStopDuringRelaunchLoopDropsRecordWhenLoopEnds(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.crashIntoBackoff()

	h.sup.Stopped(testCCID)
	require.Equal(t, 1, relaunch.RecordCount(h.sup), "kept while the loop runs")
	h.clock.Step(time.Second)
	require.Eventually(t, func() bool { return relaunch.RecordCount(h.sup) == 0 }, 5*time.Second, time.Millisecond)
	require.Equal(t, 1, h.launchCount())
}

func TestStopDuringRelaunchDropsRecordWhenLoopEnds(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(int) error {
		_ = h.start()
		h.sup.Stopped(testCCID) // the peer stops the relaunched chaincode
		return nil
	}

	h.exitAfterStableRun()
	h.awaitLaunch()
	require.Eventually(t, h.loopEnded, 5*time.Second, time.Millisecond)
	require.Zero(t, relaunch.RecordCount(h.sup))
}

func TestCrashLoopRecordKeptUntilStopped(t *testing.T) {
	p := testPolicy()
	p.CrashLoopThreshold = 0
	h := newHarness(t, p)
	h.script = func(int) error { return h.start() }

	h.sup.Exited(testCCID, h.sup.Started(testCCID)) // crash looping at once
	require.Equal(t, 1, h.reporter.CrashLoopCallCount())
	require.Equal(t, 1, relaunch.RecordCount(h.sup), "its failures are remembered")
	h.sup.Exited(testCCID, h.sup.Started(testCCID)) // launched on demand, crashes again
	require.Equal(t, 2, h.reporter.CrashLoopCallCount())

	h.sup.Stopped(testCCID)
	require.Zero(t, relaunch.RecordCount(h.sup))
	require.Zero(t, h.launchCount())
}

// Pods deleted by someone else (kubectl delete, a drain) are relaunched
// every time, however fast: removals are no failures of the chaincode.
func TestRemovedPodsNeverCountAsCrashLoop(t *testing.T) {
	h := newHarness(t, testPolicy())
	h.script = func(int) error { return h.start() }

	for n := 1; n <= 2*testPolicy().CrashLoopThreshold; n++ {
		h.gen.Store(h.sup.Started(testCCID))
		h.sup.Removed(testCCID, h.gen.Load()) // a fast removal: relaunched after InitialBackoff
		h.stepWhenWaiting(time.Second)
		h.awaitLaunch()
		require.Eventually(t, func() bool { return h.reporter.RelaunchedCallCount() == n }, 5*time.Second, time.Millisecond, "removal %d", n)
		require.Eventually(t, h.loopEnded, 5*time.Second, time.Millisecond)
	}
	require.Zero(t, h.reporter.CrashLoopCallCount())
	require.Zero(t, h.reporter.RelaunchFailedCallCount())
}

// Removals neither add to nor reset the count of failures: a chaincode that
// crashed twice and then lost its pod to a removal still crash loops at its
// next failure over the threshold.
func TestRemovalKeepsTheCountOfFailures(t *testing.T) {
	p := testPolicy()
	p.CrashLoopThreshold = 2
	h := newHarness(t, p)
	h.script = func(int) error { return h.start() }

	for range 2 {
		h.gen.Store(h.sup.Started(testCCID))
		h.sup.Exited(testCCID, h.gen.Load())
		h.stepWhenWaiting(2 * time.Second)
		h.awaitLaunch()
		require.Eventually(t, h.loopEnded, 5*time.Second, time.Millisecond)
	}
	h.sup.Removed(testCCID, h.gen.Load())
	h.stepWhenWaiting(2 * time.Second)
	h.awaitLaunch()
	require.Eventually(t, h.loopEnded, 5*time.Second, time.Millisecond)
	require.Zero(t, h.reporter.CrashLoopCallCount(), "a removal is no failure")

	h.sup.Exited(testCCID, h.gen.Load()) // failure 3 in a row
	require.Equal(t, 1, h.reporter.CrashLoopCallCount())
	_, failures := h.reporter.CrashLoopArgsForCall(0)
	require.Equal(t, 2, failures)
	require.Equal(t, 3, h.launchCount())
}
