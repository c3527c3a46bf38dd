/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

// Tests of builds that wait: for a build slot, for another peer's Job, and
// what ends the wait.

// heldBuilds makes the fake job controller's first attach wait until release
// is called, ignoring the build's context so that the held build keeps its
// slot; later attaches go through at once.
func heldBuilds(t *testing.T, vm *testVM) (attached <-chan string, release func()) {
	finish := vm.attacher.AttachStub
	ch := make(chan string, 4)
	released := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(released) }) }
	t.Cleanup(release)
	first := make(chan struct{}, 1)
	first <- struct{}{}
	vm.attacher.AttachStub = func(ctx context.Context, ns, pod, container string, stdin io.Reader) error {
		ch <- pod
		select {
		case <-first:
			<-released
		default:
		}
		return finish(ctx, ns, pod, container, stdin)
	}
	return ch, release
}

// oneBuildSlot returns a VM of cfg with a single build slot, whose builds the
// fake job controller completes, the first of them held (heldBuilds).
func oneBuildSlot(t *testing.T, cfg *config.Config) (vm *testVM, attached <-chan string, release func()) {
	cfg.MaxConcurrentBuilds = 1
	vm = newTestVM(t, cfg)
	newFakeJobController(t, vm, succeed)
	attached, release = heldBuilds(t, vm)
	return vm, attached, release
}

type buildResult struct {
	inst *Instance
	err  error
}

func buildAsync(vm *testVM, ccid string, pkg []byte) <-chan buildResult {
	return buildAsyncFrom(vm, ccid, bytes.NewReader(pkg))
}

func buildAsyncFrom(vm *testVM, ccid string, code io.Reader) <-chan buildResult {
	done := make(chan buildResult, 1)
	go func() {
		inst, err := vm.Build(ccid, goMetadata, code)
		r := buildResult{err: err}
		if inst != nil {
			r.inst = inst.(*Instance)
		}
		done <- r
	}()
	return done
}

const (
	otherCCID  = "othercc_1.0:9a5f1b2c4d6e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
	cachedCCID = "cachedcc_1.0:8a5f1b2c4d6e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
)

func TestBuildWaitsForFreeSlot(t *testing.T) {
	vm, attached, release := oneBuildSlot(t, testConfig())
	vm.registry.DigestCalls(func(_ context.Context, ref string) (string, error) {
		if strings.Contains(ref, "/cachedcc_1.0:") {
			return testDigest, nil
		}
		return "", nil
	})
	created := make(chan string, 4) // chaincode IDs of created Jobs
	vm.client.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created <- a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).Annotations[labels.CCIDAnnotation]
		return false, nil, nil
	})
	waiting := make(chan struct{}, 4)
	vm.slots.onWait = func() { waiting <- struct{}{} }

	first := buildAsync(vm, testCCID, goCodePackage(t))
	require.Equal(t, testCCID, <-created)
	<-attached // the first build holds the only slot

	second := buildAsync(vm, otherCCID, goCodePackage(t))
	select {
	case <-waiting:
	case ccid := <-created:
		t.Fatalf("build of %s created its Job while the only build slot was taken", ccid)
	}

	// a registry hit needs no slot
	inst, err := vm.Build(cachedCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(inst.(*Instance).Image, "@"+testDigest))

	require.Empty(t, created, "no Job created before the first build finishes")
	release()
	r := <-first
	require.NoError(t, r.err)
	require.Equal(t, otherCCID, <-created, "the waiting build goes on once the slot is free")
	r = <-second
	require.NoError(t, r.err)
	require.Equal(t, 2, vm.attacher.AttachCallCount())
}

