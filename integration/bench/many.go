/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hyperledger/fabric/core/container/dockercontroller"
	"github.com/hyperledger/fabric/integration/nwo"
)

// many puts c.Many more chaincodes on Org1's peer, in batches: the
// definitions of a batch are committed first (nothing runs: the package is
// not installed), then the packages are installed one after another and the
// bench waits until every one has registered (Fabric launches a chaincode
// when it is installed and its definition committed). After each batch the
// idle state is sampled.
//
// Distinct chaincodes need distinct package IDs, and both VMs key their
// images on the package ID (k8s: <registry>/<label>:<hash of package ID,
// builder, Dockerfile, ...>; DockerVM: <network>-<peer>-<package ID>-<hash>),
// so 50 labels of the same source would be 50 builds. Instead:
//   - k8s: packages of type k8s (prebuilt image, as fabric-builder-k8s
//     defines them) naming one image: kv1's image with an entrypoint;
//   - docker: kv source packages whose images are tagged beforehand from
//     kv1's image, which DockerVM finds (InspectImage) and does not build.
func (v *vmRun) many() error {
	if len(v.kv) == 0 {
		return fmt.Errorf("no kv chaincode deployed")
	}
	many := v.c.Many
	if v.c.ManyUsed > 0 && v.c.ManyUsed < many {
		// The same count as the VM measured before, for a like-for-like
		// comparison.
		many = v.c.ManyUsed
		v.note("%d chaincodes at rest (not %d), as many as the k8s VM could run on its node", many, v.c.Many)
	}
	if v.vm == "k8s" {
		free, alloc, err := v.freePods()
		if err != nil {
			return err
		}
		// Leave room for other runs sharing the node.
		if room := free - podHeadroom; room < many {
			if room < 1 {
				return fmt.Errorf("the node has room for %d more pods (of %d), too few for chaincodes at rest", free, alloc)
			}
			v.note("%d chaincodes at rest (not %d): the node admits %d pods (kubelet maxPods) and %d were free; %d are left for other runs", room, many, alloc, free, podHeadroom)
			many = room
		}
		v.c.ManyUsed = many
	}
	ccs := make([]nwo.Chaincode, many)
	var prepErr error
	switch v.vm {
	case "k8s":
		ref, digest, err := v.prebuiltFromKV1()
		if err != nil {
			return err
		}
		for j := range ccs {
			if ccs[j], err = v.k8sPackage(fmt.Sprintf("many%d", j+1), fmt.Sprintf("benchmany_%d", j+1), ref, digest); err != nil {
				return err
			}
		}
		v.note("the %d chaincodes at rest are packages of type k8s naming one prebuilt image (%s@%s: kv1's image with an entrypoint), installed without a build", many, ref, digest)
	case "docker":
		src, err := (&dockercontroller.DockerVM{NetworkID: v.n.NetworkID, PeerID: v.org1().ID()}).GetVMNameForDocker(v.kv[0].PackageID)
		if err != nil {
			return err
		}
		prepErr = parallel(len(ccs), 4, func(j int) error {
			cc := v.h.GoChaincode(fmt.Sprintf("many%d", j+1), fmt.Sprintf("benchmany_%d", j+1), "1", v.kvDir)
			if err := resultErr("package "+cc.Label, v.h.Package(&cc)); err != nil {
				return err
			}
			dst, err := (&dockercontroller.DockerVM{NetworkID: v.n.NetworkID, PeerID: v.org1().ID()}).GetVMNameForDocker(cc.PackageID)
			if err != nil {
				return err
			}
			if _, err := v.dock.Run(time.Minute, "tag", src, dst); err != nil {
				return err
			}
			ccs[j] = cc
			return nil
		})
		if prepErr != nil {
			return prepErr
		}
		v.note("the %d chaincodes at rest are kv source packages whose images were tagged from kv1's image beforehand: DockerVM finds them and builds nothing", many)
	}

	next := 0
	for _, size := range manyBatchSizes(many) {
		batch := ccs[next : next+size]
		next += size
		if err := v.manyBatch(batch); err != nil {
			return err
		}
		if err := v.rest(v.running); err != nil {
			return err
		}
	}
	return nil
}

// manyBatchSizes splits n chaincodes into the batches many installs: two
// halves from 10 on, one batch below.
func manyBatchSizes(n int) []int {
	if n >= 10 {
		return []int{n / 2, n - n/2}
	}
	return []int{n}
}

// k8sPackage writes a package of type k8s naming the prebuilt image
// ref@digest and returns its chaincode (not installed).
func (v *vmRun) k8sPackage(name, label, ref, digest string) (nwo.Chaincode, error) {
	cc := v.h.GoChaincode(name, label, "1", "")
	cc.Lang = "k8s"
	if err := writeK8sPackage(cc.PackageFile, cc.Label, ref, digest); err != nil {
		return cc, err
	}
	cc.SetPackageIDFromPackageFile()
	return cc, nil
}

