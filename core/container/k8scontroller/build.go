/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/kube"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/registry"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/hyperledger/fabric/core/chaincode/persistence"
	"github.com/hyperledger/fabric/core/container"
	"github.com/pkg/errors"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"
)

// Build pods and Jobs are followed through the VM's shared informers
// (informer.go). Two waits keep watches of their own: on another peer's Job
// (awaitForeignBuild), which the informers, restricted to this peer's labels,
// do not see, and on the FailedCreate events of a Job (cancelWhenPodRefused).
// Both are per build, which is rare and bounded by the build timeout.

const (
	logTailLines = 50
	logTailBytes = 4096
)

// buildRequest is everything needed to build one chaincode image but the
// code package, which only the request that builds reads (resolveImage).
type buildRequest struct {
	CCID       string
	Ref        string // <registry>/<repo>:<tag>
	PullRef    string // <pullRegistry>/<repo>:<tag>
	Dockerfile string // the platform's, added to the build context
	Job        spec.BuildJobParams
}

// resolvedImage is the outcome of one flight of requests for an image.
type resolvedImage struct {
	digest string
	cached bool // the registry held the image: nothing was built
}

// BuildFailure is what the peer says when Build fails (Fabric's router says
// "docker build failed" for DockerVM).
func (vm *VM) BuildFailure() string { return "chaincode build failed" }

// Build returns an Instance running the image of the chaincode package,
// building and pushing the image with a Kaniko Job unless the registry
// already holds it. A package of type k8s names a prebuilt image, which is
// only looked up (see buildPrebuilt).
func (vm *VM) Build(ccid string, md *persistence.ChaincodePackageMetadata, code io.Reader) (container.Instance, error) {
	ccType := strings.ToUpper(md.Type)
	if ccType == prebuiltType {
		return vm.buildPrebuilt(ccid, code)
	}
	req, err := vm.prepareBuild(ccid, ccType, md.Path)
	if err != nil {
		return nil, err
	}

	// The Job's own deadline is BuildTimeout; leave room to observe it and
	// to collect logs.
	ctx, cancel := context.WithTimeout(vm.requestContext(), vm.Config.BuildTimeout+vm.Config.StopTimeout)
	defer cancel()

	// Requests for the same image make one flight: the request that starts
	// it reads the code package and resolves the image; the others wait for
	// its outcome and never read theirs, which holds the same bytes (the
	// package ID, in the image reference, is the package's hash).
	v, err, _ := vm.builds.Do(req.Ref, func() (interface{}, error) {
		return vm.resolveImage(ctx, req, code)
	})
	if err != nil {
		return nil, err
	}
	img := v.(resolvedImage)
	if img.cached {
		logger.Infof("Chaincode %s: image %s@%s found in registry, not building", ccid, req.Ref, img.digest)
		vm.Metrics.ImageCacheHits.With("chaincode", ccid).Add(1)
	} else {
		logger.Infof("Chaincode %s: built image %s@%s", ccid, req.Ref, img.digest)
		vm.prePull(ccid, req.PullRef+"@"+img.digest)
	}
	return vm.newInstance(ccid, ccType, req.PullRef+"@"+img.digest), nil
}

// resolveImage is one flight of Build: it reads and validates the code
// package, so that a bad package fails before anything else happens, looks
// the image up in the registry, and builds it, once a build slot is free,
// when the registry does not hold it. The package is held in memory by this
// flight only, and only until it ends; a registry hit drops it at once.
func (vm *VM) resolveImage(ctx context.Context, req *buildRequest, code io.Reader) (resolvedImage, error) {
	input, err := buildcontext.NewInput(code, req.Dockerfile, vm.Config.MaxCodePackageSize)
	if err != nil {
		return resolvedImage{}, errors.WithMessagef(err, "chaincode %s: invalid code package", req.CCID)
	}
	digest, err := vm.Registry.Digest(ctx, req.Ref)
	if err != nil {
		return resolvedImage{}, errors.WithMessagef(err, "chaincode %s", req.CCID)
	}
	if digest != "" {
		return resolvedImage{digest: digest, cached: true}, nil
	}
	if err := vm.checkRegistryCA(ctx); err != nil {
		return resolvedImage{}, errors.WithMessagef(err, "chaincode %s", req.CCID)
	}

	if err := vm.slots.acquire(ctx, vm.Config.MaxConcurrentBuilds); err != nil {
		vm.Metrics.ImageBuildFailures.With("chaincode", req.CCID).Add(1)
		return resolvedImage{}, errors.WithMessagef(vm.interrupted(ctx, err), "chaincode %s: waiting for one of %d build slots (%smaxConcurrentBuilds)",
			req.CCID, vm.Config.MaxConcurrentBuilds, config.Prefix)
	}
	defer vm.slots.release()
	start := time.Now()
	digest, err = vm.buildImage(ctx, req, input)
	vm.Metrics.ImageBuildDuration.With("chaincode", req.CCID, "success", strconv.FormatBool(err == nil)).
		Observe(time.Since(start).Seconds())
	if err != nil {
		vm.Metrics.ImageBuildFailures.With("chaincode", req.CCID).Add(1)
	}
	return resolvedImage{digest: digest}, err
}

