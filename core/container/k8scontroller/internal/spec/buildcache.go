/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"strings"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	corev1 "k8s.io/api/core/v1"
)

// The build cache (vm.k8s.build.cache, config.BuildCache) as builds use it.
//
// Each chaincode has a directory of its own on the volume, named after its
// platform and chaincode path (buildCacheSubPath), and a build mounts only
// that directory (subPath), into the build container only (not into Kaniko,
// not into chaincode pods), at buildCacheDir, with the Go build cache
// (GOCACHE), the Go module cache (GOMODCACHE) and npm's cache
// (npm_config_cache) in directories of their own. Every version of a
// chaincode, whatever its package label, finds what the builds of the
// earlier ones left; a chaincode cannot read or change the cache of another.
// Packages claiming the same platform and path do share a directory: the
// build container runs their build steps (npm install scripts, for one) as
// root, so one of them can poison what the others' builds take from the
// cache. The Go and npm caches are safe for concurrent use by several
// processes, so builds running at once may share a directory; a claim shared
// by build pods on several nodes needs the ReadWriteMany access mode.

const (
	buildCacheVolume = "build-cache"
	// buildCacheDir is where the build container sees its directory of the
	// cache volume.
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

// buildCacheSubPath is the directory of the cache volume that the builds of
// a chaincode use: the lower-cased platform and the chaincode path of the
// package metadata (a Go chaincode's import path, which does not change
// from one version to the next, unlike the package label), made a single
// safe path element (LabelValue: no "/", no leading dot, a hash suffix when
// the path had to be changed).
func buildCacheSubPath(ccType, ccPath string) string {
	name := LabelValue(ccPath)
	if name == "" {
		name = sha256Hex(ccPath)[:hashLen]
	}
	return strings.ToLower(ccType) + "-" + name
}

// buildCacheVolumeOf returns the pod volume of the cache b.
func buildCacheVolumeOf(b *config.BuildCache) corev1.Volume {
	v := corev1.Volume{Name: buildCacheVolume}
	if b.PersistentVolumeClaim != "" {
		v.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: b.PersistentVolumeClaim}
		return v
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	v.HostPath = &corev1.HostPathVolumeSource{Path: b.HostPath, Type: &dirOrCreate}
	return v
}
