/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package k8scontroller implements Fabric's container.DockerBuilder and
// container.Instance on Kubernetes: chaincode images are built by a Kaniko Job
// and pushed to a registry, and chaincode runs as a Pod.
package k8scontroller