// interrupted is what ended a wait of a build that failed with err: once
// the build's context is done, that the build timed out (the deadline of
// vm.k8s.buildTimeout) or that the VM shut down, with the context's cause;
// before, err itself.
func (vm *VM) interrupted(ctx context.Context, err error) error {
	switch {
	case ctx.Err() == nil:
		return err
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return errors.WithMessagef(context.Cause(ctx), "timed out after %s (%sbuildTimeout)", vm.Config.BuildTimeout, config.Prefix)
	default:
		return errors.WithMessage(context.Cause(ctx), "the VM shut down")
	}
}

// prepareBuild resolves the platform, computes the image reference and
// validates the metadata path before anything is created. It does not read
// the code package.
func (vm *VM) prepareBuild(ccid, ccType, path string) (*buildRequest, error) {
	platform, ok := vm.Platforms.Platforms[ccType]
	if !ok {
		return nil, errors.Errorf("chaincode %s: unknown chaincode type %q", ccid, ccType)
	}
	if err := buildcontext.CheckChaincodePath(ccType, path); err != nil {
		return nil, errors.WithMessagef(err, "chaincode %s: invalid metadata", ccid)
	}
	dockerfile, err := vm.Platforms.GenerateDockerfile(ccType)
	if err != nil {
		return nil, errors.WithMessagef(err, "chaincode %s: cannot generate Dockerfile", ccid)
	}
	opts, err := platform.DockerBuildOptions(path)
	if err != nil {
		return nil, errors.WithMessagef(err, "chaincode %s: platform %s has no build options", ccid, ccType)
	}
	builder := opts.Image
	if builder == "" {
		builder = vm.BuilderImage
	}
	if builder == "" {
		return nil, errors.Errorf("chaincode %s: no builder image: platform %s names none and chaincode.builder is empty", ccid, ccType)
	}

	tag := spec.ImageTag(ccid, builder, dockerfile, opts.Cmd)
	return &buildRequest{
		CCID:       ccid,
		Ref:        spec.ImageRef(vm.Config.Registry, ccid, tag),
		PullRef:    spec.ImageRef(vm.Config.PullRegistry, ccid, tag),
		Dockerfile: dockerfile,
		Job: spec.BuildJobParams{
			Name:         spec.BuildJobName(tag),
			CCID:         ccid,
			CCType:       ccType,
			CCPath:       path,
			PeerID:       vm.PeerID,
			Destination:  spec.ImageRef(vm.Config.Registry, ccid, tag),
			BuilderImage: builder,
			BuildEnv:     opts.Env,
			BuildCmd:     opts.Cmd,
			Owner:        vm.buildOwner(),
		},
	}, nil
}

// checkRegistryCA fails a build before its Job is created when the build
// pod could not mount vm.k8s.registryCAConfigMap: the pod would wait for
// the volume until the build timeout.
func (vm *VM) checkRegistryCA(ctx context.Context) error {
	ns, name := vm.Config.BuildNamespace, vm.Config.RegistryCAConfigMap
	if name == "" {
		return nil
	}
	cm, err := vm.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return errors.Errorf("ConfigMap %s/%s (%sregistryCAConfigMap) does not exist", ns, name, config.Prefix)
	}
	if err != nil {
		return errors.Wrapf(err, "cannot read ConfigMap %s/%s (%sregistryCAConfigMap)", ns, name, config.Prefix)
	}
	if _, ok := cm.Data[spec.RegistryCAKey]; !ok {
		return errors.Errorf("ConfigMap %s/%s (%sregistryCAConfigMap) has no key %s", ns, name, config.Prefix, spec.RegistryCAKey)
	}
	return nil
}

// buildOwner owns build Jobs: the peer's pod, unless the Jobs run in
// another namespace (owner references cannot cross namespaces).
func (vm *VM) buildOwner() *metav1.OwnerReference {
	if vm.Config.BuildNamespace != vm.Config.Namespace {
		return nil
	}
	return vm.Owner
}

