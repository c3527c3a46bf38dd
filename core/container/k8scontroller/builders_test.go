/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/labels"
	"github.com/hyperledger/fabric/core/container/ccintf"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var testOwner = &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "peer0-0", UID: "1234-peer-uid"}

func fullConfig() *config.Config {
	c := testConfig()
	c.PushSecret = "regcred"
	c.ImagePullSecrets = []string{"pull"}
	c.ServiceAccount = "chaincode"
	c.BuildServiceAccount = "builder"
	c.KanikoExtraArgs = []string{"--cache=false"}
	c.BuildHostNetwork = true
	c.HostNetwork = true
	c.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}
	c.BuildResources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}
	c.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	c.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "cc", Effect: corev1.TaintEffectNoSchedule}}
	c.PodAnnotations = map[string]string{"example.com/team": "blue", labels.CCIDAnnotation: "cannot override"}
	c.PodLabels = map[string]string{"team": "blue", labels.Name: "cannot-override"}
	return c
}

func TestNewBuildJobGolden(t *testing.T) {
	tag := imageTag(testCCID, "ccenv:3.1", "FROM baseos:3.1\nADD binpackage.tar /usr/local/bin", "go build")
	job := newBuildJob(fullConfig(), buildJobParams{
		Name:         buildJobName(tag),
		CCID:         testCCID,
		PeerID:       "peer0.org1.example.com",
		Destination:  imageRef("registry.local:5000/fabric-cc", testCCID, tag),
		BuilderImage: "localhost:5000/fabric-peer-k8s/ccenv:3.1",
		BuildEnv:     []string{"GOPROXY=https://proxy.golang.org", "EMPTY="},
		BuildCmd:     "set -e\ncd /chaincode/input/src\ngo build -o /chaincode/output/chaincode .",
		Owner:        testOwner,
	})
	golden(t, "build-job", job)

	secure := testConfig()
	secure.RegistryInsecure = false
	job = newBuildJob(secure, buildJobParams{Name: "j", CCID: testCCID, Destination: "r/x:t", BuilderImage: "b"})
	require.NotContains(t, job.Spec.Template.Spec.Containers[0].Args, "--insecure")
	require.Len(t, job.Spec.Template.Spec.Volumes, 1, "no push secret volume")
	require.False(t, *job.Spec.Template.Spec.AutomountServiceAccountToken)
	require.Empty(t, job.OwnerReferences)
}

func TestNewBuildJobCache(t *testing.T) {
	params := buildJobParams{
		Name: "j", CCID: testCCID, CCType: "GOLANG", CCPath: "example.com/cc", Destination: "r/x:t", BuilderImage: "b",
		BuildEnv: []string{"GOPROXY=off", "GOCACHE=/tmp/gocache"}, BuildCmd: "go build",
	}
	cfg := testConfig()
	cfg.BuildCache = &config.BuildCache{HostPath: "/var/cache/fabric-chaincode-build"}
	golden(t, "build-job-cache", newBuildJob(cfg, params))
	require.Equal(t, []string{"GOPROXY=off", "GOCACHE=/tmp/gocache"}, params.BuildEnv, "the platform's environment is not changed")

	cfg.BuildCache = &config.BuildCache{PersistentVolumeClaim: "chaincode-build-cache"}
	spec := newBuildJob(cfg, params).Spec.Template.Spec
	require.Contains(t, spec.Volumes, corev1.Volume{Name: "build-cache", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "chaincode-build-cache"},
	}})
	build := spec.InitContainers[1]
	require.Equal(t, "build", build.Name)
	require.Contains(t, build.VolumeMounts, corev1.VolumeMount{
		Name: "build-cache", MountPath: "/var/cache/fabric-chaincode-build", SubPath: buildCacheSubPath("GOLANG", "example.com/cc"),
	}, "the chaincode's own directory of the volume")
	// the cache's GOCACHE replaces the platform's (the image's is overridden by any)
	var gocache []string
	for _, e := range build.Env {
		if e.Name == "GOCACHE" {
			gocache = append(gocache, e.Value)
		}
	}
	require.Equal(t, []string{"/var/cache/fabric-chaincode-build/go-build"}, gocache)
	for _, c := range append(spec.Containers, spec.InitContainers[0]) {
		for _, m := range c.VolumeMounts {
			require.NotEqual(t, "build-cache", m.Name, "only the build container sees the cache: %s", c.Name)
		}
	}

	spec = newBuildJob(testConfig(), params).Spec.Template.Spec
	for _, v := range spec.Volumes {
		require.NotEqual(t, "build-cache", v.Name, "no cache unless configured")
	}
}

