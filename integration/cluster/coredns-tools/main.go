// Command coredns is CoreDNS with the plugins the local cluster's DNS uses
// and no others (a full build pulls in every cloud provider's SDK): the
// kubernetes plugin for cluster.local, hosts for the local registry's name
// (the pod gateway, where the cluster's registry-bridge listens), forward for
// every other name (to the host's resolver, through the cluster's dns-relay),
// and errors, health, ready and cache.
package main

import (
	"fmt"
	"os"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

// directives are the plugins in CoreDNS's execution order (plugin.cfg).
var directives = []string{"ready", "health", "errors", "cache", "hosts", "kubernetes", "forward"}

func main() {
	if err := dnsserver.SetDirectives(directives); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	coremain.Run()
}
