/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Result is the outcome of a command that Run executed.
type Result struct {
	Cmd      string
	ExitCode int    // -1: the command did not start or was killed
	Out      string // stdout and stderr
	Stdout   string
	Duration time.Duration
	TimedOut bool
	// Err is nil when the command exited 0; otherwise it names the command
	// and carries the last lines of its output.
	Err error
}

func (r Result) String() string {
	return fmt.Sprintf("$ %s\n(exit %d after %s, timed out: %v)\n%s", r.Cmd, r.ExitCode, r.Duration.Round(time.Millisecond), r.TimedOut, r.Out)
}

// Run executes name args... with extra environment, bounded by timeout, and
// writes the command line and its output to log.
func Run(log io.Writer, timeout time.Duration, env []string, name string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, stdout bytes.Buffer
	all := &SyncWriter{W: &out}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(all, &stdout), all
	start := time.Now()
	err := cmd.Run()
	r := Result{Cmd: filepath.Base(name) + " " + strings.Join(args, " "), Out: out.String(), Stdout: stdout.String(), Duration: time.Since(start)}
	r.TimedOut = ctx.Err() != nil
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	default:
		r.ExitCode = -1
		r.Out += "\n" + err.Error()
	}
	if err != nil {
		if r.TimedOut {
			err = fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		r.Err = fmt.Errorf("%s: %w\n%s", r.Cmd, err, LastLines(r.Out, 30))
	}
	fmt.Fprintf(log, "%s\n", r)
	return r
}
