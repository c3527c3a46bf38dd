/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/registry"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The containers of the build pod, in the order they run.
const (
	// ReceiveContainer extracts the build context streamed into its
	// standard input over pods/attach.
	ReceiveContainer = "receive"
	// BuildContainer runs the platform's build command.
	BuildContainer = "build"
	// KanikoContainer builds and pushes the image and writes the pushed
	// digest to its termination log.
	KanikoContainer = "kaniko"
)

// RegistryCAKey is the key of the ConfigMap vm.k8s.registryCAConfigMap that
// Kaniko reads the registry's CA certificate from.
const RegistryCAKey = "ca.crt"

// Volumes and paths of the build Job.
const (
	workVolume       = "chaincode"
	dockerConfigVol  = "docker-config"
	registryCAVol    = "registry-ca"
	kanikoWorkspace  = "/workspace"
	kanikoDockerDir  = "/kaniko/.docker"
	kanikoCADir      = "/kaniko/registry-ca"
	buildJobTTL      = int32(3600)
	terminationLog   = "/dev/termination-log"
	dockerConfigJSON = "config.json"
)

// The build pod's shared work volume, mounted at workDir: its receive
// container extracts the build context there (see package buildcontext for
// the layout), the build container packs the platform's output into
// binPackageName in the context directory, and Kaniko builds that directory.
const (
	workDir        = "/chaincode"
	binPackageName = "binpackage.tar"
)

// BuildJobParams are the per-build inputs of NewBuildJob.
type BuildJobParams struct {
	Name   string
	CCID   string
	CCType string // upper-case chaincode type, as the platforms name it
	// CCPath is the chaincode path of the package metadata (a Go
	// chaincode's import path); with CCType it names the chaincode's
	// directory of the build cache (buildCacheSubPath).
	CCPath       string
	PeerID       string
	Destination  string // image reference Kaniko pushes
	BuilderImage string
	BuildEnv     []string // KEY=VALUE
	BuildCmd     string   // the platform's build script
	Owner        *metav1.OwnerReference
}

// NewBuildJob returns the Job that builds and pushes one chaincode image: the
// receive init container extracts the build context streamed over pods/attach
// into the shared volume, the build init container runs the platform's build
// command and packs its output into context/binpackage.tar, and Kaniko builds
// context/Dockerfile and writes the pushed digest to its termination log.
func NewBuildJob(cfg *config.Config, p BuildJobParams) *batchv1.Job {
	jobLabels := map[string]string{
		labels.Name:          labels.AppBuild,
		labels.Instance:      p.Name,
		labels.ManagedBy:     labels.ManagedByValue,
		labels.Component:     labels.ComponentBuild,
		labels.PeerID:        LabelValue(p.PeerID),
		labels.ChaincodeHash: chaincodeHash(p.CCID),
	}
	annotations := map[string]string{labels.CCIDAnnotation: p.CCID}

	deadline := int64(cfg.BuildTimeout.Seconds())
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            p.Name,
			Namespace:       cfg.BuildNamespace,
			Labels:          jobLabels,
			Annotations:     annotations,
			OwnerReferences: ownerRefs(p.Owner),
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To(int32(0)),
			ActiveDeadlineSeconds:   &deadline,
			TTLSecondsAfterFinished: ptr.To(buildJobTTL),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: copyMap(jobLabels), Annotations: copyMap(annotations)},
				Spec:       buildPodSpec(cfg, p),
			},
		},
	}
}

