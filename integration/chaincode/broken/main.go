/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Command broken is a chaincode that does not compile. The end-to-end tests
// install it to check that a failing Kaniko build is reported to the peer CLI
// with the Go compiler's message, and that nothing is left running afterwards.
//
// `go list` (run by `peer lifecycle chaincode package`) accepts it; only the
// type checker in `go build` rejects it.
package main

import "fmt"

func main() {
	fmt.Println(brokenChaincodeMissingSymbol)
}
