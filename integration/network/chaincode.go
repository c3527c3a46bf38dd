/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyperledger/fabric/integration/nwo"
	"github.com/hyperledger/fabric/integration/nwo/commands"
	. "github.com/onsi/gomega"
)

// PrepareGoChaincode copies the Go module at src into dst (which must not
// exist), lets edit change the copy, and vendors its dependencies with the
// host's Go toolchain, so that the build in the cluster needs no network:
// Fabric's Go build script uses -mod=vendor when src/vendor exists.
func PrepareGoChaincode(src, dst string, edit func(dir string) error) error {
	if err := copyChaincode(src, dst, "go.mod", "a Go module", edit); err != nil {
		return err
	}
	return goModVendor(dst)
}

// copyChaincode copies the project at src, which must hold the file marker
// (what it is, for the error), into dst, which must not exist, and lets edit
// change the copy.
func copyChaincode(src, dst, marker, what string, edit func(dir string) error) error {
	if _, err := os.Stat(filepath.Join(src, marker)); err != nil {
		return fmt.Errorf("%s is not %s: %w", src, what, err)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%s already exists", dst)
	}
	if err := CopyTree(src, dst); err != nil {
		return err
	}
	if edit != nil {
		if err := edit(dst); err != nil {
			return fmt.Errorf("editing chaincode copy: %w", err)
		}
	}
	return nil
}

func goModVendor(dir string) error {
	cmd := exec.Command("go", "mod", "vendor")
	cmd.Dir = dir
	// -mod=mod would be ignored by `go mod vendor`; GOFLAGS from the outside
	// (e.g. -mod=vendor of this repository) must not leak in.
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "GOWORK=off", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go mod vendor in %s: %w\n%s", dir, err, out)
	}
	return nil
}

// PrepareNodeChaincode copies the Node.js project at src (which must have a
// package.json) into dst (which must not exist) and lets edit change the
// copy. The copy is packaged as it is: its dependencies are installed by the
// build on the peer, from package-lock.json.
func PrepareNodeChaincode(src, dst string, edit func(dir string) error) error {
	return copyChaincode(src, dst, "package.json", "a Node.js project", edit)
}

// BuildTypeScriptChaincode compiles the TypeScript project in dir as
// Fabric's documentation has it done before packaging: npm ci (with the
// development dependencies, for tsc) and npm run build, with the host's npm.
// The package then carries the compiled output; Fabric's node platform
// leaves node_modules out of it.
func BuildTypeScriptChaincode(dir string) error {
	for _, args := range [][]string{
		{"ci", "--no-audit", "--no-fund"},
		{"run", "build"},
	} {
		cmd := exec.Command("npm", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("npm %s in %s: %w\n%s", strings.Join(args, " "), dir, err, out)
		}
	}
	return nil
}

// SetKVBuild changes the kv chaincode's Build constant in dir (one line), so
// that its package, and image, are new while its dependencies are the same.
func SetKVBuild(dir, build string) error {
	f := filepath.Join(dir, "kv.go")
	b, err := os.ReadFile(f)
	if err != nil {
		return err
	}
	nb := strings.Replace(string(b), `const Build = "kv-1"`, fmt.Sprintf("const Build = %q", build), 1)
	if nb == string(b) {
		return fmt.Errorf("Build constant not found in %s", f)
	}
	return os.WriteFile(f, []byte(nb), 0o644)
}

