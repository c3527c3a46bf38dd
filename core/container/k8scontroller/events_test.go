/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

const testBuildNamespace = "fabric-builds"

// awaitEvents collects the reasons of the next n events the watch on all
// namespaces sees, by namespace/kind of the involved object.
func awaitEvents(t *testing.T, client *fake.Clientset, n int, record func()) map[string]string {
	t.Helper()
	w, err := client.CoreV1().Events("").Watch(t.Context(), metav1.ListOptions{})
	require.NoError(t, err)
	defer w.Stop()
	record()
	got := map[string]string{}
	timeout := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case ev := <-w.ResultChan():
			e, ok := ev.Object.(*corev1.Event)
			require.True(t, ok, "%T", ev.Object)
			require.Equal(t, e.InvolvedObject.Namespace, e.Namespace, "event %s", e.Reason)
			got[e.Namespace+"/"+e.InvolvedObject.Kind] = e.Reason
		case <-timeout:
			t.Fatalf("%d of %d events written: %v", len(got), n, got)
		}
	}
	return got
}

func TestEventsAreWrittenInTheNamespaceOfTheirObject(t *testing.T) {
	client := fake.NewClientset()
	events := newEventPipeline(client, "peer0.org1.example.com")
	defer events.stop(time.Second)

	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "build-1", Namespace: testBuildNamespace, UID: "job-uid"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cc-1", Namespace: testNamespace, UID: "pod-uid"}}
	got := awaitEvents(t, client, 2, func() {
		events.recorder.Eventf(job, corev1.EventTypeNormal, reasonBuildStarted, "Building")
		events.recorder.Eventf(pod, corev1.EventTypeNormal, reasonLaunched, "Launched")
	})
	require.Equal(t, map[string]string{
		testBuildNamespace + "/Job": reasonBuildStarted,
		testNamespace + "/Pod":      reasonLaunched,
	}, got)
}
