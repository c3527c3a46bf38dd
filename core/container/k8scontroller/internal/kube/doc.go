/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package kube holds small helpers over the Kubernetes API that know
// nothing of the objects' purpose: list-watches restricted by a selector and
// waits on them, deletes guarded by the UID of the object meant, the
// statuses of a pod's containers and of a Job, a Tracker that hands the
// events of a shared informer to waiters on single objects, and an Attacher
// that streams stdin into a running container.
package kube
