// Package fabric25 is the build of the Fabric 2.5 binaries with the
// Kubernetes chaincode VM. Fabric's commands are this module's tools; the
// patches in vendor-patches/2.5 make the vendored peer import the VM, which
// this file imports too, so that the module requires it before they apply.
package fabric25

import _ "github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller"
