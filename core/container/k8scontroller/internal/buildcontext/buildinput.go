/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package buildcontext

import (
	"bytes"
	"io"

	"github.com/pkg/errors"
)

// Input is a validated code package waiting to be streamed into a build
// pod. It holds only the compressed package as Fabric handed it; the
// uncompressed build context is produced again while it is streamed. Of the
// VM's requests for one image only the one that resolves it reads the
// package into an Input (k8scontroller's resolveImage).
type Input struct {
	code       []byte // the gzip-compressed code package
	dockerfile string
	maxSize    int64
}

// compressedLimit bounds the compressed code package read into memory: a
// package within maxSize uncompressed compresses to at most slightly more
// than maxSize (gzip's stored blocks add a few bytes per 64 KiB).
func compressedLimit(maxSize int64) int64 {
	return maxSize + maxSize/64 + 64<<10
}

// NewInput reads the gzip-compressed tar code package and validates it
// completely, so that a bad package fails before anything is created.
// dockerfile becomes the Dockerfile of the build context; maxSize bounds the
// uncompressed size of the package, tar headers included.
func NewInput(code io.Reader, dockerfile string, maxSize int64) (*Input, error) {
	limit := compressedLimit(maxSize)
	data, err := io.ReadAll(io.LimitReader(code, limit+1))
	if err != nil {
		return nil, errors.Wrap(err, "cannot read code package")
	}
	if int64(len(data)) > limit {
		return nil, errors.Errorf("compressed code package exceeds %d bytes", limit)
	}
	if err := writeBuildContext(io.Discard, bytes.NewReader(data), dockerfile, maxSize); err != nil {
		return nil, err
	}
	return &Input{code: data, dockerfile: dockerfile, maxSize: maxSize}, nil
}

// Open returns the build context as a stream, converting the package as the
// reader consumes it. Closing the reader stops the conversion. Every call
// streams the same bytes, so a retried build can open it again.
func (in *Input) Open() io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeBuildContext(pw, bytes.NewReader(in.code), in.dockerfile, in.maxSize))
	}()
	return pr
}
