/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"fmt"
	"io"
	"sync"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// Failure is what PanicFailHandler panics with.
type Failure struct{ Message string }

func (f Failure) Error() string { return f.Message }

// PanicFailHandler is a Gomega fail handler for programs (not test suites):
// a failed assertion inside nwo or the harness panics with a Failure, which
// Try turns back into an error.
func PanicFailHandler(message string, _ ...int) {
	panic(Failure{Message: message})
}

// UsePanicFailHandler registers PanicFailHandler as Gomega's global handler.
func UsePanicFailHandler() { gomega.RegisterFailHandler(PanicFailHandler) }

// Try runs f and returns the Failure it panicked with, if any; other panics
// propagate.
func Try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if fl, ok := r.(Failure); ok {
				err = fl
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}

// RedirectGinkgoWriter sends what nwo writes to ginkgo.GinkgoWriter (process
// output, CLI output, generated configs) to w instead of stdout. Outside a
// Ginkgo suite the default writer also keeps everything in memory forever.
func RedirectGinkgoWriter(w io.Writer) {
	ginkgo.GinkgoWriter = &plainWriter{w: w}
}

type plainWriter struct {
	mu  sync.Mutex
	w   io.Writer
	tee []io.Writer
}

func (p *plainWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tee {
		_, _ = t.Write(b)
	}
	return p.w.Write(b)
}
func (p *plainWriter) Print(a ...interface{})                 { fmt.Fprint(p, a...) }
func (p *plainWriter) Printf(format string, a ...interface{}) { fmt.Fprintf(p, format, a...) }
func (p *plainWriter) Println(a ...interface{})               { fmt.Fprintln(p, a...) }
func (p *plainWriter) TeeTo(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tee = append(p.tee, w)
}
func (p *plainWriter) ClearTeeWriters() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tee = nil
}

var _ ginkgo.GinkgoWriterInterface = (*plainWriter)(nil)
