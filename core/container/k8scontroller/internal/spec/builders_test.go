/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config/configtest"
	"github.com/hyperledger/fabric/core/container/ccintf"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestNewBuildJobGolden(t *testing.T) {
	tag := ImageTag(testCCID, "ccenv:3.1", "FROM baseos:3.1\nADD binpackage.tar /usr/local/bin", "go build")
	job := NewBuildJob(fullConfig(), BuildJobParams{
		Name:         BuildJobName(tag),
		CCID:         testCCID,
		PeerID:       "peer0.org1.example.com",
		Destination:  ImageRef("registry.local:5000/fabric-cc", testCCID, tag),
		BuilderImage: "localhost:5000/fabric-peer-k8s/ccenv:3.1",
		BuildEnv:     []string{"GOPROXY=https://proxy.golang.org", "EMPTY="},
		BuildCmd:     "set -e\ncd /chaincode/input/src\ngo build -o /chaincode/output/chaincode .",
		Owner:        testOwner,
	})
	golden(t, "build-job", job)

	secure := configtest.Config()
	secure.RegistryInsecure = false
	job = NewBuildJob(secure, BuildJobParams{Name: "j", CCID: testCCID, Destination: "r/x:t", BuilderImage: "b"})
	require.NotContains(t, job.Spec.Template.Spec.Containers[0].Args, "--insecure")
	require.Len(t, job.Spec.Template.Spec.Volumes, 1, "no push secret volume")
	require.False(t, *job.Spec.Template.Spec.AutomountServiceAccountToken)
	require.Empty(t, job.OwnerReferences)
}

func TestNewBuildJobCache(t *testing.T) {
	params := BuildJobParams{
		Name: "j", CCID: testCCID, CCType: "GOLANG", CCPath: "example.com/cc", Destination: "r/x:t", BuilderImage: "b",
		BuildEnv: []string{"GOPROXY=off", "GOCACHE=/tmp/gocache"}, BuildCmd: "go build",
	}
	cfg := configtest.Config()
	cfg.BuildCache = &config.BuildCache{HostPath: "/var/cache/fabric-chaincode-build"}
	golden(t, "build-job-cache", NewBuildJob(cfg, params))
	require.Equal(t, []string{"GOPROXY=off", "GOCACHE=/tmp/gocache"}, params.BuildEnv, "the platform's environment is not changed")

	cfg.BuildCache = &config.BuildCache{PersistentVolumeClaim: "chaincode-build-cache"}
	spec := NewBuildJob(cfg, params).Spec.Template.Spec
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

	spec = NewBuildJob(configtest.Config(), params).Spec.Template.Spec
	for _, v := range spec.Volumes {
		require.NotEqual(t, "build-cache", v.Name, "no cache unless configured")
	}
}