// buildImage runs the build Job, streaming input into it, and returns the
// pushed digest. When another peer's Job with the same name exists, it waits
// for that Job and reuses its image; if there is still no image it builds
// once more itself.
func (vm *VM) buildImage(ctx context.Context, req *buildRequest, input *buildcontext.Input) (string, error) {
	ns, name := vm.Config.BuildNamespace, req.Job.Name
	job := spec.NewBuildJob(vm.Config, req.Job)
	vm.stampRun(&job.ObjectMeta)
	vm.stampRun(&job.Spec.Template.ObjectMeta)
	for attempt := 0; ; attempt++ {
		created, err := vm.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{FieldManager: fieldManager})
		if apierrors.IsAlreadyExists(err) && attempt == 0 {
			logger.Infof("Chaincode %s: build job %s/%s already exists, waiting for it", req.CCID, ns, name)
			if digest, err := vm.awaitForeignBuild(ctx, req); err != nil || digest != "" {
				return digest, err
			}
			continue
		}
		if err != nil {
			return "", errors.Wrapf(vm.interrupted(ctx, err), "chaincode %s: cannot create build job %s/%s", req.CCID, ns, name)
		}
		logger.Infof("Chaincode %s: building image %s with job %s/%s", req.CCID, req.Ref, ns, name)
		vm.event(created, corev1.EventTypeNormal, reasonBuildStarted, "Building chaincode %s as %s", req.CCID, req.Ref)
		digest, err := vm.runBuildJob(ctx, created, req, input)
		if err != nil {
			vm.event(created, corev1.EventTypeWarning, reasonBuildFailed, "Build of chaincode %s failed: %s", req.CCID, truncateMessage(err.Error()))
		} else {
			vm.event(created, corev1.EventTypeNormal, reasonBuildSucceeded, "Built chaincode %s: %s@%s", req.CCID, req.Ref, digest)
		}
		return digest, err
	}
}

// awaitForeignBuild waits for an existing Job to finish or disappear and
// returns the image digest if that Job produced it. A finished Job that
// produced nothing is removed so that we can build again.
func (vm *VM) awaitForeignBuild(ctx context.Context, req *buildRequest) (string, error) {
	ns, name := vm.Config.BuildNamespace, req.Job.Name
	var uid types.UID // of the Job waited for, while it exists
	lw := kube.JobListWatch(vm.Client, ns, kube.ByName(name))
	_, err := watchtools.UntilWithSync(ctx, lw, &batchv1.Job{}, kube.GonePrecondition(ns, name),
		func(ev watch.Event) (bool, error) {
			if kube.DeletesObject(ev, name) {
				uid = ""
				return true, nil
			}
			job, ok := ev.Object.(*batchv1.Job)
			if !ok || job.Name != name {
				return false, nil
			}
			uid = job.UID
			_, done := kube.JobFinished(job)
			return done, nil
		})
	if err != nil {
		return "", errors.Wrapf(vm.interrupted(ctx, err), "chaincode %s: waiting for build job %s/%s of another peer", req.CCID, ns, name)
	}
	digest, err := vm.Registry.Digest(ctx, req.Ref)
	if err != nil || digest != "" {
		return digest, errors.WithMessagef(err, "chaincode %s", req.CCID)
	}
	logger.Infof("Chaincode %s: existing build job %s/%s did not produce %s, building again", req.CCID, ns, name, req.Ref)
	if uid == "" {
		return "", nil
	}
	if err := kube.DeleteJob(ctx, vm.Client, ns, name, uid); err != nil {
		return "", errors.WithMessagef(err, "chaincode %s", req.CCID)
	}
	if err := kube.WaitJobGone(ctx, vm.Client, ns, name); err != nil {
		return "", errors.Wrapf(vm.interrupted(ctx, err), "chaincode %s: waiting for build job %s/%s of another peer to be removed", req.CCID, ns, name)
	}
	return "", nil
}

