/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

// How the VM watches the objects it waits on. Its own Pods, Secrets and
// Jobs are read through shared informers restricted to this peer's labels
// (objectCache, informer.go); a wait on one object subscribes to them
// through a kube.Tracker, so that the number of watches does not grow with
// the number of chaincodes. Watches of their own (kube.JobListWatch,
// kube.EventListWatch) remain for rare waits, bounded by the build timeout,
// on objects the informers do not see: another peer's build Job and the
// FailedCreate events of a build Job (build.go).
//
// Every delete names the UID of the object it means (kube.DeletePod,
// kube.DeleteSecret, kube.DeleteJob): a name can be reused by another
// object (a build Job of another peer, say) and the informer cache the UID
// was read from may lag.
//
// A container waiting to start fails its build or launch at once for a
// reason of isFatalWaiting, and when its image pull or its creation keeps
// failing for vm.k8s.imagePullTimeout (pullGrace).

// isFatalWaiting reports container waiting reasons that will not resolve on
// their own within a build or a chaincode launch.
func isFatalWaiting(reason string) bool {
	switch reason {
	case "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError":
		return true
	default:
		return false
	}
}
