/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Command kv is the small key/value chaincode used by the fabric-peer-k8s
// end-to-end tests and demo. It is deliberately tiny: it stores strings under
// keys, reads them back, reports which build of itself is running, and can be
// asked to crash so that the peer's relaunch path can be exercised.
//
// Functions (first argument of the invocation):
//
//	init  [k v]...  store each pair (also accepted as the --isInit call)
//	put   k v       store v under k
//	get   k         return the value stored under k (error when absent)
//	del   k         delete k
//	info            JSON describing this build and the process it runs in
//	crash           terminate the chaincode process with exit status 3
//	hog   n         allocate n more MiB, write to every page and keep it all
//	                referenced (to drive the container into its memory limit)
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
)

// Build identifies the source revision of this chaincode. The end-to-end
// upgrade test rewrites this constant in a temporary copy to produce a package
// with different content; `info` and `version` report it.
const Build = "kv-1"

// CrashExitCode is the exit status used by the crash function.
const CrashExitCode = 3

type kvStore struct {
	mu sync.Mutex
	// hogged keeps what hog allocated referenced for the life of the process.
	hogged [][]byte
}

func (*kvStore) Init(stub shim.ChaincodeStubInterface) *peer.Response {
	_, args := stub.GetFunctionAndParameters()
	if len(args) == 0 {
		return shim.Success(nil)
	}
	return putPairs(stub, args)
}

func (kv *kvStore) Invoke(stub shim.ChaincodeStubInterface) *peer.Response {
	fn, args := stub.GetFunctionAndParameters()
	switch fn {
	case "init":
		return putPairs(stub, args)
	case "put":
		if len(args) != 2 {
			return shim.Error(fmt.Sprintf("put takes 2 arguments (key, value), got %d", len(args)))
		}
		return putPairs(stub, args)
	case "get":
		if len(args) != 1 {
			return shim.Error(fmt.Sprintf("get takes 1 argument (key), got %d", len(args)))
		}
		v, err := stub.GetState(args[0])
		if err != nil {
			return shim.Error(fmt.Sprintf("reading %q: %s", args[0], err))
		}
		if v == nil {
			return shim.Error(fmt.Sprintf("key %q not found", args[0]))
		}
		return shim.Success(v)
	case "del":
		if len(args) != 1 {
			return shim.Error(fmt.Sprintf("del takes 1 argument (key), got %d", len(args)))
		}
		if err := stub.DelState(args[0]); err != nil {
			return shim.Error(fmt.Sprintf("deleting %q: %s", args[0], err))
		}
		return shim.Success(nil)
	case "version":
		return shim.Success([]byte(Build))
	case "info":
		host, _ := os.Hostname()
		b, err := json.Marshal(map[string]string{
			"build":    Build,
			"ccid":     os.Getenv("CORE_CHAINCODE_ID_NAME"),
			"hostname": host,
			"pod":      os.Getenv("HOSTNAME"),
			"go":       runtime.Version(),
			"pid":      fmt.Sprint(os.Getpid()),
			"uid":      fmt.Sprint(os.Getuid()),
		})
		if err != nil {
			return shim.Error(err.Error())
		}
		return shim.Success(b)
	case "crash":
		fmt.Fprintf(os.Stderr, "kv chaincode: crash requested, exiting with status %d\n", CrashExitCode)
		os.Exit(CrashExitCode)
		return shim.Error("unreachable")
	case "hog":
		if len(args) != 1 {
			return shim.Error(fmt.Sprintf("hog takes 1 argument (MiB), got %d", len(args)))
		}
		mib, err := strconv.Atoi(args[0])
		if err != nil || mib <= 0 {
			return shim.Error(fmt.Sprintf("hog: %q is not a positive number of MiB", args[0]))
		}
		return shim.Success([]byte(fmt.Sprintf("holding %d MiB", kv.hog(mib))))
	default:
		return shim.Error(fmt.Sprintf("unknown function %q (want init, put, get, del, version, info, crash or hog)", fn))
	}
}

// hog allocates mib MiB more, writing to every page so that it is resident,
// and returns the number of MiB held in all.
func (kv *kvStore) hog(mib int) int {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	page := os.Getpagesize()
	for i := 0; i < mib; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += page {
			b[j] = 1
		}
		kv.hogged = append(kv.hogged, b)
	}
	return len(kv.hogged)
}

func putPairs(stub shim.ChaincodeStubInterface, args []string) *peer.Response {
	if len(args)%2 != 0 {
		return shim.Error(fmt.Sprintf("expected key/value pairs, got %d arguments", len(args)))
	}
	for i := 0; i < len(args); i += 2 {
		if args[i] == "" {
			return shim.Error("empty key")
		}
		if err := stub.PutState(args[i], []byte(args[i+1])); err != nil {
			return shim.Error(fmt.Sprintf("writing %q: %s", args[i], err))
		}
	}
	return shim.Success(nil)
}

func main() {
	fmt.Fprintf(os.Stderr, "kv chaincode %s starting (ccid=%s)\n", Build, os.Getenv("CORE_CHAINCODE_ID_NAME"))
	if err := shim.Start(&kvStore{}); err != nil {
		fmt.Fprintf(os.Stderr, "kv chaincode %s: %s\n", Build, err)
		os.Exit(1)
	}
}
