/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package spec builds the objects the VM creates, as pure functions of the
// configuration and of per-object parameters: the Kaniko build Job
// (NewBuildJob), the chaincode Pod (NewChaincodePod) and its TLS Secret
// (NewTLSSecret), and the names they carry: object names, label values and
// the image references and tags derived from package IDs. Nothing here
// talks to the Kubernetes API; the VM creates, watches and deletes what it
// returns. Golden files in testdata pin every builder's output; run go test
// with -update to rewrite them after checking a change.
package spec
