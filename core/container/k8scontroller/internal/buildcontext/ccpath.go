/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package buildcontext

import (
	"strings"
	"unicode"

	"github.com/pkg/errors"
	"golang.org/x/mod/module"
)

// shellMetacharacters could end, chain or substitute a shell command.
const shellMetacharacters = "$`;|&<>'\""

// CheckChaincodePath vets the path p of a package's metadata.json, for a
// chaincode of type ccType as Fabric names it ("GOLANG", "NODE", "JAVA"),
// before it reaches the platform's build options. Fabric's golang platform
// pastes it, unquoted and inside double quotes, into the shell script run in
// the build pod (go build ... <path>), so it must be a Go import path, which
// has no shell syntax and cannot start with "-". The node and java platforms
// do not use it in their scripts; it is still refused there if it holds a
// control character or a shell metacharacter, so that no future use of it
// can inject commands.
func CheckChaincodePath(ccType, p string) error {
	if ccType == "GOLANG" {
		err := module.CheckImportPath(p)
		var invalid *module.InvalidPathError
		if errors.As(err, &invalid) {
			err = invalid.Err
		}
		if err != nil {
			return errors.Errorf("path %q is not a valid Go import path: %s", p, err)
		}
		return nil
	}
	for _, r := range p {
		if unicode.IsControl(r) || strings.ContainsRune(shellMetacharacters, r) {
			return errors.Errorf("path %q has the character %q", p, r)
		}
	}
	if strings.HasPrefix(p, "-") {
		return errors.Errorf("path %q starts with \"-\"", p)
	}
	return nil
}
