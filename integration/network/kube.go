/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Labels the k8s VM (core/container/k8scontroller) puts on what it creates,
// under the names the tests use; package labels defines them.
const (
	LabelManagedBy = labels.ManagedBy
	LabelComponent = labels.Component
	LabelPeerID    = labels.PeerID
	LabelCCHash    = labels.ChaincodeHash
	// LabelInstance names, on a chaincode Secret, the Pod it belongs to.
	LabelInstance = labels.Instance
	// LabelJobName is set by Kubernetes' Job controller on a Job's Pods.
	LabelJobName    = labels.JobName
	ManagedByValue  = labels.ManagedByValue
	ManagedSelector = labels.ManagedSelector
	// ChaincodeSelector selects chaincode Pods and their TLS Secrets.
	ChaincodeSelector = labels.ChaincodeSelector
	// BuildSelector selects build Jobs and their Pods.
	BuildSelector = labels.BuildSelector
	// AnnotationCCID holds the full package ID on chaincode pods and secrets.
	AnnotationCCID = labels.CCIDAnnotation
)

// TestNamespaceLabel ("true") marks the namespaces the tests create.
const TestNamespaceLabel = labels.Prefix + "test"

// Kube is a small client for checking what the VM did in one namespace.
type Kube struct {
	Client    kubernetes.Interface
	Namespace string
}

// NewKube loads kubeconfig.
func NewKube(kubeconfig, namespace string) (*Kube, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = 30 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Kube{Client: cs, Namespace: namespace}, nil
}

// Ping checks that the API server answers and a node is Ready.
func (k *Kube) Ping(ctx context.Context) error {
	nodes, err := k.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("cannot list nodes: %w", err)
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
	}
	return fmt.Errorf("no Ready node among %d nodes", len(nodes.Items))
}

// CreateNamespace creates k.Namespace (labelled as a test namespace).
func (k *Kube) CreateNamespace(ctx context.Context) error {
	_, err := k.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			Name:   k.Namespace,
			Labels: map[string]string{TestNamespaceLabel: "true"},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating namespace %s: %w", k.Namespace, err)
	}
	// The service account admission controller creates "default" shortly
	// after; wait for it so that nothing the VM creates races it.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := k.Client.CoreV1().ServiceAccounts(k.Namespace).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// DeleteNamespace deletes k.Namespace and, when wait > 0, waits until it is gone.
func (k *Kube) DeleteNamespace(ctx context.Context, wait time.Duration) error {
	err := k.Client.CoreV1().Namespaces().Delete(ctx, k.Namespace, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		_, err := k.Client.CoreV1().Namespaces().Get(ctx, k.Namespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		time.Sleep(time.Second)
	}
	if wait > 0 {
		return fmt.Errorf("namespace %s still exists after %s", k.Namespace, wait)
	}
	return nil
}

// Inventory is what exists in the namespace at one moment.
type Inventory struct {
	ChaincodePods []corev1.Pod
	BuildPods     []corev1.Pod
	PrePullPods   []corev1.Pod
	OtherPods     []corev1.Pod
	Jobs          []batchv1.Job
	// DaemonSets are the pre-pull DaemonSets (every DaemonSet with the
	// managed-by label).
	DaemonSets []appsv1.DaemonSet
	// ChaincodeSecrets carry the chaincode label; Secrets is every Secret.
	ChaincodeSecrets []corev1.Secret
	Secrets          []corev1.Secret
}

// IsBuildPod tells a pod of a build Job from a chaincode pod.
func IsBuildPod(p *corev1.Pod) bool {
	if p.Labels[labels.Component] == labels.ComponentBuild || p.Labels[labels.JobName] != "" || p.Labels["job-name"] != "" {
		return true
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "Job" {
			return true
		}
	}
	return false
}

// IsPrePullPod is a pod of a pre-pull DaemonSet of the VM.
func IsPrePullPod(p *corev1.Pod) bool {
	return p.Labels[labels.ManagedBy] == labels.ManagedByValue && p.Labels[labels.Component] == labels.ComponentPrePull
}

// IsChaincodePod is a pod the VM launched for a chaincode.
func IsChaincodePod(p *corev1.Pod) bool {
	return p.Labels[labels.ManagedBy] == labels.ManagedByValue && p.Labels[labels.Component] == labels.ComponentChaincode
}

// Inventory lists pods, jobs and secrets.
func (k *Kube) Inventory(ctx context.Context) (Inventory, error) {
	var inv Inventory
	pods, err := k.Client.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return inv, err
	}
	for _, p := range pods.Items {
		switch {
		case IsBuildPod(&p):
			inv.BuildPods = append(inv.BuildPods, p)
		case IsChaincodePod(&p):
			inv.ChaincodePods = append(inv.ChaincodePods, p)
		case IsPrePullPod(&p):
			inv.PrePullPods = append(inv.PrePullPods, p)
		default:
			inv.OtherPods = append(inv.OtherPods, p)
		}
	}
	jobs, err := k.Client.BatchV1().Jobs(k.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return inv, err
	}
	inv.Jobs = jobs.Items
	sets, err := k.Client.AppsV1().DaemonSets(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.ManagedSelector})
	if err != nil {
		return inv, err
	}
	inv.DaemonSets = sets.Items
	secrets, err := k.Client.CoreV1().Secrets(k.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return inv, err
	}
	inv.Secrets = secrets.Items
	for _, s := range secrets.Items {
		if s.Labels[labels.ManagedBy] == labels.ManagedByValue && s.Labels[labels.Component] == labels.ComponentChaincode {
			inv.ChaincodeSecrets = append(inv.ChaincodeSecrets, s)
		}
	}
	return inv, nil
}

