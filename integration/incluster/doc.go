/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package incluster runs the fabric-peer-k8s peer as a Pod in a network all
// in the cluster (integration/kubenet): the orderer of images/orderer
// (images/orderer/deploy-local) and Org1's peer of images/peer (built by
// images/build-local.sh, deployed with images/peer/deploy-local), each in its
// namespace, reached by name (the peers' Services, the orderer's Pod). The suite
// (go test -tags e2e ./integration/incluster/...) checks least-privilege RBAC
// through /healthz, Pod Security admission, owner-reference garbage
// collection and a full chaincode lifecycle against the in-cluster peer.
package incluster
