/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package testkit

import (
	"testing"
)

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		name, in     string
		n            int
		want, elided string
	}{
		{"fewer lines than n", "a\nb\n", 3, "a\nb", "a\nb"},
		{"exactly n lines", "a\nb\nc", 3, "a\nb\nc", "a\nb\nc"},
		{"more lines than n", "a\nb\nc\nd\n", 2, "c\nd", "...\nc\nd"},
		{"trailing newlines dropped", "a\nb\n\n\n", 1, "b", "...\nb"},
		{"empty", "", 2, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LastLines(tc.in, tc.n); got != tc.want {
				t.Errorf("LastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if got := LastLinesElided(tc.in, tc.n); got != tc.elided {
				t.Errorf("LastLinesElided(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.elided)
			}
		})
	}
}

func TestFirstNonEmpty(t *testing.T) {
	if got := FirstNonEmpty("", "b", "c"); got != "b" {
		t.Errorf("FirstNonEmpty = %q, want b", got)
	}
	if got := FirstNonEmpty("", ""); got != "" {
		t.Errorf("FirstNonEmpty of empty strings = %q, want empty", got)
	}
}

func TestRandomHex(t *testing.T) {
	a, b := RandomHex(3), RandomHex(3)
	if len(a) != 6 || len(b) != 6 {
		t.Fatalf("RandomHex(3) = %q, %q: want 6 hex digits", a, b)
	}
	if a == b {
		t.Errorf("two calls of RandomHex(3) gave %q", a)
	}
}
