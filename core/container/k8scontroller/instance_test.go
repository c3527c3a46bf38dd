/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hyperledger/fabric/core/container/ccintf"
	"github.com/pkg/errors"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

var testTLS = &ccintf.PeerConnection{
	Address: "peer0.org1.example.com:7052",
	TLSConfig: &ccintf.TLSConfig{
		ClientKey:  []byte("key"),
		ClientCert: []byte("cert"),
		RootCert:   []byte("root"),
	},
}

const testImage = "localhost:5000/fabric-cc/mycc_1.0:tag@" + testDigest

func getPod(t *testing.T, vm *testVM, name string) (*corev1.Pod, error) {
	return vm.client.CoreV1().Pods(testNamespace).Get(context.Background(), name, metav1.GetOptions{})
}

func getSecret(t *testing.T, vm *testVM, name string) (*corev1.Secret, error) {
	return vm.client.CoreV1().Secrets(testNamespace).Get(context.Background(), name, metav1.GetOptions{})
}

func TestStartCreatesSecretAndPod(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.Owner = testOwner
	vm.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).UID = "pod-uid"
		return false, nil, nil
	})
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))

	pod, err := getPod(t, vm, inst.PodName)
	require.NoError(t, err)
	require.Equal(t, testImage, pod.Spec.Containers[0].Image)
	require.Equal(t, []string{"chaincode", "-peer.address=peer0.org1.example.com:7052"}, pod.Spec.Containers[0].Args)
	require.Contains(t, pod.Spec.Containers[0].Env, corev1.EnvVar{Name: "CORE_PEER_TLS_ENABLED", Value: "true"})
	require.Contains(t, pod.Spec.Containers[0].Env, corev1.EnvVar{Name: "CORE_PEER_LOCALMSPID", Value: "Org1MSP"})
	require.Equal(t, inst.SecretName, pod.Spec.Volumes[1].Secret.SecretName)
	require.Equal(t, []metav1.OwnerReference{*testOwner}, pod.OwnerReferences)

	secret, err := getSecret(t, vm, inst.SecretName)
	require.NoError(t, err)
	require.Equal(t, "a2V5", string(secret.Data["client.key"]))
	require.Equal(t, "key", string(secret.Data["client_pem.key"]))
	require.Equal(t, "root", string(secret.Data["peer.crt"]))
	require.Equal(t, []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: inst.PodName, UID: "pod-uid"}},
		secret.OwnerReferences, "the secret is owned by its pod only")

	writes := 0
	for _, a := range vm.client.Actions() {
		switch a := a.(type) {
		case k8stesting.CreateActionImpl:
			writes++
			require.Equal(t, fieldManager, a.CreateOptions.FieldManager, a)
		case k8stesting.PatchActionImpl:
			writes++
			require.Equal(t, fieldManager, a.PatchOptions.FieldManager, a)
		}
	}
	require.Equal(t, 3, writes, "secret create, pod create, secret patch")
}

func TestStartWithoutTLS(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst := vm.newInstance(testCCID, "NODE", testImage)
	require.NoError(t, inst.Start(&ccintf.PeerConnection{Address: "peer0:7052"}))

	pod, err := getPod(t, vm, inst.PodName)
	require.NoError(t, err)
	require.Contains(t, pod.Spec.Containers[0].Env, corev1.EnvVar{Name: "CORE_PEER_TLS_ENABLED", Value: "false"})
	require.Len(t, pod.Spec.Volumes, 1, "no TLS volume")
	_, err = getSecret(t, vm, inst.SecretName)
	require.True(t, apierrors.IsNotFound(err))
}

func TestStartReplacesExistingPodAndSecret(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	old := newChaincodePod(vm.Config, chaincodePodParams{Name: inst.PodName, Image: "old-image"})
	_, err := vm.client.CoreV1().Pods(testNamespace).Create(context.Background(), old, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = vm.client.CoreV1().Secrets(testNamespace).Create(context.Background(),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: inst.SecretName, Namespace: testNamespace}, Data: map[string][]byte{"peer.crt": []byte("old")}},
		metav1.CreateOptions{})
	require.NoError(t, err)

	require.NoError(t, inst.Start(testTLS))
	pod, err := getPod(t, vm, inst.PodName)
	require.NoError(t, err)
	require.Equal(t, testImage, pod.Spec.Containers[0].Image)
	secret, err := getSecret(t, vm, inst.SecretName)
	require.NoError(t, err)
	require.Equal(t, "root", string(secret.Data["peer.crt"]))

	var deletes []string
	for _, a := range vm.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			deletes = append(deletes, d.GetResource().Resource+"/"+d.GetName())
		}
	}
	require.Equal(t, []string{"pods/" + inst.PodName, "secrets/" + inst.SecretName}, deletes)
}