func TestNewBuildJobRegistryCA(t *testing.T) {
	cfg := testConfig()
	cfg.RegistryInsecure = false
	cfg.Registry = "registry.example.com:5443/fabric-cc"
	cfg.PushSecret = "regcred"
	cfg.RegistryCAConfigMap = "registry-ca"
	job := newBuildJob(cfg, buildJobParams{Name: "j", CCID: testCCID, Destination: "registry.example.com:5443/fabric-cc/x:t", BuilderImage: "b"})
	spec := job.Spec.Template.Spec
	kaniko := spec.Containers[0]
	require.Contains(t, kaniko.Args, "--registry-certificate=registry.example.com:5443=/kaniko/registry-ca/ca.crt")
	require.NotContains(t, kaniko.Args, "--skip-tls-verify")
	require.Contains(t, kaniko.VolumeMounts, corev1.VolumeMount{Name: "registry-ca", MountPath: "/kaniko/registry-ca", ReadOnly: true})
	require.Contains(t, kaniko.VolumeMounts, corev1.VolumeMount{Name: "docker-config", MountPath: "/kaniko/.docker", ReadOnly: true})
	require.Contains(t, spec.Volumes, corev1.Volume{Name: "registry-ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "registry-ca"},
		Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
	}}})
	for _, c := range spec.InitContainers {
		require.Len(t, c.VolumeMounts, 1, "only Kaniko talks to the registry: %s", c.Name)
	}
}

func TestNewChaincodePodGolden(t *testing.T) {
	name := podName("dev", "peer0.org1.example.com", testCCID, "abc123")
	args, err := chaincodeArgs("GOLANG", "peer0.org1.example.com:7052")
	require.NoError(t, err)
	pod := newChaincodePod(fullConfig(), chaincodePodParams{
		Name:       name,
		SecretName: podName("dev", "peer0.org1.example.com", testCCID, "abc123"),
		CCID:       testCCID,
		PeerID:     "peer0.org1.example.com",
		Image:      "localhost:5000/fabric-cc/mycc_1.0:tag@" + testDigest,
		Args:       args,
		Env:        chaincodeEnv(testCCID, "Org1MSP", []string{"CORE_CHAINCODE_LOGGING_LEVEL=info"}, true),
		Owner:      testOwner,
	})
	golden(t, "chaincode-pod", pod)

	args, err = chaincodeArgs("NODE", "peer0:7052")
	require.NoError(t, err)
	pod = newChaincodePod(testConfig(), chaincodePodParams{
		Name:  "cc-node",
		CCID:  "node:1",
		Image: "localhost:5000/fabric-cc/node:tag@" + testDigest,
		Args:  args,
		Env:   chaincodeEnv("node:1", "Org1MSP", nil, false),
	})
	golden(t, "chaincode-pod-notls", pod)
}

func TestNewTLSSecretGolden(t *testing.T) {
	secret := newTLSSecret("cctls-x", testNamespace, "cc-x", "peer0", testCCID, &ccintf.TLSConfig{
		ClientKey:  []byte("-----KEY-----\n"),
		ClientCert: []byte("-----CERT-----\n"),
		RootCert:   []byte("-----ROOT-----\n"),
	}, testOwner)
	golden(t, "tls-secret", secret)
	require.Equal(t, "LS0tLS1LRVktLS0tLQo=", string(secret.Data["client.key"]), "base64 like DockerVM")
	require.Equal(t, "-----KEY-----\n", string(secret.Data["client_pem.key"]))
}