// String summarises an inventory for failure messages.
func (inv Inventory) String() string {
	var b strings.Builder
	podLine := func(kind string, pods []corev1.Pod) {
		fmt.Fprintf(&b, "%s pods (%d):", kind, len(pods))
		for _, p := range pods {
			del := ""
			if p.DeletionTimestamp != nil {
				del = ",terminating"
			}
			fmt.Fprintf(&b, " %s[%s%s]", p.Name, p.Status.Phase, del)
		}
		b.WriteString("\n")
	}
	podLine("chaincode", inv.ChaincodePods)
	podLine("build", inv.BuildPods)
	podLine("pre-pull", inv.PrePullPods)
	podLine("other", inv.OtherPods)
	fmt.Fprintf(&b, "daemonsets (%d):", len(inv.DaemonSets))
	for _, d := range inv.DaemonSets {
		fmt.Fprintf(&b, " %s[desired=%d]", d.Name, d.Status.DesiredNumberScheduled)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "jobs (%d):", len(inv.Jobs))
	for _, j := range inv.Jobs {
		fmt.Fprintf(&b, " %s[active=%d,succeeded=%d,failed=%d]", j.Name, j.Status.Active, j.Status.Succeeded, j.Status.Failed)
	}
	fmt.Fprintf(&b, "\nsecrets (%d, chaincode %d):", len(inv.Secrets), len(inv.ChaincodeSecrets))
	for _, s := range inv.Secrets {
		fmt.Fprintf(&b, " %s", s.Name)
	}
	return b.String()
}

// LivePods drops pods that are being deleted or have finished.
func LivePods(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// PeerPod returns the first of pods that peer peerID launched, or nil.
func PeerPod(pods []corev1.Pod, peerID string) *corev1.Pod {
	for i := range pods {
		if pods[i].Labels[LabelPeerID] == peerID {
			return &pods[i]
		}
	}
	return nil
}

// PodLogs returns the logs of one container (all when container is "").
func (k *Kube) PodLogs(ctx context.Context, pod, container string) (string, error) {
	b, err := k.Client.CoreV1().Pods(k.Namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
	return string(b), err
}

// DeleteManaged deletes everything carrying the managed-by label; it returns
// what it found. Jobs and DaemonSets are deleted with their pods.
func (k *Kube) DeleteManaged(ctx context.Context) (Inventory, error) {
	inv, err := k.Inventory(ctx)
	if err != nil {
		return inv, err
	}
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	lo := metav1.ListOptions{LabelSelector: labels.ManagedSelector}
	var errs []string
	if err := k.Client.BatchV1().Jobs(k.Namespace).DeleteCollection(ctx, opts, lo); err != nil {
		errs = append(errs, err.Error())
	}
	if err := k.Client.AppsV1().DaemonSets(k.Namespace).DeleteCollection(ctx, opts, lo); err != nil {
		errs = append(errs, err.Error())
	}
	if err := k.Client.CoreV1().Pods(k.Namespace).DeleteCollection(ctx, opts, lo); err != nil {
		errs = append(errs, err.Error())
	}
	if err := k.Client.CoreV1().Secrets(k.Namespace).DeleteCollection(ctx, opts, lo); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return inv, fmt.Errorf("deleting managed objects: %s", strings.Join(errs, "; "))
	}
	return inv, nil
}

// JobRecorder remembers every Job created in a namespace while it runs, so
// that builds can be counted even when the VM deletes finished Jobs.
type JobRecorder struct {
	mu      sync.Mutex
	created map[string]*batchv1.Job
	order   []string
	cancel  context.CancelFunc
	done    chan struct{}
	errs    []string
}

// RecordJobs starts watching Jobs of k.Namespace; Jobs existing now are not
// counted.
func (k *Kube) RecordJobs(ctx context.Context) (*JobRecorder, error) {
	list, err := k.Client.BatchV1().Jobs(k.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, j := range list.Items {
		known[string(j.UID)] = true
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &JobRecorder{created: map[string]*batchv1.Job{}, cancel: cancel, done: make(chan struct{})}
	rv := list.ResourceVersion
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			w, err := k.Client.BatchV1().Jobs(k.Namespace).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				r.note("watch: " + err.Error())
				// Fall back to a fresh list; new jobs found there count.
				time.Sleep(time.Second)
				if l, err := k.Client.BatchV1().Jobs(k.Namespace).List(ctx, metav1.ListOptions{}); err == nil {
					for _, j := range l.Items {
						if !known[string(j.UID)] {
							known[string(j.UID)] = true
							r.add(j.DeepCopy())
						}
					}
					rv = l.ResourceVersion
				}
				continue
			}
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					r.note(fmt.Sprintf("watch error event: %v", ev.Object))
					rv = ""
					break
				}
				j, ok := ev.Object.(*batchv1.Job)
				if !ok {
					continue
				}
				rv = j.ResourceVersion
				if ev.Type == watch.Bookmark {
					continue
				}
				if !known[string(j.UID)] {
					known[string(j.UID)] = true
					r.add(j.DeepCopy())
				}
			}
			w.Stop()
			if rv == "" {
				if l, err := k.Client.BatchV1().Jobs(k.Namespace).List(ctx, metav1.ListOptions{}); err == nil {
					for _, j := range l.Items {
						if !known[string(j.UID)] {
							known[string(j.UID)] = true
							r.add(j.DeepCopy())
						}
					}
					rv = l.ResourceVersion
				}
			}
		}
	}()
	return r, nil
}