func TestStartPodCreateErrorRemovesSecret(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New("violates PodSecurity"))
	})
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	err := inst.Start(testTLS)
	require.ErrorContains(t, err, "chaincode "+testCCID+": cannot create pod fabric/"+inst.PodName)
	require.ErrorContains(t, err, "violates PodSecurity")
	_, err = getSecret(t, vm, inst.SecretName)
	require.True(t, apierrors.IsNotFound(err), "no secret left behind")
}

func TestStartUnknownType(t *testing.T) {
	vm := newTestVM(t, testConfig())
	err := vm.newInstance(testCCID, "COBOL", testImage).Start(testTLS)
	require.EqualError(t, err, "chaincode "+testCCID+": unknown chaincodeType: COBOL")
	require.Empty(t, vm.client.Actions())
}

// startedInstance starts an instance and returns a channel with Wait's result.
func startedInstance(t *testing.T, vm *testVM) (*Instance, chan waitResult) {
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	results := make(chan waitResult, 1)
	go func() {
		code, err := inst.Wait()
		results <- waitResult{code, err}
	}()
	return inst, results
}

type waitResult struct {
	code int
	err  error
}

func setContainerState(t *testing.T, vm *testVM, name string, state corev1.ContainerState) {
	pod, err := getPod(t, vm, name)
	require.NoError(t, err)
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: chaincodeContainer, State: state}}
	_, err = vm.client.CoreV1().Pods(testNamespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func TestWaitReturnsExitCode(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst, results := startedInstance(t, vm)

	setContainerState(t, vm, inst.PodName, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}})
	setContainerState(t, vm, inst.PodName, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}})
	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, 3, r.code)
	require.Equal(t, 1, vm.metrics.podStart.ObserveCallCount())
	requireExits(t, vm, "Unknown")
}

func TestWaitPodDeleted(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst, results := startedInstance(t, vm)
	require.NoError(t, vm.client.CoreV1().Pods(testNamespace).Delete(context.Background(), inst.PodName, metav1.DeleteOptions{}))
	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, -1, r.code)
}

// pullClock makes vm's clock a fake one.
func pullClock(vm *testVM) *clocktesting.FakeClock {
	fc := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	vm.Clock = fc
	return fc
}

// awaitPullTimer waits until Wait, having seen a failing image pull, armed
// the timer that ends its pull grace: the only sign that it keeps waiting.
func awaitPullTimer(t *testing.T, fc *clocktesting.FakeClock) {
	t.Helper()
	require.Eventually(t, fc.HasWaiters, 10*time.Second, time.Millisecond,
		"Wait arms its pull grace timer in its own goroutine")
}

func pullFailing(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "registry unavailable"}}
}

func requireGone(t *testing.T, vm *testVM, inst *Instance) {
	t.Helper()
	_, err := getPod(t, vm, inst.PodName)
	require.True(t, apierrors.IsNotFound(err), "stuck pod deleted: %v", err)
	_, err = getSecret(t, vm, inst.SecretName)
	require.True(t, apierrors.IsNotFound(err), "its secret deleted: %v", err)
}

func TestWaitImagePullRecovers(t *testing.T) {
	vm := newTestVM(t, testConfig())
	fc := pullClock(vm)
	inst, results := startedInstance(t, vm)

	setContainerState(t, vm, inst.PodName, pullFailing("ErrImagePull"))
	awaitPullTimer(t, fc)
	fc.Step(time.Minute)
	setContainerState(t, vm, inst.PodName, pullFailing("ImagePullBackOff"))
	setContainerState(t, vm, inst.PodName, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}})
	setContainerState(t, vm, inst.PodName, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}})

	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, 3, r.code)
	_, err := getPod(t, vm, inst.PodName)
	require.NoError(t, err, "a pod that started is left alone")
}

func TestWaitImagePullTimeout(t *testing.T) {
	vm := newTestVM(t, testConfig())
	fc := pullClock(vm)
	inst, results := startedInstance(t, vm)

	setContainerState(t, vm, inst.PodName, pullFailing("ImagePullBackOff"))
	awaitPullTimer(t, fc)
	fc.Step(DefaultImagePullTimeout)

	r := <-results
	require.Equal(t, -1, r.code)
	require.EqualError(t, r.err, "chaincode "+testCCID+`: container "chaincode" of pod fabric/`+inst.PodName+
		" cannot start: image "+testImage+" was not pulled within 2m0s: ImagePullBackOff: registry unavailable")
	require.Equal(t, []string{"chaincode", testCCID, "success", "false"}, vm.metrics.podStart.WithArgsForCall(0))
	requireGone(t, vm, inst)
}