// CopyTree copies the directory tree src (regular files and directories) to
// dst.
func CopyTree(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if info.IsDir() && rel != "." && (rel == "vendor" || info.Name() == "node_modules" || strings.HasPrefix(info.Name(), ".")) {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// GoChaincode describes a Go chaincode for nwo's lifecycle helpers; the
// package file is written to <RootDir>/<label>.tar.gz by Package.
func (h *Harness) GoChaincode(name, label, sequence, path string) nwo.Chaincode {
	return nwo.Chaincode{
		Name:        name,
		Version:     label,
		Path:        path,
		Lang:        "golang",
		Label:       label,
		Sequence:    sequence,
		PackageFile: filepath.Join(h.Opts.RootDir, label+".tar.gz"),
		// Any single org may endorse: invoke still asks both peers, but an
		// upgrade or a broken peer does not block the other org.
		SignaturePolicy: `OR ('Org1MSP.member','Org2MSP.member')`,
	}
}

// NodeChaincode describes a Node.js (JavaScript or compiled TypeScript)
// chaincode at path for nwo's lifecycle helpers; packaged with --lang node.
func (h *Harness) NodeChaincode(name, label, sequence, path string) nwo.Chaincode {
	cc := h.GoChaincode(name, label, sequence, path)
	cc.Lang = "node"
	return cc
}

// Result is the outcome of one peer CLI command.
type Result struct {
	ExitCode int
	Stdout   string
	Stderr   string
	Duration time.Duration
}

// Output is stdout and stderr.
func (r Result) Output() string { return r.Stdout + r.Stderr }

// OK is a zero exit.
func (r Result) OK() bool { return r.ExitCode == 0 }

func (r Result) String() string {
	return fmt.Sprintf("exit %d after %s\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Duration.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// run starts a peer CLI command as user on p and waits up to timeout.
func (h *Harness) run(p *nwo.Peer, user string, cmd nwo.Command, timeout time.Duration) Result {
	start := time.Now()
	sess, err := h.Network.PeerUserSession(p, user, cmd)
	Expect(err).NotTo(HaveOccurred())
	select {
	case <-sess.Exited:
	case <-time.After(timeout):
		sess.Kill().Wait()
	}
	return Result{
		ExitCode: sess.ExitCode(),
		Stdout:   string(sess.Out.Contents()),
		Stderr:   string(sess.Err.Contents()),
		Duration: time.Since(start),
	}
}

// Package runs `peer lifecycle chaincode package` (on the host, through Org1's
// peer CLI configuration) and sets cc.PackageID.
func (h *Harness) Package(cc *nwo.Chaincode) Result {
	_ = os.Remove(cc.PackageFile)
	r := h.run(h.Org1Peer(), "Admin", commands.ChaincodePackage{
		Path:       cc.Path,
		Lang:       cc.Lang,
		Label:      cc.Label,
		OutputFile: cc.PackageFile,
	}, 5*time.Minute)
	if r.OK() {
		cc.SetPackageIDFromPackageFile()
	}
	return r
}

// Install runs `peer lifecycle chaincode install` against p; with the k8s VM
// this is where the image is built. It does not assert success.
func (h *Harness) Install(cc nwo.Chaincode, p *nwo.Peer) Result {
	// The peer bounds the build by chaincode.installTimeout; allow a bit more.
	return h.run(p, "Admin", commands.ChaincodeInstall{PackageFile: cc.PackageFile}, h.PeerConfig.InstallTimeout+2*time.Minute)
}

// InstallOK installs on each peer, asserts success and that the package is
// listed, and returns the install duration per peer.
func (h *Harness) InstallOK(cc nwo.Chaincode, peers ...*nwo.Peer) []time.Duration {
	var ds []time.Duration
	for _, p := range peers {
		r := h.Install(cc, p)
		ExpectWithOffset(1, r.ExitCode).To(Equal(0), "install of %s on %s failed: %s", cc.Label, p.ID(), r)
		nwo.EnsureInstalled(h.Network, cc.Label, cc.PackageID, p)
		ds = append(ds, r.Duration)
	}
	return ds
}

// ApproveAndCommit approves cc for both orgs and commits the definition.
func (h *Harness) ApproveAndCommit(cc nwo.Chaincode) {
	n := h.Network
	nwo.ApproveChaincodeForMyOrg(n, ChannelName, h.Orderer, cc, h.Peers...)
	nwo.CheckCommitReadinessUntilReady(n, ChannelName, cc, n.PeerOrgs(), h.Peers...)
	nwo.CommitChaincode(n, ChannelName, h.Orderer, cc, h.Peers[0], h.Peers...)
}

// Ctor encodes function and arguments for --ctor.
func Ctor(fn string, args ...string) string {
	b, _ := json.Marshal(map[string][]string{"Args": append([]string{fn}, args...)})
	return string(b)
}

// Invoke submits a transaction endorsed by both peers (one per org) as
// Org1's User1 and waits for its commit. It does not assert success.
func (h *Harness) Invoke(name string, timeout time.Duration, fn string, args ...string) Result {
	var addrs []string
	for _, p := range h.Peers {
		addrs = append(addrs, h.Network.PeerAddress(p, nwo.ListenPort))
	}
	return h.run(h.Org1Peer(), "User1", commands.ChaincodeInvoke{
		ChannelID:     ChannelName,
		Orderer:       h.Network.OrdererAddress(h.Orderer, nwo.ListenPort),
		Name:          name,
		Ctor:          Ctor(fn, args...),
		PeerAddresses: addrs,
		WaitForEvent:  true,
	}, timeout)
}

// InvokeOK asserts that Invoke succeeded with status 200 and that the
// transaction committed as VALID.
func (h *Harness) InvokeOK(name string, timeout time.Duration, fn string, args ...string) Result {
	r := h.Invoke(name, timeout, fn, args...)
	ExpectWithOffset(1, r.ExitCode).To(Equal(0), "invoke %s %s %v: %s", name, fn, args, r)
	ExpectWithOffset(1, r.Stderr).To(ContainSubstring("Chaincode invoke successful. result: status:200"), "%s", r)
	ExpectWithOffset(1, r.Stderr).To(ContainSubstring("committed with status (VALID)"), "%s", r)
	return r
}

// Query evaluates fn on peer p as its org's User1 and returns the payload in
// Stdout. It does not assert success.
func (h *Harness) Query(p *nwo.Peer, name string, timeout time.Duration, fn string, args ...string) Result {
	return h.run(p, "User1", commands.ChaincodeQuery{
		ChannelID: ChannelName,
		Name:      name,
		Ctor:      Ctor(fn, args...),
	}, timeout)
}

// QueryOK asserts success and returns the trimmed payload.
func (h *Harness) QueryOK(p *nwo.Peer, name string, timeout time.Duration, fn string, args ...string) string {
	r := h.Query(p, name, timeout, fn, args...)
	ExpectWithOffset(1, r.ExitCode).To(Equal(0), "query %s %s %v on %s: %s", name, fn, args, p.ID(), r)
	return strings.TrimSpace(r.Stdout)
}

// DeployTimings are measured by Deploy.
type DeployTimings struct {
	Package     time.Duration
	Install     map[string]time.Duration // by peer ID, in install order
	InstallPeer []string
}

// Deploy packages (when cc.PackageFile does not exist yet), installs on both
// peers (Org1 first, so Org2 can reuse the image), approves and commits.
func (h *Harness) Deploy(cc *nwo.Chaincode) DeployTimings {
	t := DeployTimings{Install: map[string]time.Duration{}}
	if _, err := os.Stat(cc.PackageFile); err != nil {
		r := h.Package(cc)
		ExpectWithOffset(1, r.ExitCode).To(Equal(0), "package %s: %s", cc.Label, r)
		t.Package = r.Duration
	} else if cc.PackageID == "" {
		cc.SetPackageIDFromPackageFile()
	}
	ds := h.InstallOK(*cc, h.Peers...)
	for i, p := range h.Peers {
		t.Install[p.ID()] = ds[i]
		t.InstallPeer = append(t.InstallPeer, p.ID())
	}
	h.ApproveAndCommit(*cc)
	return t
}
