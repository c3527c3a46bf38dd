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
)

// TarEntry is one entry of an archive GzipTar writes: a regular file
// holding Body (mode 0644), or, when Link is set, a symbolic link to Link
// (mode 0777).
type TarEntry struct {
	Name, Body, Link string
}

// GzipTar returns a gzipped tar archive of entries, in their order.
func GzipTar(entries ...TarEntry) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.Name, Mode: 0o644, Size: int64(len(e.Body))}
		if e.Link != "" {
			hdr = &tar.Header{Typeflag: tar.TypeSymlink, Name: e.Name, Mode: 0o777, Linkname: e.Link}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if e.Link == "" {
			if _, err := io.WriteString(tw, e.Body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ChaincodePackage returns a chaincode package laid out as `peer lifecycle
// chaincode package` lays it out: a gzipped tar of metadata.json (metadata
// as a JSON object) and code.tar.gz (a gzipped tar of code). It takes any
// metadata and code, so that packages the CLI cannot make can be tried.
func ChaincodePackage(metadata map[string]string, code ...TarEntry) ([]byte, error) {
	codeTgz, err := GzipTar(code...)
	if err != nil {
		return nil, err
	}
	md, err := json.Marshal(metadata)
	if err != nil {
		return nil, err
	}
	return GzipTar(TarEntry{Name: "metadata.json", Body: string(md)}, TarEntry{Name: "code.tar.gz", Body: string(codeTgz)})
}

// K8sPackage returns a chaincode package of type k8s as fabric-builder-k8s
// documents it (`tar -czf code.tar.gz image.json`, metadata.json {"type":
// "k8s", "label": label}): image.json names the image imageName@digest;
// extra entries follow it in code.tar.gz. Fabric's CLI cannot make it
// (`peer lifecycle chaincode package --lang k8s` knows no platform k8s).
func K8sPackage(label, imageName, digest string, extra ...TarEntry) ([]byte, error) {
	imageJSON, err := json.Marshal(map[string]string{"name": imageName, "digest": digest})
	if err != nil {
		return nil, err
	}
	code := append([]TarEntry{{Name: "image.json", Body: string(imageJSON)}}, extra...)
	return ChaincodePackage(map[string]string{"type": "k8s", "label": label}, code...)
}
