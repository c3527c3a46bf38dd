/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyperledger/fabric/integration/nwo/template"
)

// Fabric release lines the repository builds peers for (make FABRIC=<line>).
const (
	FabricLine31 = "3.1"
	FabricLine25 = "2.5"
)

// FabricLineEnv is the environment variable that names the Fabric line a
// test runs against; make passes its FABRIC. Unset means FabricLine31.
const FabricLineEnv = "FABRIC"

// FabricLineFromEnv is the Fabric line named by FabricLineEnv.
func FabricLineFromEnv() (string, error) {
	line := os.Getenv(FabricLineEnv)
	if line == "" {
		return FabricLine31, nil
	}
	if _, err := LineBinDir("", line); err != nil {
		return "", err
	}
	return line, nil
}

// LineBinDir is the directory under repoRoot that `make binaries
// FABRIC=<line>` puts the line's binaries in.
func LineBinDir(repoRoot, line string) (string, error) {
	switch line {
	case FabricLine31:
		return filepath.Join(repoRoot, "bin"), nil
	case FabricLine25:
		return filepath.Join(repoRoot, "bin", "2.5"), nil
	default:
		return "", unknownLine(line)
	}
}

// LineModuleDir is the directory under repoRoot of the Go module that pins
// line's Fabric (its go.mod).
func LineModuleDir(repoRoot, line string) (string, error) {
	switch line {
	case FabricLine31:
		return repoRoot, nil
	case FabricLine25:
		return filepath.Join(repoRoot, "cmd", "fabric-2.5"), nil
	default:
		return "", unknownLine(line)
	}
}

func unknownLine(line string) error {
	return fmt.Errorf("network: unknown Fabric line %q (%s): want %s or %s", line, FabricLineEnv, FabricLine31, FabricLine25)
}

// lineOrdererTemplate is the orderer.yaml template for line's orderer: nwo's own
// for FabricLine31; for FabricLine25 the same without the keys that Fabric
// 2.5's orderer does not know and refuses (General.Throttling,
// General.Backoff, General.Cluster.ReplicationPolicy: all at their defaults
// in nwo's template).
func lineOrdererTemplate(line string) (string, error) {
	switch line {
	case FabricLine31:
		return template.DefaultOrderer, nil
	case FabricLine25:
		return dropYAMLKeys(template.DefaultOrderer, "  Throttling:", "  Backoff:", "    ReplicationPolicy:")
	default:
		return "", unknownLine(line)
	}
}

// lineCoreTemplate adapts the core.yaml template tmpl, made from nwo's
// (PeerConfig.CoreTemplate), to line: for Fabric 2.5 it is what 2.5's nwo
// and peer accept. Its peer has no TimeWindowCheck auth filter and refuses to
// start with one configured; its nwo has neither the delivery client policy
// nor the chaincode runtime parameters that the template fills in.
func lineCoreTemplate(line, tmpl string) (string, error) {
	switch line {
	case FabricLine31:
		return tmpl, nil
	case FabricLine25:
		return dropYAMLKeys(tmpl, "    - name: TimeWindowCheck", "    policy: {{ .PeerDeliveryClientPolicy }}", "  runtimeParams:")
	default:
		return "", unknownLine(line)
	}
}

// CoreTemplateFor is CoreTemplate for a peer of the given Fabric line.
func (c PeerConfig) CoreTemplateFor(line string) (string, error) {
	t, err := c.CoreTemplate()
	if err != nil {
		return "", err
	}
	return lineCoreTemplate(line, t)
}

// dropYAMLKeys removes from the YAML text y each key given as its indented
// line start ("  Backoff:"), with everything nested under it. Every key must
// occur exactly once.
func dropYAMLKeys(y string, keys ...string) (string, error) {
	lines := strings.Split(y, "\n")
	for _, key := range keys {
		indent := len(key) - len(strings.TrimLeft(key, " "))
		var out []string
		found := 0
		for i := 0; i < len(lines); i++ {
			if !strings.HasPrefix(lines[i], key) {
				out = append(out, lines[i])
				continue
			}
			found++
			for i+1 < len(lines) {
				next := lines[i+1]
				if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
					break
				}
				i++
			}
		}
		if found != 1 {
			return "", fmt.Errorf("network: template: %q occurs %d times, want once", strings.TrimSpace(key), found)
		}
		lines = out
	}
	return strings.Join(lines, "\n"), nil
}
