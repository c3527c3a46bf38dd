/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"archive/tar"
	"compress/gzip"
	"io"

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

// writeBuildContext validates the gzip-compressed tar code package and writes
// to w the uncompressed tar stream that the build pod's receive container
// extracts into /chaincode: the package under input/, empty output/ and
// context/ directories, and context/Dockerfile. maxSize bounds the
// uncompressed size of the package, headers included. The output is a
// function of the input only, so running it again yields the same bytes.
func writeBuildContext(w io.Writer, code io.Reader, dockerfile string, maxSize int64) error {
	gz, err := gzip.NewReader(code)
	if err != nil {
		return errors.Wrap(err, "code package is not gzip-compressed")
	}
	defer gz.Close()

	tw := tar.NewWriter(w)
	for _, dir := range []string{inputDir, outputDir, contextDir} {
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
		Name:     contextDir + "/" + dockerfileName,
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
