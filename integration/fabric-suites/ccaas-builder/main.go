/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Command ccaas-builder is a chaincode-as-a-service external builder for the
// peers of Fabric's integration suites (nwo configures one from a Fabric
// release tree, which the Fabric module does not ship). One binary, installed
// as bin/detect, bin/build and bin/release; it acts by the name it is run as:
//
//	detect CHAINCODE_SOURCE_DIR CHAINCODE_METADATA_DIR
//	build  CHAINCODE_SOURCE_DIR CHAINCODE_METADATA_DIR BUILD_OUTPUT_DIR
//	release BUILD_OUTPUT_DIR RELEASE_OUTPUT_DIR
//
// Packages of type "ccaas" carry a connection.json naming the chaincode
// server the peer dials, and optionally META-INF/statedb indexes.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(filepath.Base(os.Args[0]), os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "ccaas %s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}

func run(step string, args []string) error {
	want := map[string]int{"detect": 2, "build": 3, "release": 2}[step]
	if want == 0 {
		return fmt.Errorf("run as detect, build or release, not %q", step)
	}
	if len(args) != want {
		return fmt.Errorf("%d arguments, want %d", len(args), want)
	}
	switch step {
	case "detect":
		return detect(args[1])
	case "build":
		return build(args[0], args[2])
	default:
		return release(args[0], args[1])
	}
}

// readJSON reads dir/name into v and returns the raw bytes.
func readJSON(dir, name string, v any) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return raw, nil
}

// detect accepts packages whose metadata.json has type "ccaas".
func detect(metadataDir string) error {
	var md struct {
		Type string `json:"type"`
	}
	if _, err := readJSON(metadataDir, "metadata.json", &md); err != nil {
		return err
	}
	if !strings.EqualFold(md.Type, "ccaas") {
		return fmt.Errorf("type %q is not ccaas", md.Type)
	}
	return nil
}

// build keeps the package's connection.json, after checking that it names
// a server, and its META-INF.
func build(srcDir, outDir string) error {
	var conn struct {
		Address string `json:"address"`
	}
	raw, err := readJSON(srcDir, "connection.json", &conn)
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("the code package has no connection.json")
	}
	if err != nil {
		return err
	}
	if conn.Address == "" {
		return errors.New("connection.json has no address")
	}
	if err := os.WriteFile(filepath.Join(outDir, "connection.json"), raw, 0o644); err != nil {
		return err
	}
	return copyDirIfPresent(filepath.Join(srcDir, "META-INF"), filepath.Join(outDir, "META-INF"))
}

// release hands the peer the server's connection.json (chaincode/server/)
// and the state database indexes (statedb/).
func release(buildDir, releaseDir string) error {
	raw, err := os.ReadFile(filepath.Join(buildDir, "connection.json"))
	if err != nil {
		return err
	}
	server := filepath.Join(releaseDir, "chaincode", "server")
	if err := os.MkdirAll(server, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(server, "connection.json"), raw, 0o644); err != nil {
		return err
	}
	return copyDirIfPresent(filepath.Join(buildDir, "META-INF", "statedb"), filepath.Join(releaseDir, "statedb"))
}

func copyDirIfPresent(src, dst string) error {
	if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return os.CopyFS(dst, os.DirFS(src))
}