func TestNewBuildJobRegistryCA(t *testing.T) {
	cfg := configtest.Config()
	cfg.RegistryInsecure = false
	cfg.Registry = "registry.example.com:5443/fabric-cc"
	cfg.PushSecret = "regcred"
	cfg.RegistryCAConfigMap = "registry-ca"
	job := NewBuildJob(cfg, BuildJobParams{Name: "j", CCID: testCCID, Destination: "registry.example.com:5443/fabric-cc/x:t", BuilderImage: "b"})
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

// TestNewBuildJobNodeGolden is the Job that builds a Node.js package: the
// node platform's script (Fabric's core/chaincode/platforms/node) runs in
// chaincode.node.runtime.
func TestNewBuildJobNodeGolden(t *testing.T) {
	const builder = "hyperledger/fabric-nodeenv:2.5"
	// The Dockerfile and the build script as Fabric's platform registry and
	// node platform give them.
	const dockerfile = `FROM hyperledger/fabric-nodeenv:2.5
ADD binpackage.tar /usr/local/src
LABEL org.hyperledger.fabric.chaincode.type="NODE" \
      org.hyperledger.fabric.version="latest"
ENV CORE_CHAINCODE_BUILDLEVEL=latest`
	const buildCmd = `
set -e
if [ -x /chaincode/build.sh ]; then
	/chaincode/build.sh
else
	cp -R /chaincode/input/src/. /chaincode/output && cd /chaincode/output && npm install --production
fi
`
	cfg := fullConfig()
	tag := ImageTag(testCCID, builder, dockerfile, buildCmd)
	golden(t, "build-job-node", NewBuildJob(cfg, BuildJobParams{
		Name:         BuildJobName(tag),
		CCID:         testCCID,
		CCType:       "NODE",
		CCPath:       "/home/dev/asset-transfer/chaincode-javascript",
		PeerID:       testPeerID,
		Destination:  ImageRef(cfg.Registry, testCCID, tag),
		BuilderImage: builder,
		BuildCmd:     buildCmd,
		Owner:        testOwner,
	}))
}

func TestNewChaincodePodGolden(t *testing.T) {
	name := PodName("dev", "peer0.org1.example.com", testCCID, "abc123")
	args, err := ChaincodeArgs("GOLANG", "peer0.org1.example.com:7052")
	require.NoError(t, err)
	pod := NewChaincodePod(fullConfig(), ChaincodePodParams{
		Name:       name,
		SecretName: PodName("dev", "peer0.org1.example.com", testCCID, "abc123"),
		CCID:       testCCID,
		PeerID:     "peer0.org1.example.com",
		Image:      "localhost:5000/fabric-cc/mycc_1.0:tag@" + testDigest,
		Args:       args,
		Env:        ChaincodeEnv(testCCID, "Org1MSP", []string{"CORE_CHAINCODE_LOGGING_LEVEL=info"}, true),
		Owner:      testOwner,
	})
	golden(t, "chaincode-pod", pod)

	args, err = ChaincodeArgs("NODE", "peer0:7052")
	require.NoError(t, err)
	pod = NewChaincodePod(configtest.Config(), ChaincodePodParams{
		Name:  "cc-node",
		CCID:  "node:1",
		Image: "localhost:5000/fabric-cc/node:tag@" + testDigest,
		Args:  args,
		Env:   ChaincodeEnv("node:1", "Org1MSP", nil, false),
	})
	golden(t, "chaincode-pod-notls", pod)
}

// A prebuilt image (a package of type k8s) runs its own entrypoint: no
// arguments, and the peer's address in its environment.
func TestNewChaincodePodPrebuiltGolden(t *testing.T) {
	env := ChaincodeEnv(testCCID, "Org1MSP", []string{"CORE_CHAINCODE_LOGGING_LEVEL=info"}, true)
	params := ChaincodePodParams{
		Name:       PodName("dev", testPeerID, testCCID, "abc123"),
		SecretName: PodName("dev", testPeerID, testCCID, "abc123"),
		CCID:       testCCID,
		PeerID:     testPeerID,
		Image:      "ghcr.io/example/go-contract@sha256:802c336235cc1e7347e2da36c73fa2e4b6437cfc6f52872674d1e23f23bba63b",
		Env:        append(env, "CORE_PEER_ADDRESS=peer0.org1.example.com:7052"),
		Owner:      testOwner,
	}
	pod := NewChaincodePod(fullConfig(), params)
	golden(t, "chaincode-pod-prebuilt", pod)
	require.Equal(t, pod, NewChaincodePod(fullConfig(), params), "the same inputs give the same pod")
}

func TestNewTLSSecretGolden(t *testing.T) {
	secret := NewTLSSecret(configtest.Config(), TLSSecretParams{
		Name:    "cctls-x",
		PodName: "cc-x",
		CCID:    testCCID,
		PeerID:  "peer0",
		TLS: &ccintf.TLSConfig{
			ClientKey:  []byte("-----KEY-----\n"),
			ClientCert: []byte("-----CERT-----\n"),
			RootCert:   []byte("-----ROOT-----\n"),
		},
		Owner: testOwner,
	})
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
		args, err := ChaincodeArgs(ccType, "p:7052")
		require.NoError(t, err)
		require.Equal(t, want, args)
	}
	args, err := ChaincodeArgs("NODE", "p:7052")
	require.NoError(t, err)
	require.Equal(t, "/bin/sh", args[0])
	require.Contains(t, args[2], "npm start -- --peer.address p:7052")
	_, err = ChaincodeArgs("COBOL", "p:7052")
	require.EqualError(t, err, "unknown chaincodeType: COBOL")

	require.Equal(t, []string{
		"CORE_CHAINCODE_ID_NAME=cc:1", "L=1", "CORE_PEER_TLS_ENABLED=false", "CORE_PEER_LOCALMSPID=Org1MSP",
	}, ChaincodeEnv("cc:1", "Org1MSP", []string{"L=1"}, false))
	require.Equal(t, []string{
		"CORE_CHAINCODE_ID_NAME=cc:1",
		"CORE_PEER_TLS_ENABLED=true",
		"CORE_TLS_CLIENT_KEY_PATH=/etc/hyperledger/fabric/client.key",
		"CORE_TLS_CLIENT_CERT_PATH=/etc/hyperledger/fabric/client.crt",
		"CORE_TLS_CLIENT_KEY_FILE=/etc/hyperledger/fabric/client_pem.key",
		"CORE_TLS_CLIENT_CERT_FILE=/etc/hyperledger/fabric/client_pem.crt",
		"CORE_PEER_TLS_ROOTCERT_FILE=/etc/hyperledger/fabric/peer.crt",
		"CORE_PEER_LOCALMSPID=Org1MSP",
	}, ChaincodeEnv("cc:1", "Org1MSP", nil, true))
}

// No container of a build pod gets a Kubernetes API token, not even with
// vm.k8s.buildServiceAccount set: none of them talks to the API server, and
// the build container runs the chaincode's own build steps.
func TestNewBuildJobMountsNoServiceAccountToken(t *testing.T) {
	for _, sa := range []string{"", "builder"} {
		cfg := configtest.Config()
		cfg.BuildServiceAccount = sa
		cfg.PushSecret = "regcred"
		cfg.BuildCache = &config.BuildCache{PersistentVolumeClaim: "chaincode-build-cache"}
		spec := NewBuildJob(cfg, BuildJobParams{Name: "j", CCID: testCCID, Destination: "r/x:t", BuilderImage: "b", BuildCmd: "go build"}).Spec.Template.Spec
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
