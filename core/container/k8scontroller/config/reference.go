/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import (
	"strings"

	"github.com/pkg/errors"
)

//go:generate go test -run TestReferenceIsCurrent . -args -update

// The reference of the vm.k8s.* keys in docs/configuration.md is generated
// from the table of keys: the lines between referenceBegin and referenceEnd
// are reference(), the text around them is written by hand.
const (
	referenceBegin = "<!-- BEGIN GENERATED: the vm.k8s.* keys, from core/container/k8scontroller/config/keys.go; " +
		"edit the table there and run go generate ./core/container/k8scontroller/config -->"
	referenceEnd = "<!-- END GENERATED -->"
)

// reference is the Markdown table of the keys: key, default and meaning,
// in the order of the table.
func reference() string {
	var b strings.Builder
	b.WriteString("| key | default | meaning |\n|---|---|---|\n")
	for _, k := range keys() {
		cells := k.row()
		for _, cell := range cells {
			b.WriteString("| " + strings.ReplaceAll(cell, "|", `\|`) + " ")
		}
		b.WriteString("|\n")
	}
	return b.String()
}

// withReference returns doc with the lines between its markers replaced by
// generated.
func withReference(doc, generated string) (string, error) {
	begin := strings.Index(doc, referenceBegin+"\n")
	end := strings.Index(doc, "\n"+referenceEnd)
	if begin < 0 || end < begin {
		return "", errors.Errorf("the markers %q and %q, each on a line of its own, are missing or out of order", referenceBegin, referenceEnd)
	}
	head := doc[:begin+len(referenceBegin)+1]
	return head + generated + doc[end+1:], nil
}
