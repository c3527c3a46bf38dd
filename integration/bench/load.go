/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// load runs closed-loop invokes (endorse on Org1 through its gateway, order,
// wait for the commit) and then queries of kv1 from c.Clients clients.
func (v *vmRun) load() error {
	if len(v.kv) == 0 {
		return errors.New("no kv chaincode deployed")
	}
	cc := v.kv[0].Name
	g := v.gw[v.org1().ID()]
	// Org1's kv1 was SIGKILLed without traffic: DockerVM launches it on this
	// first request; with k8s it is already back.
	ctx, cancel := context.WithTimeout(v.ctx, 3*time.Minute)
	defer cancel()
	for i := 0; i < v.c.Clients; i++ {
		if err := g.Submit(ctx, cc, "put", fmt.Sprintf("key%d", i), "0"); err != nil {
			return fmt.Errorf("warm-up invoke: %w", err)
		}
	}
	v.r.Invoke = runLoad(v.c.Clients, v.c.Load, func(ctx context.Context, i, k int) error {
		return g.Submit(ctx, cc, "put", fmt.Sprintf("key%d", i), strconv.Itoa(k))
	})
	step("%s: invoke: %d ok, %d errors, %.1f tx/s, latency p50 %.1f ms", v.vm, v.r.Invoke.OK, v.r.Invoke.Errors, v.r.Invoke.PerSecond, p50(v.r.Invoke.LatencyMs))
	v.r.Query = runLoad(v.c.Clients, v.c.Load, func(ctx context.Context, i, k int) error {
		_, err := g.Evaluate(ctx, cc, "get", fmt.Sprintf("key%d", i))
		return err
	})
	step("%s: query: %d ok, %d errors, %.1f q/s, latency p50 %.1f ms", v.vm, v.r.Query.OK, v.r.Query.Errors, v.r.Query.PerSecond, p50(v.r.Query.LatencyMs))
	if v.r.Invoke.OK == 0 || v.r.Query.OK == 0 {
		return fmt.Errorf("load produced no successful operation (invoke: %s; query: %s)", v.r.Invoke.FirstErr, v.r.Query.FirstErr)
	}
	return nil
}

func p50(s *Summary) float64 {
	if s == nil {
		return 0
	}
	return s.P50
}
