/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"encoding/base64"
	"fmt"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/hyperledger/fabric/core/container/ccintf"
	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// ChaincodeContainer is the container of a chaincode pod.
const ChaincodeContainer = "chaincode"

// TLS material inside the chaincode container, identical to DockerVM.
const (
	tlsDir                = "/etc/hyperledger/fabric"
	tlsClientKeyPath      = tlsDir + "/client.key"
	tlsClientCertPath     = tlsDir + "/client.crt"
	tlsClientKeyFile      = tlsDir + "/client_pem.key"
	tlsClientCertFile     = tlsDir + "/client_pem.crt"
	tlsClientRootCertFile = tlsDir + "/peer.crt"

	tlsVolume = "tls"
	tmpVolume = "tmp"
)

// nodeStartScript is DockerVM's start script for Node.js chaincode, with
// exec: the shell is the container's PID 1, which ignores SIGTERM, so
// without exec a deleted pod would stop only when its grace period ends.
const nodeStartScript = `
set -e
if [ -x /chaincode/start.sh ]; then
	exec /chaincode/start.sh --peer.address %[1]s
else
	cd /usr/local/src
	exec npm start -- --peer.address %[1]s
fi
`

// ChaincodeArgs mirrors DockerVM.GetArgs: the arguments of the chaincode
// container for a chaincode of type ccType (upper-case, as the platforms name
// it), the types as the Fabric line's protobuf module names them (fabric3.go,
// fabric25.go).
func ChaincodeArgs(ccType, peerAddress string) ([]string, error) {
	switch ccType {
	case ccTypeGolang.String(), ccTypeCar.String():
		return []string{"chaincode", fmt.Sprintf("-peer.address=%s", peerAddress)}, nil
	case ccTypeJava.String():
		return []string{"/root/chaincode-java/start", "--peerAddress", peerAddress}, nil
	case ccTypeNode.String():
		return []string{"/bin/sh", "-c", fmt.Sprintf(nodeStartScript, peerAddress)}, nil
	default:
		return nil, errors.Errorf("unknown chaincodeType: %s", ccType)
	}
}

// ChaincodeEnv mirrors DockerVM.GetEnv: the chaincode's environment, with
// tls the paths where NewChaincodePod mounts the TLS Secret.
func ChaincodeEnv(ccid, mspID string, loggingEnv []string, tls bool) []string {
	env := []string{"CORE_CHAINCODE_ID_NAME=" + ccid}
	env = append(env, loggingEnv...)
	if tls {
		env = append(env,
			"CORE_PEER_TLS_ENABLED=true",
			"CORE_TLS_CLIENT_KEY_PATH="+tlsClientKeyPath,
			"CORE_TLS_CLIENT_CERT_PATH="+tlsClientCertPath,
			"CORE_TLS_CLIENT_KEY_FILE="+tlsClientKeyFile,
			"CORE_TLS_CLIENT_CERT_FILE="+tlsClientCertFile,
			"CORE_PEER_TLS_ROOTCERT_FILE="+tlsClientRootCertFile,
		)
	} else {
		env = append(env, "CORE_PEER_TLS_ENABLED=false")
	}
	return append(env, "CORE_PEER_LOCALMSPID="+mspID)
}

// chaincodeObjectMeta is shared by the chaincode Pod and its Secret.
func chaincodeObjectMeta(name, namespace, instance, peerID, ccid string, owner *metav1.OwnerReference) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      name,
		Namespace: namespace,
		Labels: map[string]string{
			labels.Name:          labels.AppChaincode,
			labels.Instance:      instance,
			labels.ManagedBy:     labels.ManagedByValue,
			labels.Component:     labels.ComponentChaincode,
			labels.PeerID:        LabelValue(peerID),
			labels.ChaincodeHash: chaincodeHash(ccid),
		},
		Annotations:     map[string]string{labels.CCIDAnnotation: ccid},
		OwnerReferences: ownerRefs(owner),
	}
}

// TLSSecretParams are the per-launch inputs of NewTLSSecret.
type TLSSecretParams struct {
	Name    string
	PodName string // the pod that mounts the Secret: its instance label
	CCID    string
	PeerID  string
	TLS     *ccintf.TLSConfig
	Owner   *metav1.OwnerReference
}

