/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import (
	"path"
	"strings"

	"github.com/pkg/errors"
	"k8s.io/apimachinery/pkg/util/validation"
)

// BuildCache is vm.k8s.build.cache: the volume that keeps the builders'
// caches between image builds, so that a rebuild with unchanged dependencies
// compiles only what changed. Exactly one of the fields is set:
//
//	build:
//	  cache:
//	    persistentVolumeClaim: chaincode-build-cache   # a claim in vm.k8s.buildNamespace
//	    # hostPath: /var/cache/fabric-chaincode-build  # a directory on each node
//
// A claim is the choice for production: what it is backed by, and who may
// use it, is the cluster administrator's decision, and Pod Security admits
// it at every level.
//
// The VM mounts a directory of the volume per chaincode into the build
// container only (see internal/spec/buildcache.go).
//
// A hostPath must be a directory of its own: Validate refuses the node's
// system directories (those of the operating system, the kubelet and the
// container runtimes, home directories: systemDirs), any directory holding
// one of them, and the shared parents of such directories (sharedDirs)
// themselves. It cannot know every directory a node uses: choose one that
// nothing else on the node reads, such as /var/cache/fabric-chaincode-build.
type BuildCache struct {
	// PersistentVolumeClaim names a claim in the build namespace.
	PersistentVolumeClaim string `json:"persistentVolumeClaim,omitempty"`
	// HostPath is an absolute directory on the node, created when missing.
	// Pod Security's baseline and restricted levels refuse hostPath volumes:
	// the build namespace must not enforce them.
	HostPath string `json:"hostPath,omitempty"`
}

// suggestedHostPath is the directory of its own that a refused hostPath's
// message suggests.
const suggestedHostPath = "/var/cache/fabric-chaincode-build"

// systemDirs are directories of the node that a build cache on hostPath
// must not be, be inside, or hold: the operating system's, the kubelet's and
// the container runtimes' state, logs, spools, and home directories.
func systemDirs() []string {
	return []string{
		"/etc", "/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/dev", "/proc", "/sys",
		"/run", "/var/run", "/var/lock", "/var/log", "/var/spool", "/var/mail",
		"/var/lib/kubelet", "/var/lib/containerd", "/var/lib/docker", "/var/lib/containers", "/var/lib/cri-o",
		"/var/lib/cni", "/var/lib/calico", "/var/lib/etcd", "/var/lib/rancher", "/var/lib/k0s",
		"/var/lib/dpkg", "/var/lib/apt", "/var/lib/rpm", "/var/lib/systemd", "/opt/cni",
		"/root", "/home", "/snap",
	}
}

// sharedDirs are directories a build cache on hostPath must not be,
// although it may be inside them: other software keeps its files there.
func sharedDirs() []string {
	return []string{"/tmp", "/var/tmp", "/var/cache", "/var/lib", "/var/opt", "/mnt", "/media", "/srv", "/opt", "/data"}
}

func (b *BuildCache) validate() error {
	if b == nil {
		return nil
	}
	switch {
	case b.PersistentVolumeClaim == "" && b.HostPath == "":
		return errors.New("set one of persistentVolumeClaim or hostPath")
	case b.PersistentVolumeClaim != "" && b.HostPath != "":
		return errors.New("set only one of persistentVolumeClaim and hostPath")
	case b.PersistentVolumeClaim != "":
		if msgs := validation.IsDNS1123Subdomain(b.PersistentVolumeClaim); len(msgs) > 0 {
			return errors.Errorf("persistentVolumeClaim: %q is not a valid claim name: %s", b.PersistentVolumeClaim, strings.Join(msgs, "; "))
		}
		return nil
	}
	p := b.HostPath
	if !path.IsAbs(p) || path.Clean(p) != p {
		return errors.Errorf("hostPath: %q must be a clean absolute path", p)
	}
	const advice = "; the build container writes below it as root: use a directory of its own, such as " +
		suggestedHostPath + ", or a persistentVolumeClaim"
	for _, dir := range systemDirs() {
		switch {
		case p == dir:
			return errors.Errorf("hostPath: %q is %s, a system directory of the node%s", p, dir, advice)
		case strings.HasPrefix(p, dir+"/"):
			return errors.Errorf("hostPath: %q is inside %s, a system directory of the node%s", p, dir, advice)
		}
	}
	for _, dir := range systemDirs() {
		if p == "/" || strings.HasPrefix(dir, p+"/") {
			return errors.Errorf("hostPath: %q holds %s, a system directory of the node%s", p, dir, advice)
		}
	}
	for _, dir := range sharedDirs() {
		if p == dir {
			return errors.Errorf("hostPath: %q is shared with other software: use a directory of its own below it, such as %s/fabric-chaincode-build", p, dir)
		}
	}
	return nil
}
