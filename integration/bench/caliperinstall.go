/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// caliperInstalled is an install of integration/bench/caliper's packages.
type caliperInstalled struct {
	// Dir holds package.json, package-lock.json and node_modules.
	Dir string
	// Caliper and Gateway are the installed versions of caliper-cli and
	// fabric-gateway.
	Caliper, Gateway string
	// Took is how long npm ci ran; 0 when the install was there already.
	Took time.Duration
}

// Summary says how the install came about.
func (i caliperInstalled) Summary() string {
	if i.Took == 0 {
		return "cached, " + filepath.Base(i.Dir)
	}
	return fmt.Sprintf("npm ci in %.1f s, %s", i.Took.Seconds(), filepath.Base(i.Dir))
}

// caliperInstallKey names an install after package.json and
// package-lock.json: a changed lockfile gets an install of its own.
func caliperInstallKey(src string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return "lock-" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// caliperInstall returns the install of src's lockfile under cache, running
// `npm ci` into a fresh directory first when there is none: into
// <cache>/<key>.tmp-*, renamed to <cache>/<key> once complete, so that an
// interrupted install is never taken for one. Install scripts do not run
// (--ignore-scripts): the Fabric connector needs none, and the native
// builds of Caliper's other connectors would only cost time. npm's output
// goes to logPath.
func caliperInstall(ctx context.Context, src, cache, logPath string) (caliperInstalled, error) {
	key, err := caliperInstallKey(src)
	if err != nil {
		return caliperInstalled{}, err
	}
	inst := caliperInstalled{Dir: filepath.Join(cache, key)}
	if _, err := os.Stat(filepath.Join(inst.Dir, ".installed")); err == nil {
		return inst.versions()
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return inst, err
	}
	removeStaleInstalls(cache, time.Hour)
	tmp, err := os.MkdirTemp(cache, key+".tmp-")
	if err != nil {
		return inst, err
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	if err := os.Chmod(tmp, 0o755); err != nil {
		return inst, err
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return inst, err
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			return inst, err
		}
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return inst, err
	}
	defer logFile.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir = tmp
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Run(); err != nil {
		return inst, fmt.Errorf("npm ci in %s: %w: %s", tmp, err, tailFile(logPath, 8))
	}
	inst.Took = time.Since(start)
	stamp := fmt.Sprintf("npm ci took %s\n", inst.Took.Round(time.Millisecond))
	if err := os.WriteFile(filepath.Join(tmp, ".installed"), []byte(stamp), 0o644); err != nil {
		return inst, err
	}
	if err := os.Rename(tmp, inst.Dir); err != nil {
		// Another run may have completed the same install meanwhile.
		if _, serr := os.Stat(filepath.Join(inst.Dir, ".installed")); serr != nil {
			return inst, err
		}
	}
	return inst.versions()
}

// versions reads the installed versions of caliper-cli and fabric-gateway
// (which also proves that both are there).
func (i caliperInstalled) versions() (caliperInstalled, error) {
	for _, p := range []struct {
		pkg string
		dst *string
	}{{"@hyperledger/caliper-cli", &i.Caliper}, {"@hyperledger/fabric-gateway", &i.Gateway}} {
		b, err := os.ReadFile(filepath.Join(i.Dir, "node_modules", filepath.FromSlash(p.pkg), "package.json"))
		if err != nil {
			return i, fmt.Errorf("install %s is incomplete: %w", i.Dir, err)
		}
		var m struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.Version == "" {
			return i, fmt.Errorf("%s: no version in its package.json (%v)", p.pkg, err)
		}
		*p.dst = m.Version
	}
	return i, nil
}

// removeStaleInstalls removes the temporary directories of installs that
// were interrupted (older than age).
func removeStaleInstalls(cache string, age time.Duration) {
	entries, err := os.ReadDir(cache)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.Contains(e.Name(), ".tmp-") {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			if err := os.RemoveAll(filepath.Join(cache, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				step("caliper: cannot remove %s: %v", e.Name(), err)
			}
		}
	}
}
