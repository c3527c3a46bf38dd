/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"bytes"
	"io"
	goruntime "runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/spec"
	"github.com/hyperledger/fabric/core/chaincode/persistence"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// Tests of what builds of one chaincode share: one build for concurrent
// requests (the package read once) and one directory of the build cache.

// countingReader counts the bytes read from a code package.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// awaitSingleflightCallers waits until n goroutines are in the VM's
// singleflight group: the leader running the build and those waiting for it.
func awaitSingleflightCallers(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		buf := make([]byte, 4<<20)
		buf = buf[:goruntime.Stack(buf, true)]
		return bytes.Count(buf, []byte("singleflight.(*Group).Do(")) >= n
	}, 10*time.Second, 5*time.Millisecond, "no request joined the running build")
}

// A request for an image that is being built waits for that build without
// reading its own copy of the code package.
func TestBuildJoinerDoesNotReadPackage(t *testing.T) {
	vm := newTestVM(t, testConfig())
	newFakeJobController(t, vm, succeed)
	attached, release := heldBuilds(t, vm)
	pkg := goCodePackage(t)

	leader := &countingReader{r: bytes.NewReader(pkg)}
	first := buildAsyncFrom(vm, testCCID, leader)
	<-attached
	joiner := &countingReader{r: bytes.NewReader(pkg)}
	second := buildAsyncFrom(vm, testCCID, joiner)
	awaitSingleflightCallers(t, 2)
	release()

	r1, r2 := <-first, <-second
	require.NoError(t, r1.err)
	require.NoError(t, r2.err)
	require.Equal(t, r1.inst.Image, r2.inst.Image)
	require.EqualValues(t, len(pkg), leader.n.Load(), "the build that runs reads the package")
	require.Zero(t, joiner.n.Load(), "the request that joined the build read its package")
	require.Equal(t, 1, vm.attacher.AttachCallCount())
}

// Builds of the same chaincode (the same platform and path: a new version
// of it, another label) share a directory of the cache volume; builds of
// other chaincode do not see it.
func TestBuildCacheDirectoryPerChaincode(t *testing.T) {
	const upgradeCCID = "mycc_1.1:7a5f1b2c4d6e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"
	for _, cache := range []*config.BuildCache{{PersistentVolumeClaim: "chaincode-build-cache"}, {HostPath: "/var/cache/fabric-chaincode-build"}} {
		cfg := testConfig()
		cfg.BuildCache = cache
		vm := newTestVM(t, cfg)
		newFakeJobController(t, vm, succeed)
		created := make(chan *batchv1.Job, 4)
		vm.client.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
			created <- a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
			return false, nil, nil
		})
		cacheMount := func(ccid string, md *persistence.ChaincodePackageMetadata) corev1.VolumeMount {
			t.Helper()
			_, err := vm.Build(ccid, md, bytes.NewReader(goCodePackage(t)))
			require.NoError(t, err)
			job := <-created
			var mounts []corev1.VolumeMount
			for _, c := range append(job.Spec.Template.Spec.InitContainers, job.Spec.Template.Spec.Containers...) {
				for _, m := range c.VolumeMounts {
					if m.Name == "build-cache" {
						require.Equal(t, spec.BuildContainer, c.Name, "only the build container sees the cache")
						mounts = append(mounts, m)
					}
				}
			}
			require.Len(t, mounts, 1)
			return mounts[0]
		}

		mycc := cacheMount(testCCID, goMetadata)
		upgrade := cacheMount(upgradeCCID, goMetadata)
		other := cacheMount(otherCCID, &persistence.ChaincodePackageMetadata{Type: "golang", Path: "example.com/other", Label: "othercc_1.0"})
		require.Regexp(t, `^golang-[A-Za-z0-9][A-Za-z0-9._-]*$`, mycc.SubPath, "one directory of the volume, named after the chaincode")
		require.Equal(t, mycc.SubPath, upgrade.SubPath, "a new version of the chaincode finds its cache")
		require.NotEqual(t, mycc.SubPath, other.SubPath, "other chaincode has a directory of its own")
	}
}
