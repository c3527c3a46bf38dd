/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"path"
	"strings"

	"github.com/pkg/errors"
	corev1 "k8s.io/api/core/v1"
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
// The volume is mounted into the build container only (not into Kaniko, not
// into chaincode pods) at buildCacheDir, with the Go build cache (GOCACHE),
// the Go module cache (GOMODCACHE) and npm's cache (npm_config_cache) in
// directories of their own. The Go and npm caches are safe for concurrent use
// by several processes, so builds running at once may share the volume; a
// claim shared by build pods on several nodes needs the ReadWriteMany access
// mode. Every chaincode built with the cache reads what the others wrote:
// enable it only where the chaincode packages installed on the peers using it
// are trusted alike.
type BuildCache struct {
	// PersistentVolumeClaim names a claim in the build namespace.
	PersistentVolumeClaim string `json:"persistentVolumeClaim,omitempty"`
	// HostPath is an absolute directory on the node, created when missing.
	// Pod Security's baseline and restricted levels refuse hostPath volumes:
	// the build namespace must not enforce them.
	HostPath string `json:"hostPath,omitempty"`
}

const (
	buildCacheVolume = "build-cache"
	// buildCacheDir is where the build container sees the cache volume.
	buildCacheDir = "/var/cache/fabric-chaincode-build"
)

// buildCacheEnv points the platforms' build tools at the cache volume; it
// overrides the platform's own build environment (mergeEnv).
func buildCacheEnv() map[string]string {
	return map[string]string{
		"GOCACHE":          buildCacheDir + "/go-build",
		"GOMODCACHE":       buildCacheDir + "/go-mod",
		"npm_config_cache": buildCacheDir + "/npm",
	}
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
	default:
		if !path.IsAbs(b.HostPath) || path.Clean(b.HostPath) != b.HostPath || b.HostPath == "/" {
			return errors.Errorf("hostPath: %q must be a clean absolute path of a directory other than /", b.HostPath)
		}
	}
	return nil
}

// volume returns the pod volume of the cache.
func (b *BuildCache) volume() corev1.Volume {
	v := corev1.Volume{Name: buildCacheVolume}
	if b.PersistentVolumeClaim != "" {
		v.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: b.PersistentVolumeClaim}
		return v
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	v.HostPath = &corev1.HostPathVolumeSource{Path: b.HostPath, Type: &dirOrCreate}
	return v
}
