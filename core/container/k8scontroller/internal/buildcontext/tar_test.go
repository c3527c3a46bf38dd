/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package buildcontext

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext/buildcontexttest"
	"github.com/stretchr/testify/require"
)

// buildContext returns the build context writeBuildContext writes.
func buildContext(code io.Reader, dockerfile string, maxSize int64) ([]byte, error) {
	out := &bytes.Buffer{}
	err := writeBuildContext(out, code, dockerfile, maxSize)
	return out.Bytes(), err
}

func TestBuildContext(t *testing.T) {
	pkg := buildcontexttest.CodePackage(t,
		buildcontexttest.Dir("src/"),
		buildcontexttest.File("src/main.go", "package main"),
		buildcontexttest.File("./src/sub/../other.go", "package other"),
		buildcontexttest.Symlink("src/link.go", "main.go"),
		buildcontexttest.HardLink("src/hard.go", "src/main.go"),
	)
	out, err := buildContext(bytes.NewReader(pkg), "FROM baseos\n", 1<<20)
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"input/":             "",
		"output/":            "",
		"context/":           "",
		"input/src/":         "",
		"input/src/main.go":  "package main",
		"input/src/other.go": "package other",
		"input/src/link.go":  "",
		"input/src/hard.go":  "",
		"context/Dockerfile": "FROM baseos\n",
	}, buildcontexttest.Files(t, out))

	tr := tar.NewReader(bytes.NewReader(out))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		switch hdr.Name {
		case "input/src/link.go":
			require.Equal(t, "main.go", hdr.Linkname)
		case "input/src/hard.go":
			require.Equal(t, "input/src/main.go", hdr.Linkname)
		}
	}
}

