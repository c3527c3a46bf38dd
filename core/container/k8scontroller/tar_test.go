/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuildContext(t *testing.T) {
	pkg := codePackage(t,
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "src/", Mode: 0o755}},
		file("src/main.go", "package main"),
		file("./src/sub/../other.go", "package other"),
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "src/link.go", Linkname: "main.go"}},
		tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "src/hard.go", Linkname: "src/main.go"}},
	)
	out, err := buildContext(bytes.NewReader(pkg), "FROM baseos\n", 1024)
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
		}, 1024, "absolute symlink target"},
		{"escaping symlink", func(t *testing.T) []byte {
			return codePackage(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "src/l", Linkname: "../../x"}})
		}, 1024, "escapes the package"},
		{"escaping hard link", func(t *testing.T) []byte {
			return codePackage(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "src/l", Linkname: "../x"}})
		}, 1024, "hard link target"},
		{"device", func(t *testing.T) []byte {
			return codePackage(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "src/dev", Devmajor: 1, Devminor: 3}})
		}, 1024, "unsupported entry type"},
		{"fifo", func(t *testing.T) []byte {
			return codePackage(t, tarEntry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "src/fifo"}})
		}, 1024, "unsupported entry type"},
		{"oversized", func(t *testing.T) []byte {
			return codePackage(t, file("src/a", strings.Repeat("a", 600)), file("src/b", strings.Repeat("b", 600)))
		}, 1024, "exceeds the size limit of 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildContext(bytes.NewReader(tt.pkg(t)), "FROM x", tt.max)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