func TestChaincodeArgsAndEnv(t *testing.T) {
	for ccType, want := range map[string][]string{
		"GOLANG": {"chaincode", "-peer.address=p:7052"},
		"CAR":    {"chaincode", "-peer.address=p:7052"},
		"JAVA":   {"/root/chaincode-java/start", "--peerAddress", "p:7052"},
	} {
		args, err := chaincodeArgs(ccType, "p:7052")
		require.NoError(t, err)
		require.Equal(t, want, args)
	}
	args, err := chaincodeArgs("NODE", "p:7052")
	require.NoError(t, err)
	require.Equal(t, "/bin/sh", args[0])
	require.Contains(t, args[2], "npm start -- --peer.address p:7052")
	_, err = chaincodeArgs("COBOL", "p:7052")
	require.EqualError(t, err, "unknown chaincodeType: COBOL")

	require.Equal(t, []string{
		"CORE_CHAINCODE_ID_NAME=cc:1", "L=1", "CORE_PEER_TLS_ENABLED=false", "CORE_PEER_LOCALMSPID=Org1MSP",
	}, chaincodeEnv("cc:1", "Org1MSP", []string{"L=1"}, false))
	require.Equal(t, []string{
		"CORE_CHAINCODE_ID_NAME=cc:1",
		"CORE_PEER_TLS_ENABLED=true",
		"CORE_TLS_CLIENT_KEY_PATH=/etc/hyperledger/fabric/client.key",
		"CORE_TLS_CLIENT_CERT_PATH=/etc/hyperledger/fabric/client.crt",
		"CORE_TLS_CLIENT_KEY_FILE=/etc/hyperledger/fabric/client_pem.key",
		"CORE_TLS_CLIENT_CERT_FILE=/etc/hyperledger/fabric/client_pem.crt",
		"CORE_PEER_TLS_ROOTCERT_FILE=/etc/hyperledger/fabric/peer.crt",
		"CORE_PEER_LOCALMSPID=Org1MSP",
	}, chaincodeEnv("cc:1", "Org1MSP", nil, true))
}

// No container of a build pod gets a Kubernetes API token, not even with
// vm.k8s.buildServiceAccount set: none of them talks to the API server, and
// the build container runs the chaincode's own build steps.
func TestNewBuildJobMountsNoServiceAccountToken(t *testing.T) {
	for _, sa := range []string{"", "builder"} {
		cfg := testConfig()
		cfg.BuildServiceAccount = sa
		cfg.PushSecret = "regcred"
		cfg.BuildCache = &config.BuildCache{PersistentVolumeClaim: "chaincode-build-cache"}
		spec := newBuildJob(cfg, buildJobParams{Name: "j", CCID: testCCID, Destination: "r/x:t", BuilderImage: "b", BuildCmd: "go build"}).Spec.Template.Spec
		require.Equal(t, sa, spec.ServiceAccountName)
		require.NotNil(t, spec.AutomountServiceAccountToken, "service account %q", sa)
		require.False(t, *spec.AutomountServiceAccountToken, "service account %q: the token would be mounted into every container", sa)
		for _, v := range spec.Volumes {
			if v.Projected != nil {
				for _, src := range v.Projected.Sources {
					require.Nil(t, src.ServiceAccountToken, "volume %s projects a service account token", v.Name)
				}
			}
		}
		for _, c := range append(spec.InitContainers, spec.Containers...) {
			for _, m := range c.VolumeMounts {
				require.NotContains(t, m.MountPath, "serviceaccount", "container %s", c.Name)
			}
		}
	}
}