// NewTLSSecret holds the files DockerVM uploads into the container. As in
// DockerVM, client.key and client.crt are base64 encoded, the others raw.
func NewTLSSecret(cfg *config.Config, p TLSSecretParams) *corev1.Secret {
	enc := func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }
	return &corev1.Secret{
		ObjectMeta: chaincodeObjectMeta(p.Name, cfg.Namespace, p.PodName, p.PeerID, p.CCID, p.Owner),
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			"client.key":     enc(p.TLS.ClientKey),
			"client.crt":     enc(p.TLS.ClientCert),
			"client_pem.key": p.TLS.ClientKey,
			"client_pem.crt": p.TLS.ClientCert,
			"peer.crt":       p.TLS.RootCert,
		},
	}
}

// ChaincodePodParams are the per-launch inputs of NewChaincodePod.
type ChaincodePodParams struct {
	Name       string
	SecretName string // empty: no TLS
	CCID       string
	PeerID     string
	Image      string // repository:tag@digest
	Args       []string
	Env        []string
	Owner      *metav1.OwnerReference
	// Settings are the chaincode's own settings (vm.k8s.chaincodeConfigMap),
	// merged over cfg; nil: cfg alone.
	Settings *config.ChaincodeSettings
}

// NewChaincodePod returns the pod running a chaincode image with DockerVM's
// arguments and environment under a restricted security context, with the
// chaincode's settings merged over the global template (mergeSettings).
func NewChaincodePod(cfg *config.Config, p ChaincodePodParams) *corev1.Pod {
	tmpl := mergeSettings(cfg, p.Settings)
	meta := chaincodeObjectMeta(p.Name, cfg.Namespace, p.Name, p.PeerID, p.CCID, p.Owner)
	addUnreserved(meta.Labels, tmpl.Labels)
	addUnreserved(meta.Annotations, tmpl.Annotations)
	volumes, mounts := chaincodeVolumes(p.SecretName)

	return &corev1.Pod{
		ObjectMeta: meta,
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			ServiceAccountName:           tmpl.ServiceAccount,
			PriorityClassName:            tmpl.PriorityClassName,
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			HostNetwork:                  cfg.HostNetwork,
			DNSPolicy:                    dnsPolicy(cfg.HostNetwork),
			NodeSelector:                 tmpl.NodeSelector,
			Tolerations:                  tmpl.Tolerations,
			Affinity:                     tmpl.Affinity,
			ImagePullSecrets:             pullSecrets(cfg.ImagePullSecrets),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To(cfg.RunAsUser),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Volumes: volumes,
			Containers: []corev1.Container{{
				Name:      ChaincodeContainer,
				Image:     p.Image,
				Args:      p.Args,
				Env:       envVars(mergeEnv(p.Env, tmpl.Env)),
				Resources: tmpl.Resources,
				SecurityContext: &corev1.SecurityContext{
					RunAsNonRoot:             ptr.To(true),
					RunAsUser:                ptr.To(cfg.RunAsUser),
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(cfg.ReadOnlyRootFilesystem),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
				VolumeMounts: mounts,
			}},
		},
	}
}

// addUnreserved sets the entries of extra in m but for the keys m already
// holds: the labels and annotations the VM sets cannot be overridden.
func addUnreserved(m, extra map[string]string) {
	for k, v := range extra {
		if _, reserved := m[k]; !reserved {
			m[k] = v
		}
	}
}

// chaincodeVolumes are the chaincode pod's volumes and the container's
// mounts of them: a writable /tmp and, unless secretName is empty, the TLS
// Secret where DockerVM puts its files (tlsDir).
func chaincodeVolumes(secretName string) ([]corev1.Volume, []corev1.VolumeMount) {
	mounts := []corev1.VolumeMount{{Name: tmpVolume, MountPath: "/tmp"}}
	volumes := []corev1.Volume{{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	if secretName == "" {
		return volumes, mounts
	}
	mounts = append(mounts, corev1.VolumeMount{Name: tlsVolume, MountPath: tlsDir, ReadOnly: true})
	items := []corev1.KeyToPath{}
	for _, f := range []string{"client.key", "client.crt", "client_pem.key", "client_pem.crt", "peer.crt"} {
		items = append(items, corev1.KeyToPath{Key: f, Path: f})
	}
	volumes = append(volumes, corev1.Volume{
		Name: tlsVolume,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  secretName,
			Items:       items,
			DefaultMode: ptr.To(int32(0o444)),
		}},
	})
	return volumes, mounts
}
