/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package e2e holds the end-to-end tests of the Kubernetes chaincode VM
// (build tag e2e). They need `make binaries` and the local cluster of
// integration/cluster; see e2e_suite_test.go for the environment variables.
package e2e
