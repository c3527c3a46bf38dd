/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Command exit is a chaincode that exits with status 3 as soon as it starts,
// before it registers with the peer. The end-to-end tests deploy it to check
// that the peer's relaunch supervisor reports a crash loop (a CrashLoop Event)
// and then stops relaunching it. It has no dependencies, so its image builds
// quickly.
package main

import (
	"fmt"
	"os"
)

// ExitCode is the status the chaincode exits with at start-up.
const ExitCode = 3

func main() {
	fmt.Fprintf(os.Stderr, "exit chaincode: exiting with status %d at start-up (ccid=%s)\n", ExitCode, os.Getenv("CORE_CHAINCODE_ID_NAME"))
	os.Exit(ExitCode)
}
