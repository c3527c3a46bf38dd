/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"sync"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/kube"
	"github.com/pkg/errors"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// launch is one Start of a chaincode: its Pod and TLS Secret, both named
// after the launch, and their UIDs once created.
type launch struct {
	ccid       string
	name       string // of the Pod and of its Secret
	tls        bool   // a Secret belongs to the launch
	generation uint64 // the supervisor's generation of the launch

	mu        sync.Mutex
	podUID    types.UID
	secretUID types.UID
}

func (l *launch) uids() (pod, secret types.UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.podUID, l.secretUID
}

func (l *launch) setPodUID(uid types.UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.podUID = uid
}

func (l *launch) setSecretUID(uid types.UID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.secretUID = uid
}

// launches is the VM's record of the current launch of each chaincode (the
// last Start that no Stop ended) and of the deletions of superseded launches
// still in flight. The sweep reads it to tell this run's live objects from
// leftovers without trusting the informer cache to have seen them.
type launches struct {
	mu       sync.Mutex
	current  map[string]*launch // by package ID
	closed   bool               // the VM shuts down: no new launch
	creating sync.WaitGroup     // launches creating their objects
	retiring sync.WaitGroup     // deletions of superseded launches
}

var errShutDown = errors.New("the Kubernetes chaincode VM is shut down")

// begin makes l the current launch of its chaincode and returns the launch
// it replaces, if any; call created once l's objects are created (or failed
// to be). It fails once the VM shuts down, so that no launch creates objects
// that outlive the peer: close waits for the launches that began before.
func (s *launches) begin(l *launch) (previous *launch, created func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, errShutDown
	}
	if s.current == nil {
		s.current = map[string]*launch{}
	}
	previous = s.current[l.ccid]
	s.current[l.ccid] = l
	s.creating.Add(1)
	var once sync.Once
	return previous, func() { once.Do(s.creating.Done) }, nil
}

// end removes ccid's current launch and returns it (nil when there is none).
func (s *launches) end(ccid string) *launch {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.current[ccid]
	delete(s.current, ccid)
	return l
}

// endIf removes l if it is still its chaincode's current launch.
func (s *launches) endIf(l *launch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current[l.ccid] == l {
		delete(s.current, l.ccid)
	}
}

// get returns ccid's current launch, or nil.
func (s *launches) get(ccid string) *launch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current[ccid]
}

// names returns the Pod (and Secret) names of the current launches.
func (s *launches) names() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make(map[string]bool, len(s.current))
	for _, l := range s.current {
		names[l.name] = true
	}
	return names
}

// retire runs f, the deletion of a superseded launch, in the background;
// close waits for it. It runs f at once when the VM shuts down.
func (s *launches) retire(f func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		f()
		return
	}
	s.retiring.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.retiring.Done()
		f()
	}()
}

// close lets no launch begin any more, waits for the launches creating
// their objects and for the deletions in flight, and returns the launches
// that were current.
func (s *launches) close() []*launch {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.creating.Wait()
	s.retiring.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	left := make([]*launch, 0, len(s.current))
	for _, l := range s.current {
		left = append(left, l)
	}
	s.current = nil
	return left
}

// deleteLaunch deletes the Pod of l, with gracePeriod, and its Secret. Each
// delete carries the object's UID as a precondition, so that it can only
// remove the object that launch created; an object whose UID is not known
// yet (its create may still be in flight) is read first. Missing objects
// are success.
func (vm *VM) deleteLaunch(ctx context.Context, l *launch, gracePeriod int64) error {
	ns := vm.Config.Namespace
	podUID, secretUID := l.uids()
	if podUID == "" {
		pod, err := vm.Client.CoreV1().Pods(ns).Get(ctx, l.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return errors.Wrapf(err, "cannot get pod %s/%s", ns, l.name)
		default:
			podUID = pod.UID
		}
	}
	if podUID != "" {
		if err := kube.DeletePod(ctx, vm.Client, ns, l.name, podUID, gracePeriod); err != nil {
			return err
		}
	}
	if !l.tls {
		return nil
	}
	// The Secret goes as soon as its pod is being deleted (the running
	// container keeps the copy it mounted), so that a peer that exits
	// before the pod's grace period ends leaves only a terminating pod.
	if secretUID == "" {
		secret, err := vm.Client.CoreV1().Secrets(ns).Get(ctx, l.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return errors.Wrapf(err, "cannot get secret %s/%s", ns, l.name)
		}
		secretUID = secret.UID
	}
	return kube.DeleteSecret(ctx, vm.Client, ns, l.name, secretUID)
}

// retireLaunch deletes a superseded launch in the background, with the
// chaincode's grace period: the new launch does not wait for it.
func (vm *VM) retireLaunch(l *launch) {
	if l == nil {
		return
	}
	ctx := context.WithoutCancel(vm.requestContext())
	vm.launches.retire(func() {
		ctx, cancel := context.WithTimeout(ctx, vm.Config.StopTimeout)
		defer cancel()
		if err := vm.deleteLaunch(ctx, l, vm.gracePeriodSeconds()); err != nil {
			// The sweep deletes what is left.
			logger.Warningf("Chaincode %s: cannot remove the pod of its previous launch: %s", l.ccid, err)
		}
	})
}

// gracePeriodSeconds is vm.k8s.gracePeriod in whole seconds.
func (vm *VM) gracePeriodSeconds() int64 {
	return int64(vm.Config.GracePeriod.Seconds())
}