func TestBuildSlotWaitTimesOut(t *testing.T) {
	cfg := testConfig()
	cfg.BuildTimeout = 200 * time.Millisecond
	cfg.StopTimeout = 100 * time.Millisecond
	vm, attached, release := oneBuildSlot(t, cfg)

	first := buildAsync(vm, testCCID, goCodePackage(t))
	<-attached
	_, err := vm.Build(otherCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.EqualError(t, err, "chaincode "+otherCCID+": waiting for one of 1 build slots (vm.k8s.maxConcurrentBuilds): "+
		"timed out after 200ms (vm.k8s.buildTimeout): context deadline exceeded")
	release()
	<-first
	require.Equal(t, 1, vm.attacher.AttachCallCount(), "the second build never started")
}

// startForBuilds starts vm (its informers are already running) so that
// Shutdown ends its requests.
func startForBuilds(t *testing.T, vm *testVM) {
	t.Helper()
	vm.Events = record.NewFakeRecorder(100)
	require.NoError(t, vm.Start(t.Context()))
	t.Cleanup(vm.Shutdown)
}

func TestBuildSlotWaitEndsAtShutdown(t *testing.T) {
	vm, attached, release := oneBuildSlot(t, testConfig())
	waiting := make(chan struct{}, 4)
	vm.slots.onWait = func() { waiting <- struct{}{} }
	startForBuilds(t, vm)

	first := buildAsync(vm, testCCID, goCodePackage(t))
	<-attached
	second := buildAsync(vm, otherCCID, goCodePackage(t))
	<-waiting
	vm.Shutdown()
	r := <-second
	require.EqualError(t, r.err, "chaincode "+otherCCID+": waiting for one of 1 build slots (vm.k8s.maxConcurrentBuilds): "+
		"the VM shut down: context canceled")
	release()
	<-first
	require.Equal(t, 1, vm.attacher.AttachCallCount(), "the second build never started")
}

// A build waiting for another peer's Job says which Job it waited for and
// whether the build timed out or the VM shut down.
func TestBuildForeignJobWaitEnds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shutdown bool
		want     string
	}{
		{"timeout", false, "timed out after 200ms (vm.k8s.buildTimeout): context deadline exceeded"},
		{"shutdown", true, "the VM shut down: context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if !tc.shutdown {
				cfg.BuildTimeout = 200 * time.Millisecond
				cfg.StopTimeout = 100 * time.Millisecond
			}
			vm := newTestVM(t, cfg)
			startForBuilds(t, vm)
			names := make(chan string, 2)
			vm.client.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
				// Another peer's build of the same image is running (and
				// never ends); the create fails with AlreadyExists.
				job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
				foreign := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: job.Name, Namespace: job.Namespace, UID: "foreign-uid"}}
				if err := vm.client.Tracker().Add(foreign); err != nil && !apierrors.IsAlreadyExists(err) {
					return true, nil, err
				}
				names <- job.Name
				return false, nil, nil
			})

			done := buildAsync(vm, testCCID, goCodePackage(t))
			name := <-names
			if tc.shutdown {
				// the informer's watch of Jobs, and the wait's own
				vm.watches.awaitWatches(t, map[string]int{"jobs": 2})
				vm.Shutdown()
			}
			r := <-done
			require.EqualError(t, r.err, "chaincode "+testCCID+": waiting for build job fabric/"+name+" of another peer: "+tc.want)
			require.Zero(t, vm.attacher.AttachCallCount())
		})
	}
}

func TestBuildJobWaitEndsAtShutdown(t *testing.T) {
	vm := newTestVM(t, testConfig()) // no job controller: the pod never appears
	startForBuilds(t, vm)
	created := make(chan string, 1)
	vm.client.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created <- a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).Name
		return false, nil, nil
	})

	done := buildAsync(vm, testCCID, goCodePackage(t))
	name := <-created
	vm.Shutdown()
	r := <-done
	require.EqualError(t, r.err, "chaincode "+testCCID+": build job fabric/"+name+": waiting for build pod: the VM shut down: context canceled")
	require.Empty(t, jobs(t, vm), "job deleted after the shutdown")
}
