/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package bridgeforward makes the registries that the local cluster
// (integration/cluster) runs on the host's loopback reachable from pods on
// its bridge network, which have no route to 127.0.0.1 of the host. A TCP
// forwarder on the bridge gateway (10.244.0.1, this host) closes that gap
// without touching the host's routing or firewall:
//
//	10.244.0.1:5000 -> 127.0.0.1:5000  registry (peer look-ups, Kaniko push/pull)
//	10.244.0.1:5050 -> 127.0.0.1:5050  its TLS instance (two-node cluster)
//
// The API server needs none: pods reach it through the kubernetes Service.
//
// Nothing leaves the machine.
package bridgeforward

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// Forwarder copies TCP connections accepted on Listen to Target.
type Forwarder struct {
	Listen, Target string
	// Shared is true when Listen was already taken, presumably by another
	// forwarder (another test run); nothing is served by this one.
	Shared bool

	lis net.Listener
	wg  sync.WaitGroup
}

// Start listens on listen and forwards to target. When listen is in use and
// probe (if non-nil) succeeds against it, the existing listener is reused.
func Start(listen, target string, probe func(addr string) bool) (*Forwarder, error) {
	f := &Forwarder{Listen: listen, Target: target}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) && probe != nil && probe(listen) {
			f.Shared = true
			return f, nil
		}
		return nil, fmt.Errorf("forwarder %s -> %s (is the cluster's bridge lc0 up?): %w", listen, target, err)
	}
	f.lis = lis
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *Forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.lis.Accept()
		if err != nil {
			return
		}
		go f.pipe(c)
	}
}

func (f *Forwarder) pipe(c net.Conn) {
	defer c.Close()
	u, err := net.DialTimeout("tcp", f.Target, 5*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(u, c)
		if tc, ok := u.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(c, u)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	<-done
}

// Close stops accepting; established connections end with their peers.
func (f *Forwarder) Close() {
	if f.lis != nil {
		f.lis.Close()
		f.wg.Wait()
	}
}

// TCPProbe reports whether something accepts connections on addr.
func TCPProbe(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
