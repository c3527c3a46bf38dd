/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"sync"
	"time"

	"github.com/pkg/errors"
)

// lifecycle is what Start starts and Shutdown stops.
type lifecycle struct {
	mu     sync.Mutex
	ctx    context.Context // every request of the VM derives from it
	cancel context.CancelFunc
	events *eventPipeline // the broadcaster Start created, if any
	// ownInformers: Start started the shared informers and stops them.
	ownInformers bool
	// earlierSwept is closed once the first sweep has deleted (or failed
	// to delete) the Pods earlier runs of the peer left; launches wait for
	// it.
	earlierSwept chan struct{}
	// workers counts the VM's long-running goroutines: the sweeper, the
	// settings report, and the teardown that stops the relaunch loops and
	// the event broadcaster.
	workers sync.WaitGroup
}

// Start starts the VM's background work, bound to ctx: the event broadcaster
// (unless Events is already set), the periodic sweep, the report of the
// per-chaincode settings ConfigMap, and the context of relaunch loops. Every
// request the VM makes from then on derives from ctx. Cancelling ctx stops
// all of it, like Shutdown, without waiting. Start must be called once,
// before the VM builds or runs chaincode.
func (vm *VM) Start(ctx context.Context) error {
	vm.life.mu.Lock()
	defer vm.life.mu.Unlock()
	if vm.life.ctx != nil {
		return errors.New("k8scontroller: VM already started")
	}
	vm.life.ctx, vm.life.cancel = context.WithCancel(ctx)
	if !vm.cache.started() {
		if err := vm.startInformers(vm.life.ctx); err != nil {
			vm.life.cancel()
			vm.stopInformers()
			vm.life.ctx, vm.life.cancel = nil, nil
			return err
		}
		vm.life.ownInformers = true
	}

	if vm.Events == nil {
		vm.life.events = newEventPipeline(vm.Client, vm.PeerID)
		vm.Events = vm.life.events.recorder
	}
	vm.supervisor.Run(vm.life.ctx.Done())
	vm.life.earlierSwept = make(chan struct{})
	earlierSwept := vm.life.earlierSwept
	vm.goWorker(func(ctx context.Context) { vm.runSweeper(ctx, vm.Config.SweepInterval, earlierSwept) })
	vm.goWorker(vm.reportSettings)
	vm.goWorker(func(ctx context.Context) {
		<-ctx.Done()
		vm.teardown()
	})
	return nil
}

// awaitEarlierRunsSwept waits until the first sweep has deleted the Pods an
// earlier run of the peer left (after a crash of the peer, up to one per
// chaincode), so that a launch after a restart never runs next to the
// killed run's pod of its chaincode nor competes with it for room on the
// nodes. The sweep is bounded by StopTimeout. Before Start it returns at
// once.
func (vm *VM) awaitEarlierRunsSwept() error {
	vm.life.mu.Lock()
	swept, ctx := vm.life.earlierSwept, vm.life.ctx
	vm.life.mu.Unlock()
	if swept == nil {
		return nil
	}
	select {
	case <-swept:
		return nil
	case <-ctx.Done():
		return errShutDown
	}
}

// stopLaunches closes the VM to new launches and deletes the current ones,
// with their grace period, before deadline.
func (vm *VM) stopLaunches(deadline time.Time) {
	left := vm.launches.close()
	if len(left) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(vm.requestContext()), deadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range left {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := vm.deleteLaunch(ctx, l, vm.gracePeriodSeconds()); err != nil {
				logger.Warningf("Chaincode %s: not removed at shutdown (the next run's sweep removes it): %s", l.ccid, err)
			}
		}()
	}
	wg.Wait()
}

// goWorker runs f in a goroutine that Shutdown waits for; f must return
// when its context is done. Call it from Start only (vm.life.mu held).
func (vm *VM) goWorker(f func(ctx context.Context)) {
	ctx := vm.life.ctx
	vm.life.workers.Add(1)
	go func() {
		defer vm.life.workers.Done()
		f(ctx)
	}()
}

// teardown runs once the VM's context is done: it waits for the relaunch
// loops, so that their last events are recorded, lets no launch begin any
// more and deletes the launches the peer did not stop (one that began while
// the peer's container router stopped the others), waits for the pre-pulls
// to delete their DaemonSets, then flushes the pending events and stops the
// broadcaster, all within StopTimeout.
func (vm *VM) teardown() {
	deadline := time.Now().Add(vm.Config.StopTimeout)
	if !closedWithin(vm.supervisor.Shutdown(), time.Until(deadline)) {
		logger.Warningf("Kubernetes chaincode VM: relaunch loops still running after %s", vm.Config.StopTimeout)
	}
	vm.stopLaunches(deadline)
	if !vm.prePulls.close(deadline) {
		logger.Warningf("Kubernetes chaincode VM: pre-pulls still running after %s", vm.Config.StopTimeout)
	}
	vm.life.mu.Lock()
	events := vm.life.events
	vm.life.mu.Unlock()
	if events != nil && !events.stop(time.Until(deadline)) {
		logger.Warningf("Kubernetes chaincode VM: events not written within %s were dropped", vm.Config.StopTimeout)
	}
	if vm.life.ownInformers {
		vm.stopInformers()
	}
}

// Shutdown stops the VM: it cancels the context of Start, and with it every
// request in flight and the sweeper; a relaunch loop waiting out its backoff
// ends at once, one in the middle of a launch after it; the pending events
// are written and the broadcaster stopped. It waits at most StopTimeout for
// all of it. Builds, Starts and Waits after Shutdown fail at once. Calling it
// again, or on a VM never started, does nothing more.
func (vm *VM) Shutdown() {
	if !vm.shutdown(vm.Config.StopTimeout) {
		logger.Warningf("Kubernetes chaincode VM: shutdown did not finish within %s", vm.Config.StopTimeout)
	}
}

// shutdown cancels the VM's context and reports whether its goroutines ended
// within timeout.
func (vm *VM) shutdown(timeout time.Duration) bool {
	vm.life.mu.Lock()
	cancel := vm.life.cancel
	vm.life.mu.Unlock()
	if cancel == nil {
		return true
	}
	cancel()
	return waitGroupTimeout(&vm.life.workers, timeout)
}

// requestContext is the context the VM's requests derive from: the one given
// to Start, cancelled by Shutdown. A VM that was not started (one assembled
// by hand, as in tests) uses a context that is never cancelled.
func (vm *VM) requestContext() context.Context {
	vm.life.mu.Lock()
	defer vm.life.mu.Unlock()
	if vm.life.ctx == nil {
		return context.Background()
	}
	return vm.life.ctx
}

// waitGroupTimeout waits for wg at most timeout and reports whether it is
// done. On timeout, one goroutine remains until wg is done.
func waitGroupTimeout(wg *sync.WaitGroup, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return closedWithin(done, timeout)
}

// closedWithin waits at most timeout for ch to be closed and reports whether
// it was.
func closedWithin(ch <-chan struct{}, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
