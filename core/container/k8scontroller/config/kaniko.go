/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import "strings"

// kanikoOwnFlag returns the Kaniko flag that arg, one of
// vm.k8s.kanikoExtraArgs, sets when the VM sets that flag itself: the build
// context (--context, --context-sub-path, --bucket), the Dockerfile, the image
// pushed and where its digest goes (--destination, which Kaniko would push to
// as well, --digest-file, --no-push), and registry TLS, which follows
// vm.k8s.registryInsecure. Flags are matched as Kaniko's parser (pflag) reads
// them: --name, --name=value, and the shorthands -c, -b, -d and -f with their
// value attached or not. internal/spec's buildjob.go sets these flags.
func kanikoOwnFlag(arg string) (string, bool) {
	if name, ok := strings.CutPrefix(arg, "--"); ok {
		name, _, _ = strings.Cut(name, "=")
		switch name {
		case "context", "context-sub-path", "bucket", "dockerfile", "destination", "digest-file", "no-push",
			"insecure", "insecure-pull", "skip-tls-verify", "skip-tls-verify-pull":
			return "--" + name, true
		}
		return "", false
	}
	if len(arg) < 2 || arg[0] != '-' {
		return "", false
	}
	switch arg[1] {
	case 'c':
		return "--context (-c)", true
	case 'b':
		return "--bucket (-b)", true
	case 'd':
		return "--destination (-d)", true
	case 'f':
		return "--dockerfile (-f)", true
	}
	return "", false
}
