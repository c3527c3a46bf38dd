/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// podFloor creates a bare pod (host network, the chaincode runtime image,
// already on the node after a first unmeasured pod) n times and measures
// create call → the watch reporting phase Running. Each pod is deleted before
// the next one is created. With volumes, each pod mounts what a chaincode pod
// mounts, a Secret (created before the measured create) and an emptyDir.
func podFloor(ctx context.Context, cs kubernetes.Interface, ns, image string, n int, volumes bool) ([]float64, error) {
	prefix := "bench-floor-"
	if volumes {
		prefix = "bench-floor-volumes-"
	}
	var out []float64
	for i := 0; i <= n; i++ {
		d, err := onePod(ctx, cs, ns, fmt.Sprintf("%s%d", prefix, i), image, volumes)
		if err != nil {
			return out, err
		}
		if i > 0 { // the first pod only makes sure the image is on the node
			out = append(out, d.Seconds())
		}
	}
	return out, nil
}

func onePod(ctx context.Context, cs kubernetes.Interface, ns, name, image string, volumes bool) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pods := cs.CoreV1().Pods(ns)
	zero := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{labels.Prefix + "bench": "floor"}},
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &zero,
			AutomountServiceAccountToken:  new(bool),
			Containers: []corev1.Container{{
				Name:            "c",
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"sleep", "3600"},
			}},
		},
	}
	if volumes {
		secrets := cs.CoreV1().Secrets(ns)
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: pod.Labels},
			Data:       map[string][]byte{"client.crt": []byte("-")},
		}
		created, err := secrets.Create(ctx, secret, metav1.CreateOptions{})
		if err != nil {
			return 0, err
		}
		defer func() {
			_ = secrets.Delete(context.Background(), name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(created.UID))})
		}()
		pod.Spec.Volumes = []corev1.Volume{
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}},
		}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
			{Name: "tmp", MountPath: "/tmp"},
			{Name: "tls", MountPath: "/etc/hyperledger/fabric", ReadOnly: true},
		}
	}
	start := time.Now()
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return 0, err
	}
	defer func() {
		_ = pods.Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: metav1.NewUIDPreconditions(string(created.UID))})
	}()
	running := func(p *corev1.Pod) (bool, error) {
		switch p.Status.Phase {
		case corev1.PodRunning:
			return true, nil
		case corev1.PodFailed, corev1.PodSucceeded:
			return false, fmt.Errorf("pod %s ended: %s", name, p.Status.Phase)
		}
		return false, nil
	}
	// Watch from the created object; when the watch fails (e.g. a lagging
	// watch cache answers "Too large resource version"), read the pod and
	// watch again from there.
	rv := created.ResourceVersion
	for ctx.Err() == nil {
		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv})
		if err == nil {
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					break
				}
				if p, ok := ev.Object.(*corev1.Pod); ok {
					rv = p.ResourceVersion
					if ok, err := running(p); ok || err != nil {
						w.Stop()
						return time.Since(start), err
					}
				}
			}
			w.Stop()
		}
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		if ok, err := running(p); ok || err != nil {
			return time.Since(start), err
		}
		rv = p.ResourceVersion
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("pod %s not Running within 2m", name)
}

// dockerFloor times `docker run -d --network host <image> sleep` (create and
// start, returning once the container runs) n times after one unmeasured run.
func dockerFloor(d *Dockerd, image string, n int) ([]float64, error) {
	var out []float64
	for i := 0; i <= n; i++ {
		name := fmt.Sprintf("bench-floor-%d", i)
		start := time.Now()
		if _, err := d.Run(time.Minute, "run", "-d", "--network", "host", "--name", name, image, "sleep", "3600"); err != nil {
			return out, err
		}
		el := time.Since(start)
		if _, err := d.Run(time.Minute, "rm", "-f", name); err != nil {
			return out, err
		}
		if i > 0 {
			out = append(out, el.Seconds())
		}
	}
	return out, nil
}
