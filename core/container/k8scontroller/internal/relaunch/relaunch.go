/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package relaunch supervises chaincode whose pod ended without the peer
// asking: it relaunches it through the peer's launch path with exponential
// backoff, and gives up on a chaincode that keeps failing (a crash loop),
// leaving it to Fabric's launch on demand.
package relaunch

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// LaunchFunc launches a chaincode through the peer's normal launch path
// (the peer wires in ChaincodeSupport.Launch): fresh TLS certificates, a new
// Secret and a new Pod, and it returns once the chaincode has registered.
type LaunchFunc func(ccid string) error

// Policy says when a chaincode whose pod ended without the peer asking is
// launched again. The VM's configuration names it vm.k8s.relaunch.
type Policy struct {
	// Enabled (vm.k8s.relaunch.enabled, true) turns proactive relaunch on.
	Enabled bool
	// InitialBackoff (vm.k8s.relaunch.initialBackoff, 1s) is the delay before
	// the second consecutive relaunch; the first one is immediate.
	InitialBackoff time.Duration
	// MaxBackoff (vm.k8s.relaunch.maxBackoff, 30s) caps the doubling delay.
	MaxBackoff time.Duration
	// CrashLoopThreshold (vm.k8s.relaunch.crashLoopThreshold, 5) is the
	// number of consecutive fast failures (exits of the chaincode, failed
	// relaunches; not pods deleted or evicted by others) after which the
	// chaincode is reported as crash looping and left to launch-on-demand.
	CrashLoopThreshold int
	// StableAfter (vm.k8s.relaunch.stableAfter, 30s): a chaincode that ran at
	// least this long before exiting starts a fresh count of failures.
	StableAfter time.Duration
}

// backoff is the delay before relaunch attempt number failures (1-based).
func (p Policy) backoff(failures int) time.Duration {
	if failures <= 1 {
		return 0
	}
	d := p.InitialBackoff
	for n := 2; n < failures && d < p.MaxBackoff; n++ {
		d *= 2
	}
	if d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	return d
}

// Reporter is told what the supervisor does, for logs, metrics and
// Kubernetes events.
//
//go:generate go run github.com/maxbrunsfeld/counterfeiter/v6 -o mock/reporter.go --fake-name Reporter . Reporter
type Reporter interface {
	Relaunched(ccid string, downtime time.Duration)
	RelaunchFailed(ccid string, attempt int, err error)
	CrashLoop(ccid string, failures int)
}

// Supervisor relaunches chaincode whose pod ended without the peer asking
// (crash, OOM kill, eviction, deleted pod), with exponential backoff, and
// stops after CrashLoopThreshold consecutive fast failures. A deliberate stop
// (Stopped) disarms it until the next launch (Started). Its relaunch loops
// end when the channel given to Run is closed (the VM shuts down); Shutdown
// waits for them. The VM tells it of every launch, stop and end of a pod.
// All its methods but Looping may be called on a nil Supervisor (relaunch
// not set up), where they do nothing.
//
// It keeps a record per chaincode only while one is needed, since every
// upgrade launches a new package ID: from the chaincode's launch until a
// deliberate stop (Fabric's custodian stops the package IDs an upgrade
// replaced; a relaunch loop running then releases it when it ends), or
// until its pod ended while nothing relaunches (relaunch off or not armed,
// shutdown). A chaincode left crash looping keeps its record until it is
// stopped, so that a fast exit after a launch on demand still counts as one
// more failure. Generations come from one counter for all chaincodes: the
// exit of a pod launched before its record was dropped can never match the
// generation of a record created later.
type Supervisor struct {
	Policy   Policy
	Clock    clock.Clock
	Reporter Reporter
	// spawn starts a relaunch loop (go f()); tests hold loops with it.
	spawn func(f func())

	mu         sync.Mutex
	launch     LaunchFunc
	records    map[string]*record
	generation uint64          // the last generation given out, for any chaincode
	done       <-chan struct{} // closed when the VM shuts down; nil until Run
	closed     bool            // shutdown began: no new loops
	loops      sync.WaitGroup
}