func (v *vmRun) manyBatch(batch []nwo.Chaincode) error {
	step("%s: committing %d definitions (Org1 has not installed them yet)", v.vm, len(batch))
	for _, p := range v.h.Peers {
		p := p
		if err := parallel(len(batch), 4, func(j int) error { return resultErr("approve "+batch[j].Name, v.approve(batch[j], p)) }); err != nil {
			return err
		}
	}
	if err := parallel(len(batch), 4, func(j int) error {
		var r network.Result
		for attempt := 0; attempt < 5; attempt++ {
			// The other org's approval may not have reached this peer yet.
			if r = v.commit(batch[j]); r.OK() {
				return nil
			}
			time.Sleep(time.Second)
		}
		return resultErr("commit "+batch[j].Name, r)
	}); err != nil {
		return err
	}

	mb := ManyBatch{Chaincodes: len(batch), RunningBefore: v.running}
	step("%s: installing %d packages on Org1, each launched once installed", v.vm, len(batch))
	t0 := time.Now()
	for _, cc := range batch {
		r := v.h.Install(cc, v.org1())
		if err := resultErr("install "+cc.Label, r); err != nil {
			return err
		}
		v.add(sInstallMany, r.Duration.Seconds())
	}
	mb.InstallsSeconds = time.Since(t0).Seconds()
	pending := map[string]bool{}
	for _, cc := range batch {
		pending[cc.PackageID] = true
	}
	bound := 10 * time.Minute
	for len(pending) > 0 && time.Since(t0) < bound {
		s, err := v.metrics(v.org1())
		if err != nil {
			return err
		}
		for id := range pending {
			m := map[string]string{"chaincode": id, "success": "true"}
			if n, _ := sumWhere(s, "chaincode_launch_duration_count", m); n > 0 {
				sum, _ := sumWhere(s, "chaincode_launch_duration_sum", m)
				v.add(sLaunchMany, sum/n)
				delete(pending, id)
			}
		}
		if len(pending) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	mb.AllRegisteredSeconds = time.Since(t0).Seconds()
	mb.RegisteredWithinBound = len(pending) == 0
	v.r.ManyBatches = append(v.r.ManyBatches, mb)
	v.running += len(batch) - len(pending)
	if len(pending) > 0 {
		return fmt.Errorf("%d of %d chaincodes not registered within %s of the first install", len(pending), len(batch), bound)
	}
	step("%s: %d chaincodes installed in %.1fs, all registered after %.1fs", v.vm, len(batch), mb.InstallsSeconds, mb.AllRegisteredSeconds)
	return nil
}

// podHeadroom is how many pods of the node's capacity the bench leaves to
// other runs sharing the cluster.
const podHeadroom = 4

// freePods is the number of pods the cluster's Ready nodes still admit
// (allocatable pods less those bound and not finished) and their total.
func (v *vmRun) freePods() (free, alloc int, err error) {
	rooms, err := v.nodeRooms()
	if err != nil {
		return 0, 0, err
	}
	for _, r := range rooms {
		if r.Ready {
			free += r.Free
			alloc += r.MaxPods
		}
	}
	return free, alloc, nil
}

// prebuiltFromKV1 publishes kv1's image (built by the k8s VM, which runs it
// with DockerVM's arguments) with an entrypoint that starts the chaincode the
// way prebuilt images do, and returns its repository and digest as the peer
// and the kubelet see them.
func (v *vmRun) prebuiltFromKV1() (string, string, error) {
	pod, err := v.runningPod(v.org1(), v.kv[0].PackageID)
	if err != nil {
		return "", "", err
	}
	img := pod.Spec.Containers[0].Image // <pullRegistry>/<repo>@sha256:...
	regHost, _, _ := strings.Cut(network.DefaultRegistry, "/")
	rest, ok := strings.CutPrefix(img, regHost+"/")
	if !ok {
		return "", "", fmt.Errorf("kv1 runs %s, which is not in %s", img, regHost)
	}
	src, err := name.ParseReference(network.DefaultRegistryAddr+"/"+rest, name.Insecure)
	if err != nil {
		return "", "", err
	}
	base, err := remote.Image(src, remote.WithContext(v.ctx))
	if err != nil {
		return "", "", fmt.Errorf("pulling %s: %w", src, err)
	}
	cfg, err := base.ConfigFile()
	if err != nil {
		return "", "", err
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Entrypoint = []string{"/bin/sh", "-c", `exec /usr/local/bin/chaincode -peer.address="$CORE_PEER_ADDRESS"`}
	cfg.Config.Cmd = nil
	out, err := mutate.ConfigFile(base, cfg)
	if err != nil {
		return "", "", err
	}
	_, prefix, _ := strings.Cut(network.DefaultRegistry, "/")
	repo := strings.Trim(prefix+"/bench/prebuilt-kv", "/")
	dst, err := name.ParseReference(network.DefaultRegistryAddr+"/"+repo+":"+v.c.RunID, name.Insecure)
	if err != nil {
		return "", "", err
	}
	if err := remote.Write(dst, out, remote.WithContext(v.ctx)); err != nil {
		return "", "", fmt.Errorf("pushing %s: %w", dst, err)
	}
	digest, err := out.Digest()
	if err != nil {
		return "", "", err
	}
	return regHost + "/" + repo, digest.String(), nil
}

// writeK8sPackage writes a chaincode package of type k8s (metadata.json
// {"type": "k8s", "label": ...}, code.tar.gz holding image.json), the format
// of fabric-builder-k8s.
func writeK8sPackage(file, label, imageName, digest string) error {
	pkg, err := testkit.K8sPackage(label, imageName, digest)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, pkg, 0o644)
}