// runBuildJob streams the build context into the Job's pod, waits for the
// Job and returns the digest Kaniko pushed. The Job is always deleted.
func (vm *VM) runBuildJob(ctx context.Context, job *batchv1.Job, req *buildRequest, input *buildcontext.Input) (digest string, err error) {
	ns, name := job.Namespace, job.Name
	defer func() {
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), vm.Config.StopTimeout)
		defer cancel()
		if derr := kube.DeleteJob(cleanupCtx, vm.Client, ns, name, job.UID); derr != nil {
			logger.Warningf("Chaincode %s: %s", req.CCID, derr)
		}
	}()
	fail := func(err error, format string, args ...interface{}) error {
		return errors.WithMessagef(vm.interrupted(ctx, err), "chaincode %s: build job %s/%s: "+format, append([]interface{}{req.CCID, ns, name}, args...)...)
	}

	pod, err := vm.waitBuildPodReceiving(ctx, job)
	if err != nil {
		return "", fail(err, "waiting for build pod")
	}
	stream := input.Open()
	err = vm.Attacher.Attach(ctx, ns, pod, spec.ReceiveContainer, stream)
	stream.Close()
	if err != nil {
		return "", fail(err, "streaming code package into pod %s", pod)
	}

	finished, err := vm.waitJobFinished(ctx, job)
	if err != nil {
		return "", fail(err, "waiting for completion")
	}
	if cond, _ := kube.JobFinished(finished); cond != batchv1.JobComplete {
		return "", fail(vm.podFailure(ctx, ns, pod), "failed")
	}

	p, err := vm.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", fail(errors.Wrapf(err, "cannot get pod %s", pod), "reading image digest")
	}
	cs := kube.ContainerStatus(p, spec.KanikoContainer)
	if cs == nil || cs.State.Terminated == nil {
		return "", fail(errors.New("kaniko container has not terminated"), "reading image digest")
	}
	digest = strings.TrimSpace(cs.State.Terminated.Message)
	if !registry.IsDigest(digest) {
		return "", fail(errors.Errorf("kaniko reported %q instead of an image digest", digest), "reading image digest")
	}
	return digest, nil
}

// waitBuildPodReceiving waits until the receive init container of the Job's
// pod runs and returns the pod's name. It fails at once when the cluster
// refuses to create the pod (for example Pod Security admission), and when a
// container's image cannot be pulled within vm.k8s.imagePullTimeout.
func (vm *VM) waitBuildPodReceiving(ctx context.Context, job *batchv1.Job) (string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go vm.cancelWhenPodRefused(ctx, job, cancel)

	var podName string
	err := vm.followBuildPod(ctx, job, func(pod *corev1.Pod) (bool, error) {
		cs := kube.ContainerStatus(pod, spec.ReceiveContainer)
		if cs == nil {
			return false, nil
		}
		if cs.State.Terminated != nil {
			return false, errors.Errorf("container %s of pod %s terminated before receiving the code package", spec.ReceiveContainer, pod.Name)
		}
		podName = pod.Name
		return cs.State.Running != nil, nil
	}, nil)
	var refused *podRefusedError
	if cause := context.Cause(ctx); errors.As(cause, &refused) {
		return "", refused
	}
	return podName, err
}

// followBuildPod feeds the states of the Job's pod, from the VM's shared
// informer, to cond until it returns true or an error. It fails when the pod
// is deleted or failed, or a container cannot start (see pullGrace). With
// jobDone set, it also follows the Job itself and returns when jobDone does.
func (vm *VM) followBuildPod(ctx context.Context, job *batchv1.Job, cond func(*corev1.Pod) (bool, error), jobDone func(kube.TrackedEvent) (bool, error)) error {
	stopped, err := vm.cache.ready(ctx)
	if err != nil {
		return err
	}
	pods, unsubscribe := vm.cache.pods[job.Namespace].SubscribeMatching(func(o metav1.Object) bool {
		return o.GetLabels()[labels.JobName] == job.Name && ownedBy(o, job.UID)
	})
	defer unsubscribe()
	var jobEvents <-chan struct{} // nil, never ready, unless jobDone is set
	var jobSub *kube.Subscription
	if jobDone != nil {
		var unsubscribeJob func()
		jobSub, unsubscribeJob = vm.cache.jobs.Subscribe(job.Namespace, job.Name)
		defer unsubscribeJob()
		jobEvents = jobSub.Ready()
	}

	grace := &pullGrace{Clock: vm.Clock, Timeout: vm.Config.ImagePullTimeout}
	timer := kube.RecheckTimer{Clock: vm.Clock}
	defer timer.Stop()
	var last *corev1.Pod
	for {
		var events []kube.TrackedEvent
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stopped:
			return errors.New("the Kubernetes object cache stopped")
		case <-jobEvents:
			for _, ev := range jobSub.Drain() {
				if done, err := jobDone(ev); done || err != nil {
					return err
				}
			}
			continue
		case <-pods.Ready():
			events = pods.Drain()
		case <-timer.C():
			timer.Stop()
			events = []kube.TrackedEvent{{Type: watch.Modified, Object: last}}
		}
		for _, ev := range events {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				if jobDone != nil {
					continue // the Job reports the outcome
				}
				return errors.Errorf("pod %s was deleted", pod.Name)
			}
			last = pod
			if pod.Status.Phase == corev1.PodFailed && jobDone == nil {
				return errors.Errorf("pod %s failed: %s %s", pod.Name, pod.Status.Reason, pod.Status.Message)
			}
			recheck, err := grace.check(pod)
			if err != nil {
				return err
			}
			timer.Arm(recheck)
			if cond == nil {
				continue
			}
			if done, err := cond(pod); done || err != nil {
				return err
			}
		}
	}
}

