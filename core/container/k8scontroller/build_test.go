/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext/buildcontexttest"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/hyperledger/fabric/core/chaincode/persistence"
	"github.com/pkg/errors"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
)

var goMetadata = &persistence.ChaincodePackageMetadata{Type: "golang", Path: "example.com/cc", Label: "mycc_1.0"}

// fakeJobController emulates the Job controller and kubelet: on Job creation
// it creates the Job's pod with the receive init container running; after the
// attach it finishes the pod and the Job the way finish says.
type fakeJobController struct {
	vm       *testVM
	streamed chan []byte
	errs     chan error // failures of the fake, reported when the test ends
	jobs     atomic.Int64
}

func newFakeJobController(t *testing.T, vm *testVM, finish func(pod *corev1.Pod, job *batchv1.Job)) *fakeJobController {
	c := &fakeJobController{vm: vm, streamed: make(chan []byte, 4), errs: make(chan error, 4)}
	t.Cleanup(func() {
		for {
			select {
			case err := <-c.errs:
				t.Errorf("fake job controller: %s", err)
			default:
				return
			}
		}
	})
	vm.client.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		if _, err := vm.client.Tracker().Get(batchv1.SchemeGroupVersion.WithResource("jobs"), job.Namespace, job.Name); err == nil {
			return false, nil, nil // the create will fail with AlreadyExists
		}
		// A UID of its own for every Job, as the API server gives: a Job
		// created again under the name of a deleted one is another Job.
		job.UID = types.UID(fmt.Sprintf("job-uid-%d", c.jobs.Add(1)))
		// the fake clientset holds its lock while reactors run
		go c.createPod(job.DeepCopy())
		return false, nil, nil
	})
	vm.attacher.AttachStub = func(ctx context.Context, ns, pod, container string, stdin io.Reader) error {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		c.streamed <- data
		p, err := vm.client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		j, err := vm.client.BatchV1().Jobs(ns).Get(ctx, p.Labels[labels.JobName], metav1.GetOptions{})
		if err != nil {
			return err
		}
		finish(p, j)
		if _, err = vm.client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			return err
		}
		_, err = vm.client.BatchV1().Jobs(ns).UpdateStatus(ctx, j, metav1.UpdateOptions{})
		return err
	}
	return c
}

func (c *fakeJobController) createPod(job *batchv1.Job) {
	// Like the Job controller: the template's labels and the job name.
	podLabels := maps.Clone(job.Spec.Template.Labels)
	podLabels[labels.JobName] = job.Name
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            job.Name + "-x7k2p",
			Namespace:       job.Namespace,
			Labels:          podLabels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID}},
		},
		Spec: job.Spec.Template.Spec,
		Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: spec.ReceiveContainer, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				{Name: spec.BuildContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
			},
		},
	}
	if _, err := c.vm.client.CoreV1().Pods(job.Namespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		select {
		case c.errs <- err:
		default:
		}
	}
}

func succeed(pod *corev1.Pod, job *batchv1.Job) {
	pod.Status.Phase = corev1.PodSucceeded
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name:  spec.KanikoContainer,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Message: testDigest + "\n"}},
	}}
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
}

func failCompile(pod *corev1.Pod, job *batchv1.Job) {
	pod.Status.Phase = corev1.PodFailed
	pod.Status.InitContainerStatuses[1].State = corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"},
	}
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}
}

