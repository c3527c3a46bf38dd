/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"crypto/rand"
	"strconv"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/kube"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/registry"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/relaunch"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/hyperledger/fabric-lib-go/common/flogging"
	"github.com/hyperledger/fabric-lib-go/common/metrics"
	"github.com/hyperledger/fabric/core/chaincode/platforms"
	"github.com/hyperledger/fabric/core/chaincode/platforms/util"
	"github.com/pkg/errors"
	"github.com/spf13/viper"
	"golang.org/x/sync/singleflight"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
)

var logger = flogging.MustGetLogger("k8scontroller")

// PeerParams is what the peer knows about itself when it creates the VM.
type PeerParams struct {
	PeerID          string
	NetworkID       string
	MSPID           string
	Platforms       *platforms.Registry
	MetricsProvider metrics.Provider
	// LoggingEnv is passed to every chaincode container, as with DockerVM.
	LoggingEnv []string
}

// VM builds chaincode images with Kaniko Jobs and runs chaincode as Pods. It
// implements container.DockerBuilder; its HealthCheck makes it a
// healthz.HealthChecker.
type VM struct {
	PeerID     string
	NetworkID  string
	MSPID      string
	LoggingEnv []string
	Config     *config.Config
	Client     kubernetes.Interface
	Registry   imageRegistry
	Attacher   podAttacher
	Platforms  *platforms.Registry
	Metrics    *Metrics
	// BuilderImage is the default builder (chaincode.builder) for platforms
	// that do not name one.
	BuilderImage string
	// Owner, when set, owns every Pod, Secret and Job the VM creates.
	Owner *metav1.OwnerReference
	// RunID, when set, labels every object this peer process creates so that
	// a later run can tell its own objects from those of earlier runs.
	RunID string
	// Events records Kubernetes events on the objects involved; Start sets
	// up a broadcaster unless it is already set, and none is recorded before.
	Events eventRecorder
	// Clock drives relaunch backoff and the periodic sweep.
	Clock clock.WithTicker
	// LaunchID, when set, returns the launch ID part of the names of a
	// launch's Pod and Secret (spec.PodName; newLaunchID by default).
	LaunchID func() string

	supervisor *relaunch.Supervisor
	launches   launches
	// cache holds the shared informers every wait on our objects uses.
	cache *objectCache
	life  lifecycle

	builds   singleflight.Group
	slots    buildSlots
	prePulls prePulls
	health   permissionCache
}

// fieldManager names the VM in the API: the field manager of what it creates
// and patches, its client's user agent and the source of its events. The
// labels and annotations on every object it creates are in package labels.
const fieldManager = "fabric-peer-k8s"

// New creates the VM from the vm.k8s.* configuration in the peer's viper;
// ctx bounds the look-up of the peer's own pod. It starts nothing: Start
// starts the VM's background work and Shutdown stops it.
func New(ctx context.Context, p PeerParams) (*VM, error) {
	if p.Platforms == nil {
		return nil, errors.New("k8scontroller: platform registry is required")
	}
	if p.MetricsProvider == nil {
		return nil, errors.New("k8scontroller: metrics provider is required")
	}
	cfg, err := config.FromViper(viper.GetViper())
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}

	restConfig, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, errors.Wrap(err, "cannot create Kubernetes client")
	}

	remote, err := registry.NewRemote(cfg, client.CoreV1())
	if err != nil {
		return nil, err
	}
	vm := &VM{
		PeerID:       p.PeerID,
		NetworkID:    p.NetworkID,
		MSPID:        p.MSPID,
		LoggingEnv:   p.LoggingEnv,
		Config:       cfg,
		Client:       client,
		Registry:     remote,
		Attacher:     &kube.Attacher{Config: restConfig, Client: client},
		Platforms:    p.Platforms,
		Metrics:      NewMetrics(p.MetricsProvider),
		BuilderImage: util.GetDockerImageFromConfig("chaincode.builder"),
		RunID:        newRunID(),
		Clock:        clock.RealClock{},
	}
	vm.supervisor = relaunch.New(cfg.Relaunch, vm.Clock, relaunchReport{VM: vm})
	vm.cache = newObjectCache(client, cfg, p.PeerID)

	if cfg.PeerPodName != "" {
		ctx, cancel := context.WithTimeout(ctx, cfg.StopTimeout)
		defer cancel()
		owner, err := peerPodOwner(ctx, client, cfg.Namespace, cfg.PeerPodName)
		if err != nil {
			return nil, err
		}
		vm.Owner = owner
	}

	logger.Infof("Kubernetes chaincode VM: namespace %s, registry %s (pull %s), Kaniko %s, owner pod %q, run %s",
		cfg.Namespace, cfg.Registry, cfg.PullRegistry, cfg.KanikoImage, cfg.PeerPodName, vm.RunID)
	return vm, nil
}