func TestWaitImagePullFailureAfterGrace(t *testing.T) {
	vm := newTestVM(t, testConfig())
	fc := pullClock(vm)
	inst, results := startedInstance(t, vm)

	fc.Step(DefaultImagePullTimeout) // the kubelet reports the failure late
	setContainerState(t, vm, inst.PodName, pullFailing("ErrImagePull"))

	r := <-results
	require.Equal(t, -1, r.code)
	requireGone(t, vm, inst)
	require.ErrorContains(t, r.err, "was not pulled within 2m0s: ErrImagePull")
}

func TestWaitInvalidImageName(t *testing.T) {
	vm := newTestVM(t, testConfig())
	pullClock(vm)
	inst, results := startedInstance(t, vm)

	setContainerState(t, vm, inst.PodName, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "InvalidImageName", Message: "couldn't parse image name",
	}})
	r := <-results
	require.Equal(t, -1, r.code)
	requireGone(t, vm, inst)
	require.EqualError(t, r.err, "chaincode "+testCCID+`: container "chaincode" of pod fabric/`+inst.PodName+
		" cannot start: image "+testImage+": InvalidImageName: couldn't parse image name")
}

func TestManyWaitsShareOneWatch(t *testing.T) {
	vm := newTestVM(t, testConfig())
	const n = 50
	results := make(chan waitResult, n)
	var insts []*Instance
	for k := 0; k < n; k++ {
		inst := vm.newInstance(fmt.Sprintf("cc%d_1.0:%064d", k, k), "GOLANG", testImage)
		require.NoError(t, inst.Start(testTLS))
		insts = append(insts, inst)
		go func() {
			code, err := inst.Wait()
			results <- waitResult{code, err}
		}()
	}
	codes := map[int]int{}
	for k, inst := range insts {
		setContainerState(t, vm, inst.PodName, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(k)}})
	}
	for range insts {
		r := <-results
		require.NoError(t, r.err)
		codes[r.code]++
	}
	require.Len(t, codes, n, "every Wait returned its own pod's exit code")
	require.Equal(t, 1, vm.watches.count("pods"), "all Waits share the informer's watch")
}

func TestWaitPodAlreadyGone(t *testing.T) {
	vm := newTestVM(t, testConfig())
	code, err := vm.newInstance(testCCID, "GOLANG", testImage).Wait()
	require.NoError(t, err)
	require.Equal(t, -1, code)
}

func TestStop(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))

	require.NoError(t, inst.Stop())
	_, err := getPod(t, vm, inst.PodName)
	require.True(t, apierrors.IsNotFound(err))
	_, err = getSecret(t, vm, inst.SecretName)
	require.True(t, apierrors.IsNotFound(err))

	var grace *int64
	for _, a := range vm.client.Actions() {
		if a.Matches("delete", "pods") {
			grace = a.(k8stesting.DeleteAction).GetDeleteOptions().GracePeriodSeconds
		}
	}
	require.EqualValues(t, 2, *grace)

	require.NoError(t, inst.Stop(), "idempotent")
}

// A pod in its grace period when the peer exits must leave no Secret
// behind: Stop deletes it as soon as the pod is being deleted.
func TestStopDeletesSecretWhilePodTerminates(t *testing.T) {
	cfg := testConfig()
	cfg.StopTimeout = 300 * time.Millisecond
	vm := newTestVM(t, cfg)
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	vm.client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// Like a kubelet still running the container: the pod is marked
		// for deletion and stays.
		// (The tracker, not the clientset, whose lock the reactor holds.)
		gvr := corev1.SchemeGroupVersion.WithResource("pods")
		obj, err := vm.client.Tracker().Get(gvr, a.GetNamespace(), a.(k8stesting.DeleteAction).GetName())
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*corev1.Pod).DeepCopy()
		now := metav1.Now()
		pod.DeletionTimestamp = &now
		return true, nil, vm.client.Tracker().Update(gvr, pod, pod.Namespace)
	})

	err := inst.Stop()
	require.ErrorContains(t, err, "chaincode "+testCCID+": stop failed: pod fabric/"+inst.PodName+" was not removed")
	pod, err := getPod(t, vm, inst.PodName)
	require.NoError(t, err)
	require.NotNil(t, pod.DeletionTimestamp)
	_, err = getSecret(t, vm, inst.SecretName)
	require.True(t, apierrors.IsNotFound(err), "the Secret of a terminating pod is left: %v", err)
}

func TestStopAPIError(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInternalError(errors.New("etcd unavailable"))
	})
	err := vm.newInstance(testCCID, "GOLANG", testImage).Stop()
	require.ErrorContains(t, err, "chaincode "+testCCID+": stop failed: cannot delete pod fabric/")
	require.ErrorContains(t, err, "etcd unavailable")
}

func TestChaincodeServerInfo(t *testing.T) {
	info, err := (&Instance{}).ChaincodeServerInfo()
	require.NoError(t, err)
	require.Nil(t, info)
}