func (r *JobRecorder) add(j *batchv1.Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created[j.Name] = j
	r.order = append(r.order, j.Name)
}

// Job returns the Job as first seen.
func (r *JobRecorder) Job(name string) *batchv1.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.created[name]
}

// Destinations returns the --destination arguments (image references) of
// the Kaniko containers of the named Jobs.
func (r *JobRecorder) Destinations(names ...string) []string {
	var out []string
	for _, n := range names {
		j := r.Job(n)
		if j == nil {
			continue
		}
		for _, c := range append(j.Spec.Template.Spec.InitContainers, j.Spec.Template.Spec.Containers...) {
			for _, a := range append(append([]string(nil), c.Command...), c.Args...) {
				if strings.HasPrefix(a, "--destination=") {
					out = append(out, strings.TrimPrefix(a, "--destination="))
				}
			}
		}
	}
	return out
}

// Errors are watch problems seen so far.
func (r *JobRecorder) Errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func (r *JobRecorder) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, s)
}

// Created returns the names of Jobs created so far, in order.
func (r *JobRecorder) Created() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// Count is len(Created()).
func (r *JobRecorder) Count() int { return len(r.Created()) }

// Stop ends the watch.
func (r *JobRecorder) Stop() {
	r.cancel()
	<-r.done
}

// RegistryClient talks to the plain-HTTP registry of the local cluster.
type RegistryClient struct {
	// Addr is host:port to connect to (127.0.0.1:5000).
	Addr string
	// Host is the registry name in image references (localhost:5000).
	Host   string
	Client *http.Client
}

// NewRegistryClient for the local cluster registry.
func NewRegistryClient(addr, host string) *RegistryClient {
	return &RegistryClient{Addr: addr, Host: host, Client: &http.Client{Timeout: 15 * time.Second}}
}

// SplitImageRef splits host/repo[:tag][@digest] into repository path and the
// manifest reference (digest preferred).
func (rc *RegistryClient) SplitImageRef(ref string) (repo, manifest string, err error) {
	rest := strings.TrimPrefix(ref, rc.Host+"/")
	if rest == ref {
		return "", "", fmt.Errorf("image %q is not in registry %s", ref, rc.Host)
	}
	if i := strings.Index(rest, "@"); i >= 0 {
		repo, manifest = rest[:i], rest[i+1:]
		if j := strings.LastIndex(repo, ":"); j >= 0 {
			repo = repo[:j]
		}
		return repo, manifest, nil
	}
	if j := strings.LastIndex(rest, ":"); j >= 0 {
		return rest[:j], rest[j+1:], nil
	}
	return rest, "latest", nil
}

// HasImage sends HEAD /v2/<repo>/manifests/<ref>.
func (rc *RegistryClient) HasImage(ref string) (bool, error) {
	repo, manifest, err := rc.SplitImageRef(ref)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", rc.Addr, repo, manifest), nil)
	if err != nil {
		return false, err
	}
	for _, a := range []string{
		"application/vnd.oci.image.manifest.v1+json",
		"application/vnd.oci.image.index.v1+json",
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
	} {
		req.Header.Add("Accept", a)
	}
	resp, err := rc.Client.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("HEAD %s: %s", req.URL, resp.Status)
	}
}

// SortedNames returns the names of pods, sorted.
func SortedNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}
