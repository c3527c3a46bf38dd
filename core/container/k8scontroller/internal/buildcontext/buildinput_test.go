/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package buildcontext

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/internal/buildcontext/buildcontexttest"
	"github.com/stretchr/testify/require"
)

func TestBuildInputStreamsValidatedLayout(t *testing.T) {
	pkg := buildcontexttest.CodePackage(t,
		buildcontexttest.Dir("src/"),
		buildcontexttest.File("src/main.go", strings.Repeat("package main\n", 1000)),
		buildcontexttest.Symlink("src/link.go", "main.go"),
		buildcontexttest.HardLink("src/hard.go", "src/main.go"),
		buildcontexttest.File("META-INF/statedb/couchdb/indexes/index.json", "{}"),
	)
	validated, err := buildContext(bytes.NewReader(pkg), "FROM x\n", 1<<20)
	require.NoError(t, err)

	in, err := NewInput(bytes.NewReader(pkg), "FROM x\n", 1<<20)
	require.NoError(t, err)
	require.Equal(t, pkg, in.code, "only the compressed package is held")

	for i := 0; i < 2; i++ { // a retried build streams the same bytes again
		stream := in.Open()
		streamed, err := io.ReadAll(stream)
		require.NoError(t, err)
		require.NoError(t, stream.Close())
		require.Equal(t, validated, streamed)
	}
	require.Equal(t, strings.Repeat("package main\n", 1000), buildcontexttest.Files(t, validated)["input/src/main.go"])

	// a reader that stops early ends the conversion
	stream := in.Open()
	_, err = io.ReadFull(stream, make([]byte, 512))
	require.NoError(t, err)
	require.NoError(t, stream.Close())
}

func TestNewBuildInputRejects(t *testing.T) {
	noise := make([]byte, compressedLimit(1024)+1)
	_, err := rand.Read(noise)
	require.NoError(t, err)
	_, err = NewInput(bytes.NewReader(noise), "FROM x", 1024)
	require.EqualError(t, err, fmt.Sprintf("compressed code package exceeds %d bytes", compressedLimit(1024)))

	_, err = NewInput(bytes.NewReader(buildcontexttest.CodePackage(t, buildcontexttest.Symlink("l", ".."))), "FROM x", 1024)
	require.EqualError(t, err, `code package entry "l": symlink target ".." resolves outside the package`)
}

// BenchmarkBuildContext compares holding the re-packed build context for the
// whole build (the former approach) with holding the compressed package and
// streaming the conversion. held-B is what stays in memory while the build
// pod starts, which can take minutes.
func BenchmarkBuildContext(b *testing.B) {
	var src strings.Builder
	for i := 0; src.Len() < 16<<20; i++ {
		fmt.Fprintf(&src, "func f%d(x int) int { return x*%d + %d }\n", i, i%97, i%13)
	}
	entries := []buildcontexttest.Entry{buildcontexttest.Dir("src/")}
	body := src.String()
	for i := 0; i < 16; i++ {
		chunk := body[i*len(body)/16 : (i+1)*len(body)/16]
		entries = append(entries, buildcontexttest.File(fmt.Sprintf("src/f%d.go", i), chunk))
	}
	pkg := buildcontexttest.CodePackage(b, entries...)
	const max = 100 << 20 // the VM's default vm.k8s.maxCodePackageSize
	b.Logf("package: %d bytes compressed, %d bytes of source", len(pkg), len(body))

	b.Run("buffered", func(b *testing.B) {
		b.ReportAllocs()
		var held int
		for i := 0; i < b.N; i++ {
			out, err := buildContext(bytes.NewReader(pkg), "FROM x", max)
			if err != nil {
				b.Fatal(err)
			}
			held = len(out)
		}
		b.ReportMetric(float64(held), "held-B")
	})
	b.Run("streamed", func(b *testing.B) {
		b.ReportAllocs()
		var held int
		for i := 0; i < b.N; i++ {
			in, err := NewInput(bytes.NewReader(pkg), "FROM x", max)
			if err != nil {
				b.Fatal(err)
			}
			stream := in.Open()
			if _, err := io.Copy(io.Discard, stream); err != nil {
				b.Fatal(err)
			}
			stream.Close()
			held = len(in.code)
		}
		b.ReportMetric(float64(held), "held-B")
	})
}
