/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package incluster runs the fabric-peer-k8s peer as a Pod: the peer image of
// images/peer (built by images/peer/build-local.sh) deployed with
// images/peer/deploy-local into a namespace of the local cluster, next to a
// host-process etcdraft orderer generated with Fabric's nwo. The suite
// (go test -tags e2e ./integration/incluster/...) checks least-privilege RBAC
// through /healthz, Pod Security admission, owner-reference garbage
// collection and a full chaincode lifecycle against the in-cluster peer.
package incluster
