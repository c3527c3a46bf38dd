/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext/buildcontexttest"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	fabriclifecycle "github.com/hyperledger/fabric/core/chaincode/lifecycle"
	"github.com/hyperledger/fabric/core/chaincode/persistence"
	"github.com/hyperledger/fabric/core/common/ccprovider"
	"github.com/hyperledger/fabric/core/container"
	"github.com/hyperledger/fabric/core/container/ccintf"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

const (
	prebuiltName   = "ghcr.io/example/go-contract"
	prebuiltDigest = "sha256:802c336235cc1e7347e2da36c73fa2e4b6437cfc6f52872674d1e23f23bba63b"
)

var k8sMetadata = &persistence.ChaincodePackageMetadata{Type: "k8s", Label: "go-contract"}

func imageJSON(name, digest string) string {
	b, _ := json.Marshal(map[string]string{"name": name, "digest": digest})
	return string(b)
}

// k8sCodePackage is a code.tar.gz as fabric-builder-k8s documents it, with a
// CouchDB index next to image.json.
func k8sCodePackage(t testing.TB, imageJSON string) []byte {
	return buildcontexttest.CodePackage(t,
		buildcontexttest.File("image.json", imageJSON),
		buildcontexttest.File("META-INF/statedb/couchdb/indexes/indexOwner.json", `{"index":{"fields":["owner"]},"name":"indexOwner","type":"json"}`),
	)
}

func TestBuildPrebuiltImage(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.registry.DigestReturns(prebuiltDigest, nil)

	inst, err := vm.Build(testCCID, k8sMetadata, bytes.NewReader(k8sCodePackage(t, imageJSON(prebuiltName, prebuiltDigest))))
	require.NoError(t, err)
	i := inst.(*Instance)
	require.Equal(t, prebuiltName+"@"+prebuiltDigest, i.Image, "the pod runs the image as image.json names it")
	require.Equal(t, prebuiltType, i.Type)

	require.Equal(t, 1, vm.registry.DigestCallCount())
	_, ref := vm.registry.DigestArgsForCall(0)
	require.Equal(t, prebuiltName+"@"+prebuiltDigest, ref)
	require.Empty(t, vm.client.Actions(), "no build Job, nothing created at install")
	require.Zero(t, vm.attacher.AttachCallCount())
	require.Zero(t, vm.metrics.buildDuration.ObserveCallCount())
	require.Zero(t, vm.metrics.cacheHits.AddCallCount())

	// The type is matched case-insensitively, as fabric-builder-k8s does.
	_, err = vm.Build(testCCID, &persistence.ChaincodePackageMetadata{Type: "K8s"}, bytes.NewReader(k8sCodePackage(t, imageJSON(prebuiltName, prebuiltDigest))))
	require.NoError(t, err)
	require.Empty(t, vm.client.Actions())
}

func TestStartPrebuiltImage(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.registry.DigestReturns(prebuiltDigest, nil)
	inst, err := vm.Build(testCCID, k8sMetadata, bytes.NewReader(k8sCodePackage(t, imageJSON(prebuiltName, prebuiltDigest))))
	require.NoError(t, err)
	require.NoError(t, inst.Start(testTLS))

	pod, err := getPod(t, vm, inst.(*Instance).PodName())
	require.NoError(t, err)
	c := pod.Spec.Containers[0]
	require.Equal(t, prebuiltName+"@"+prebuiltDigest, c.Image)
	require.Empty(t, c.Command, "the image's entrypoint runs")
	require.Empty(t, c.Args, "the image's command runs")
	require.Contains(t, c.Env, corev1.EnvVar{Name: "CORE_PEER_ADDRESS", Value: "peer0.org1.example.com:7052"})
	require.Contains(t, c.Env, corev1.EnvVar{Name: "CORE_CHAINCODE_ID_NAME", Value: testCCID})
	require.Contains(t, c.Env, corev1.EnvVar{Name: "CORE_PEER_TLS_ENABLED", Value: "true"})
	require.Contains(t, c.Env, corev1.EnvVar{Name: "CORE_PEER_TLS_ROOTCERT_FILE", Value: "/etc/hyperledger/fabric/peer.crt"})
	require.Equal(t, inst.(*Instance).PodName(), pod.Spec.Volumes[1].Secret.SecretName)
	_, err = getSecret(t, vm, inst.(*Instance).PodName())
	require.NoError(t, err)
}

