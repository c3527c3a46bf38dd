/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package buildcontexttest builds chaincode code packages for tests: gzip
// compressed tars of regular files, directories, symbolic and hard links or
// any other header, as a package's code.tar.gz holds them, and reads tar
// streams back.
package buildcontexttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"

	"github.com/stretchr/testify/require"
)

// Entry is one entry of a code package: its header and, for a regular file,
// its content.
type Entry struct {
	Header tar.Header
	Body   string
}

// File is a regular file holding body.
func File(name, body string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, Body: body}
}

// Dir is a directory; by tar's convention its name ends in "/".
func Dir(name string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

// Symlink is a symbolic link to target.
func Symlink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target}}
}

// HardLink is a hard link to target.
func HardLink(name, target string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

// CodePackage returns the entries, in order, as a gzip-compressed tar like a
// chaincode's code.tar.gz.
func CodePackage(t testing.TB, entries ...Entry) []byte {
	t.Helper()
	buf := &bytes.Buffer{}
	gw := gzip.NewWriter(buf)
	tw := tar.NewWriter(gw)
	for _, e := range entries {
		hdr := e.Header
		require.NoError(t, tw.WriteHeader(&hdr))
		if e.Body != "" {
			_, err := tw.Write([]byte(e.Body))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gw.Close())
	return buf.Bytes()
}

// Gzipped returns s gzip-compressed, whatever it holds.
func Gzipped(t testing.TB, s string) []byte {
	t.Helper()
	buf := &bytes.Buffer{}
	gw := gzip.NewWriter(buf)
	_, err := gw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, gw.Close())
	return buf.Bytes()
}

// Files lists the entries of an uncompressed tar stream: their content by
// name. It stops at the first header it cannot read.
func Files(t testing.TB, data []byte) map[string]string {
	t.Helper()
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		body := &bytes.Buffer{}
		_, err = body.ReadFrom(tr)
		require.NoError(t, err)
		files[hdr.Name] = body.String()
	}
	return files
}
