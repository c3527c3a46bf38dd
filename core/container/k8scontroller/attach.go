/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"io"
)

//go:generate go run github.com/maxbrunsfeld/counterfeiter/v6 -o mock/pod_attacher.go --fake-name PodAttacher . podAttacher

// podAttacher streams stdin into a running container. The VM attaches over
// the API (kube.Attacher); the unit tests use the fake in mock/.
type podAttacher interface {
	Attach(ctx context.Context, namespace, pod, container string, stdin io.Reader) error
}