// RelaunchFunc launches a chaincode through the peer's normal launch path
// (the peer wires in ChaincodeSupport.Launch): fresh TLS certificates, a new
// Secret and a new Pod, and it returns once the chaincode has registered.
type RelaunchFunc = relaunch.LaunchFunc

// EnableRelaunch lets the VM relaunch chaincode whose pod ended without the
// peer asking, through launch (the peer's ChaincodeSupport.Launch), as
// vm.k8s.relaunch configures.
func (vm *VM) EnableRelaunch(launch RelaunchFunc) {
	vm.supervisor.SetLaunch(launch)
}

// launchID returns the ID of a new launch.
func (vm *VM) launchID() string {
	if vm.LaunchID != nil {
		return vm.LaunchID()
	}
	return newLaunchID()
}

// launchIDLength is the length of a launch ID: 36^6 IDs make a collision
// between two launches of one chaincode on one peer improbable, and a
// collision only fails that launch (the Pod already exists).
const launchIDLength = 6

// launchIDAlphabet are the characters of a launch ID (valid in DNS labels).
const launchIDAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

// newLaunchID returns a random launch ID.
func newLaunchID() string {
	b := make([]byte, launchIDLength)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(err)
	}
	for i := range b {
		b[i] = launchIDAlphabet[int(b[i])%len(launchIDAlphabet)]
	}
	return string(b)
}

// newRunID identifies this peer process among the runs of the same peer.
func newRunID() string {
	return strconv.FormatInt(time.Now().UnixNano(), 36)
}

// stampRun labels an object with this run.
func (vm *VM) stampRun(meta *metav1.ObjectMeta) {
	if vm.RunID == "" {
		return
	}
	l := make(map[string]string, len(meta.Labels)+1)
	for k, v := range meta.Labels {
		l[k] = v
	}
	l[labels.Run] = vm.RunID
	meta.Labels = l
}

func restConfig(cfg *config.Config) (*rest.Config, error) {
	var (
		c   *rest.Config
		err error
	)
	kubeconfig := cfg.Kubeconfig
	if kubeconfig != "" {
		c, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, errors.Wrapf(err, "%skubeconfig: cannot load %s", config.Prefix, kubeconfig)
		}
	} else {
		c, err = rest.InClusterConfig()
		if err != nil {
			return nil, errors.Wrapf(err, "%skubeconfig is empty and in-cluster configuration is unavailable", config.Prefix)
		}
	}
	c.UserAgent = fieldManager
	c.QPS, c.Burst = cfg.ClientQPS, cfg.ClientBurst
	return c, nil
}

// peerPodOwner reads the peer's own pod to reference it as owner.
func peerPodOwner(ctx context.Context, client kubernetes.Interface, namespace, name string) (*metav1.OwnerReference, error) {
	pod, err := client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, errors.Wrapf(err, "%speerPodName: cannot get pod %s/%s", config.Prefix, namespace, name)
	}
	return &metav1.OwnerReference{
		APIVersion: "v1",
		Kind:       "Pod",
		Name:       pod.Name,
		UID:        pod.UID,
	}, nil
}
