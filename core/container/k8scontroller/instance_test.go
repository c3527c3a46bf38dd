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

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
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

var testOwner = &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "peer0-0", UID: "1234-peer-uid"}

func getPod(t *testing.T, vm *testVM, name string) (*corev1.Pod, error) {
	return vm.client.CoreV1().Pods(testNamespace).Get(context.Background(), name, metav1.GetOptions{})
}

func getSecret(t *testing.T, vm *testVM, name string) (*corev1.Secret, error) {
	return vm.client.CoreV1().Secrets(testNamespace).Get(context.Background(), name, metav1.GetOptions{})
}

// requireGone fails unless neither the pod nor the Secret of inst's last
// launch exists.
func requireGone(t *testing.T, vm *testVM, inst *Instance) {
	t.Helper()
	_, err := getPod(t, vm, inst.PodName())
	require.True(t, apierrors.IsNotFound(err), "pod %s: %v", inst.PodName(), err)
	_, err = getSecret(t, vm, inst.PodName())
	require.True(t, apierrors.IsNotFound(err), "secret %s: %v", inst.PodName(), err)
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

	pod, err := getPod(t, vm, inst.PodName())
	require.NoError(t, err)
	require.Equal(t, testImage, pod.Spec.Containers[0].Image)
	require.Equal(t, []string{"chaincode", "-peer.address=peer0.org1.example.com:7052"}, pod.Spec.Containers[0].Args)
	require.Contains(t, pod.Spec.Containers[0].Env, corev1.EnvVar{Name: "CORE_PEER_TLS_ENABLED", Value: "true"})
	require.Contains(t, pod.Spec.Containers[0].Env, corev1.EnvVar{Name: "CORE_PEER_LOCALMSPID", Value: "Org1MSP"})
	require.Equal(t, inst.PodName(), pod.Spec.Volumes[1].Secret.SecretName)
	require.Equal(t, []metav1.OwnerReference{*testOwner}, pod.OwnerReferences)

	secret, err := getSecret(t, vm, inst.PodName())
	require.NoError(t, err)
	require.Equal(t, "a2V5", string(secret.Data["client.key"]))
	require.Equal(t, "key", string(secret.Data["client_pem.key"]))
	require.Equal(t, "root", string(secret.Data["peer.crt"]))
	require.Equal(t, []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: inst.PodName(), UID: "pod-uid"}},
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

	pod, err := getPod(t, vm, inst.PodName())
	require.NoError(t, err)
	require.Contains(t, pod.Spec.Containers[0].Env, corev1.EnvVar{Name: "CORE_PEER_TLS_ENABLED", Value: "false"})
	require.Len(t, pod.Spec.Volumes, 1, "no TLS volume")
	_, err = getSecret(t, vm, inst.PodName())
	require.True(t, apierrors.IsNotFound(err))
}

// terminatingDeletes makes pod deletes behave like a kubelet still running
// the container: the pod is marked for deletion and stays.
func terminatingDeletes(vm *testVM) {
	vm.client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
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
}

// deleteActions lists the deletes sent, as resource/name, and checks that
// each names a UID and, for pods, the grace period.
func deleteActions(t *testing.T, vm *testVM, grace int64) []string {
	t.Helper()
	var deletes []string
	for _, a := range vm.client.Actions() {
		d, ok := a.(k8stesting.DeleteActionImpl)
		if !ok {
			continue
		}
		deletes = append(deletes, d.GetResource().Resource+"/"+d.GetName())
		require.NotNil(t, d.DeleteOptions.Preconditions, "%s %s", d.GetResource().Resource, d.GetName())
		require.NotEmpty(t, *d.DeleteOptions.Preconditions.UID, "%s %s", d.GetResource().Resource, d.GetName())
		if d.GetResource().Resource == "pods" {
			require.EqualValues(t, grace, *d.DeleteOptions.GracePeriodSeconds)
		}
	}
	return deletes
}

// A new launch gets new names and does not wait for the previous pod, which
// is deleted in the background with its grace period and a UID
// precondition, nor ask the informer cache about it.
func TestStartDoesNotWaitForThePreviousPod(t *testing.T) {
	vm := newTestVM(t, testConfig())
	terminatingDeletes(vm)
	first := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, first.Start(testTLS))
	old, err := getPod(t, vm, first.PodName())
	require.NoError(t, err)
	vm.client.ClearActions()

	next := vm.newInstance(testCCID, "GOLANG", testImage)
	done := make(chan error, 1)
	go func() { done <- next.Start(testTLS) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Start waits for the previous pod, which stays terminating")
	}
	require.NotEqual(t, first.PodName(), next.PodName())
	pod, err := getPod(t, vm, next.PodName())
	require.NoError(t, err)
	require.Nil(t, pod.DeletionTimestamp)
	secret, err := getSecret(t, vm, next.PodName())
	require.NoError(t, err)
	require.Equal(t, pod.UID, secret.OwnerReferences[0].UID, "the Secret is named after its Pod and owned by it")

	vm.launches.close() // waits for the deletion in the background
	pod, err = getPod(t, vm, first.PodName())
	require.NoError(t, err)
	require.NotNil(t, pod.DeletionTimestamp, "the previous pod is being deleted")
	require.Equal(t, old.UID, pod.UID)
	_, err = getSecret(t, vm, first.PodName())
	require.True(t, apierrors.IsNotFound(err), "the previous Secret is deleted: %v", err)
	require.ElementsMatch(t, []string{"pods/" + first.PodName(), "secrets/" + first.PodName()}, deleteActions(t, vm, 2))
}