// record is the supervisor's state for one chaincode.
type record struct {
	generation uint64    // given by every Started, unique in the supervisor
	startedAt  time.Time // of the current generation
	stopped    bool      // a deliberate stop (Stopped) since the last Started
	failures   int       // consecutive fast exits
	looping    bool      // a relaunch loop is running
	pending    bool      // an exit happened while the loop was launching
	exitedAt   time.Time // of the exit that started the loop
}

// New returns a supervisor that relaunches as p says, times its backoff with
// c and reports to r. It relaunches nothing until SetLaunch arms it.
func New(p Policy, c clock.Clock, r Reporter) *Supervisor {
	return &Supervisor{
		Policy:   p,
		Clock:    c,
		Reporter: r,
		spawn:    func(f func()) { go f() },
		records:  map[string]*record{},
	}
}

// SetLaunch arms the supervisor with the peer's launch path; until then
// exits are only recorded.
func (s *Supervisor) SetLaunch(f LaunchFunc) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.launch = f
}

// Run ties the relaunch loops to done: a loop waiting out its backoff ends
// as soon as done is closed, one that is launching ends after the launch.
func (s *Supervisor) Run(done <-chan struct{}) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = done
}

// Shutdown lets no new relaunch loop start and returns a channel that is
// closed once the running ones ended (the channel given to Run must be
// closed for loops waiting out a backoff to end).
func (s *Supervisor) Shutdown() <-chan struct{} {
	ended := make(chan struct{})
	if s == nil {
		close(ended)
		return ended
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	go func() {
		s.loops.Wait()
		close(ended)
	}()
	return ended
}

// shuttingDown tells whether loops must end. Call with s.mu held.
func (s *Supervisor) shuttingDown() bool {
	if s.closed {
		return true
	}
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Looping reports whether a relaunch loop runs for ccid.
func (s *Supervisor) Looping(ccid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.records[ccid]
	return ok && c.looping
}

// Started records that a launch of ccid begins and returns its generation,
// which the launch's exit must quote (Exited, Removed). Generations are
// never 0; on a nil Supervisor it returns 0.
func (s *Supervisor) Started(ccid string) uint64 {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.records[ccid]
	if !ok {
		c = &record{}
		s.records[ccid] = c
	}
	s.generation++
	c.generation = s.generation
	c.startedAt = s.Clock.Now()
	c.stopped = false
	return c.generation
}

// Stopped records a deliberate stop of ccid: the exit that follows is
// expected. Unless a relaunch loop still has to see the stop, the record is
// dropped.
func (s *Supervisor) Stopped(ccid string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.records[ccid]; ok {
		c.stopped = true
		s.release(ccid, c)
	}
}

// release drops the record c of ccid, whose last launch is over with
// nothing left to do, unless a relaunch loop still holds it (the loop
// releases it when it ends). Call with s.mu held.
func (s *Supervisor) release(ccid string, c *record) {
	if !c.looping && s.records[ccid] == c {
		delete(s.records, ccid)
	}
}

// endLoop marks the relaunch loop of c as ended and releases c if the
// chaincode was stopped on purpose meanwhile (Stopped left it to the loop).
// Call with s.mu held.
func (s *Supervisor) endLoop(ccid string, c *record) {
	c.looping = false
	if c.stopped {
		s.release(ccid, c)
	}
}

// Exited records that the chaincode of launch generation of ccid ended on
// its own (it exited, crashed or could not start): one more failure when it
// ran less than StableAfter. It relaunches the chaincode unless the exit was
// asked for, a later launch replaced that pod, relaunch is off, or the
// chaincode is crash looping.
func (s *Supervisor) Exited(ccid string, generation uint64) {
	s.ended(ccid, generation, true)
}

// Removed records that the pod of launch generation of ccid was deleted or
// evicted by someone other than the peer (kubectl delete, a drain, the node
// going away): it is relaunched like after an exit, but the removal is no
// failure of the chaincode and does not count towards a crash loop.
func (s *Supervisor) Removed(ccid string, generation uint64) {
	s.ended(ccid, generation, false)
}

// ended is Exited (failed) or Removed (not failed).
func (s *Supervisor) ended(ccid string, generation uint64, failed bool) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.records[ccid]
	if !ok || c.stopped || generation != c.generation {
		// Stopped on purpose, or a later launch replaced that pod.
		return
	}
	if !s.Policy.Enabled || s.launch == nil || s.shuttingDown() {
		// Nothing will relaunch it: the next launch starts afresh.
		s.release(ccid, c)
		return
	}
	now := s.Clock.Now()
	if failed {
		if now.Sub(c.startedAt) >= s.Policy.StableAfter {
			c.failures = 0
		}
		c.failures++
	}
	if c.looping {
		c.pending = true
		return
	}
	if c.failures > s.Policy.CrashLoopThreshold {
		if failed {
			s.Reporter.CrashLoop(ccid, c.failures-1)
		}
		return
	}
	c.looping, c.exitedAt = true, now
	// A pod that ended soon after its launch may end a launch still in
	// flight in the peer, about to fail with that exit: relaunching at once
	// would join it and count the same exit twice.
	firstDelay := time.Duration(0)
	if now.Sub(c.startedAt) < s.Policy.StableAfter {
		firstDelay = s.Policy.InitialBackoff
	}
	s.loops.Add(1)
	s.spawn(func() {
		defer s.loops.Done()
		s.relaunchLoop(ccid, c, generation, firstDelay)
	})
}

// relaunchLoop launches ccid, whose launch exitedGeneration ended, until a
// launch leads to a new pod that is not already gone again, the chaincode is
// stopped or launched by someone else, it crash loops, or the VM shuts down.
// The first attempt waits at least firstDelay.
func (s *Supervisor) relaunchLoop(ccid string, c *record, exitedGeneration uint64, firstDelay time.Duration) {
	for attempt := 1; ; attempt++ {
		s.mu.Lock()
		if c.failures > s.Policy.CrashLoopThreshold {
			s.endLoop(ccid, c)
			failures := c.failures - 1
			s.mu.Unlock()
			s.Reporter.CrashLoop(ccid, failures)
			return
		}
		if c.stopped || c.generation != exitedGeneration || s.shuttingDown() {
			// Stopped on purpose, launched on demand already, or the VM
			// shuts down: nothing to relaunch.
			s.endLoop(ccid, c)
			s.mu.Unlock()
			return
		}
		delay, done := s.Policy.backoff(c.failures), s.done
		if attempt == 1 && delay < firstDelay {
			delay = firstDelay
		}
		s.mu.Unlock()

		if delay > 0 {
			select {
			case <-s.Clock.After(delay):
			case <-done:
			}
		}

		s.mu.Lock()
		if c.stopped || c.generation != exitedGeneration || s.shuttingDown() {
			// Stopped on purpose, launched on demand meanwhile, or the VM
			// shuts down.
			s.endLoop(ccid, c)
			s.mu.Unlock()
			return
		}
		c.pending = false
		launch := s.launch
		s.mu.Unlock()

		err := launch(ccid)

		s.mu.Lock()
		switch {
		case s.shuttingDown():
			// The launch was cut short by the shutdown: not a failure.
			s.endLoop(ccid, c)
			s.mu.Unlock()
			return
		case c.pending:
			// The relaunched pod already ended and Exited counted it.
			exitedGeneration = c.generation
			s.mu.Unlock()
		case c.generation != exitedGeneration && err == nil:
			s.endLoop(ccid, c)
			downtime := s.Clock.Since(c.exitedAt)
			s.mu.Unlock()
			s.Reporter.Relaunched(ccid, downtime)
			return
		default:
			// No new pod (the build failed or a stale registration
			// answered), or it never registered: count it and retry.
			exitedGeneration = c.generation
			c.failures++
			s.mu.Unlock()
			s.Reporter.RelaunchFailed(ccid, attempt, err)
		}
	}
}
