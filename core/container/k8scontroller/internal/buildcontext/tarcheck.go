/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package buildcontext

import (
	"archive/tar"
	"path"
	"strings"

	"github.com/pkg/errors"
)

// Bounds on what one code package may contain. Real Go, Node and Java
// packages stay far below them; they keep a hostile archive from costing
// unbounded memory or time.
const (
	// tarBlockSize is what every entry costs in a tar stream besides its data.
	tarBlockSize = 512
	// maxEntryPath bounds entry names and link targets (Linux PATH_MAX).
	maxEntryPath = 4096
	// maxEntryDepth bounds the number of elements of an entry name.
	maxEntryDepth = 128
	// maxSymlinks bounds the number of symbolic links in one package.
	maxSymlinks = 1024
	// maxLinkHops bounds the links followed to resolve one link (Linux MAXSYMLINKS).
	maxLinkHops = 40
	// maxResolveSteps bounds the path elements walked to resolve one link.
	maxResolveSteps = 1024
)

// packageChecker vets the entries of a code package in archive order. It
// remembers the symlinks and regular files declared so far so that no
// sequence of entries, each harmless alone, writes or points outside the
// input directory once extracted in order:
//   - no entry is written below a symlink, nor replaces one;
//   - a symlink target climbs only from the link's own directory and never
//     after a name (see checkLinkTarget), and resolving it through the
//     package's symlinks, as the kernel would, takes at most maxLinkHops
//     links, checked when it is declared and again against the complete
//     archive;
//   - a hard link names an earlier regular file of the package.
type packageChecker struct {
	maxSize  int64
	total    int64
	symlinks map[string]symlinkEntry // by cleaned name
	order    []string                // cleaned symlink names, in archive order
	regular  map[string]struct{}     // cleaned names of regular files and hard links
}

type symlinkEntry struct {
	name   string // as in the archive, for errors
	target string
}

func newPackageChecker(maxSize int64) *packageChecker {
	return &packageChecker{
		maxSize:  maxSize,
		symlinks: map[string]symlinkEntry{},
		regular:  map[string]struct{}{},
	}
}

// entry returns the header to write below input/ for hdr, nil to skip it, or
// an error naming the entry if it is not allowed.
func (c *packageChecker) entry(hdr *tar.Header) (*tar.Header, error) {
	if err := c.addSize(hdr); err != nil {
		return nil, err
	}
	name, skip, err := c.checkName(hdr)
	if err != nil || skip {
		return nil, err
	}
	return c.convert(hdr, name)
}

// entryError is an error naming the entry hdr.
func entryError(hdr *tar.Header, format string, args ...interface{}) error {
	return errors.Errorf("code package entry %q: "+format, append([]interface{}{hdr.Name}, args...)...)
}

// addSize adds what hdr costs in the archive to the package's size and fails
// once it exceeds the limit.
func (c *packageChecker) addSize(hdr *tar.Header) error {
	c.total += tarBlockSize + int64(len(hdr.Name)) + int64(len(hdr.Linkname))
	if isRegular(hdr.Typeflag) {
		c.total += hdr.Size
	}
	if c.total > c.maxSize {
		return errors.Errorf("code package exceeds the size limit of %d bytes", c.maxSize)
	}
	return nil
}

// checkName returns the cleaned name of the entry hdr, or skip for the
// entries that are not written (the package root directory, global
// headers). It fails for a name that leaves the package, is too deep, or
// lies below or replaces one of the package's symlinks.
func (c *packageChecker) checkName(hdr *tar.Header) (name string, skip bool, err error) {
	name, err = cleanRelative(hdr.Name)
	if err != nil {
		return "", false, errors.WithMessagef(err, "code package entry %q", hdr.Name)
	}
	if name == "." {
		if hdr.Typeflag == tar.TypeDir || hdr.Typeflag == tar.TypeXGlobalHeader {
			return "", true, nil
		}
		return "", false, entryError(hdr, "names the package root")
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return "", true, nil
	}
	if strings.Count(name, "/") >= maxEntryDepth {
		return "", false, entryError(hdr, "more than %d path elements", maxEntryDepth)
	}
	if len(c.symlinks) > 0 {
		for i := strings.IndexByte(name, '/'); i >= 0; i = nextSlash(name, i) {
			if _, ok := c.symlinks[name[:i]]; ok {
				return "", false, entryError(hdr, "parent %q is a symlink", name[:i])
			}
		}
		if _, ok := c.symlinks[name]; ok {
			return "", false, entryError(hdr, "replaces a symlink")
		}
	}
	return name, false, nil
}

