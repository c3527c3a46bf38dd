/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// caliperLaunch is one run of Caliper's manager (which forks the workers).
type caliperLaunch struct {
	// Install is the directory of the installed packages (caliperInstall).
	Install string
	// Workspace is Caliper's workspace; every path given is absolute.
	Workspace                  string
	NetworkConfig, BenchConfig string
	// Report is report.html; Log receives the manager's and the workers'
	// output.
	Report, Log string
	Timeout     time.Duration
	// OnStart, when set, registers a function that kills the manager's
	// process group (for the bench's interrupt handling).
	OnStart func(func())
}

// args is the command line: `npx caliper launch manager` run in the install
// directory (npx --no: the local install or nothing; everything after --
// is Caliper's).
func (l caliperLaunch) args() []string {
	return []string{
		"--no", "--", "caliper", "launch", "manager",
		"--caliper-workspace", l.Workspace,
		"--caliper-networkconfig", l.NetworkConfig,
		"--caliper-benchconfig", l.BenchConfig,
		// The chaincode is committed already: no init or install step.
		"--caliper-flow-only-test",
		// Only read by the fabric-network 1.4 binding; with fabric-gateway
		// installed the connector is the Gateway one anyway.
		"--caliper-fabric-gateway-enabled",
		"--caliper-report-path", l.Report,
		"--caliper-logging-formats-colorize-level", "false",
		// The manager waits for a progress update after each round: every
		// second rather than every 5.
		"--caliper-progress-reporting-interval", "1000",
	}
}

// env is the manager's environment: the workload module, which lives in the
// repository, resolves @hyperledger/caliper-core in the install.
func (l caliperLaunch) env() []string {
	return append(os.Environ(), "NODE_PATH="+filepath.Join(l.Install, "node_modules"), "NO_COLOR=1")
}

// launch runs the manager to its end. Caliper exits 0 even when rounds
// failed; collectCaliper reads those from the log. An error here names the
// round the manager was in and the log.
func (l caliperLaunch) launch(ctx context.Context) error {
	logFile, err := os.Create(l.Log)
	if err != nil {
		return err
	}
	defer logFile.Close()
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npx", l.args()...)
	cmd.Dir = l.Install
	cmd.Env = l.env()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The manager, its workers and npx form a process group of their own,
	// killed as a whole on timeout or interrupt.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting Caliper (npx in %s): %w", l.Install, err)
	}
	var mu sync.Mutex
	running := true
	if l.OnStart != nil {
		pid := cmd.Process.Pid
		l.OnStart(func() {
			mu.Lock()
			defer mu.Unlock()
			if running {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		})
	}
	err = cmd.Wait()
	mu.Lock()
	running = false
	mu.Unlock()
	if err == nil {
		return nil
	}
	how := "failed (" + err.Error() + ")"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		how = fmt.Sprintf("timed out after %s", l.Timeout)
	}
	round := "before its first round"
	if b, rerr := os.ReadFile(l.Log); rerr == nil {
		if r := parseCaliperLog(string(b)).Current(); r != "" {
			round = "in round " + r
		}
	}
	return fmt.Errorf("caliper manager %s %s (log %s):\n%s", how, round, l.Log, tailFile(l.Log, 6))
}
