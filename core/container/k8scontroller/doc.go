/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package k8scontroller implements Fabric's container.DockerBuilder and
// container.Instance on Kubernetes: chaincode images are built by a Kaniko Job
// and pushed to a registry, and chaincode runs as a Pod.
//
// Focused parts live in packages of their own, which do not import this one:
// config reads and checks the vm.k8s.* keys and the per-chaincode settings,
// rbac lists the RBAC rules the peer needs, labels names the labels and
// annotations on the objects the VM creates, internal/buildcontext validates
// code packages and turns them into the build context streamed into the build
// pod, internal/registry looks images up in registries and reads the image a
// prebuilt package names, internal/relaunch relaunches chaincode whose pod
// ended without the peer asking, internal/kube holds the helpers over the
// Kubernetes API that know nothing of chaincode (list-watches, guarded
// deletes, container and Job status, the informer event tracker, pod attach),
// and internal/spec builds the objects the VM creates (the build Job, the
// chaincode Pod and its TLS Secret) and their names, without the API. This
// package keeps the orchestration: it implements Fabric's interfaces and
// creates, follows and deletes those objects.
package k8scontroller
