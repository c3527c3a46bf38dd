/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package testkit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRepoRoot(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// This package is integration/internal/testkit of the checkout.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "integration", "internal", "testkit"); wd != want {
		t.Errorf("RepoRoot() = %s: the package would be %s, it is %s", root, want, wd)
	}
}

func TestKubeconfig(t *testing.T) {
	root := t.TempDir()
	t.Setenv("KUBECONFIG", "")
	t.Setenv("SUITE_KUBECONFIG", "")
	check := func(what, want string) {
		t.Helper()
		got, err := Kubeconfig(root, "SUITE_KUBECONFIG")
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: Kubeconfig = %s, want %s", what, got, want)
		}
	}
	check("nothing set", filepath.Join(root, ".cluster", "kubeconfig"))
	t.Setenv("KUBECONFIG", "/from/kubeconfig")
	check("KUBECONFIG", "/from/kubeconfig")
	t.Setenv("SUITE_KUBECONFIG", "relative/config")
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	check("the suite's variable first, made absolute", filepath.Join(wd, "relative", "config"))
}
