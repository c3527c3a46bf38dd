/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
)

// Dockerd is a Docker daemon the bench starts for itself (no systemd, no
// iptables, no bridge: containers use the host network), with its state in
// one directory that Stop removes.
type Dockerd struct {
	Dir  string
	CLI  string // docker CLI
	cmd  *exec.Cmd
	logf *os.File
}

// Sock is the daemon's socket; Endpoint is vm.endpoint for it.
func (d *Dockerd) Sock() string     { return filepath.Join(d.Dir, "docker.sock") }
func (d *Dockerd) Endpoint() string { return "unix://" + d.Sock() }

// StartDockerd starts dockerd under dir (which must not exist) and waits
// until it answers.
func StartDockerd(dir string) (*Dockerd, error) {
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, fmt.Errorf("dockerd not found (apt-get install docker.io): %w", err)
	}
	cli := "/usr/bin/docker" // the CLI of the same package
	if _, err := os.Stat(cli); err != nil {
		if cli, err = exec.LookPath("docker"); err != nil {
			return nil, fmt.Errorf("docker CLI not found: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d := &Dockerd{Dir: dir, CLI: cli}
	if d.logf, err = os.Create(filepath.Join(dir, "dockerd.log")); err != nil {
		return nil, err
	}
	d.cmd = exec.Command(bin,
		"--data-root", filepath.Join(dir, "root"),
		"--exec-root", filepath.Join(dir, "exec"),
		"-H", d.Endpoint(),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"--iptables=false", "--bridge=none",
	)
	d.cmd.Stdout, d.cmd.Stderr = d.logf, d.logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := d.Run(10*time.Second, "version", "--format", "{{.Server.Version}}"); err == nil {
			return d, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("dockerd exited: %v\n%s", err, tailFile(d.logf.Name(), 20))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("dockerd did not answer within 60s\n%s", tailFile(d.logf.Name(), 20))
		}
	}
}

// Run runs the docker CLI against this daemon and returns its trimmed stdout.
func (d *Dockerd) Run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.CLI, append([]string{"-H", d.Endpoint()}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// PID of dockerd.
func (d *Dockerd) PID() int {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Stop removes every container, stops the daemon (SIGTERM, then SIGKILL of
// its process group), unmounts what it left mounted under Dir and removes
// Dir.
func (d *Dockerd) Stop() error {
	if d == nil {
		return nil
	}
	var errs []string
	if d.cmd != nil && d.cmd.Process != nil {
		if ids, err := d.Run(30*time.Second, "ps", "-aq"); err == nil && ids != "" {
			if _, err := d.Run(2*time.Minute, append([]string{"rm", "-f"}, strings.Fields(ids)...)...); err != nil {
				errs = append(errs, err.Error())
			}
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			for {
				if err := syscall.Kill(d.cmd.Process.Pid, 0); err != nil {
					close(done)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			errs = append(errs, "dockerd did not stop within 30s after SIGTERM (killed)")
			time.Sleep(time.Second)
		}
		// Its managed containerd runs in the same process group.
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
		d.cmd = nil
	}
	if d.logf != nil {
		d.logf.Close()
	}
	// dockerd leaves the network namespace of its default network (and, on
	// failure, overlay mounts) mounted under its roots.
	for _, m := range mountsUnder(d.Dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Sprintf("umount %s: %v", m, err))
		}
	}
	if err := os.RemoveAll(d.Dir); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// mountsUnder lists mount points below dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		mp := unescapeMount(fields[1])
		if strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return testkit.LastLines(string(b), lines)
}

// dockerdTreeRSS is the resident memory of dockerd and of its managed
// containerd (the containerd-shims of chaincode containers are counted
// separately by the caller if at all).
func dockerdTreeRSS(d *Dockerd) (dockerd, containerd int64) {
	if st, err := procStats(d.PID()); err == nil {
		dockerd = st.RSSKiB
	}
	for _, pid := range childrenOf(d.PID()) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "containerd" {
			if st, err := procStats(pid); err == nil {
				containerd += st.RSSKiB
			}
		}
	}
	return dockerd, containerd
}

// childrenOf lists the direct children of pid.
func childrenOf(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			if pp, _ := strconv.Atoi(f[1]); pp == pid {
				out = append(out, child)
			}
		}
	}
	return out
}
