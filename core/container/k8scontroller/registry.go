/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import "context"

//go:generate go run github.com/maxbrunsfeld/counterfeiter/v6 -o mock/image_registry.go --fake-name ImageRegistry . imageRegistry

// imageRegistry looks chaincode images up in the registry; New wires in
// internal/registry's Remote.
type imageRegistry interface {
	// Digest returns the manifest digest of ref, or "" when the image does
	// not exist.
	Digest(ctx context.Context, ref string) (string, error)
}
