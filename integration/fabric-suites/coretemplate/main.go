/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Command coretemplate writes the core.yaml template that Fabric's nwo uses
// for peers in k8s mode when running Fabric's own integration suites
// (integration/fabric-suites/run.sh): nwo's default template with the vm:
// section of integration/network.DefaultPeerConfig (local cluster, registry,
// Kaniko, host networking) and our builder/runtime images.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/network"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	namespace := flag.String("namespace", "", "namespace of build Jobs and chaincode Pods")
	out := flag.String("o", "", "output file")
	line := flag.String("fabric", network.FabricLine31, "Fabric line of the peer and of nwo: "+network.FabricLine31+" or "+network.FabricLine25)
	flag.Parse()
	if *kubeconfig == "" || *namespace == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: coretemplate -kubeconfig FILE -namespace NS -o FILE")
		os.Exit(2)
	}
	pc := network.DefaultPeerConfig(*kubeconfig, *namespace)
	if v := os.Getenv("FABRIC_K8S_REGISTRY"); v != "" {
		pc.VM.Registry = v
	}
	if v := os.Getenv("FABRIC_K8S_KANIKO_IMAGE"); v != "" {
		pc.VM.KanikoImage = v
	}
	if v := os.Getenv("FABRIC_K8S_CCENV_IMAGE"); v != "" {
		pc.CCEnvImage = v
	}
	if v := os.Getenv("FABRIC_K8S_BASEOS_IMAGE"); v != "" {
		pc.BaseOSImage = v
	}
	t, err := pc.CoreTemplateFor(*line)
	if err == nil {
		err = os.WriteFile(*out, []byte(t), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "coretemplate:", err)
		os.Exit(1)
	}
}