// Start refuses to launch once the VM shut down: nothing is created that
// would outlive the peer.
func TestStartAfterShutdownCreatesNothing(t *testing.T) {
	vm := newTestVM(t, testConfig())
	require.NoError(t, vm.Start(context.Background()))
	vm.Shutdown()
	err := vm.newInstance(testCCID, "GOLANG", testImage).Start(testTLS)
	require.ErrorContains(t, err, "chaincode "+testCCID+": cannot launch: the Kubernetes chaincode VM is shut down")
	for _, a := range vm.client.Actions() {
		require.False(t, a.Matches("create", "pods") || a.Matches("create", "secrets"), "%s %s", a.GetVerb(), a.GetResource().Resource)
	}
}

// A launch the peer did not stop is deleted when the VM shuts down.
func TestShutdownDeletesLaunchesNotStopped(t *testing.T) {
	vm := newTestVM(t, testConfig())
	require.NoError(t, vm.Start(context.Background()))
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	vm.Shutdown()
	requireGone(t, vm, inst)
}

func TestStartPodCreateErrorRemovesSecret(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New("violates PodSecurity"))
	})
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	err := inst.Start(testTLS)
	require.ErrorContains(t, err, "chaincode "+testCCID+": cannot create pod fabric/"+inst.PodName())
	require.ErrorContains(t, err, "violates PodSecurity")
	_, err = getSecret(t, vm, inst.PodName())
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
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: spec.ChaincodeContainer, State: state}}
	updatePodStatus(t, vm, pod)
}

// updatePodStatus writes the status of pod as the kubelet would.
func updatePodStatus(t *testing.T, vm *testVM, pod *corev1.Pod) {
	t.Helper()
	_, err := vm.client.CoreV1().Pods(testNamespace).UpdateStatus(t.Context(), pod, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func TestWaitReturnsExitCode(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst, results := startedInstance(t, vm)

	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}})
	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}})
	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, 3, r.code)
	require.Equal(t, 1, vm.metrics.podStart.ObserveCallCount())
	requireExits(t, vm, "Unknown")
}

func TestWaitPodDeleted(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst, results := startedInstance(t, vm)
	require.NoError(t, vm.client.CoreV1().Pods(testNamespace).Delete(context.Background(), inst.PodName(), metav1.DeleteOptions{}))
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

func TestWaitImagePullRecovers(t *testing.T) {
	vm := newTestVM(t, testConfig())
	fc := pullClock(vm)
	inst, results := startedInstance(t, vm)

	setContainerState(t, vm, inst.PodName(), pullFailing("ErrImagePull"))
	awaitPullTimer(t, fc)
	fc.Step(time.Minute)
	setContainerState(t, vm, inst.PodName(), pullFailing("ImagePullBackOff"))
	requireStartedAndExited(t, vm, inst, results)
}

// requireStartedAndExited lets the chaincode container of inst start and exit
// with code 3, and checks that Wait returns that code and leaves the pod.
func requireStartedAndExited(t *testing.T, vm *testVM, inst *Instance, results chan waitResult) {
	t.Helper()
	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}})
	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}})

	r := <-results
	require.NoError(t, r.err)
	require.Equal(t, 3, r.code)
	_, err := getPod(t, vm, inst.PodName())
	require.NoError(t, err, "a pod that started is left alone")
}

func TestWaitImagePullTimeout(t *testing.T) {
	vm := newTestVM(t, testConfig())
	fc := pullClock(vm)
	inst, results := startedInstance(t, vm)

	setContainerState(t, vm, inst.PodName(), pullFailing("ImagePullBackOff"))
	awaitPullTimer(t, fc)
	fc.Step(config.DefaultImagePullTimeout)

	r := <-results
	require.Equal(t, -1, r.code)
	require.EqualError(t, r.err, "chaincode "+testCCID+`: container "chaincode" of pod fabric/`+inst.PodName()+
		" cannot start: image "+testImage+" was not pulled within 2m0s: ImagePullBackOff: registry unavailable")
	require.Equal(t, []string{"chaincode", testCCLabel, "success", "false"}, vm.metrics.podStart.WithArgsForCall(0))
	requireGone(t, vm, inst)
}

