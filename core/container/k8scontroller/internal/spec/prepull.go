/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// PrePullContainer is the container of a pre-pull pod.
const PrePullContainer = "pull"

// prePullCommand keeps a pre-pull container idle until its DaemonSet is
// deleted. The image is present once the container was created, whatever
// the command does: an image without sh fails to start it, which the VM
// counts as pulled as well (kube.ImagePresent).
var prePullCommand = []string{"sh", "-c", "exec sleep 3600"}

// PrePullParams are the inputs of NewPrePullDaemonSet.
type PrePullParams struct {
	Name   string
	CCID   string
	PeerID string
	Image  string // the image the chaincode pod runs, repository:tag@digest
	Owner  *metav1.OwnerReference
	// Settings are the chaincode's own settings, merged over cfg as for its
	// pods; nil: cfg alone.
	Settings *config.ChaincodeSettings
}

// NewPrePullDaemonSet returns the DaemonSet that makes a chaincode's image
// present on every node its pods may run on: one pod per node that the
// chaincode's nodeSelector, required node affinity and tolerations admit,
// whose only container runs the image (DaemonSet pods also tolerate nodes
// that are not ready or under pressure). Preferred and inter-pod affinity,
// which do not decide where a chaincode pod may run, are left out. The pods
// pull with the chaincode's image pull secrets and service account, run
// under the chaincode's restricted security context and request next to
// nothing, with no CPU limit; nothing is mounted.
func NewPrePullDaemonSet(cfg *config.Config, p PrePullParams) *appsv1.DaemonSet {
	tmpl := mergeSettings(cfg, p.Settings)
	meta := metav1.ObjectMeta{
		Name:      p.Name,
		Namespace: cfg.Namespace,
		Labels: map[string]string{
			labels.Name:          labels.AppPrePull,
			labels.Instance:      p.Name,
			labels.ManagedBy:     labels.ManagedByValue,
			labels.Component:     labels.ComponentPrePull,
			labels.PeerID:        LabelValue(p.PeerID),
			labels.ChaincodeHash: chaincodeHash(p.CCID),
		},
		Annotations:     map[string]string{labels.CCIDAnnotation: p.CCID},
		OwnerReferences: ownerRefs(p.Owner),
	}
	podMeta := metav1.ObjectMeta{Labels: copyMap(meta.Labels), Annotations: copyMap(meta.Annotations)}
	addUnreserved(podMeta.Labels, tmpl.Labels)
	addUnreserved(podMeta.Annotations, tmpl.Annotations)
	// No CPU limit: a pod's limits bound its sandbox and the container's
	// start as well, and a small quota stretches both to seconds.
	requests := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("10m"),
		corev1.ResourceMemory: resource.MustParse("16Mi"),
	}
	limits := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")}
	return &appsv1.DaemonSet{
		ObjectMeta: meta,
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{
				labels.Instance:  p.Name,
				labels.Component: labels.ComponentPrePull,
			}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: podMeta,
				Spec: corev1.PodSpec{
					ServiceAccountName:            tmpl.ServiceAccount,
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To(int64(0)),
					NodeSelector:                  tmpl.NodeSelector,
					Tolerations:                   tmpl.Tolerations,
					Affinity:                      requiredNodeAffinity(tmpl.Affinity),
					ImagePullSecrets:              pullSecrets(cfg.ImagePullSecrets),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To(cfg.RunAsUser),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            PrePullContainer,
						Image:           p.Image,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Command:         prePullCommand,
						Resources:       corev1.ResourceRequirements{Requests: requests, Limits: limits},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot:             ptr.To(true),
							RunAsUser:                ptr.To(cfg.RunAsUser),
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
				},
			},
		},
	}
}

// requiredNodeAffinity keeps of a the node affinity that decides where a pod
// may run; nil when there is none.
func requiredNodeAffinity(a *corev1.Affinity) *corev1.Affinity {
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.DeepCopy(),
	}}
}
