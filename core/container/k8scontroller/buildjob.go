/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"strings"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/registry"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fieldManager names the VM in the API: the field manager of what it creates
// and patches, its client's user agent and the source of its events. The
// labels and annotations on every object it creates are in package labels.
const fieldManager = "fabric-peer-k8s"

// Containers, volumes and paths of the build Job.
const (
	receiveContainer = "receive"
	buildContainer   = "build"
	kanikoContainer  = "kaniko"

	workVolume       = "chaincode"
	dockerConfigVol  = "docker-config"
	registryCAVol    = "registry-ca"
	kanikoWorkspace  = "/workspace"
	kanikoDockerDir  = "/kaniko/.docker"
	kanikoCADir      = "/kaniko/registry-ca"
	registryCAKey    = "ca.crt"
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

// buildJobParams are the per-build inputs of newBuildJob.
type buildJobParams struct {
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

// newBuildJob returns the Job that builds and pushes one chaincode image: the
// receive init container extracts the build context streamed over pods/attach
// into the shared volume, the build init container runs the platform's build
// command and packs its output into context/binpackage.tar, and Kaniko builds
// context/Dockerfile and writes the pushed digest to its termination log.
func newBuildJob(cfg *config.Config, p buildJobParams) *batchv1.Job {
	jobLabels := map[string]string{
		labels.Name:          labels.AppBuild,
		labels.Instance:      p.Name,
		labels.ManagedBy:     labels.ManagedByValue,
		labels.Component:     labels.ComponentBuild,
		labels.PeerID:        labelValue(p.PeerID),
		labels.ChaincodeHash: chaincodeHash(p.CCID),
	}
	annotations := map[string]string{labels.CCIDAnnotation: p.CCID}

	workMount := corev1.VolumeMount{Name: workVolume, MountPath: workDir}
	buildScript := "set -e\n(\n" + p.BuildCmd + "\n)\n" +
		"tar -C " + workDir + "/" + buildcontext.OutputDir + " -cf " + workDir + "/" + buildcontext.ContextDir + "/" + binPackageName + " .\n"

	kanikoArgs := []string{
		"--context=dir://" + kanikoWorkspace,
		"--dockerfile=" + kanikoWorkspace + "/" + buildcontext.DockerfileName,
		"--destination=" + p.Destination,
		"--digest-file=" + terminationLog,
	}
	if cfg.RegistryInsecure {
		kanikoArgs = append(kanikoArgs, "--insecure", "--insecure-pull", "--skip-tls-verify", "--skip-tls-verify-pull")
	}
	if cfg.RegistryCAConfigMap != "" {
		kanikoArgs = append(kanikoArgs, "--registry-certificate="+registry.Host(cfg.Registry)+"="+kanikoCADir+"/"+registryCAKey)
	}
	// vm.k8s.kanikoExtraArgs cannot set the flags above (config's
	// kanikoOwnFlag refuses them).
	kanikoArgs = append(kanikoArgs, cfg.KanikoExtraArgs...)

	kanikoMounts := []corev1.VolumeMount{{Name: workVolume, MountPath: kanikoWorkspace, SubPath: buildcontext.ContextDir}}
	volumes := []corev1.Volume{{Name: workVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	if cfg.PushSecret != "" {
		kanikoMounts = append(kanikoMounts, corev1.VolumeMount{Name: dockerConfigVol, MountPath: kanikoDockerDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{
			Name: dockerConfigVol,
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: cfg.PushSecret,
				Items:      []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: dockerConfigJSON}},
			}},
		})
	}
	if cfg.RegistryCAConfigMap != "" {
		kanikoMounts = append(kanikoMounts, corev1.VolumeMount{Name: registryCAVol, MountPath: kanikoCADir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{
			Name: registryCAVol,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: cfg.RegistryCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: registryCAKey, Path: registryCAKey}},
			}},
		})
	}

	buildEnv := p.BuildEnv
	buildMounts := []corev1.VolumeMount{workMount}
	if cfg.BuildCache != nil {
		buildEnv = mergeEnv(p.BuildEnv, buildCacheEnv())
		buildMounts = append(buildMounts, corev1.VolumeMount{
			Name: buildCacheVolume, MountPath: buildCacheDir, SubPath: buildCacheSubPath(p.CCType, p.CCPath),
		})
		volumes = append(volumes, buildCacheVolumeOf(cfg.BuildCache))
	}

	podSpec := corev1.PodSpec{
		RestartPolicy:      corev1.RestartPolicyNever,
		ServiceAccountName: cfg.BuildServiceAccount,
		// No container talks to the Kubernetes API: the service account
		// (its image pull secrets, the cloud identity bound to it) serves
		// the kubelet and Kaniko's registry credential helpers, and its API
		// token would reach the build container, which runs the
		// chaincode's own build steps.
		AutomountServiceAccountToken: boolPtr(false),
		EnableServiceLinks:           boolPtr(false),
		HostNetwork:                  cfg.BuildHostNetwork,
		DNSPolicy:                    dnsPolicy(cfg.BuildHostNetwork),
		NodeSelector:                 copyMap(cfg.NodeSelector),
		Tolerations:                  cfg.Tolerations,
		ImagePullSecrets:             pullSecrets(cfg.ImagePullSecrets),
		Volumes:                      volumes,
		InitContainers: []corev1.Container{
			{
				Name:         receiveContainer,
				Image:        p.BuilderImage,
				Command:      []string{"tar", "-x", "-f", "-", "-C", workDir},
				Stdin:        true,
				StdinOnce:    true,
				VolumeMounts: []corev1.VolumeMount{workMount},
			},
			{
				Name:         buildContainer,
				Image:        p.BuilderImage,
				Command:      []string{"/bin/sh", "-c", buildScript},
				Env:          envVars(buildEnv),
				Resources:    cfg.BuildResources,
				VolumeMounts: buildMounts,
			},
		},
		Containers: []corev1.Container{{
			Name:         kanikoContainer,
			Image:        cfg.KanikoImage,
			Args:         kanikoArgs,
			Resources:    cfg.BuildResources,
			VolumeMounts: kanikoMounts,
		}},
	}

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
			BackoffLimit:            int32Ptr(0),
			ActiveDeadlineSeconds:   &deadline,
			TTLSecondsAfterFinished: int32Ptr(buildJobTTL),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: copyMap(jobLabels), Annotations: copyMap(annotations)},
				Spec:       podSpec,
			},
		},
	}
}

func envVars(env []string) []corev1.EnvVar {
	if len(env) == 0 {
		return nil
	}
	vars := make([]corev1.EnvVar, 0, len(env))
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		vars = append(vars, corev1.EnvVar{Name: k, Value: v})
	}
	return vars
}

func pullSecrets(names []string) []corev1.LocalObjectReference {
	if len(names) == 0 {
		return nil
	}
	refs := make([]corev1.LocalObjectReference, 0, len(names))
	for _, n := range names {
		refs = append(refs, corev1.LocalObjectReference{Name: n})
	}
	return refs
}

func dnsPolicy(hostNetwork bool) corev1.DNSPolicy {
	if hostNetwork {
		return corev1.DNSClusterFirstWithHostNet
	}
	return corev1.DNSClusterFirst
}

func ownerRefs(owner *metav1.OwnerReference) []metav1.OwnerReference {
	if owner == nil {
		return nil
	}
	return []metav1.OwnerReference{*owner}
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func boolPtr(b bool) *bool    { return &b }
func int32Ptr(i int32) *int32 { return &i }
func int64Ptr(i int64) *int64 { return &i }