func TestBuildContextRejects(t *testing.T) {
	tests := []struct {
		name    string
		pkg     func(t *testing.T) []byte
		max     int64
		wantErr string
	}{
		{"not gzip", func(*testing.T) []byte { return []byte("plain text") }, 1024, "code package is not gzip-compressed"},
		{"not tar", func(*testing.T) []byte { return buildcontexttest.Gzipped(t, strings.Repeat("x", 1024)) }, 1024, "not a valid tar archive"},
		{"absolute", func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.File("/etc/passwd", "x"))
		}, 1024, `"/etc/passwd": absolute path`},
		{"traversal", func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.File("src/../../evil", "x"))
		}, 1024, `"src/../../evil": path traversal`},
		{"absolute symlink", func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.Symlink("src/l", "/etc/shadow"))
		}, 1024, `"src/l": symlink target "/etc/shadow" is absolute`},
		{"escaping symlink", func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.Symlink("src/l", "../../x"))
		}, 1024, `"src/l": symlink target "../../x" resolves outside the package`},
		{"escaping hard link", func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.HardLink("src/l", "../x"))
		}, 1024, `"src/l": hard link target "../x": path traversal`},
		{"device", func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.Entry{Header: tar.Header{Typeflag: tar.TypeChar, Name: "src/dev", Devmajor: 1, Devminor: 3}})
		}, 1024, "unsupported entry type"},
		{"fifo", func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.Entry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "src/fifo"}})
		}, 1024, "unsupported entry type"},
		{"oversized", func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.File("src/a", strings.Repeat("a", 600)), buildcontexttest.File("src/b", strings.Repeat("b", 600)))
		}, 2048, "exceeds the size limit of 2048 bytes"},
		{"many empty entries", func(t *testing.T) []byte {
			entries := make([]buildcontexttest.Entry, 100)
			for i := range entries {
				entries[i] = buildcontexttest.Dir(fmt.Sprintf("d%d/", i))
			}
			return buildcontexttest.CodePackage(t, entries...)
		}, 1 << 14, "exceeds the size limit of 16384 bytes"},
		{"root as a file", func(t *testing.T) []byte { return buildcontexttest.CodePackage(t, buildcontexttest.File(".", "x")) }, 1024, `".": names the package root`},
		{"too deep", func(t *testing.T) []byte {
			return buildcontexttest.CodePackage(t, buildcontexttest.File(strings.Repeat("d/", maxEntryDepth)+"f", "x"))
		}, 1024, "more than 128 path elements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildContext(bytes.NewReader(tt.pkg(t)), "FROM x", tt.max)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// escapeCases are archives whose every entry looks harmless on its own but
// which, extracted in order, put a file or a link outside the input directory.
var escapeCases = []struct {
	name    string
	entries []buildcontexttest.Entry
	wantErr string
}{
	{"link to root then dot-dot through it",
		[]buildcontexttest.Entry{buildcontexttest.Symlink("a", "."), buildcontexttest.Symlink("b", "a/..")},
		`code package entry "b": symlink target "a/.." goes up after a path element`},
	{"dot-dot through a link declared later",
		[]buildcontexttest.Entry{buildcontexttest.Symlink("b", "a/../x"), buildcontexttest.Symlink("a", ".")},
		`code package entry "b": symlink target "a/../x" goes up after a path element`},
	{"chain of parent links",
		[]buildcontexttest.Entry{buildcontexttest.Dir("d/"), buildcontexttest.Symlink("d/l1", ".."), buildcontexttest.Symlink("d/l1/l2", "..")},
		`code package entry "d/l1/l2": parent "d/l1" is a symlink`},
	{"file written through a link",
		[]buildcontexttest.Entry{buildcontexttest.Symlink("link", "."), buildcontexttest.Symlink("link/up", ".."), buildcontexttest.File("link/up/evil", "x")},
		`code package entry "link/up": parent "link" is a symlink`},
	{"file written through an escaping link",
		[]buildcontexttest.Entry{buildcontexttest.Symlink("src/link", "../.."), buildcontexttest.File("src/link/evil", "x")},
		`code package entry "src/link": symlink target "../.." resolves outside the package`},
	{"directory through a link",
		[]buildcontexttest.Entry{buildcontexttest.Symlink("x", "."), buildcontexttest.Dir("x/y/")},
		`code package entry "x/y/": parent "x" is a symlink`},
	{"dot-dot after a link in a chain",
		[]buildcontexttest.Entry{buildcontexttest.Dir("d/"), buildcontexttest.Symlink("d/l", ".."), buildcontexttest.Symlink("m", "d/l/..")},
		`code package entry "m": symlink target "d/l/.." goes up after a path element`},
	{"link loop",
		[]buildcontexttest.Entry{buildcontexttest.Symlink("a", "b"), buildcontexttest.Symlink("b", "a")},
		`code package entry "b": symlink target "a" needs too many levels of symlinks`},
	{"hard link through a symlink",
		[]buildcontexttest.Entry{buildcontexttest.Symlink("s", ".."), buildcontexttest.HardLink("h", "s/etc/passwd")},
		`code package entry "s": symlink target ".." resolves outside the package`},
	{"hard link to a symlink's path",
		[]buildcontexttest.Entry{buildcontexttest.Dir("d/"), buildcontexttest.Symlink("d/s", "."), buildcontexttest.HardLink("h", "d/s/../../etc/passwd")},
		`code package entry "h": hard link target "d/s/../../etc/passwd"`},
	{"hard link to a directory",
		[]buildcontexttest.Entry{buildcontexttest.Dir("d/"), buildcontexttest.HardLink("h", "d")},
		`code package entry "h": hard link target "d" is not an earlier regular file`},
	{"hard link to a later file",
		[]buildcontexttest.Entry{buildcontexttest.HardLink("h", "f"), buildcontexttest.File("f", "x")},
		`code package entry "h": hard link target "f" is not an earlier regular file`},
	{"file replacing a symlink",
		[]buildcontexttest.Entry{buildcontexttest.Symlink("s", "t"), buildcontexttest.File("s", "x")},
		`code package entry "s": replaces a symlink`},
}

func TestBuildContextRefusesLinkEscapes(t *testing.T) {
	for _, tt := range escapeCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildContext(bytes.NewReader(buildcontexttest.CodePackage(t, tt.entries...)), "FROM x", 1<<20)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestBuildContextAcceptsLinks(t *testing.T) {
	pkg := buildcontexttest.CodePackage(t,
		buildcontexttest.Dir("src/"),
		buildcontexttest.File("src/node_modules/pkg/bin/cli.js", "x"),
		buildcontexttest.Symlink("src/node_modules/.bin/cli", "../pkg/bin/cli.js"),
		buildcontexttest.Symlink("src/self", "."),
		buildcontexttest.Symlink("src/up", "./../src/node_modules"),
		buildcontexttest.Symlink("src/via", "self/node_modules/pkg"),
		buildcontexttest.File("src/main.go", "package main"),
		buildcontexttest.HardLink("src/h1", "src/main.go"),
		buildcontexttest.HardLink("src/h2", "./src/h1"),
	)
	out, err := buildContext(bytes.NewReader(pkg), "FROM x", 1<<20)
	require.NoError(t, err)
	links := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if hdr.Linkname != "" {
			links[hdr.Name] = hdr.Linkname
		}
	}
	require.Equal(t, map[string]string{
		"input/src/node_modules/.bin/cli": "../pkg/bin/cli.js",
		"input/src/self":                  ".",
		"input/src/up":                    "./../src/node_modules",
		"input/src/via":                   "self/node_modules/pkg",
		"input/src/h1":                    "input/src/main.go",
		"input/src/h2":                    "input/src/h1",
	}, links)
}
