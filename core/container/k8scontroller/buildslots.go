/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"sync"
)

// buildSlots bounds the image builds that run at once. The zero value is
// ready; its capacity is fixed by the first acquire.
type buildSlots struct {
	once  sync.Once
	slots chan struct{}
	// onWait, when set, is called when an acquire has to wait for a slot.
	onWait func()
}

// acquire waits for one of max slots or for ctx to end, and then returns
// the context's cause.
func (s *buildSlots) acquire(ctx context.Context, max int) error {
	s.once.Do(func() {
		if max < 1 {
			max = 1
		}
		s.slots = make(chan struct{}, max)
	})
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	if s.onWait != nil {
		s.onWait()
	}
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// release frees a slot taken by acquire.
func (s *buildSlots) release() {
	<-s.slots
}
