/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package buildcontext

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckChaincodePath(t *testing.T) {
	tests := []struct {
		ccType, path string
		wantErr      string // empty: accepted
	}{
		{"GOLANG", "example.com/cc", ""},
		{"GOLANG", "github.com/hyperledger/fabric-samples/asset-transfer-basic/chaincode-go", ""},
		{"GOLANG", "github.com/org/cc/v2", ""},
		{"GOLANG", "gopkg.in/yaml.v3", ""},
		{"GOLANG", "chaincode", ""},
		{"GOLANG", "", "empty string"},
		{"GOLANG", "$(id)", "invalid char '$'"},
		{"GOLANG", "a/`id`", "invalid char '`'"},
		{"GOLANG", `a/"b`, `invalid char '"'`},
		{"GOLANG", "a/'b", `invalid char '\''`},
		{"GOLANG", "a b", "invalid char ' '"},
		{"GOLANG", "a\nb", `invalid char '\n'`},
		{"GOLANG", "a;b", "invalid char ';'"},
		{"GOLANG", "a|b", "invalid char '|'"},
		{"GOLANG", "a&b", "invalid char '&'"},
		{"GOLANG", "a>b", "invalid char '>'"},
		{"GOLANG", "a\\b", `invalid char '\\'`},
		{"GOLANG", "a\x00b", `invalid char '\x00'`},
		{"GOLANG", "-o=/tmp/x", "leading dash"},
		{"GOLANG", "/abs/path", "empty path element"},
		{"GOLANG", "../up", `invalid path element ".."`},
		{"GOLANG", "a//b", "double slash"},
		{"NODE", "/home/user/chaincode/node", ""},
		{"NODE", "../asset-transfer-basic/chaincode-javascript", ""},
		{"NODE", "/home/me/my chaincode", ""},
		{"NODE", `C:\Users\me\cc (1)`, ""},
		{"NODE", "", ""},
		{"NODE", "$(id)", `has the character '$'`},
		{"NODE", "a`id`", "has the character '`'"},
		{"NODE", "a;b", "has the character ';'"},
		{"NODE", "a|b", "has the character '|'"},
		{"NODE", "a&b", "has the character '&'"},
		{"NODE", "a<b", "has the character '<'"},
		{"NODE", `a"b`, `has the character '"'`},
		{"NODE", "a'b", `has the character '\''`},
		{"NODE", "a\nb", `has the character '\n'`},
		{"NODE", "a\rb", `has the character '\r'`},
		{"NODE", "a\x00b", `has the character '\x00'`},
		{"NODE", "-rf", `starts with "-"`},
		{"JAVA", "../chaincode/java", ""},
		{"JAVA", "cc; rm -rf /", "has the character ';'"},
	}
	for _, tt := range tests {
		t.Run(tt.ccType+" "+tt.path, func(t *testing.T) {
			err := CheckChaincodePath(tt.ccType, tt.path)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.ErrorContains(t, err, "path ")
		})
	}
}
