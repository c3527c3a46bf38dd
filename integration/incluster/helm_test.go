//go:build e2e

/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package incluster

import (
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/rbac"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

// Org2's peer is installed with the Helm chart (BeforeSuite); these specs run
// chaincode through it and change a VM setting with `helm upgrade`.
var _ = Describe("the peer installed with Helm", Ordered, func() {
	var (
		k2     *kube
		ccName string
	)

	BeforeAll(func() {
		k2 = newKube(cfg.Kubeconfig, fab.org2().Namespace)
		ccName = "kvh" + strings.TrimPrefix(cfg.Name, "fpk-incluster-")
	})

	It("runs with the chart's ServiceAccount and Role, healthy", func() {
		p, err := k2.pod(peerPod)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Labels).To(HaveKeyWithValue("app.kubernetes.io/managed-by", "Helm"))
		Expect(p.Spec.ServiceAccountName).To(Equal("fabric-peer"))
		Expect(k2.role().Rules).To(Equal(rbac.RequiredRules()))
		healthy(p.Status.PodIP)
		recordCheck("Helm-installed peer %s/%s: Role = rbac.RequiredRules(), /healthz 200", k2.ns, p.Name)
	})

	It("builds, installs and serves chaincode endorsed by the Helm-installed peer", func() {
		// the build pod runs as root: "baseline" while it builds
		k2.setPodSecurity("baseline")
		file, id := fab.packageChaincode(ccName)
		r := fab.installOn(fab.org2(), file, 14*time.Minute)
		Expect(r.ExitCode).To(Equal(0), r.String())
		k2.setPodSecurity("restricted")
		fab.approveAndCommit(ccName, id)
		r = fab.invokeOn(fab.org2(), ccName, 6*time.Minute, "put", "installed-with", "helm")
		Expect(r.ExitCode).To(Equal(0), r.String()+"\n"+k2.peerLogTail(40))
		q := fab.queryOn(fab.org2(), ccName, "get", "installed-with")
		Expect(q.ExitCode).To(Equal(0), q.String())
		Expect(strings.TrimSpace(q.Stdout)).To(Equal("helm"))
		Expect(k2.chaincodePods()).To(HaveLen(1))
		recordCheck("chaincode %s built, launched and endorsed in %s by the Helm-installed peer", id, k2.ns)
	})

	It("applies a `helm upgrade` of a VM setting at the next launch", func() {
		old, err := k2.pod(peerPod)
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		Expect(fab.UpgradePeerWithHelm(fab.org2(), "--set", "vm.k8s.podLabels.fpk-upgrade=applied")).To(Succeed())
		p := k2.waitPeerReady(5*time.Minute, old.UID)
		recordTiming("helm-upgrade-to-peer-ready", time.Since(start))
		r := fab.invokeOn(fab.org2(), ccName, 6*time.Minute, "put", "upgraded", "yes")
		Expect(r.ExitCode).To(Equal(0), r.String()+"\n"+k2.peerLogTail(40))
		var labelled []corev1.Pod
		for _, cc := range k2.chaincodePods() {
			if cc.Labels["fpk-upgrade"] == "applied" && cc.DeletionTimestamp == nil {
				labelled = append(labelled, cc)
			}
		}
		Expect(labelled).To(HaveLen(1), "a chaincode pod launched after the upgrade carries vm.k8s.podLabels")
		recordCheck("helm upgrade --set vm.k8s.podLabels.fpk-upgrade=applied rolled the peer (%s -> %s); chaincode pod %s launched with the label",
			old.UID, p.UID, labelled[0].Name)
	})
})