// podRefusedError says why the Job controller could not create the pod.
type podRefusedError struct {
	message string
}

func (e *podRefusedError) Error() string {
	return "the cluster refused to create the build pod: " + e.message
}

// cancelWhenPodRefused cancels ctx with a podRefusedError on the Job's first
// FailedCreate event. It returns when ctx is done.
func (vm *VM) cancelWhenPodRefused(ctx context.Context, job *batchv1.Job, cancel context.CancelCauseFunc) {
	sel := kube.ListSelector{Field: "involvedObject.uid=" + string(job.UID) + ",reason=" + reasonFailedCreate}
	_, _ = watchtools.UntilWithSync(ctx, kube.EventListWatch(vm.Client, job.Namespace, sel), &corev1.Event{}, nil,
		func(ev watch.Event) (bool, error) {
			e, ok := ev.Object.(*corev1.Event)
			if !ok || ev.Type == watch.Deleted || e.InvolvedObject.UID != job.UID || e.Reason != reasonFailedCreate {
				return false, nil
			}
			cancel(&podRefusedError{message: e.Message})
			return true, nil
		})
}

func ownedBy(obj metav1.Object, uid types.UID) bool {
	for _, o := range obj.GetOwnerReferences() {
		if o.UID == uid {
			return true
		}
	}
	return false
}

// waitJobFinished waits until the Job is Complete or Failed. It fails early
// when a container of the build pod cannot pull its image (the builder or
// Kaniko image) within vm.k8s.imagePullTimeout.
func (vm *VM) waitJobFinished(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	var finished *batchv1.Job
	err := vm.followBuildPod(ctx, job, nil, func(ev kube.TrackedEvent) (bool, error) {
		j, _ := ev.Object.(*batchv1.Job)
		if j != nil && job.UID != "" && j.UID != job.UID {
			return false, nil // another Job of that name
		}
		if ev.Type == watch.Deleted {
			// The cache does not show the Job (yet), or says it was
			// deleted: a build fails on the API server's word only.
			live, gone, err := vm.cache.jobs.ConfirmGone(ctx, job.Name, string(job.UID))
			if err != nil {
				return false, errors.Wrapf(err, "cannot get job %s/%s", job.Namespace, job.Name)
			}
			if gone {
				return false, errors.New("job was deleted")
			}
			j = live.(*batchv1.Job)
		}
		if _, done := kube.JobFinished(j); done {
			finished = j
			return true, nil
		}
		return false, nil
	})
	return finished, err
}

// podFailure describes why a build pod failed, with the log tail of the
// first container that exited unsuccessfully.
func (vm *VM) podFailure(ctx context.Context, ns, name string) error {
	pod, err := vm.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return errors.Wrapf(err, "cannot get pod %s", name)
	}
	for _, c := range []string{spec.ReceiveContainer, spec.BuildContainer, spec.KanikoContainer} {
		cs := kube.ContainerStatus(pod, c)
		if cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode == 0 {
			continue
		}
		t := cs.State.Terminated
		return errors.Errorf("container %s of pod %s exited with code %d (%s); last log lines:\n%s",
			c, name, t.ExitCode, t.Reason, vm.logTail(ctx, ns, name, c))
	}
	return errors.Errorf("pod %s phase %s: %s %s", name, pod.Status.Phase, pod.Status.Reason, pod.Status.Message)
}

// logTail returns the end of a container's log, or why it is unavailable.
func (vm *VM) logTail(ctx context.Context, ns, pod, container string) string {
	raw, err := vm.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{
		Container:  container,
		TailLines:  ptr.To[int64](logTailLines),
		LimitBytes: ptr.To[int64](16 * logTailBytes),
	}).DoRaw(ctx)
	if err != nil {
		return "(logs unavailable: " + err.Error() + ")"
	}
	if len(raw) > logTailBytes {
		raw = raw[len(raw)-logTailBytes:]
	}
	return string(raw)
}
