/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext/buildcontexttest"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/hyperledger/fabric/core/chaincode/persistence"
	"github.com/hyperledger/fabric/core/chaincode/platforms/node"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	k8stesting "k8s.io/client-go/testing"
)

func nodeCodePackage(t *testing.T) []byte {
	return buildcontexttest.CodePackage(t,
		buildcontexttest.File("src/package.json", `{"name":"asset","version":"1.0.0","scripts":{"start":"fabric-chaincode-node start"}}`),
		buildcontexttest.File("src/package-lock.json", `{"name":"asset","lockfileVersion":3}`),
		buildcontexttest.File("src/index.js", "module.exports.contracts = [];\n"),
		buildcontexttest.File("META-INF/statedb/couchdb/indexes/index.json", "{}"),
	)
}

func javaCodePackage(t *testing.T) []byte {
	return buildcontexttest.CodePackage(t,
		buildcontexttest.File("src/build.gradle", "plugins { id 'java' }\n"),
		buildcontexttest.File("src/src/main/java/org/example/Asset.java", "package org.example;\nclass Asset {}\n"),
	)
}

// TestBuildPlatforms follows one package of each type Fabric's platforms
// build through Build: the builder image and build script come from the
// platform (chaincode.builder for Go, chaincode.node.runtime and
// chaincode.java.runtime for Node and Java), the Dockerfile streamed to
// Kaniko starts FROM the platform's runtime, and the instance keeps the type,
// which selects the start command (spec.ChaincodeArgs).
func TestBuildPlatforms(t *testing.T) {
	tests := []struct {
		name        string
		md          *persistence.ChaincodePackageMetadata
		code        func(*testing.T) []byte
		wantBuilder string
		wantScript  []string
		wantFrom    string
		wantInput   string // a file of the package, as streamed
		wantType    string
		wantArgs0   string
	}{
		{
			name:        "golang",
			md:          goMetadata,
			code:        goCodePackage,
			wantBuilder: "localhost:5000/fabric-peer-k8s/ccenv:3.1",
			wantScript:  []string{"go build", "/chaincode/output/chaincode"},
			wantFrom:    "FROM localhost:5000/fabric-peer-k8s/baseos:3.1\nADD binpackage.tar /usr/local/bin",
			wantInput:   "input/src/main.go",
			wantType:    "GOLANG",
			wantArgs0:   "chaincode",
		},
		{
			name:        "node",
			md:          &persistence.ChaincodePackageMetadata{Type: "node", Path: "/home/dev/asset-transfer/chaincode-javascript", Label: "asset_1"},
			code:        nodeCodePackage,
			wantBuilder: "hyperledger/fabric-nodeenv:2.5",
			wantScript:  []string{"/chaincode/build.sh", "cp -R /chaincode/input/src/. /chaincode/output && cd /chaincode/output && npm install --production"},
			wantFrom:    "FROM hyperledger/fabric-nodeenv:2.5\nADD binpackage.tar /usr/local/src",
			wantInput:   "input/src/package-lock.json",
			wantType:    "NODE",
			wantArgs0:   "/bin/sh",
		},
		{
			name:        "java",
			md:          &persistence.ChaincodePackageMetadata{Type: "java", Path: "../chaincode-java", Label: "asset_1"},
			code:        javaCodePackage,
			wantBuilder: "hyperledger/fabric-javaenv:2.5",
			wantScript:  []string{"./build.sh"},
			wantFrom:    "FROM hyperledger/fabric-javaenv:2.5\nADD binpackage.tar /root/chaincode-java/chaincode",
			wantInput:   "input/src/build.gradle",
			wantType:    "JAVA",
			wantArgs0:   "/root/chaincode-java/start",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vm := newTestVM(t, testConfig())
			ctrl := newFakeJobController(t, vm, succeed)

			inst, err := vm.Build(testCCID, tt.md, bytes.NewReader(tt.code(t)))
			require.NoError(t, err)
			i := inst.(*Instance)
			require.Equal(t, tt.wantType, i.Type)
			args, err := spec.ChaincodeArgs(i.Type, "peer0:7052")
			require.NoError(t, err)
			require.Equal(t, tt.wantArgs0, args[0])

			files := buildcontexttest.Files(t, <-ctrl.streamed)
			require.True(t, strings.HasPrefix(files["context/Dockerfile"], tt.wantFrom+"\n"), "Dockerfile:\n%s", files["context/Dockerfile"])
			require.Contains(t, files, tt.wantInput)

			var job *batchv1.Job
			for _, a := range vm.client.Actions() {
				if a.Matches("create", "jobs") {
					job = a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
				}
			}
			require.NotNil(t, job, "no build Job created")
			spec := job.Spec.Template.Spec
			require.Equal(t, tt.wantBuilder, spec.InitContainers[0].Image, "receive container")
			require.Equal(t, tt.wantBuilder, spec.InitContainers[1].Image, "build container")
			for _, s := range tt.wantScript {
				require.Contains(t, spec.InitContainers[1].Command[2], s)
			}
		})
	}
}

