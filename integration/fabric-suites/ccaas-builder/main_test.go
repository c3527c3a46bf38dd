/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func TestDetect(t *testing.T) {
	for typ, want := range map[string]bool{"ccaas": true, "CCaaS": true, "golang": false, "binary": false} {
		t.Run(typ, func(t *testing.T) {
			meta := t.TempDir()
			write(t, filepath.Join(meta, "metadata.json"), `{"type":"`+typ+`","label":"x"}`)
			err := run("detect", []string{t.TempDir(), meta})
			require.Equal(t, want, err == nil, "%v", err)
		})
	}
}

func TestBuildAndRelease(t *testing.T) {
	src, meta, out, rel := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	conn := `{"address":"127.0.0.1:9999","dial_timeout":"10s","tls_required":false}`
	write(t, filepath.Join(src, "connection.json"), conn)
	write(t, filepath.Join(src, "META-INF", "statedb", "couchdb", "indexes", "i.json"), `{"index":{}}`)
	require.NoError(t, run("build", []string{src, meta, out}))
	require.NoError(t, run("release", []string{out, rel}))

	got, err := os.ReadFile(filepath.Join(rel, "chaincode", "server", "connection.json"))
	require.NoError(t, err)
	require.JSONEq(t, conn, string(got))
	require.FileExists(t, filepath.Join(rel, "statedb", "couchdb", "indexes", "i.json"))
}

func TestReleaseWithoutIndexes(t *testing.T) {
	src, out, rel := t.TempDir(), t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "connection.json"), `{"address":"127.0.0.1:9999"}`)
	require.NoError(t, run("build", []string{src, t.TempDir(), out}))
	require.NoError(t, run("release", []string{out, rel}))
	require.FileExists(t, filepath.Join(rel, "chaincode", "server", "connection.json"))
	require.NoDirExists(t, filepath.Join(rel, "statedb"))
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "noaddr", "connection.json"), `{"dial_timeout":"10s"}`)
	write(t, filepath.Join(dir, "badjson", "connection.json"), `{`)
	write(t, filepath.Join(dir, "badmeta", "metadata.json"), `[`)
	for name, tc := range map[string]struct {
		step string
		args []string
		want string
	}{
		"unknown step":       {"launch", nil, `run as detect, build or release, not "launch"`},
		"argument count":     {"build", []string{dir}, "1 arguments, want 3"},
		"no metadata.json":   {"detect", []string{dir, t.TempDir()}, "metadata.json"},
		"bad metadata.json":  {"detect", []string{dir, filepath.Join(dir, "badmeta")}, "metadata.json:"},
		"no connection.json": {"build", []string{t.TempDir(), dir, t.TempDir()}, "the code package has no connection.json"},
		"no address":         {"build", []string{filepath.Join(dir, "noaddr"), dir, t.TempDir()}, "connection.json has no address"},
		"bad connection":     {"build", []string{filepath.Join(dir, "badjson"), dir, t.TempDir()}, "connection.json:"},
		"release unbuilt":    {"release", []string{t.TempDir(), t.TempDir()}, "connection.json"},
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorContains(t, run(tc.step, tc.args), tc.want)
		})
	}
}
