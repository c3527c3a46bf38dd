/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import (
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the generated reference in docs/configuration.md")

// configurationDoc is docs/configuration.md, from this package's directory.
const configurationDoc = "../../../../docs/configuration.md"

// TestReferenceIsCurrent fails when the generated part of
// docs/configuration.md is not what the table of keys gives; -update (go
// generate) rewrites it.
func TestReferenceIsCurrent(t *testing.T) {
	raw, err := os.ReadFile(configurationDoc)
	require.NoError(t, err)
	doc := string(raw)
	want, err := withReference(doc, reference())
	if err != nil {
		t.Fatalf("docs/configuration.md: %v", err)
	}
	if *update {
		require.NoError(t, os.WriteFile(configurationDoc, []byte(want), 0o644))
		return
	}
	if doc == want {
		return
	}
	got, wantLines := strings.Split(doc, "\n"), strings.Split(want, "\n")
	line := 0
	for line < len(got) && line < len(wantLines) && got[line] == wantLines[line] {
		line++
	}
	var gotLine, wantLine string
	if line < len(got) {
		gotLine = got[line]
	}
	if line < len(wantLines) {
		wantLine = wantLines[line]
	}
	t.Fatalf("docs/configuration.md: the generated reference of the vm.k8s.* keys differs from the table in keys.go "+
		"at line %d:\n\tdoc:   %s\n\ttable: %s\nEdit the table, not the generated lines, and regenerate them with\n"+
		"\tgo generate ./core/container/k8scontroller/config\n(or make generate)", line+1, gotLine, wantLine)
}

func TestWithReferenceNeedsMarkers(t *testing.T) {
	_, err := withReference("# Configuration\n", "| key |\n")
	require.ErrorContains(t, err, "are missing or out of order")
	_, err = withReference(referenceEnd+"\n"+referenceBegin+"\n", "| key |\n")
	require.ErrorContains(t, err, "are missing or out of order")

	doc := "prose\n" + referenceBegin + "\nold\nlines\n" + referenceEnd + "\nmore prose\n"
	got, err := withReference(doc, "| key |\n")
	require.NoError(t, err)
	require.Equal(t, "prose\n"+referenceBegin+"\n| key |\n"+referenceEnd+"\nmore prose\n", got)
}

// Every field of Config is set by exactly one key, every key has a
// default and a description, and no key is listed twice.
func TestEveryFieldHasOneKey(t *testing.T) {
	var c Config
	fields := map[uintptr]string{}
	var collect func(v reflect.Value, path string)
	collect = func(v reflect.Value, path string) {
		for i := 0; i < v.NumField(); i++ {
			f, name := v.Field(i), path+v.Type().Field(i).Name
			if f.Kind() == reflect.Struct && (f.Type() == reflect.TypeOf(RelaunchPolicy{}) || f.Type() == reflect.TypeOf(PrePull{})) {
				collect(f, name+".")
				continue
			}
			fields[f.Addr().Pointer()] = name
		}
	}
	collect(reflect.ValueOf(&c).Elem(), "")

	names := map[string]bool{}
	bound := map[string]string{}
	for _, k := range keys() {
		row := k.row()
		require.False(t, names[row[0]], "%s is listed twice", row[0])
		names[row[0]] = true
		require.NotEmpty(t, row[1], "%s has no default in the reference: set DefaultDoc", row[0])
		require.NotEmpty(t, row[2], "%s has no description", row[0])

		field, ok := fields[reflect.ValueOf(k.field(&c)).Pointer()]
		require.True(t, ok, "%s sets no field of Config", row[0])
		require.Empty(t, bound[field], "%s and %s set the same field %s", bound[field], row[0], field)
		bound[field] = row[0]
	}
	for _, field := range fields {
		require.NotEmpty(t, bound[field], "no key sets Config.%s", field)
	}
}

func TestFormatDefault(t *testing.T) {
	for _, tc := range []struct {
		value any
		want  string
	}{
		{DefaultBuildTimeout, "`10m`"},
		{DefaultStopTimeout, "`30s`"},
		{90 * time.Minute, "`1h30m`"},
		{2 * time.Hour, "`2h`"},
		{int64(DefaultMaxCodePackageSize), "`104857600`"},
		{float32(DefaultClientQPS), "`50`"},
		{true, "`true`"},
		{"", "`\"\"`"},
		{[]string(nil), ""},
		{(*BuildCache)(nil), ""},
	} {
		require.Equal(t, tc.want, formatDefault(tc.value), "%#v", tc.value)
	}
}
