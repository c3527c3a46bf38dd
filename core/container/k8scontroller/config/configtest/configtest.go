/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package configtest holds the configuration the VM's unit tests start from,
// shared by the tests of the VM and of the builders of its objects (whose
// golden files it shapes).
package configtest

import (
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
)

// Namespace is the namespace of chaincode pods and of builds in Config.
const Namespace = "fabric"

// Config returns a new configuration for tests: chaincode and builds in
// Namespace, the local cluster's registry (reached by the peer as
// registry.local:5000, by the kubelet as localhost:5000) without TLS, the
// local Kaniko image, short timeouts, no pre-pull (its tests turn it on), and
// the defaults for the rest.
func Config() *config.Config {
	return &config.Config{
		Namespace:              Namespace,
		BuildNamespace:         Namespace,
		Registry:               "registry.local:5000/fabric-cc",
		PullRegistry:           "localhost:5000/fabric-cc",
		RegistryInsecure:       true,
		KanikoImage:            "localhost:5000/fabric-peer-k8s/kaniko-executor:v1.25.1",
		BuildTimeout:           time.Minute,
		StopTimeout:            5 * time.Second,
		GracePeriod:            2 * time.Second,
		MaxCodePackageSize:     config.DefaultMaxCodePackageSize,
		MaxConcurrentBuilds:    config.DefaultMaxConcurrentBuilds,
		RunAsUser:              config.DefaultRunAsUser,
		ReadOnlyRootFilesystem: true,
		Relaunch:               config.DefaultRelaunchPolicy,
		PrePull:                config.PrePull{Timeout: config.DefaultPrePull.Timeout, MaxConcurrent: config.DefaultPrePull.MaxConcurrent},
		SweepInterval:          config.DefaultSweepInterval,
		ImagePullTimeout:       config.DefaultImagePullTimeout,
		ClientQPS:              config.DefaultClientQPS,
		ClientBurst:            config.DefaultClientBurst,
		HealthCheckInterval:    config.DefaultHealthCheckInterval,
	}
}
