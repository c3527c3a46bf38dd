/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/core/container/dockercontroller"
	"github.com/hyperledger/fabric/integration/nwo"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
)

// phaseWatch follows the bench's namespace while chaincodes are deployed
// (k8s), so that a build can be split into phases after the VM has deleted
// its Job and pod, and a launch's pod creation is timed by the bench's own
// clock. It uses the bench's client, not a peer's, so the peers' API
// request counts do not include it.
type phaseWatch struct {
	pods *network.PodLog
	jobs *network.JobRecorder
}

// startPhaseWatch starts watching pods and Jobs (k8s; nil for docker).
func (v *vmRun) startPhaseWatch() (*phaseWatch, error) {
	if v.vm != "k8s" {
		return nil, nil
	}
	pods, err := v.kube.WatchPods(v.ctx)
	if err != nil {
		return nil, fmt.Errorf("watching the pods of %s: %w", v.ns, err)
	}
	jobs, err := v.kube.RecordJobs(v.ctx)
	if err != nil {
		pods.Stop()
		return nil, fmt.Errorf("watching the Jobs of %s: %w", v.ns, err)
	}
	return &phaseWatch{pods: pods, jobs: jobs}, nil
}

func (w *phaseWatch) stop() {
	if w == nil {
		return
	}
	w.pods.Stop()
	w.jobs.Stop()
}

// buildPhases splits the install of cc on p, with a build, into phases and
// keeps them with the sample; start and end bound the install CLI. What
// cannot be observed is noted: the measurement stands either way.
func (v *vmRun) buildPhases(w *phaseWatch, p *nwo.Peer, cc nwo.Chaincode, start, end time.Time) {
	ph, err := v.observeBuild(w, p, cc, start, end)
	if err != nil {
		v.note("build phases of %s not taken: %v", cc.Label, err)
		return
	}
	ph.Label = cc.Label
	v.addPhases(sInstallBuild, ph)
}

func (v *vmRun) observeBuild(w *phaseWatch, p *nwo.Peer, cc nwo.Chaincode, start, end time.Time) (Phases, error) {
	if v.vm == "docker" {
		out, err := v.dock.Run(time.Minute, "events", "--since", unixNano(start), "--until", unixNano(end), "--format", "{{json .}}")
		if err != nil {
			return Phases{}, fmt.Errorf("reading the daemon's events: %w", err)
		}
		evs, err := parseDockerEvents([]byte(out))
		if err != nil {
			return Phases{}, err
		}
		image, err := (&dockercontroller.DockerVM{NetworkID: v.n.NetworkID, PeerID: p.ID()}).GetVMNameForDocker(cc.PackageID)
		if err != nil {
			return Phases{}, fmt.Errorf("naming the image: %w", err)
		}
		return dockerBuild{Events: evs, Builder: v.h.PeerConfig.CCEnvImage, Image: image, Start: start, Returned: end}.phases(), nil
	}
	if w == nil {
		return Phases{}, errors.New("the namespace was not watched")
	}
	seen := w.pods.Find(func(pod *corev1.Pod) bool {
		return network.IsBuildPod(pod) && pod.Annotations[network.AnnotationCCID] == cc.PackageID && pod.Labels[network.LabelPeerID] == p.ID()
	})
	if len(seen) == 0 {
		return Phases{}, fmt.Errorf("no build pod of %s seen", cc.PackageID)
	}
	// One Job per image and no retries (backoffLimit 0): more than one
	// pod means another build of the same package; the last one is this
	// install's.
	ps := seen[len(seen)-1]
	var job *batchv1.Job
	if name := jobOf(ps.Pod); name != "" {
		job = w.jobs.Job(name)
	}
	events, err := v.podEvents(ps.Pod.UID)
	if err != nil {
		return Phases{}, err
	}
	ph := k8sBuild{Job: job, Pod: ps.Pod, Events: events, FirstSeen: ps.FirstSeen, Start: start, Returned: end}.phases()
	if len(seen) > 1 {
		ph.Notes = append(ph.Notes, fmt.Sprintf("%d build pods of the package seen; the last one is used", len(seen)))
	}
	return ph, nil
}

// jobOf is the name of the Job that owns a pod.
func jobOf(pod *corev1.Pod) string {
	if name := pod.Labels[network.LabelJobName]; name != "" {
		return name
	}
	for _, o := range pod.OwnerReferences {
		if o.Kind == "Job" {
			return o.Name
		}
	}
	return ""
}

// launchPhases splits the first launch of cc on p into phases and keeps them
// with the sample: the bench saw the launch metric at registered, and the
// peer measured the launch as launch.
func (v *vmRun) launchPhases(w *phaseWatch, p *nwo.Peer, cc nwo.Chaincode, registered time.Time, launch time.Duration) {
	ph, err := v.observeLaunch(w, p, cc, registered, launch)
	if err != nil {
		v.note("launch phases of %s not taken: %v", cc.Label, err)
		return
	}
	ph.Label = cc.Label
	v.addPhases(sFirstLaunchPeer, ph)
}

func (v *vmRun) observeLaunch(w *phaseWatch, p *nwo.Peer, cc nwo.Chaincode, registered time.Time, launch time.Duration) (Phases, error) {
	start := registered.Add(-launch)
	if v.vm == "docker" {
		name := (&dockercontroller.DockerVM{NetworkID: v.n.NetworkID, PeerID: p.ID()}).GetVMName(cc.PackageID)
		out, err := v.dock.Run(time.Minute, "inspect", "--type", "container", name)
		if err != nil {
			return Phases{}, err
		}
		return dockerLaunch{Inspect: []byte(out), Start: start, Registered: registered, PollRes: launchPollInterval}.phases()
	}
	pod, err := v.runningPod(p, cc.PackageID)
	if err != nil {
		return Phases{}, err
	}
	var firstSeen time.Time
	if w != nil {
		if s, ok := w.pods.Seen(pod.UID); ok {
			firstSeen = s.FirstSeen
		}
	}
	events, err := v.podEvents(pod.UID)
	if err != nil {
		return Phases{}, err
	}
	return k8sLaunch{Pod: pod, Events: events, FirstSeen: firstSeen, Start: start, Registered: registered, PollRes: launchPollInterval}.phases(), nil
}

// podEvents lists the events about one pod.
func (v *vmRun) podEvents(uid types.UID) ([]corev1.Event, error) {
	evs, err := v.kube.Client.CoreV1().Events(v.ns).List(v.ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.uid", string(uid)).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("listing the events of pod %s: %w", uid, err)
	}
	return evs.Items, nil
}

// unixNano is t as `docker events --since` takes it.
func unixNano(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}
