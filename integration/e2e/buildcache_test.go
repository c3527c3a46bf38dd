//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/hyperledger/fabric/integration/nwo"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// vm.k8s.build.cache on a PersistentVolumeClaim: two builds at once share the
// volume, and a package that differs from a built one by one source line is
// rebuilt compiling only that package (`go build -v`, which Fabric's Go build
// script runs, names every package it compiles and none it takes from the
// cache).
var _ = Describe("Build cache", Ordered, ContinueOnFailure, Label("buildcache"), func() {
	const (
		claim = "chaincode-build-cache"
		// kvModule is the kv chaincode's main package; shimPackage one of its
		// vendored dependencies.
		kvModule    = "github.com/fabric-peer-k8s/fabric-peer-k8s/integration/chaincode/kv"
		shimPackage = "github.com/hyperledger/fabric-chaincode-go"
	)
	var (
		n       *sideNetwork
		builds  *buildCapture
		pvName  string
		hostDir string
		// coldBuild is the longest build container run of the first two builds.
		coldBuild time.Duration
		built     bool
	)

	BeforeAll(func() {
		n = &sideNetwork{}
		n.start("cache", func(s *settings, kube *network.Kube) {
			// A statically provisioned volume bound to the claim: the local
			// cluster has no storage class. The PV controller binds them.
			pvName = s.Namespace + "-build-cache"
			hostDir = filepath.Join("/var/tmp", pvName)
			empty := ""
			_, err := kube.Client.CoreV1().PersistentVolumes().Create(context.Background(), &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: pvName, Labels: map[string]string{network.LabelManagedBy: "fabric-peer-k8s-e2e"}},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")},
					AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					StorageClassName:              empty,
					ClaimRef:                      &corev1.ObjectReference{Namespace: s.Namespace, Name: claim},
					PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
						Path: hostDir, Type: ptr(corev1.HostPathDirectoryOrCreate),
					}},
				},
			}, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			_, err = kube.Client.CoreV1().PersistentVolumeClaims(s.Namespace).Create(context.Background(), &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: claim},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: &empty,
					VolumeName:       pvName,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
				},
			}, metav1.CreateOptions{})
			Expect(err).NotTo(HaveOccurred())
			s.Peer.VM.Build.Extra = map[string]interface{}{"cache": map[string]interface{}{"persistentVolumeClaim": claim}}
		})
		Eventually(func() (corev1.PersistentVolumeClaimPhase, error) {
			c, err := n.kube.Client.CoreV1().PersistentVolumeClaims(n.s.Namespace).Get(n.ctx, claim, metaGet())
			if err != nil {
				return "", err
			}
			return c.Status.Phase, nil
		}, time.Minute, 200*time.Millisecond).Should(Equal(corev1.ClaimBound), "claim %s/%s", n.s.Namespace, claim)
		builds = n.captureBuilds()
	})

	AfterAll(func() {
		n.stop()
		if pvName == "" || (anySpecFailed() && n.s.Keep) {
			return
		}
		err := n.kube.Client.CoreV1().PersistentVolumes().Delete(context.Background(), pvName, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			Expect(err).NotTo(HaveOccurred(), "deleting PersistentVolume %s", pvName)
		}
		// The volume's directory is on this machine when the cluster is the
		// local one (and absent otherwise).
		Expect(os.RemoveAll(hostDir)).To(Succeed())
	})

	It("runs two builds at once on the same cache volume", func() {
		a, b := n.packageKV("kvcachea", "kvcachea_1", "cache-a"), n.packageKV("kvcacheb", "kvcacheb_1", "cache-b")
		before := n.jobs.Count()
		results := make(chan network.Result, 2)
		for _, cc := range []nwo.Chaincode{a, b} {
			go func(cc nwo.Chaincode) {
				defer GinkgoRecover()
				results <- n.h.Install(cc, n.h.Org1Peer())
			}(cc)
		}
		for range 2 {
			r := <-results
			Expect(r.OK()).To(BeTrue(), "%s", r)
			recordTiming("cache_cold_install", r.Duration)
		}
		jobs := n.jobs.Created()[before:]
		Expect(jobs).To(HaveLen(2), "one build Job per package")
		for _, j := range jobs {
			job := n.jobs.Job(j)
			Expect(job).NotTo(BeNil())
			Expect(job.Spec.Template.Spec.Volumes).To(ContainElement(corev1.Volume{Name: "build-cache", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
			}}), "build Job %s", j)
			b := builds.build(j)
			Expect(b.ExitCode).To(BeZero())
			recordTiming("cache_cold_build_container", b.Stopped.Sub(b.Started))
			coldBuild = max(coldBuild, b.Stopped.Sub(b.Started))
		}
		b0, b1 := builds.build(jobs[0]), builds.build(jobs[1])
		Expect(b0.Started.Before(b1.Stopped) && b1.Started.Before(b0.Stopped)).To(BeTrue(),
			"the two build containers did not run at the same time (%s–%s, %s–%s)", b0.Started, b0.Stopped, b1.Started, b1.Stopped)
		Expect(b0.Log+b1.Log).To(ContainSubstring(shimPackage), "the cold builds compile the vendored shim")
		built = true
	})

	It("rebuilds a one-line change compiling only the changed package, and the image serves", func() {
		if !built {
			Skip("needs the builds of the first spec")
		}
		c := n.packageKV("kvcachec", "kvcachec_1", "cache-c")
		before := n.jobs.Count()
		r := n.h.Install(c, n.h.Org1Peer())
		Expect(r.OK()).To(BeTrue(), "%s", r)
		recordTiming("cache_rebuild_install", r.Duration)
		jobs := n.jobs.Created()[before:]
		Expect(jobs).To(HaveLen(1))
		rb := builds.build(jobs[0])
		fmt.Fprintf(GinkgoWriter, "rebuild's build log:\n%s\n", rb.Log)
		Expect(rb.Log).To(ContainSubstring(kvModule), "the changed package is compiled")
		Expect(rb.Log).NotTo(ContainSubstring(shimPackage), "the vendored dependencies come from the cache")
		run := rb.Stopped.Sub(rb.Started)
		recordTiming("cache_rebuild_build_container", run)
		fmt.Fprintf(GinkgoWriter, "build container: cold %s, rebuild %s\n", coldBuild, run)

		n.h.InstallOK(c, n.h.Org2Peer())
		n.h.ApproveAndCommit(c)
		n.h.InvokeOK(c.Name, invokeTimeout, "put", "cached", "yes")
		for _, p := range n.h.Peers {
			Expect(n.h.QueryOK(p, c.Name, queryTimeout, "get", "cached")).To(Equal("yes"), "on %s", p.ID())
		}
		var info map[string]string
		Expect(json.Unmarshal([]byte(n.h.QueryOK(n.h.Org1Peer(), c.Name, queryTimeout, "info")), &info)).To(Succeed())
		Expect(info).To(HaveKeyWithValue("build", "cache-c"))
	})
})

func ptr[T any](v T) *T { return &v }
