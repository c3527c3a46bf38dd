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

	"github.com/stretchr/testify/require"
)

// buildContext returns the build context writeBuildContext writes.
func buildContext(code io.Reader, dockerfile string, maxSize int64) ([]byte, error) {
	out := &bytes.Buffer{}
	err := writeBuildContext(out, code, dockerfile, maxSize)
	return out.Bytes(), err
}

func TestBuildContext(t *testing.T) {
	pkg := codePackage(t,
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "src/", Mode: 0o755}},
		file("src/main.go", "package main"),
		file("./src/sub/../other.go", "package other"),
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "src/link.go", Linkname: "main.go"}},
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "src/hard.go", Linkname: "src/main.go"}},
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
	}, tarFiles(t, out))

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
		{"not tar", func(*testing.T) []byte { return gzipped(t, strings.Repeat("x", 1024)) }, 1024, "not a valid tar archive"},
		{"absolute", func(t *testing.T) []byte { return codePackage(t, file("/etc/passwd", "x")) }, 1024, `"/etc/passwd": absolute path`},
		{"traversal", func(t *testing.T) []byte { return codePackage(t, file("src/../../evil", "x")) }, 1024, `"src/../../evil": path traversal`},
		{"absolute symlink", func(t *testing.T) []byte {
			return codePackage(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "src/l", Linkname: "/etc/shadow"}})
		}, 1024, `"src/l": symlink target "/etc/shadow" is absolute`},
		{"escaping symlink", func(t *testing.T) []byte {
			return codePackage(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "src/l", Linkname: "../../x"}})
		}, 1024, `"src/l": symlink target "../../x" resolves outside the package`},
		{"escaping hard link", func(t *testing.T) []byte {
			return codePackage(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "src/l", Linkname: "../x"}})
		}, 1024, `"src/l": hard link target "../x": path traversal`},
		{"device", func(t *testing.T) []byte {
			return codePackage(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "src/dev", Devmajor: 1, Devminor: 3}})
		}, 1024, "unsupported entry type"},
		{"fifo", func(t *testing.T) []byte {
			return codePackage(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "src/fifo"}})
		}, 1024, "unsupported entry type"},
		{"oversized", func(t *testing.T) []byte {
			return codePackage(t, file("src/a", strings.Repeat("a", 600)), file("src/b", strings.Repeat("b", 600)))
		}, 2048, "exceeds the size limit of 2048 bytes"},
		{"many empty entries", func(t *testing.T) []byte {
			entries := make([]tarEntry, 100)
			for i := range entries {
				entries[i] = dir(fmt.Sprintf("d%d/", i))
			}
			return codePackage(t, entries...)
		}, 1 << 14, "exceeds the size limit of 16384 bytes"},
		{"root as a file", func(t *testing.T) []byte { return codePackage(t, file(".", "x")) }, 1024, `".": names the package root`},
		{"too deep", func(t *testing.T) []byte {
			return codePackage(t, file(strings.Repeat("d/", maxEntryDepth)+"f", "x"))
		}, 1024, "more than 128 path elements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildContext(bytes.NewReader(tt.pkg(t)), "FROM x", tt.max)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func symlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target}}
}

func hardlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

func dir(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

// escapeCases are archives whose every entry looks harmless on its own but
// which, extracted in order, put a file or a link outside the input directory.
var escapeCases = []struct {
	name    string
	entries []tarEntry
	wantErr string
}{
	{"link to root then dot-dot through it",
		[]tarEntry{symlink("a", "."), symlink("b", "a/..")},
		`code package entry "b": symlink target "a/.." goes up after a path element`},
	{"dot-dot through a link declared later",
		[]tarEntry{symlink("b", "a/../x"), symlink("a", ".")},
		`code package entry "b": symlink target "a/../x" goes up after a path element`},
	{"chain of parent links",
		[]tarEntry{dir("d/"), symlink("d/l1", ".."), symlink("d/l1/l2", "..")},
		`code package entry "d/l1/l2": parent "d/l1" is a symlink`},
	{"file written through a link",
		[]tarEntry{symlink("link", "."), symlink("link/up", ".."), file("link/up/evil", "x")},
		`code package entry "link/up": parent "link" is a symlink`},
	{"file written through an escaping link",
		[]tarEntry{symlink("src/link", "../.."), file("src/link/evil", "x")},
		`code package entry "src/link": symlink target "../.." resolves outside the package`},
	{"directory through a link",
		[]tarEntry{symlink("x", "."), dir("x/y/")},
		`code package entry "x/y/": parent "x" is a symlink`},
	{"dot-dot after a link in a chain",
		[]tarEntry{dir("d/"), symlink("d/l", ".."), symlink("m", "d/l/..")},
		`code package entry "m": symlink target "d/l/.." goes up after a path element`},
	{"link loop",
		[]tarEntry{symlink("a", "b"), symlink("b", "a")},
		`code package entry "b": symlink target "a" needs too many levels of symlinks`},
	{"hard link through a symlink",
		[]tarEntry{symlink("s", ".."), hardlink("h", "s/etc/passwd")},
		`code package entry "s": symlink target ".." resolves outside the package`},
	{"hard link to a symlink's path",
		[]tarEntry{dir("d/"), symlink("d/s", "."), hardlink("h", "d/s/../../etc/passwd")},
		`code package entry "h": hard link target "d/s/../../etc/passwd"`},
	{"hard link to a directory",
		[]tarEntry{dir("d/"), hardlink("h", "d")},
		`code package entry "h": hard link target "d" is not an earlier regular file`},
	{"hard link to a later file",
		[]tarEntry{hardlink("h", "f"), file("f", "x")},
		`code package entry "h": hard link target "f" is not an earlier regular file`},
	{"file replacing a symlink",
		[]tarEntry{symlink("s", "t"), file("s", "x")},
		`code package entry "s": replaces a symlink`},
}

func TestBuildContextRefusesLinkEscapes(t *testing.T) {
	for _, tt := range escapeCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildContext(bytes.NewReader(codePackage(t, tt.entries...)), "FROM x", 1<<20)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestBuildContextAcceptsLinks(t *testing.T) {
	pkg := codePackage(t,
		dir("src/"),
		file("src/node_modules/pkg/bin/cli.js", "x"),
		symlink("src/node_modules/.bin/cli", "../pkg/bin/cli.js"),
		symlink("src/self", "."),
		symlink("src/up", "./../src/node_modules"),
		symlink("src/via", "self/node_modules/pkg"),
		file("src/main.go", "package main"),
		hardlink("src/h1", "src/main.go"),
		hardlink("src/h2", "./src/h1"),
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
