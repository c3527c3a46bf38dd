/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package buildcontext

import (
	"archive/tar"
	"bytes"
	"io"
	"path"
	"strings"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext/buildcontexttest"
)

// fuzzMaxSize keeps every fuzzed conversion small.
const fuzzMaxSize = 64 << 10

func FuzzBuildContext(f *testing.F) {
	seed := func(entries ...buildcontexttest.Entry) { f.Add(buildcontexttest.CodePackage(f, entries...)) }
	seed(buildcontexttest.File("src/main.go", "package main"))
	seed(buildcontexttest.File("../x", "x"))
	seed(buildcontexttest.File("a/../../x", "x"))
	seed(buildcontexttest.File("/etc/passwd", "x"))
	seed(buildcontexttest.File(`\x`, "x"))
	for _, c := range escapeCases {
		seed(c.entries...)
	}
	seed(buildcontexttest.File("f", "x"), buildcontexttest.HardLink("h1", "f"), buildcontexttest.HardLink("h2", "h1"), buildcontexttest.HardLink("h3", "../h2"))
	seed(buildcontexttest.Entry{Header: tar.Header{Typeflag: tar.TypeChar, Name: "c", Devmajor: 1, Devminor: 3}})
	seed(buildcontexttest.Entry{Header: tar.Header{Typeflag: tar.TypeBlock, Name: "b", Devmajor: 8}})
	seed(buildcontexttest.Entry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "p"}})
	f.Add(buildcontexttest.Gzipped(f, "00000000000000000000000000000030 path="+strings.Repeat("x", 1<<20)+"\n")) // garbage header
	f.Add(buildcontexttest.Gzipped(f, strings.Repeat("\xff", 1024)))
	f.Add(buildcontexttest.Gzipped(f, strings.Repeat("\x00", 4<<20))) // expands far past the limit
	bomb := buildcontexttest.CodePackage(f, buildcontexttest.File("zeros", strings.Repeat("\x00", 2*fuzzMaxSize)))
	f.Add(bomb)
	f.Add(bomb[:len(bomb)/2]) // truncated gzip
	f.Add([]byte("not gzip at all"))

	f.Fuzz(func(t *testing.T, data []byte) {
		out := &bytes.Buffer{}
		if err := writeBuildContext(out, bytes.NewReader(data), "FROM x", fuzzMaxSize); err != nil {
			return
		}
		if out.Len() > 4*fuzzMaxSize+64<<10 {
			t.Fatalf("accepted package produced %d bytes", out.Len())
		}
		checkContained(t, out.Bytes())
	})
}

// checkContained re-parses an accepted build context and fails if any entry
// or link leaves its directory.
func checkContained(t *testing.T, data []byte) {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("output is not a valid tar stream: %s", err)
		}
		name := path.Clean(hdr.Name)
		top := strings.SplitN(name, "/", 2)[0]
		if top != InputDir && top != OutputDir && top != ContextDir {
			t.Fatalf("entry %q outside the layout", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			target := path.Join(path.Dir(name), hdr.Linkname)
			if target != InputDir && !strings.HasPrefix(target, InputDir+"/") {
				t.Fatalf("symlink %q -> %q leaves %s/", hdr.Name, hdr.Linkname, InputDir)
			}
		case tar.TypeLink:
			if !strings.HasPrefix(path.Clean(hdr.Linkname), InputDir+"/") {
				t.Fatalf("hard link %q -> %q leaves %s/", hdr.Name, hdr.Linkname, InputDir)
			}
		case tar.TypeReg, tar.TypeDir:
		default:
			t.Fatalf("entry %q has type %q", hdr.Name, string(hdr.Typeflag))
		}
	}
}
