//go:build tools

// Package tools pins the Helm CLI that integration/cluster builds (cluster.sh build-helm): the chart
// in images/peer/chart is linted and rendered with it by the unit tests and installed with it by the
// in-cluster suite.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
