//go:build k8sreal

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

// Manual sanity run against a real cluster:
//   KUBECONFIG=/path/kubeconfig K8SREAL_NAMESPACE=ns go test -tags k8sreal -run TestReal ./core/container/k8scontroller/

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext/buildcontexttest"
	"github.com/hyperledger/fabric-lib-go/common/metrics/disabled"
	"github.com/hyperledger/fabric/core/chaincode/persistence"
	"github.com/hyperledger/fabric/core/chaincode/platforms"
	"github.com/hyperledger/fabric/core/chaincode/platforms/golang"
	"github.com/hyperledger/fabric/core/container/ccintf"
	"github.com/spf13/viper"
	"github.com/stretchr/testify/require"
)

func TestRealBuildStartWait(t *testing.T) {
	ns := os.Getenv("K8SREAL_NAMESPACE")
	if os.Getenv("KUBECONFIG") == "" || ns == "" {
		t.Skip("KUBECONFIG and K8SREAL_NAMESPACE required")
	}
	viper.Set("vm.k8s.kubeconfig", os.Getenv("KUBECONFIG"))
	viper.Set("vm.k8s.namespace", ns)
	viper.Set("vm.k8s.registry", "localhost:5000/fabric-cc-sanity")
	viper.Set("vm.k8s.registryInsecure", true)
	viper.Set("vm.k8s.build.hostNetwork", true)
	viper.Set("vm.k8s.kanikoImage", "localhost:5000/fabric-peer-k8s/kaniko-executor:v1.25.1")
	viper.Set("vm.k8s.buildTimeout", "5m")
	viper.Set("chaincode.golang.dynamicLink", false)

	vm, err := New(t.Context(), PeerParams{
		PeerID: "peer0", NetworkID: "sanity", MSPID: "Org1MSP",
		Platforms:       platforms.NewRegistry(&golang.Platform{}),
		MetricsProvider: &disabled.Provider{},
	})
	require.NoError(t, err)
	require.NoError(t, vm.Start(t.Context()))
	defer vm.Shutdown()
	if err := vm.HealthCheck(t.Context()); err != nil {
		t.Logf("health: %s", err)
	}

	pkg := buildcontexttest.CodePackage(t,
		buildcontexttest.File("src/go.mod", "module example.com/sanity\n\ngo 1.22\n"),
		buildcontexttest.File("src/main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from sanity\") }\n"),
	)
	ccid := fmt.Sprintf("sanity_1:%x", sha256.Sum256(pkg))
	md := &persistence.ChaincodePackageMetadata{Type: "golang", Path: "example.com/sanity", Label: "sanity_1"}
	inst, err := vm.Build(ccid, md, bytes.NewReader(pkg))
	require.NoError(t, err)
	t.Logf("image: %s", inst.(*Instance).Image)

	// second build is a cache hit
	_, err = vm.Build(ccid, md, bytes.NewReader(pkg))
	require.NoError(t, err)

	require.NoError(t, inst.Start(&ccintf.PeerConnection{Address: "peer0:7052", TLSConfig: &ccintf.TLSConfig{ClientKey: []byte("k"), ClientCert: []byte("c"), RootCert: []byte("r")}}))
	code, err := inst.Wait()
	t.Logf("exit code %d err %v", code, err)
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.NoError(t, inst.Stop())
}
