/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Reasons of the Kubernetes events the VM records.
const (
	reasonBuildStarted   = "BuildStarted"
	reasonBuildSucceeded = "BuildSucceeded"
	reasonBuildFailed    = "BuildFailed"
	reasonLaunched       = "Launched"
	reasonRelaunched     = "Relaunched"
	reasonRelaunchFailed = "RelaunchFailed"
	reasonCrashLoop      = "CrashLoop"
	reasonOOMKilled      = "OOMKilled"
	reasonExited         = "Exited"
	reasonUnschedulable  = "Unschedulable"

	// reasonFailedCreate is the Job controller's event when it cannot
	// create a pod.
	reasonFailedCreate = "FailedCreate"
)

// eventRecorder is the part of record.EventRecorder the VM uses.
type eventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{})
}

// eventPipeline records events as component fabric-peer-k8s through a
// broadcaster whose sink writes each event in the namespace of the object it
// is about: the chaincode namespace for Pods, the build namespace for Jobs.
type eventPipeline struct {
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	// marker is the object of the flush event; the sink swallows that
	// event and closes flushed, so every event recorded before it has been
	// written (or given up on).
	marker  *corev1.ObjectReference
	flushed chan struct{}
}

// reasonFlush marks the event that stop records to flush the pipeline.
const reasonFlush = "Flush"

// newEventPipeline starts a broadcaster recording events of host peerID.
// stop shuts it down.
func newEventPipeline(client kubernetes.Interface, peerID string) *eventPipeline {
	p := &eventPipeline{
		broadcaster: record.NewBroadcaster(),
		marker: &corev1.ObjectReference{
			Kind: "EventFlush",
			Name: fieldManager,
			UID:  types.UID(fieldManager + "-flush-" + peerID),
		},
		flushed: make(chan struct{}),
	}
	// Events("") writes each event in its own namespace; a namespaced sink
	// refuses events of other namespaces.
	sink := &typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")}
	p.broadcaster.StartRecordingToSink(&flushSink{EventSink: sink, marker: p.marker.UID, flushed: p.flushed})
	p.recorder = p.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: fieldManager, Host: peerID})
	return p
}

// stop waits at most timeout for the events recorded so far to be written,
// then shuts the broadcaster down; later events are dropped. It reports
// whether the pending events were flushed.
func (p *eventPipeline) stop(timeout time.Duration) bool {
	p.recorder.Event(p.marker, corev1.EventTypeNormal, reasonFlush, "flush")
	t := time.NewTimer(timeout)
	defer t.Stop()
	flushed := true
	select {
	case <-p.flushed:
	case <-t.C:
		flushed = false
	}
	p.broadcaster.Shutdown()
	return flushed
}

// flushSink passes events to the API, except the flush marker, whose arrival
// it signals.
type flushSink struct {
	record.EventSink
	marker  types.UID
	flushed chan struct{}
}

func (s *flushSink) Create(e *corev1.Event) (*corev1.Event, error) {
	if e.InvolvedObject.UID == s.marker {
		select {
		case <-s.flushed:
		default:
			close(s.flushed)
		}
		return e, nil
	}
	return s.EventSink.Create(e)
}

// event records an event when the VM has a recorder.
func (vm *VM) event(obj runtime.Object, eventtype, reason, messageFmt string, args ...interface{}) {
	if vm.Events != nil {
		vm.Events.Eventf(obj, eventtype, reason, messageFmt, args...)
	}
}

// podRef refers to the pod of ccid's current launch, which may be gone by
// now; without a current launch, to the name of a pod of ccid's that never
// exists (launch ID "none"), so that the event still names the chaincode.
func (vm *VM) podRef(ccid string) *corev1.ObjectReference {
	ref := &corev1.ObjectReference{
		APIVersion: "v1",
		Kind:       "Pod",
		Namespace:  vm.Config.Namespace,
		Name:       spec.PodName(vm.NetworkID, vm.PeerID, ccid, "none"),
	}
	if l := vm.launches.get(ccid); l != nil {
		ref.Name = l.name
		ref.UID, _ = l.uids()
	}
	return ref
}

// relaunchReport turns what the supervisor does into logs, metrics and
// events on the chaincode's pod.
type relaunchReport struct {
	VM *VM
}

func (r relaunchReport) Relaunched(ccid string, downtime time.Duration) {
	logger.Infof("Chaincode %s: relaunched %.2fs after its pod ended", ccid, downtime.Seconds())
	r.VM.Metrics.Relaunches.With("chaincode", ccid).Add(1)
	r.VM.Metrics.RelaunchDuration.With("chaincode", ccid).Observe(downtime.Seconds())
	r.VM.event(r.VM.podRef(ccid), corev1.EventTypeNormal, reasonRelaunched,
		"Chaincode %s relaunched and registered %.2fs after its previous pod ended", ccid, downtime.Seconds())
}

func (r relaunchReport) RelaunchFailed(ccid string, attempt int, err error) {
	msg := "no new pod was started"
	if err != nil {
		msg = err.Error()
	}
	logger.Warningf("Chaincode %s: relaunch attempt %d failed: %s", ccid, attempt, msg)
	r.VM.event(r.VM.podRef(ccid), corev1.EventTypeWarning, reasonRelaunchFailed,
		"Relaunch attempt %d of chaincode %s failed: %s", attempt, ccid, msg)
}

func (r relaunchReport) CrashLoop(ccid string, failures int) {
	logger.Errorf("Chaincode %s: crash loop after %d consecutive failures; it will be launched again on demand only", ccid, failures)
	r.VM.Metrics.CrashLoops.With("chaincode", ccid).Add(1)
	r.VM.event(r.VM.podRef(ccid), corev1.EventTypeWarning, reasonCrashLoop,
		"Chaincode %s failed %d times in a row; no more automatic relaunches until the next transaction launches it", ccid, failures)
}

// maxEventMessage keeps event messages (which may carry a build log tail)
// readable in `kubectl describe`.
const maxEventMessage = 1024

// truncateMessage keeps the end of msg, where build errors are.
func truncateMessage(msg string) string {
	if len(msg) <= maxEventMessage {
		return msg
	}
	return "..." + msg[len(msg)-maxEventMessage+3:]
}