func TestBuildPrebuiltRejectsBadPackages(t *testing.T) {
	valid := imageJSON(prebuiltName, prebuiltDigest)
	pkg := func(entries ...buildcontexttest.Entry) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return buildcontexttest.CodePackage(t, entries...) }
	}
	withImage := func(s string) func(t *testing.T) []byte { return pkg(buildcontexttest.File("image.json", s)) }
	tests := []struct {
		name    string
		pkg     func(t *testing.T) []byte
		wantErr string
	}{
		{"name missing", withImage(`{"digest":"` + prebuiltDigest + `"}`), `image.json: "name" is missing or empty`},
		{"name empty", withImage(imageJSON("", prebuiltDigest)), `image.json: "name" is missing or empty`},
		{"digest missing", withImage(`{"name":"` + prebuiltName + `"}`), `image.json: "digest" is missing or empty`},
		{"digest short", withImage(imageJSON(prebuiltName, "sha256:802c3362")), `image.json: "digest" "sha256:802c3362" is not sha256:<64 lower-case hex digits>`},
		{"digest upper case", withImage(imageJSON(prebuiltName, strings.ToUpper(prebuiltDigest))), `"digest" "SHA256:802C`},
		{"digest other algorithm", withImage(imageJSON(prebuiltName, "sha512:"+strings.Repeat("a", 128))), `"digest" "sha512:`},
		{"digest a tag", withImage(imageJSON(prebuiltName, "latest")), `image.json: "digest" "latest" is not sha256:<64 lower-case hex digits>`},
		{"name with tag", withImage(imageJSON(prebuiltName+":v1", prebuiltDigest)), `image.json: "name" "ghcr.io/example/go-contract:v1" is not a valid image repository name`},
		{"name with digest", withImage(imageJSON(prebuiltName+"@"+prebuiltDigest, prebuiltDigest)), `is not a valid image repository name`},
		{"name upper case", withImage(imageJSON("ghcr.io/Example/cc", prebuiltDigest)), `"name" "ghcr.io/Example/cc" is not a valid image repository name`},
		{"name with space", withImage(imageJSON("ghcr.io/example/cc x", prebuiltDigest)), `is not a valid image repository name`},
		{"name with empty component", withImage(imageJSON("ghcr.io/example//cc", prebuiltDigest)), `"name" "ghcr.io/example//cc" is not a valid image repository name: path "example//cc"`},
		{"name with trailing separator", withImage(imageJSON("ghcr.io/example/cc-", prebuiltDigest)), `is not a valid image repository name`},
		{"name with option", withImage(imageJSON("--privileged", prebuiltDigest)), `"name" "--privileged" is not a valid image repository name`},
		{"not json", withImage("name=x"), `image.json is not a valid JSON object with string fields`},
		{"json array", withImage(`["` + prebuiltName + `"]`), `image.json is not a valid JSON object with string fields`},
		{"json number as name", withImage(`{"name":1,"digest":"` + prebuiltDigest + `"}`), `image.json is not a valid JSON object with string fields`},
		{"data after json", withImage(valid + `{"name":"other"}`), `image.json has data after its JSON object`},
		{"no image.json", pkg(buildcontexttest.File("META-INF/statedb/couchdb/indexes/i.json", "{}")), `code package has no image.json`},
		{"image.json in a directory", pkg(buildcontexttest.File("src/image.json", valid)), `code package has no image.json`},
		{"image.json twice", pkg(buildcontexttest.File("image.json", valid), buildcontexttest.File("./image.json", valid)), `code package has more than one image.json`},
		{"image.json a directory", pkg(buildcontexttest.Dir("image.json/")), `image.json in the code package is not a regular file`},
		{"image.json a symlink", pkg(buildcontexttest.File("real.json", valid), buildcontexttest.Symlink("image.json", "real.json")), `image.json in the code package is not a regular file`},
		{"image.json too large", withImage(`{"name":"` + prebuiltName + `","digest":"` + prebuiltDigest + `","x":"` + strings.Repeat("x", maxImageJSONSize) + `"}`), `image.json is 4`},
		{"not gzip", func(*testing.T) []byte { return []byte(valid) }, `code package is not gzip-compressed`},
		{"gzip but not tar", func(t *testing.T) []byte { return buildcontexttest.Gzipped(t, valid+strings.Repeat(" ", 600)) }, `code package is not a valid tar archive`},
		{"traversal", pkg(buildcontexttest.File("image.json", valid), buildcontexttest.File("../../etc/passwd", "x")), `code package entry "../../etc/passwd": path traversal`},
		{"symlink out of the package", pkg(buildcontexttest.File("image.json", valid), buildcontexttest.Symlink("l", "../x")), `resolves outside the package`},
		{"oversized", pkg(buildcontexttest.File("image.json", valid), buildcontexttest.File("filler", strings.Repeat("x", 16<<10))), `code package exceeds the size limit of 8192 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxCodePackageSize = 8192
			vm := newTestVM(t, cfg)
			vm.registry.DigestReturns(prebuiltDigest, nil)
			inst, err := vm.Build(testCCID, k8sMetadata, bytes.NewReader(tt.pkg(t)))
			require.Nil(t, inst)
			require.ErrorContains(t, err, "chaincode "+testCCID+": invalid package of type k8s: ")
			require.ErrorContains(t, err, tt.wantErr)
			require.Zero(t, vm.registry.DigestCallCount(), "nothing is looked up")
			require.Empty(t, vm.client.Actions(), "nothing is created")
		})
	}
}

func TestBuildPrebuiltAcceptsUnknownFieldsAndDockerHubNames(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.registry.DigestReturns(prebuiltDigest, nil)
	// Older fabric-builder-k8s packages carried further fields; they are ignored.
	pkg := k8sCodePackage(t, `{"name":"busybox","digest":"`+prebuiltDigest+`","imagePullPolicy":"IfNotPresent"}`)
	inst, err := vm.Build(testCCID, k8sMetadata, bytes.NewReader(pkg))
	require.NoError(t, err)
	require.Equal(t, "busybox@"+prebuiltDigest, inst.(*Instance).Image)
	_, ref := vm.registry.DigestArgsForCall(0)
	require.Equal(t, "index.docker.io/library/busybox@"+prebuiltDigest, ref)
}

// A package whose image the registry does not confirm fails to build, and
// nothing is created.
func TestBuildPrebuiltImageNotConfirmed(t *testing.T) {
	image := prebuiltName + "@" + prebuiltDigest
	for name, tc := range map[string]struct {
		digest      string // the registry's answer
		lookupErr   error
		wantMessage string // after "chaincode <ccid>: image <image>"
	}{
		"not found": {
			wantMessage: " (image.json) was not found in its registry (looked up as " + image + ")",
		},
		"registry error": {
			lookupErr:   errors.New("cannot look up image " + image + ": connection refused"),
			wantMessage: ": cannot look up image " + image + ": connection refused",
		},
		"other digest": {
			digest:      testDigest,
			wantMessage: " (image.json): the registry answered with digest " + testDigest,
		},
	} {
		t.Run(name, func(t *testing.T) {
			vm := newTestVM(t, testConfig())
			vm.registry.DigestReturns(tc.digest, tc.lookupErr)
			inst, err := vm.Build(testCCID, k8sMetadata, bytes.NewReader(k8sCodePackage(t, imageJSON(prebuiltName, prebuiltDigest))))
			require.Nil(t, inst)
			require.EqualError(t, err, "chaincode "+testCCID+": image "+image+tc.wantMessage)
			require.Empty(t, vm.client.Actions())
		})
	}
}

func TestBuildPrebuiltHonoursLookupDeadline(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.registry.DigestStub = func(ctx context.Context, ref string) (string, error) {
		deadline, ok := ctx.Deadline()
		if !ok {
			return "", errors.New("lookup without deadline")
		}
		if left := time.Until(deadline); left <= 0 || left > vm.Config.BuildTimeout {
			return "", fmt.Errorf("lookup deadline in %s, want within vm.k8s.buildTimeout %s", left, vm.Config.BuildTimeout)
		}
		return prebuiltDigest, nil
	}
	_, err := vm.Build(testCCID, k8sMetadata, bytes.NewReader(k8sCodePackage(t, imageJSON(prebuiltName, prebuiltDigest))))
	require.NoError(t, err)
}

// An image in the kubelet's view of the configured registry is looked up
// where the peer reaches that registry (registry.LookupRef); the pod pulls
// it as named.
func TestBuildPrebuiltLooksUpWhereThePeerReachesTheRegistry(t *testing.T) {
	vm := newTestVM(t, testConfig()) // registry.local:5000 for the peer, localhost:5000 for the kubelet
	vm.registry.DigestReturns(prebuiltDigest, nil)
	inst, err := vm.Build(testCCID, k8sMetadata, bytes.NewReader(k8sCodePackage(t, imageJSON("localhost:5000/team/cc", prebuiltDigest))))
	require.NoError(t, err)
	require.Equal(t, "localhost:5000/team/cc@"+prebuiltDigest, inst.(*Instance).Image, "the pod pulls the name as given")
	_, ref := vm.registry.DigestArgsForCall(0)
	require.Equal(t, "registry.local:5000/team/cc@"+prebuiltDigest, ref)
}

// A prebuilt image runs its own entrypoint, with the peer's address in its
// environment; built images run as DockerVM runs them.
func TestContainerLaunch(t *testing.T) {
	args, env, err := containerLaunch(prebuiltType, testCCID, "Org1MSP", "peer0:7052", nil, true)
	require.NoError(t, err)
	require.Nil(t, args)
	require.Equal(t, append(spec.ChaincodeEnv(testCCID, "Org1MSP", nil, true), "CORE_PEER_ADDRESS=peer0:7052"), env)

	args, env, err = containerLaunch("GOLANG", testCCID, "Org1MSP", "peer0:7052", nil, false)
	require.NoError(t, err)
	require.Equal(t, []string{"chaincode", "-peer.address=peer0:7052"}, args)
	require.Equal(t, spec.ChaincodeEnv(testCCID, "Org1MSP", nil, false), env, "DockerVM's environment, no CORE_PEER_ADDRESS")

	_, _, err = containerLaunch("COBOL", testCCID, "Org1MSP", "peer0:7052", nil, false)
	require.EqualError(t, err, "unknown chaincodeType: COBOL")
}

// chaincodeInstallPackage is a package as `peer lifecycle chaincode install`
// sends it: metadata.json and code.tar.gz in a gzipped tar.
func chaincodeInstallPackage(t *testing.T, metadata string, code []byte) []byte {
	return buildcontexttest.CodePackage(t, buildcontexttest.File("metadata.json", metadata), buildcontexttest.File("code.tar.gz", string(code)))
}

// TestFabricInstallPathReachesVM runs Fabric's own install path as the peer
// wires it (internal/peer/node/start.go): lifecycle's InstallChaincode parses
// the package with the peer's parser (which extracts META-INF for the state
// database whatever the type), saves it in the chaincode store and builds it
// through the container router, whose DockerBuilder is the VM. A type k8s
// package reaches the VM's Build untouched; no platform is consulted.
func TestFabricInstallPathReachesVM(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.registry.DigestReturns(prebuiltDigest, nil)
	dir := t.TempDir()
	parser := &persistence.ChaincodePackageParser{MetadataProvider: ccprovider.PersistenceAdapter(ccprovider.MetadataAsTarEntries)}
	router := &container.Router{
		DockerBuilder:   vm.VM,
		PackageProvider: &persistence.FallbackPackageLocator{ChaincodePackageLocator: &persistence.ChaincodePackageLocator{ChaincodeDir: dir}},
	}
	ef := &fabriclifecycle.ExternalFunctions{
		Resources:        &fabriclifecycle.Resources{ChaincodeStore: persistence.NewStore(dir), PackageParser: parser},
		ChaincodeBuilder: router,
		BuildRegistry:    &container.BuildRegistry{},
	}

	pkg := chaincodeInstallPackage(t, `{"type":"k8s","label":"go-contract"}`, k8sCodePackage(t, imageJSON(prebuiltName, prebuiltDigest)))
	installed, err := ef.InstallChaincode(pkg)
	require.NoError(t, err)
	require.Equal(t, "go-contract", installed.Label)
	_, ref := vm.registry.DigestArgsForCall(0)
	require.Equal(t, prebuiltName+"@"+prebuiltDigest, ref)
	require.Empty(t, vm.client.Actions(), "no build Job")

	// The router keeps the VM's instance: starting the chaincode runs the image.
	require.NoError(t, router.Start(installed.PackageID, &ccintf.PeerConnection{Address: "peer0:7052"}))
	pod, err := getPod(t, vm, spec.PodName("dev", testPeerID, installed.PackageID, "000001"))
	require.NoError(t, err)
	require.Equal(t, prebuiltName+"@"+prebuiltDigest, pod.Spec.Containers[0].Image)

	// CouchDB indexes under META-INF are extracted by Fabric from the code
	// package whatever its type; the ledger receives them on install.
	parsed, err := parser.Parse(pkg)
	require.NoError(t, err)
	require.Contains(t, buildcontexttest.Files(t, parsed.DBArtifacts), "META-INF/statedb/couchdb/indexes/indexOwner.json")

	// A package naming an image the registry lacks fails the install with
	// the VM's message, and Fabric removes it from the store again.
	actions := len(vm.client.Actions())
	vm.registry.DigestReturns("", nil)
	missing := "sha256:" + strings.Repeat("0", 64)
	pkg = chaincodeInstallPackage(t, `{"type":"k8s","label":"go-contract-missing"}`, k8sCodePackage(t, imageJSON(prebuiltName, missing)))
	_, err = ef.InstallChaincode(pkg)
	require.ErrorContains(t, err, "could not build chaincode: chaincode build failed: chaincode go-contract-missing:")
	require.ErrorContains(t, err, "image "+prebuiltName+"@"+missing+" (image.json) was not found in its registry")
	sum := sha256.Sum256(pkg)
	_, err = persistence.NewStore(dir).Load("go-contract-missing:" + hex.EncodeToString(sum[:]))
	require.Error(t, err, "the failed package is not kept")
	require.Len(t, vm.client.Actions(), actions, "nothing created for the failed install")
}
