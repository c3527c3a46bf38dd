/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package buildcontext

import (
	"archive/tar"
	"compress/gzip"
	"io"

	"github.com/pkg/errors"
)

// Layout of the build context, the tar stream that the build pod extracts
// into its shared work directory. The code package lands in InputDir exactly
// where Fabric's DockerBuild uploads it, the platform's build command writes
// OutputDir, and Kaniko builds ContextDir, which holds DockerfileName.
const (
	InputDir       = "input"
	OutputDir      = "output"
	ContextDir     = "context"
	DockerfileName = "Dockerfile"
)

// writeBuildContext validates the gzip-compressed tar code package and writes
// to w the uncompressed tar stream that the build pod's receive container
// extracts into its work directory: the package under InputDir, empty
// OutputDir and ContextDir directories, and the Dockerfile in ContextDir. maxSize bounds the
// uncompressed size of the package, headers included. The output is a
// function of the input only, so running it again yields the same bytes.
func writeBuildContext(w io.Writer, code io.Reader, dockerfile string, maxSize int64) error {
	gz, err := gzip.NewReader(code)
	if err != nil {
		return errors.Wrap(err, "code package is not gzip-compressed")
	}
	defer gz.Close()

	tw := tar.NewWriter(w)
	for _, dir := range []string{InputDir, OutputDir, ContextDir} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}); err != nil {
			return errors.Wrap(err, "cannot write build context")
		}
	}

	check := newPackageChecker(maxSize)
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return errors.Wrap(err, "code package is not a valid tar archive")
		}
		entry, err := check.entry(hdr)
		if err != nil {
			return err
		}
		if entry == nil {
			continue
		}
		if err := tw.WriteHeader(entry); err != nil {
			return errors.Wrapf(err, "cannot re-pack %q", hdr.Name)
		}
		if entry.Typeflag == tar.TypeReg {
			if _, err := io.CopyN(tw, tr, entry.Size); err != nil {
				return errors.Wrapf(err, "cannot read %q from code package", hdr.Name)
			}
		}
	}
	if err := check.finish(); err != nil {
		return err
	}

	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     ContextDir + "/" + DockerfileName,
		Mode:     0o644,
		Size:     int64(len(dockerfile)),
	}); err != nil {
		return errors.Wrap(err, "cannot write Dockerfile")
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return errors.Wrap(err, "cannot write Dockerfile")
	}
	return errors.Wrap(tw.Close(), "cannot write build context")
}
