/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hyperledger/fabric/integration/nwo"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// launches returns the count and sum of successful chaincode_launch_duration
// observations for ccid on p: Fabric observes one when a launch (by the
// custodian at commit or install, by a request, or by the k8s VM's relaunch)
// ends with the chaincode registered.
func (v *vmRun) launches(p *nwo.Peer, ccid string) (count, sum float64, err error) {
	s, err := v.metrics(p)
	if err != nil {
		return 0, 0, err
	}
	m := map[string]string{"chaincode": ccid, "success": "true"}
	count, _ = sumWhere(s, "chaincode_launch_duration_count", m)
	sum, _ = sumWhere(s, "chaincode_launch_duration_sum", m)
	return count, sum, nil
}

// launchPollInterval is how often waitLaunches reads the peer's metrics: the
// resolution of the time the bench sees a launch end.
const launchPollInterval = 40 * time.Millisecond

// waitLaunches polls until p has observed more than `above` successful
// launches of ccid, or bound passes; it returns the time it took.
func (v *vmRun) waitLaunches(p *nwo.Peer, ccid string, above float64, bound time.Duration) (time.Duration, bool, error) {
	start := time.Now()
	for {
		n, _, err := v.launches(p, ccid)
		if err != nil {
			return 0, false, err
		}
		if n > above {
			return time.Since(start), true, nil
		}
		if time.Since(start) > bound {
			return time.Since(start), false, nil
		}
		time.Sleep(launchPollInterval)
	}
}

func (v *vmRun) floor() error {
	var s []float64
	var err error
	switch v.vm {
	case "k8s":
		s, err = podFloor(v.ctx, v.kube.Client, v.ns, v.h.PeerConfig.BaseOSImage, v.c.N, false)
		if err == nil {
			var sv []float64
			sv, err = podFloor(v.ctx, v.kube.Client, v.ns, v.h.PeerConfig.BaseOSImage, v.c.N, true)
			v.r.Samples[sFloorVolumes] = sv
		}
	case "docker":
		s, err = dockerFloor(v.dock, v.h.PeerConfig.BaseOSImage, v.c.N)
	}
	v.r.Samples[sFloor] = s
	return err
}

// pulledRE finds the pull time in the kubelet's Pulled event ("Successfully
// pulled image "x" in 1.02s (1.02s including waiting)...").
var pulledRE = regexp.MustCompile(`Successfully pulled image .* in ([0-9.]+[a-zµ]*s) `)

// imagePull is how long the kubelet took to pull the image of ccid's pod on
// p, from its Pulled event (0 when the image was already on the node).
func (v *vmRun) imagePull(p *nwo.Peer, ccid string) (time.Duration, error) {
	pod, err := v.runningPod(p, ccid)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, err := v.kube.Client.CoreV1().Events(v.ns).List(v.ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.name=" + pod.Name + ",reason=Pulled",
		})
		if err != nil {
			return 0, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.UID != pod.UID {
				continue
			}
			if strings.Contains(e.Message, "already present") {
				return 0, nil
			}
			if m := pulledRE.FindStringSubmatch(e.Message); m != nil {
				return time.ParseDuration(m[1])
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no Pulled event for pod %s", pod.Name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