func jobs(t *testing.T, vm *testVM) []batchv1.Job {
	list, err := vm.client.BatchV1().Jobs(testNamespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	return list.Items
}

func TestBuildCacheHit(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.registry.DigestReturns(testDigest, nil)

	inst, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.NoError(t, err)
	i := inst.(*Instance)
	require.Regexp(t, `^localhost:5000/fabric-cc/mycc_1\.0:[0-9a-f]{64}@`+testDigest+`$`, i.Image)
	require.Equal(t, "GOLANG", i.Type)

	_, ref := vm.registry.DigestArgsForCall(0)
	require.Regexp(t, `^registry\.local:5000/fabric-cc/mycc_1\.0:[0-9a-f]{64}$`, ref)
	require.Empty(t, vm.client.Actions(), "nothing is created on a cache hit")
	require.Equal(t, 1, vm.metrics.cacheHits.AddCallCount())
}

func TestBuildCacheMiss(t *testing.T) {
	vm := newTestVM(t, testConfig())
	ctrl := newFakeJobController(t, vm, succeed)

	inst, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(inst.(*Instance).Image, "@"+testDigest), inst.(*Instance).Image)

	files := buildcontexttest.Files(t, <-ctrl.streamed)
	require.Equal(t, "package main\nfunc main() {}\n", files["input/src/main.go"])
	require.Contains(t, files, "input/META-INF/statedb/couchdb/indexes/index.json")
	require.Contains(t, files, "output/")
	require.Contains(t, files["context/Dockerfile"], "FROM localhost:5000/fabric-peer-k8s/baseos:3.1")

	require.Equal(t, 1, vm.attacher.AttachCallCount())
	_, ns, pod, container, _ := vm.attacher.AttachArgsForCall(0)
	require.Equal(t, testNamespace, ns)
	require.True(t, strings.HasPrefix(pod, "ccbuild-"))
	require.Equal(t, spec.ReceiveContainer, container)

	require.Empty(t, jobs(t, vm), "job deleted after success")
	require.Equal(t, 1, vm.metrics.buildDuration.ObserveCallCount())
	require.Equal(t, []string{"chaincode", testCCLabel, "success", "true"}, vm.metrics.buildDuration.WithArgsForCall(0))
	require.Zero(t, vm.metrics.failures.AddCallCount())

	// the created Job carried our labels and FieldManager
	for _, a := range vm.client.Actions() {
		if a.Matches("create", "jobs") {
			job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
			require.Equal(t, labels.AppBuild, job.Labels[labels.Name])
			require.Equal(t, testCCID, job.Annotations[labels.CCIDAnnotation])
		}
	}
}

func TestBuildChecksRegistryCAConfigMap(t *testing.T) {
	ca := func(data map[string]string) runtime.Object {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "registry-ca", Namespace: "fabric-builds"}, Data: data}
	}
	tests := []struct {
		name    string
		objects []runtime.Object
		wantErr string
	}{
		{"present", []runtime.Object{ca(map[string]string{"ca.crt": "PEM"})}, ""},
		{"absent", nil, "chaincode " + testCCID + ": ConfigMap fabric-builds/registry-ca (vm.k8s.registryCAConfigMap) does not exist"},
		{"no ca.crt", []runtime.Object{ca(map[string]string{"ca.pem": "PEM"})}, "chaincode " + testCCID + ": ConfigMap fabric-builds/registry-ca (vm.k8s.registryCAConfigMap) has no key ca.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.BuildNamespace = "fabric-builds"
			cfg.RegistryCAConfigMap = "registry-ca"
			vm := newTestVM(t, cfg, tt.objects...)
			newFakeJobController(t, vm, succeed)

			_, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
			created := 0
			for _, a := range vm.client.Actions() {
				if a.Matches("create", "jobs") {
					created++
				}
			}
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, 1, created)
				return
			}
			require.EqualError(t, err, tt.wantErr)
			require.Zero(t, created, "no build Job that could not mount the CA")
		})
	}
}

func TestBuildJobFailure(t *testing.T) {
	vm := newTestVM(t, testConfig())
	newFakeJobController(t, vm, failCompile)

	_, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "chaincode "+testCCID)
	require.Regexp(t, `build job fabric/ccbuild-[0-9a-f]{40}: failed`, msg)
	require.Contains(t, msg, "container build of pod ccbuild-")
	require.Contains(t, msg, "exited with code 2")
	require.Contains(t, msg, "fake logs", "log tail of the failing container")
	require.Empty(t, jobs(t, vm), "job deleted after failure")
	require.Equal(t, 1, vm.metrics.failures.AddCallCount())
	require.Equal(t, []string{"chaincode", testCCLabel, "success", "false"}, vm.metrics.buildDuration.WithArgsForCall(0))

	var logReq *corev1.PodLogOptions
	for _, a := range vm.client.Actions() {
		if a.GetSubresource() == "log" {
			logReq = a.(k8stesting.GenericAction).GetValue().(*corev1.PodLogOptions)
		}
	}
	require.NotNil(t, logReq)
	require.Equal(t, spec.BuildContainer, logReq.Container)
	require.EqualValues(t, logTailLines, *logReq.TailLines)
}

func TestBuildBadDigest(t *testing.T) {
	vm := newTestVM(t, testConfig())
	newFakeJobController(t, vm, func(pod *corev1.Pod, job *batchv1.Job) {
		succeed(pod, job)
		pod.Status.ContainerStatuses[0].State.Terminated.Message = "not a digest"
	})
	_, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.ErrorContains(t, err, `kaniko reported "not a digest" instead of an image digest`)
}

func TestBuildTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.BuildTimeout = 200 * time.Millisecond
	cfg.StopTimeout = 100 * time.Millisecond
	vm := newTestVM(t, cfg) // no job controller: the pod never appears

	_, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.ErrorContains(t, err, "waiting for build pod: timed out after 200ms (vm.k8s.buildTimeout): context deadline exceeded")
	require.ErrorContains(t, err, testCCID)
	require.Empty(t, jobs(t, vm), "job deleted after timeout")
	require.Zero(t, vm.attacher.AttachCallCount())
}

func TestBuildAttachFailure(t *testing.T) {
	vm := newTestVM(t, testConfig())
	newFakeJobController(t, vm, succeed)
	vm.attacher.AttachStub = nil
	vm.attacher.AttachReturns(errors.New("upgrade failed"))

	_, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.ErrorContains(t, err, "streaming code package into pod ccbuild-")
	require.ErrorContains(t, err, "upgrade failed")
	require.Empty(t, jobs(t, vm))
}

func TestBuildCreateError(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "x", errors.New("denied"))
	})
	_, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.ErrorContains(t, err, "chaincode "+testCCID+": cannot create build job fabric/ccbuild-")
	require.ErrorContains(t, err, "forbidden")
}

func TestBuildJobAlreadyExists(t *testing.T) {
	vm := newTestVM(t, testConfig())
	req, err := vm.prepareBuild(testCCID, "GOLANG", goMetadata.Path)
	require.NoError(t, err)
	// another peer's build is running
	_, err = vm.client.BatchV1().Jobs(testNamespace).Create(context.Background(),
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: req.Job.Name, Namespace: testNamespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	vm.registry.DigestReturnsOnCall(0, "", nil)
	vm.registry.DigestReturnsOnCall(1, testDigest, nil)
	completed := make(chan error, 1)
	vm.client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		go func() { // the other peer's build completes
			j, err := vm.client.BatchV1().Jobs(testNamespace).Get(context.Background(), req.Job.Name, metav1.GetOptions{})
			if err == nil {
				j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
				_, err = vm.client.BatchV1().Jobs(testNamespace).UpdateStatus(context.Background(), j, metav1.UpdateOptions{})
			}
			completed <- err
		}()
		return false, nil, nil
	})

	inst, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.NoError(t, <-completed, "completing the other peer's job")
	require.NoError(t, err)
	require.Equal(t, req.PullRef+"@"+testDigest, inst.(*Instance).Image)
	require.Equal(t, 2, vm.registry.DigestCallCount(), "registry re-checked after the foreign job")
	require.Zero(t, vm.attacher.AttachCallCount(), "no build of our own")
	require.Len(t, jobs(t, vm), 1, "the other peer's job is left to the other peer")
}

func TestBuildJobAlreadyExistsButFailed(t *testing.T) {
	vm := newTestVM(t, testConfig())
	req, err := vm.prepareBuild(testCCID, "GOLANG", goMetadata.Path)
	require.NoError(t, err)
	_, err = vm.client.BatchV1().Jobs(testNamespace).Create(context.Background(), &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: req.Job.Name, Namespace: testNamespace},
		Status:     batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	newFakeJobController(t, vm, succeed)

	inst, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.NoError(t, err)
	require.Equal(t, req.PullRef+"@"+testDigest, inst.(*Instance).Image)
	require.Equal(t, 2, vm.registry.DigestCallCount())
	require.Equal(t, 1, vm.attacher.AttachCallCount(), "built again once")
	require.Empty(t, jobs(t, vm))
}

func TestBuildRegistryError(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.registry.DigestReturns("", errors.New("connection refused"))
	_, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.EqualError(t, err, "chaincode "+testCCID+": connection refused")
	require.Empty(t, vm.client.Actions())
}