func TestWaitImagePullFailureAfterGrace(t *testing.T) {
	vm := newTestVM(t, testConfig())
	fc := pullClock(vm)
	inst, results := startedInstance(t, vm)

	fc.Step(config.DefaultImagePullTimeout) // the kubelet reports the failure late
	setContainerState(t, vm, inst.PodName(), pullFailing("ErrImagePull"))

	r := <-results
	require.Equal(t, -1, r.code)
	requireGone(t, vm, inst)
	require.ErrorContains(t, r.err, "was not pulled within 2m0s: ErrImagePull")
}

func TestWaitInvalidImageName(t *testing.T) {
	vm := newTestVM(t, testConfig())
	pullClock(vm)
	inst, results := startedInstance(t, vm)

	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "InvalidImageName", Message: "couldn't parse image name",
	}})
	r := <-results
	require.Equal(t, -1, r.code)
	requireGone(t, vm, inst)
	require.EqualError(t, r.err, "chaincode "+testCCID+`: container "chaincode" of pod fabric/`+inst.PodName()+
		" cannot start: image "+testImage+": InvalidImageName: couldn't parse image name")
}

func TestWaitCreateContainerErrorRecovers(t *testing.T) {
	vm := newTestVM(t, testConfig())
	fc := pullClock(vm)
	inst, results := startedInstance(t, vm)

	// A name still reserved in containerd after a restart: the kubelet
	// retries the creation.
	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "CreateContainerError", Message: `failed to reserve container name "chaincode_cc": name is reserved`,
	}})
	awaitPullTimer(t, fc)
	fc.Step(time.Minute)
	requireStartedAndExited(t, vm, inst, results)
}

func TestWaitCreateContainerErrorPersists(t *testing.T) {
	vm := newTestVM(t, testConfig())
	fc := pullClock(vm)
	inst, results := startedInstance(t, vm)

	setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "CreateContainerError", Message: "runtime unavailable",
	}})
	awaitPullTimer(t, fc)
	fc.Step(config.DefaultImagePullTimeout)

	r := <-results
	require.Equal(t, -1, r.code)
	requireGone(t, vm, inst)
	require.EqualError(t, r.err, "chaincode "+testCCID+`: container "chaincode" of pod fabric/`+inst.PodName()+
		" cannot start: image "+testImage+": the container was not created within 2m0s: CreateContainerError: runtime unavailable")
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
		setContainerState(t, vm, inst.PodName(), corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(k)}})
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
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	require.NoError(t, vm.client.CoreV1().Pods(testNamespace).Delete(context.Background(), inst.PodName(), metav1.DeleteOptions{}))
	code, err := inst.Wait()
	require.NoError(t, err)
	require.Equal(t, -1, code)
}

func TestWaitBeforeStart(t *testing.T) {
	vm := newTestVM(t, testConfig())
	code, err := vm.newInstance(testCCID, "GOLANG", testImage).Wait()
	require.EqualError(t, err, "chaincode "+testCCID+": not started")
	require.Equal(t, -1, code)
}

func TestStop(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	vm.client.ClearActions()

	require.NoError(t, inst.Stop())
	requireGone(t, vm, inst)
	require.Equal(t, []string{"pods/" + inst.PodName(), "secrets/" + inst.PodName()}, deleteActions(t, vm, 2))

	vm.client.ClearActions()
	require.NoError(t, inst.Stop(), "idempotent")
	require.Empty(t, vm.client.Actions())
}

// A pod in its grace period when the peer exits must leave no Secret
// behind, and Stop does not wait for the pod to be gone.
func TestStopDeletesSecretWhilePodTerminates(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	terminatingDeletes(vm)

	require.NoError(t, inst.Stop())
	pod, err := getPod(t, vm, inst.PodName())
	require.NoError(t, err)
	require.NotNil(t, pod.DeletionTimestamp)
	_, err = getSecret(t, vm, inst.PodName())
	require.True(t, apierrors.IsNotFound(err), "the Secret of a terminating pod is left: %v", err)
}

// Stop deletes only the objects its launch created, by UID.
func TestStopSparesAnotherObjectOfTheSameName(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	// Someone replaced the pod under the same name.
	require.NoError(t, vm.client.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), testNamespace, inst.PodName()))
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: inst.PodName(), Namespace: testNamespace, UID: "someone-elses"}}
	require.NoError(t, vm.client.Tracker().Add(other))

	require.NoError(t, inst.Stop())
	pod, err := getPod(t, vm, inst.PodName())
	require.NoError(t, err)
	require.Equal(t, other.UID, pod.UID)
}

func TestStopAPIError(t *testing.T) {
	vm := newTestVM(t, testConfig())
	inst := vm.newInstance(testCCID, "GOLANG", testImage)
	require.NoError(t, inst.Start(testTLS))
	vm.client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInternalError(errors.New("etcd unavailable"))
	})
	err := inst.Stop()
	require.ErrorContains(t, err, "chaincode "+testCCID+": stop failed: cannot delete pod fabric/"+inst.PodName())
	require.ErrorContains(t, err, "etcd unavailable")
}

func TestChaincodeServerInfo(t *testing.T) {
	info, err := (&Instance{}).ChaincodeServerInfo()
	require.NoError(t, err)
	require.Nil(t, info)
}