// buildPodSpec is the spec of the build pod: its three containers, the work
// volume they share and the volumes only one of them mounts (Kaniko the
// registry credentials and CA, the build container the build cache).
func buildPodSpec(cfg *config.Config, p BuildJobParams) corev1.PodSpec {
	workMount := corev1.VolumeMount{Name: workVolume, MountPath: workDir}
	volumes := []corev1.Volume{{Name: workVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}

	kanikoVolumes, kanikoMounts := kanikoRegistryVolumes(cfg)
	volumes = append(volumes, kanikoVolumes...)
	kanikoMounts = append([]corev1.VolumeMount{{Name: workVolume, MountPath: kanikoWorkspace, SubPath: buildcontext.ContextDir}}, kanikoMounts...)

	buildEnv := p.BuildEnv
	buildMounts := []corev1.VolumeMount{workMount}
	if cfg.BuildCache != nil {
		buildEnv = mergeEnv(p.BuildEnv, buildCacheEnv())
		buildMounts = append(buildMounts, corev1.VolumeMount{
			Name: buildCacheVolume, MountPath: buildCacheDir, SubPath: buildCacheSubPath(p.CCType, p.CCPath),
		})
		volumes = append(volumes, buildCacheVolumeOf(cfg.BuildCache))
	}

	return corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		ServiceAccountName: cfg.BuildServiceAccount,
		// No container talks to the Kubernetes API: the service account
		// (its image pull secrets, the cloud identity bound to it) serves
		// the kubelet and Kaniko's registry credential helpers, and its API
		// token would reach the build container, which runs the
		// chaincode's own build steps.
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		HostNetwork:                  cfg.BuildHostNetwork,
		DNSPolicy:                    dnsPolicy(cfg.BuildHostNetwork),
		NodeSelector:                 copyMap(cfg.NodeSelector),
		Tolerations:                  cfg.Tolerations,
		ImagePullSecrets:             pullSecrets(cfg.ImagePullSecrets),
		Volumes:                      volumes,
		InitContainers: []corev1.Container{
			{
				Name:         ReceiveContainer,
				Image:        p.BuilderImage,
				Command:      []string{"tar", "-x", "-f", "-", "-C", workDir},
				Stdin:        true,
				StdinOnce:    true,
				VolumeMounts: []corev1.VolumeMount{workMount},
			},
			{
				Name:         BuildContainer,
				Image:        p.BuilderImage,
				Command:      []string{"/bin/sh", "-c", buildScript(p.BuildCmd)},
				Env:          envVars(buildEnv),
				Resources:    cfg.BuildResources,
				VolumeMounts: buildMounts,
			},
		},
		Containers: []corev1.Container{{
			Name:         KanikoContainer,
			Image:        cfg.KanikoImage,
			Args:         kanikoArgs(cfg, p.Destination),
			Resources:    cfg.BuildResources,
			VolumeMounts: kanikoMounts,
		}},
	}
}

// buildScript runs the platform's build command, then packs what it left in
// the output directory into the build context, for the Dockerfile to add.
func buildScript(buildCmd string) string {
	return "set -e\n(\n" + buildCmd + "\n)\n" +
		"tar -C " + workDir + "/" + buildcontext.OutputDir + " -cf " + workDir + "/" + buildcontext.ContextDir + "/" + binPackageName + " .\n"
}

// kanikoArgs builds the context in the Kaniko workspace and pushes it to
// destination, trusting the registry as configured.
func kanikoArgs(cfg *config.Config, destination string) []string {
	args := []string{
		"--context=dir://" + kanikoWorkspace,
		"--dockerfile=" + kanikoWorkspace + "/" + buildcontext.DockerfileName,
		"--destination=" + destination,
		"--digest-file=" + terminationLog,
	}
	if cfg.RegistryInsecure {
		args = append(args, "--insecure", "--insecure-pull", "--skip-tls-verify", "--skip-tls-verify-pull")
	}
	if cfg.RegistryCAConfigMap != "" {
		args = append(args, "--registry-certificate="+registry.Host(cfg.Registry)+"="+kanikoCADir+"/"+RegistryCAKey)
	}
	// vm.k8s.kanikoExtraArgs cannot set the flags above (config's
	// kanikoOwnFlag refuses them).
	return append(args, cfg.KanikoExtraArgs...)
}

// kanikoRegistryVolumes are the volumes that only Kaniko mounts, with its
// mounts of them: the push Secret's Docker config (vm.k8s.pushSecret) and
// the registry's CA (vm.k8s.registryCAConfigMap), each when configured.
func kanikoRegistryVolumes(cfg *config.Config) ([]corev1.Volume, []corev1.VolumeMount) {
	var (
		volumes []corev1.Volume
		mounts  []corev1.VolumeMount
	)
	if cfg.PushSecret != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: dockerConfigVol, MountPath: kanikoDockerDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{
			Name: dockerConfigVol,
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: cfg.PushSecret,
				Items:      []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: dockerConfigJSON}},
			}},
		})
	}
	if cfg.RegistryCAConfigMap != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: registryCAVol, MountPath: kanikoCADir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{
			Name: registryCAVol,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: cfg.RegistryCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: RegistryCAKey, Path: RegistryCAKey}},
			}},
		})
	}
	return volumes, mounts
}
