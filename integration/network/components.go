/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyperledger/fabric/integration/nwo"
)

// FabricCommands are the binaries `make binaries` puts in bin/ and that the
// harness needs.
var FabricCommands = []string{"peer", "orderer", "configtxgen", "cryptogen", "osnadmin"}

const fabricCmdPrefix = "github.com/hyperledger/fabric/cmd/"

// ComponentServer answers nwo's "build server" protocol (GET /<import path>
// returns the path of an executable) with prebuilt binaries, so that the
// patched peer from `make binaries` is used instead of a fresh `go build`.
type ComponentServer struct {
	binDir string
	lis    net.Listener
	srv    *http.Server
}

// CheckBinaries returns an error naming every missing FabricCommands binary.
func CheckBinaries(binDir string) error {
	var missing []string
	for _, name := range FabricCommands {
		if _, err := executable(filepath.Join(binDir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing prebuilt binaries %v in %s: run `make binaries` first", missing, binDir)
	}
	return nil
}

func executable(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", path)
	}
	return path, nil
}

// StartComponentServer serves binDir (made absolute) on 127.0.0.1.
func StartComponentServer(binDir string) (*ComponentServer, error) {
	abs, err := filepath.Abs(binDir)
	if err != nil {
		return nil, err
	}
	if err := CheckBinaries(abs); err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &ComponentServer{binDir: abs, lis: lis}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(lis) //nolint:errcheck // ends with Shutdown
	return s, nil
}

func (s *ComponentServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	if !strings.HasPrefix(path, fabricCmdPrefix) {
		http.Error(w, fmt.Sprintf("fabric-peer-k8s component server: %q is not a prebuilt Fabric command (only %s<name> for %v)", path, fabricCmdPrefix, FabricCommands), http.StatusNotFound)
		return
	}
	name := strings.TrimPrefix(path, fabricCmdPrefix)
	bin, err := executable(filepath.Join(s.binDir, filepath.Base(name)))
	if err != nil || strings.Contains(name, "/") {
		http.Error(w, fmt.Sprintf("fabric-peer-k8s component server: no prebuilt %q in %s (%v): run `make binaries`", name, s.binDir, err), http.StatusNotFound)
		return
	}
	fmt.Fprint(w, bin)
}

// Components is what nwo.New takes.
func (s *ComponentServer) Components() *nwo.Components {
	return &nwo.Components{ServerAddress: s.lis.Addr().String()}
}

// Close stops the server.
func (s *ComponentServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
