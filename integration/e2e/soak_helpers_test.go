//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"context"
	"fmt"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/gomega"
)

// Bounds of the soak: how far the peer's resources after the last cycle may
// be above those after the first. Goroutines and descriptors come and go
// with in-flight work (a relaunch, a gRPC stream); a leak of one per cycle
// exceeds the slack within 25 cycles. Resident memory grows until the Go
// heap has reached its working size, hence the base and a per-cycle share.
const (
	soakGoroutineSlack = 25
	soakFDSlack        = 25
	soakRSSBase        = 16 << 20
	soakRSSPerCycle    = 64 << 10
	// soakResample bounds the re-sampling of a last sample that exceeds
	// a bound: a transient peak passes, a leak stays.
	soakResample = 30 * time.Second
)

// soakSample is the peer's resources after one cycle.
type soakSample struct {
	cycle int
	network.Stats
}

// soakRecorder samples a peer's resources (network.PeerStats) during the
// self-healing cycles: after the first cycle, every tenth and the last.
type soakRecorder struct {
	n       *healNet
	peer    *nwo.Peer
	cycles  int
	samples []soakSample
}

func newSoakRecorder(n *healNet, p *nwo.Peer, cycles int) *soakRecorder {
	return &soakRecorder{n: n, peer: p, cycles: cycles}
}

// sample takes one sample and prints it as an E2E-SOAK line.
func (r *soakRecorder) sample(cycle int, note string) soakSample {
	ctx, cancel := context.WithTimeout(r.n.ctx, 30*time.Second)
	defer cancel()
	st, err := r.n.h.PeerStats(ctx, r.peer)
	ExpectWithOffset(2, err).NotTo(HaveOccurred(), "resources of %s after cycle %d", r.peer.ID(), cycle)
	s := soakSample{cycle: cycle, Stats: st}
	line := fmt.Sprintf("E2E-SOAK cycle=%d peer=%s rss_mib=%.1f fds=%d goroutines=%d heap_inuse_mib=%.1f",
		cycle, r.peer.ID(), mib(st.RSSBytes), st.FDs, st.Goroutines, mib(st.HeapInuseBytes))
	if note != "" {
		line += " note=" + note
	}
	recordLine(line)
	return s
}

// after is called once cycle i has finished.
func (r *soakRecorder) after(i int) {
	if i == 1 || i%10 == 0 || i == r.cycles {
		r.samples = append(r.samples, r.sample(i, ""))
	}
}

// exceeded lists the bounds that last exceeds relative to first.
func (r *soakRecorder) exceeded(first, last soakSample) []string {
	var out []string
	if last.Goroutines > first.Goroutines+soakGoroutineSlack {
		out = append(out, fmt.Sprintf("goroutines %d -> %d (bound +%d)", first.Goroutines, last.Goroutines, soakGoroutineSlack))
	}
	if last.FDs > first.FDs+soakFDSlack {
		out = append(out, fmt.Sprintf("open fds %d -> %d (bound +%d)", first.FDs, last.FDs, soakFDSlack))
	}
	if bound := first.RSSBytes + soakRSSBase + soakRSSPerCycle*int64(r.cycles); last.RSSBytes > bound {
		out = append(out, fmt.Sprintf("rss %.1f MiB -> %.1f MiB (bound %.1f MiB)", mib(first.RSSBytes), mib(last.RSSBytes), mib(bound)))
	}
	return out
}

// expectFlat asserts that the peer's goroutines, open descriptors and
// resident memory after the last cycle stay within the bounds above those
// after the first, and prints the comparison as an E2E-SOAK summary line. A
// last sample beyond a bound is taken again for up to soakResample.
func (r *soakRecorder) expectFlat() {
	ExpectWithOffset(1, r.samples).NotTo(BeEmpty(), "no sample taken")
	first, last := r.samples[0], r.samples[len(r.samples)-1]
	// The summary is printed whether or not the bounds hold.
	defer func() {
		recordLine(fmt.Sprintf("E2E-SOAK summary peer=%s cycles=%d samples=%d rss_mib=%.1f->%.1f fds=%d->%d goroutines=%d->%d heap_inuse_mib=%.1f->%.1f",
			r.peer.ID(), r.cycles, len(r.samples), mib(first.RSSBytes), mib(last.RSSBytes), first.FDs, last.FDs,
			first.Goroutines, last.Goroutines, mib(first.HeapInuseBytes), mib(last.HeapInuseBytes)))
	}()
	ExpectWithOffset(1, last.PID).To(Equal(first.PID), "the peer process was replaced during the cycles")
	if len(r.exceeded(first, last)) > 0 {
		EventuallyWithOffset(1, func() []string {
			last = r.sample(last.cycle, "resampled")
			return r.exceeded(first, last)
		}, soakResample, 5*time.Second).Should(BeEmpty(), "%s after %d cycles", r.peer.ID(), r.cycles)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
