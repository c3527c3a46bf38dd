/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
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

	// reasonFailedCreate is the Job controller's event when it cannot
	// create a pod.
	reasonFailedCreate = "FailedCreate"
)

// eventRecorder is the part of record.EventRecorder the VM uses.
type eventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...interface{})
}

// newEventRecorder records events in namespace as component fabric-peer-k8s
// on host peerID. The returned function stops the broadcaster.
func newEventRecorder(client kubernetes.Interface, namespace, peerID string) (record.EventRecorder, func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events(namespace)})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: fieldManager, Host: peerID}), b.Shutdown
}

// event records an event when the VM has a recorder.
func (vm *VM) event(obj runtime.Object, eventtype, reason, messageFmt string, args ...interface{}) {
	if vm.Events != nil {
		vm.Events.Eventf(obj, eventtype, reason, messageFmt, args...)
	}
}

// podRef refers to the chaincode pod of ccid, which may be gone by now.
func (vm *VM) podRef(ccid string) *corev1.ObjectReference {
	return &corev1.ObjectReference{
		APIVersion: "v1",
		Kind:       "Pod",
		Namespace:  vm.Config.Namespace,
		Name:       podName(vm.NetworkID, vm.PeerID, ccid),
	}
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