// TestBuildBuilderImage: the node and java platforms name their builder
// image; the golang platform names none and chaincode.builder (the VM's
// BuilderImage) is used. With neither, Build fails before creating anything.
func TestBuildBuilderImage(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.BuilderImage = "builder:1"
	req, err := vm.prepareBuild(testCCID, "NODE", "/src/asset")
	require.NoError(t, err)
	require.Equal(t, "hyperledger/fabric-nodeenv:2.5", req.Job.BuilderImage)
	req, err = vm.prepareBuild(testCCID, "GOLANG", "example.com/cc")
	require.NoError(t, err)
	require.Equal(t, "builder:1", req.Job.BuilderImage)

	vm.BuilderImage = ""
	_, err = vm.prepareBuild(testCCID, "GOLANG", "example.com/cc")
	require.EqualError(t, err, "chaincode "+testCCID+": no builder image: platform GOLANG names none and chaincode.builder is empty")
	_, err = vm.Build(testCCID, &persistence.ChaincodePackageMetadata{Type: "cobol", Path: "x"}, bytes.NewReader(goCodePackage(t)))
	require.EqualError(t, err, "chaincode "+testCCID+`: unknown chaincode type "COBOL"`)
	require.Empty(t, vm.client.Actions())
}

// TestPrepareBuildNode: the build Job of a Node.js package takes the node
// platform's builder image (chaincode.node.runtime), script and environment,
// and its name and destination from the image tag of the package, the
// builder, the platform's Dockerfile and the script (internal/spec's
// golden build-job-node is that Job).
func TestPrepareBuildNode(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.Owner = testOwner
	path := "/home/dev/asset-transfer/chaincode-javascript"
	req, err := vm.prepareBuild(testCCID, "NODE", path)
	require.NoError(t, err)

	opts, err := (&node.Platform{}).DockerBuildOptions(path)
	require.NoError(t, err)
	dockerfile, err := vm.Platforms.GenerateDockerfile("NODE")
	require.NoError(t, err)
	tag := spec.ImageTag(testCCID, opts.Image, dockerfile, opts.Cmd)
	require.Equal(t, &buildRequest{
		CCID:       testCCID,
		Ref:        spec.ImageRef(vm.Config.Registry, testCCID, tag),
		PullRef:    spec.ImageRef(vm.Config.PullRegistry, testCCID, tag),
		Dockerfile: dockerfile,
		Job: spec.BuildJobParams{
			Name:         spec.BuildJobName(tag),
			CCID:         testCCID,
			CCType:       "NODE",
			CCPath:       path,
			PeerID:       testPeerID,
			Destination:  spec.ImageRef(vm.Config.Registry, testCCID, tag),
			BuilderImage: "hyperledger/fabric-nodeenv:2.5",
			BuildEnv:     opts.Env,
			BuildCmd:     opts.Cmd,
			Owner:        testOwner,
		},
	}, req)
}
