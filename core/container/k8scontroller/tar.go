/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"path"
	"strings"

	"github.com/pkg/errors"
)

// Layout of the build pod's shared /chaincode volume. The code package lands
// in input/ exactly where Fabric's DockerBuild uploads it, the platform's
// build command writes output/, and Kaniko builds context/.
const (
	workDir        = "/chaincode"
	inputDir       = "input"
	outputDir      = "output"
	contextDir     = "context"
	dockerfileName = "Dockerfile"
	binPackageName = "binpackage.tar"
)

// buildContext validates the gzip-compressed tar code package and re-packs it
// into the uncompressed tar stream that the build pod's receive container
// extracts into /chaincode: the package under input/, empty output/ and
// context/ directories, and context/Dockerfile.
func buildContext(code io.Reader, dockerfile string, maxSize int64) ([]byte, error) {
	gz, err := gzip.NewReader(code)
	if err != nil {
		return nil, errors.Wrap(err, "code package is not gzip-compressed")
	}
	defer gz.Close()

	out := &bytes.Buffer{}
	tw := tar.NewWriter(out)
	for _, dir := range []string{inputDir, outputDir, contextDir} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}); err != nil {
			return nil, errors.Wrap(err, "cannot write build context")
		}
	}

	tr := tar.NewReader(gz)
	var total int64
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, errors.Wrap(err, "code package is not a valid tar archive")
		}
		entry, err := sanitizeEntry(hdr)
		if err != nil {
			return nil, err
		}
		if entry == nil {
			continue
		}
		total += hdr.Size
		if total > maxSize {
			return nil, errors.Errorf("code package exceeds the size limit of %d bytes", maxSize)
		}
		if err := tw.WriteHeader(entry); err != nil {
			return nil, errors.Wrapf(err, "cannot re-pack %q", hdr.Name)
		}
		if entry.Typeflag == tar.TypeReg {
			if _, err := io.CopyN(tw, tr, hdr.Size); err != nil {
				return nil, errors.Wrapf(err, "cannot read %q from code package", hdr.Name)
			}
		}
	}

	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     contextDir + "/" + dockerfileName,
		Mode:     0o644,
		Size:     int64(len(dockerfile)),
	}); err != nil {
		return nil, errors.Wrap(err, "cannot write Dockerfile")
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return nil, errors.Wrap(err, "cannot write Dockerfile")
	}
	if err := tw.Close(); err != nil {
		return nil, errors.Wrap(err, "cannot write build context")
	}
	return out.Bytes(), nil
}

// sanitizeEntry returns the header to write below input/, nil to skip the
// entry, or an error for entries that could escape the input directory.
func sanitizeEntry(hdr *tar.Header) (*tar.Header, error) {
	name, err := cleanRelative(hdr.Name)
	if err != nil {
		return nil, errors.WithMessagef(err, "code package entry %q", hdr.Name)
	}
	out := &tar.Header{
		Name:    inputDir + "/" + name,
		Mode:    hdr.Mode & 0o777,
		ModTime: hdr.ModTime,
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA appears in old archives
		out.Typeflag = tar.TypeReg
		out.Size = hdr.Size
	case tar.TypeDir:
		out.Typeflag = tar.TypeDir
		out.Name += "/"
	case tar.TypeSymlink:
		if path.IsAbs(hdr.Linkname) {
			return nil, errors.Errorf("code package entry %q: absolute symlink target %q", hdr.Name, hdr.Linkname)
		}
		if _, err := cleanRelative(path.Join(path.Dir(name), hdr.Linkname)); err != nil {
			return nil, errors.Errorf("code package entry %q: symlink target %q escapes the package", hdr.Name, hdr.Linkname)
		}
		out.Typeflag = tar.TypeSymlink
		out.Linkname = hdr.Linkname
	case tar.TypeLink:
		target, err := cleanRelative(hdr.Linkname)
		if err != nil {
			return nil, errors.Errorf("code package entry %q: hard link target %q escapes the package", hdr.Name, hdr.Linkname)
		}
		out.Typeflag = tar.TypeLink
		out.Linkname = inputDir + "/" + target
	case tar.TypeXGlobalHeader:
		return nil, nil
	default:
		return nil, errors.Errorf("code package entry %q: unsupported entry type %q", hdr.Name, string(hdr.Typeflag))
	}
	if name == "." {
		return nil, nil
	}
	return out, nil
}

// cleanRelative cleans a slash-separated archive path and rejects absolute
// paths and paths leaving the archive root.
func cleanRelative(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if path.IsAbs(p) || strings.HasPrefix(p, `\`) {
		return "", errors.New("absolute path")
	}
	clean := path.Clean(p)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", errors.New("path traversal")
	}
	return clean, nil
}
