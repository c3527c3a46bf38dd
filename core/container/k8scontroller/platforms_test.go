/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hyperledger/fabric/core/chaincode/persistence"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	k8stesting "k8s.io/client-go/testing"
)

func nodeCodePackage(t *testing.T) []byte {
	return codePackage(t,
		file("src/package.json", `{"name":"asset","version":"1.0.0","scripts":{"start":"fabric-chaincode-node start"}}`),
		file("src/package-lock.json", `{"name":"asset","lockfileVersion":3}`),
		file("src/index.js", "module.exports.contracts = [];\n"),
		file("META-INF/statedb/couchdb/indexes/index.json", "{}"),
	)
}

func javaCodePackage(t *testing.T) []byte {
	return codePackage(t,
		file("src/build.gradle", "plugins { id 'java' }\n"),
		file("src/src/main/java/org/example/Asset.java", "package org.example;\nclass Asset {}\n"),
	)
}

// TestBuildPlatforms follows one package of each type Fabric's platforms
// build through Build: the builder image and build script come from the
// platform (chaincode.builder for Go, chaincode.node.runtime and
// chaincode.java.runtime for Node and Java), the Dockerfile streamed to
// Kaniko starts FROM the platform's runtime, and the instance keeps the type,
// which selects the start command (chaincodeArgs).
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
			args, err := chaincodeArgs(i.Type, "peer0:7052")
			require.NoError(t, err)
			require.Equal(t, tt.wantArgs0, args[0])

			files := tarFiles(t, <-ctrl.streamed)
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

// TestNewBuildJobNodeGolden is the Job that builds a Node.js package: the
// node platform's script runs in chaincode.node.runtime.
func TestNewBuildJobNodeGolden(t *testing.T) {
	vm := newTestVM(t, fullConfig())
	req, err := vm.prepareBuild(testCCID, "NODE", "/home/dev/asset-transfer/chaincode-javascript")
	require.NoError(t, err)
	req.Job.Owner = testOwner
	golden(t, "build-job-node", newBuildJob(fullConfig(), req.Job))
}