func TestBuildRejectsBadInput(t *testing.T) {
	tests := []struct {
		name    string
		md      *persistence.ChaincodePackageMetadata
		pkg     func(t *testing.T) []byte
		wantErr string
	}{
		{"unknown type", &persistence.ChaincodePackageMetadata{Type: "cobol"}, goCodePackage,
			`chaincode ` + testCCID + `: unknown chaincode type "COBOL"`},
		{"malformed", goMetadata, func(*testing.T) []byte { return []byte("garbage") },
			"chaincode " + testCCID + ": invalid code package: code package is not gzip-compressed"},
		{"traversal", goMetadata, func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.File("../../etc/cron.d/x", "x"))
		},
			"chaincode " + testCCID + ": invalid code package: code package entry \"../../etc/cron.d/x\": path traversal"},
		{"oversized", goMetadata, func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.File("src/big", strings.Repeat("x", 2048)))
		},
			"chaincode " + testCCID + ": invalid code package: code package exceeds the size limit of 1024 bytes"},
		{"command substitution in go path", &persistence.ChaincodePackageMetadata{Type: "golang", Path: "example.com/$(touch /pwned)"}, goCodePackage,
			"chaincode " + testCCID + `: invalid metadata: path "example.com/$(touch /pwned)" is not a valid Go import path: invalid char '$'`},
		{"option as go path", &persistence.ChaincodePackageMetadata{Type: "golang", Path: "-toolexec=/bin/sh"}, goCodePackage,
			"chaincode " + testCCID + `: invalid metadata: path "-toolexec=/bin/sh" is not a valid Go import path: leading dash`},
		{"newline in node path", &persistence.ChaincodePackageMetadata{Type: "node", Path: "cc\nid"}, goCodePackage,
			"chaincode " + testCCID + `: invalid metadata: path "cc\nid" has the character '\n'`},
		{"pipe in java path", &persistence.ChaincodePackageMetadata{Type: "java", Path: "cc|id"}, goCodePackage,
			"chaincode " + testCCID + `: invalid metadata: path "cc|id" has the character '|'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxCodePackageSize = 1024
			vm := newTestVM(t, cfg)
			_, err := vm.Build(testCCID, tt.md, bytes.NewReader(tt.pkg(t)))
			require.ErrorContains(t, err, tt.wantErr)
			require.Empty(t, vm.client.Actions(), "nothing created")
			require.Zero(t, vm.registry.DigestCallCount())
		})
	}
}

func TestBuildFailsFastWhenClusterRefusesPod(t *testing.T) {
	cfg := testConfig()
	cfg.BuildTimeout = time.Minute // the refusal, not the timeout, must end the build
	vm := newTestVM(t, cfg)
	recorded := make(chan error, 1)
	vm.client.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		job.UID = "job-uid"
		// What the Job controller records when Pod Security admission
		// rejects the build pod.
		go func() {
			_, err := vm.client.CoreV1().Events(job.Namespace).Create(context.Background(), &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: job.Name + ".1", Namespace: job.Namespace},
				InvolvedObject: corev1.ObjectReference{Kind: "Job", Name: job.Name, Namespace: job.Namespace, UID: job.UID},
				Reason:         reasonFailedCreate,
				Message:        `Error creating: pods "x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true`,
				Type:           corev1.EventTypeWarning,
			}, metav1.CreateOptions{})
			recorded <- err
		}()
		return false, nil, nil
	})

	start := time.Now()
	_, err := vm.Build(testCCID, goMetadata, bytes.NewReader(goCodePackage(t)))
	require.NoError(t, <-recorded, "recording the FailedCreate event")
	require.Less(t, time.Since(start), 10*time.Second)
	require.ErrorContains(t, err, "chaincode "+testCCID+": build job fabric/ccbuild-")
	require.ErrorContains(t, err, `the cluster refused to create the build pod: Error creating: pods "x" is forbidden: violates PodSecurity "restricted:latest"`)
	require.Empty(t, jobs(t, vm), "job deleted after the refusal")
	require.Zero(t, vm.attacher.AttachCallCount())
}

func TestBuildJobInBuildNamespaceHasNoPeerOwner(t *testing.T) {
	cfg := testConfig()
	cfg.BuildNamespace = "fabric-builds"
	vm := newTestVM(t, cfg)
	vm.Owner = &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "peer0-0", UID: "peer-uid"}
	req, err := vm.prepareBuild(testCCID, "GOLANG", goMetadata.Path)
	require.NoError(t, err)
	job := spec.NewBuildJob(vm.Config, req.Job)
	require.Equal(t, "fabric-builds", job.Namespace)
	require.Empty(t, job.OwnerReferences, "owner references cannot cross namespaces")

	vm.Config.BuildNamespace = testNamespace
	req, err = vm.prepareBuild(testCCID, "GOLANG", goMetadata.Path)
	require.NoError(t, err)
	require.Equal(t, "peer-uid", string(spec.NewBuildJob(vm.Config, req.Job).OwnerReferences[0].UID))
}