// convert returns the header of the entry hdr, named name once cleaned, as
// written below input/: a regular file, a directory, or a link checked
// against the package's earlier entries, which it joins. Other types fail.
func (c *packageChecker) convert(hdr *tar.Header, name string) (*tar.Header, error) {
	out := &tar.Header{
		Name:    InputDir + "/" + name,
		Mode:    hdr.Mode & 0o777,
		ModTime: hdr.ModTime,
	}
	switch {
	case isRegular(hdr.Typeflag):
		out.Typeflag = tar.TypeReg
		out.Size = hdr.Size
		c.regular[name] = struct{}{}
	case hdr.Typeflag == tar.TypeDir:
		out.Typeflag = tar.TypeDir
		out.Name += "/"
	case hdr.Typeflag == tar.TypeSymlink:
		if err := checkLinkTarget(name, hdr.Linkname); err != nil {
			return nil, entryError(hdr, "symlink target %q %s", hdr.Linkname, err)
		}
		if len(c.symlinks) >= maxSymlinks {
			return nil, entryError(hdr, "more than %d symlinks", maxSymlinks)
		}
		c.symlinks[name] = symlinkEntry{name: hdr.Name, target: hdr.Linkname}
		c.order = append(c.order, name)
		delete(c.regular, name)
		if err := c.resolve(name); err != nil {
			return nil, err
		}
		out.Typeflag = tar.TypeSymlink
		out.Linkname = hdr.Linkname
	case hdr.Typeflag == tar.TypeLink:
		target, err := cleanRelative(hdr.Linkname)
		if err != nil {
			return nil, entryError(hdr, "hard link target %q: %s", hdr.Linkname, err)
		}
		if _, ok := c.regular[target]; !ok {
			return nil, entryError(hdr, "hard link target %q is not an earlier regular file of the package", hdr.Linkname)
		}
		c.regular[name] = struct{}{}
		out.Typeflag = tar.TypeLink
		out.Linkname = InputDir + "/" + target
	default:
		return nil, entryError(hdr, "unsupported entry type %q", string(hdr.Typeflag))
	}
	return out, nil
}

// finish resolves every symlink once more against the complete archive.
func (c *packageChecker) finish() error {
	for _, name := range c.order {
		if err := c.resolve(name); err != nil {
			return err
		}
	}
	return nil
}

// resolve follows the symlink declared as name through the package's
// symlinks, element by element as the kernel does (so "l/.." is the parent
// of wherever l points, not the directory holding l), and fails if it
// leaves the package.
func (c *packageChecker) resolve(name string) error {
	link := c.symlinks[name]
	fail := func(format string, args ...interface{}) error {
		return errors.Errorf("code package entry %q: symlink target %q "+format, append([]interface{}{link.name, link.target}, args...)...)
	}

	var resolved []string // elements of the directory reached so far
	if dir := path.Dir(name); dir != "." {
		resolved = strings.Split(dir, "/")
	}
	todo := reversed(strings.Split(link.target, "/")) // elements to walk, next last
	hops := 0
	for steps := 0; len(todo) > 0; steps++ {
		if steps >= maxResolveSteps {
			return fail("has more than %d path elements to resolve", maxResolveSteps)
		}
		elem := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(resolved) == 0 {
				return fail("resolves outside the package")
			}
			resolved = resolved[:len(resolved)-1]
			continue
		}
		resolved = append(resolved, elem)
		next, ok := c.symlinks[strings.Join(resolved, "/")]
		if !ok {
			continue
		}
		if hops++; hops > maxLinkHops {
			return fail("needs too many levels of symlinks")
		}
		resolved = resolved[:len(resolved)-1]
		todo = append(todo, reversed(strings.Split(next.target, "/"))...)
	}
	return nil
}

func isRegular(typeflag byte) bool {
	return typeflag == tar.TypeReg || typeflag == tar.TypeRegA //nolint:staticcheck // TypeRegA appears in old archives
}

func nextSlash(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func reversed(elems []string) []string {
	for i, j := 0, len(elems)-1; i < j; i, j = i+1, j-1 {
		elems[i], elems[j] = elems[j], elems[i]
	}
	return elems
}

// checkLinkTarget accepts relative symlink targets of the form
// [../]...elem[/elem]...: the leading ".." climb from the link's directory
// (which holds no symlink, so the climb is what it looks like) and must stay
// in the package; no ".." may follow a name, because "l/.." is the parent of
// wherever l points, not the directory holding l. Every remaining name stays
// inside the package whether or not it is itself a symlink, as long as every
// symlink of the package obeys the same rule.
func checkLinkTarget(name, target string) error {
	switch {
	case target == "":
		return errors.New("is empty")
	case len(target) > maxEntryPath:
		return errors.Errorf("is longer than %d bytes", maxEntryPath)
	case strings.IndexByte(target, 0) >= 0:
		return errors.New("has a NUL byte")
	case path.IsAbs(target) || strings.HasPrefix(target, `\`):
		return errors.New("is absolute")
	}
	depth := strings.Count(name, "/") // elements of the link's directory
	named := false
	for _, elem := range strings.Split(target, "/") {
		switch elem {
		case "", ".":
		case "..":
			if named {
				return errors.New("goes up after a path element")
			}
			if depth--; depth < 0 {
				return errors.New("resolves outside the package")
			}
		default:
			named = true
		}
	}
	return nil
}

// cleanRelative cleans a slash-separated archive path and rejects absolute
// paths and paths leaving the archive root.
func cleanRelative(p string) (string, error) {
	switch {
	case p == "":
		return "", errors.New("empty path")
	case len(p) > maxEntryPath:
		return "", errors.Errorf("path longer than %d bytes", maxEntryPath)
	case strings.IndexByte(p, 0) >= 0:
		return "", errors.New("NUL byte in path")
	case path.IsAbs(p) || strings.HasPrefix(p, `\`):
		return "", errors.New("absolute path")
	}
	clean := path.Clean(p)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", errors.New("path traversal")
	}
	return clean, nil
}
