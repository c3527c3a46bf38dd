/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package testkit

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"reflect"
	"testing"
)

// untar reads the gzipped tar b back as entries.
func untar(t *testing.T, b []byte) []TarEntry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []TarEntry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			if hdr.Mode != 0o644 || hdr.Size != int64(len(body)) {
				t.Errorf("%s: mode %o, size %d for %d bytes", hdr.Name, hdr.Mode, hdr.Size, len(body))
			}
		case tar.TypeSymlink:
			if hdr.Mode != 0o777 {
				t.Errorf("%s: symlink mode %o", hdr.Name, hdr.Mode)
			}
		default:
			t.Errorf("%s: type %c", hdr.Name, hdr.Typeflag)
		}
		out = append(out, TarEntry{Name: hdr.Name, Body: string(body), Link: hdr.Linkname})
	}
}

func TestGzipTarRoundTrip(t *testing.T) {
	in := []TarEntry{
		{Name: "src/main.go", Body: "package main\n\nfunc main() {}\n"},
		{Name: "empty"},
		{Name: "src/evil", Link: "../../etc/passwd"},
	}
	b, err := GzipTar(in...)
	if err != nil {
		t.Fatal(err)
	}
	if got := untar(t, b); !reflect.DeepEqual(got, in) {
		t.Errorf("GzipTar read back as %+v, want %+v", got, in)
	}
}

func TestK8sPackage(t *testing.T) {
	index := TarEntry{Name: "META-INF/statedb/couchdb/indexes/i.json", Body: "{}"}
	b, err := K8sPackage("kv_1", "registry.example/kv", "sha256:abc", index)
	if err != nil {
		t.Fatal(err)
	}
	pkg := untar(t, b)
	if len(pkg) != 2 || pkg[0].Name != "metadata.json" || pkg[1].Name != "code.tar.gz" {
		t.Fatalf("package entries %+v: want metadata.json and code.tar.gz", pkg)
	}
	var md map[string]string
	if err := json.Unmarshal([]byte(pkg[0].Body), &md); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"type": "k8s", "label": "kv_1"}; !reflect.DeepEqual(md, want) {
		t.Errorf("metadata.json %v, want %v", md, want)
	}
	code := untar(t, []byte(pkg[1].Body))
	want := []TarEntry{{Name: "image.json", Body: `{"digest":"sha256:abc","name":"registry.example/kv"}`}, index}
	if !reflect.DeepEqual(code, want) {
		t.Errorf("code.tar.gz %+v, want %+v", code, want)
	}
}
