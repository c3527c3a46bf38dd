/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package buildcontext is the VM's boundary with untrusted chaincode input.
// It validates a code package (a gzip-compressed tar) and the chaincode path
// of its metadata before either reaches a build pod, and turns the package
// into the build context, the tar stream a build pod extracts: the package
// under InputDir, and ContextDir with the Dockerfile Kaniko builds. Every
// entry name, link and size is bounded, so that no archive, however
// crafted, writes or points outside InputDir or costs unbounded memory.
package buildcontext
