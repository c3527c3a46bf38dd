/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"bytes"
	"context"
	"io"

	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// attachStderrLimit bounds the container's stderr kept for the error of a
// failed attach.
const attachStderrLimit = 4096

// Attacher streams stdin into a running container through the pods/attach
// subresource, preferring WebSockets and falling back to SPDY like kubectl.
type Attacher struct {
	Config *rest.Config         // of the API server, for the streaming connection
	Client kubernetes.Interface // builds the attach request's URL
}

// Attach streams stdin into the container of pod namespace/pod until stdin
// ends or ctx does. Its error quotes the start of the container's stderr.
func (a *Attacher) Attach(ctx context.Context, namespace, pod, container string, stdin io.Reader) error {
	req := a.Client.CoreV1().RESTClient().Post().
		Namespace(namespace).Resource("pods").Name(pod).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{
			Container: container,
			Stdin:     true,
			Stderr:    true,
		}, scheme.ParameterCodec)

	ws, err := remotecommand.NewWebSocketExecutor(a.Config, "POST", req.URL().String())
	if err != nil {
		return errors.Wrap(err, "cannot create websocket executor")
	}
	spdy, err := remotecommand.NewSPDYExecutor(a.Config, "POST", req.URL())
	if err != nil {
		return errors.Wrap(err, "cannot create SPDY executor")
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return errors.Wrap(err, "cannot create executor")
	}

	stderr := &limitedBuffer{Max: attachStderrLimit}
	if err := exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stderr: stderr}); err != nil {
		return errors.Wrapf(err, "attach to %s/%s container %s failed (stderr: %q)", namespace, pod, container, stderr.String())
	}
	return nil
}

// limitedBuffer keeps the first Max bytes written to it.
type limitedBuffer struct {
	Max int
	buf bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.Max - l.buf.Len(); room > 0 {
		if len(p) > room {
			l.buf.Write(p[:room])
		} else {
			l.buf.Write(p)
		}
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return l.buf.String() }
