/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// bridge-forward runs the forwarder of package bridgeforward until
// interrupted: the registry of the local cluster, on the bridge gateway, for a
// peer Pod deployed by hand with images/peer/deploy-local.
//
//	go run ./integration/incluster/cmd/bridge-forward [-gateway 10.244.0.1]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/incluster/bridgeforward"
)

func main() {
	gw := flag.String("gateway", "10.244.0.1", "the bridge gateway address (this host on the pod network)")
	reg := flag.String("registry", "127.0.0.1:5000", "registry on the host")
	flag.Parse()
	for _, p := range [][2]string{{*gw + ":5000", *reg}} {
		f, err := bridgeforward.Start(p[0], p[1], nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		fmt.Printf("forwarding %s -> %s\n", p[0], p[1])
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
