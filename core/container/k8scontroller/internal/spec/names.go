/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// buildConfigVersion is part of every image tag. Bump it whenever the way an
// image is produced (Job layout, build script wrapper, Kaniko flags) changes
// so that images built the old way are not reused.
const buildConfigVersion = "1"

const (
	hashLen        = 10 // hex characters of the disambiguating hash suffix
	maxLabelLength = validation.DNS1123LabelMaxLength
	maxRepoLength  = 128
)

var (
	dnsInvalidChars   = regexp.MustCompile(`[^a-z0-9-]+`)
	dashes            = regexp.MustCompile(`-{2,}`)
	repoInvalidChars  = regexp.MustCompile(`[^a-z0-9._-]+`)
	repoSeparatorRuns = regexp.MustCompile(`[._-]{2,}`)
	labelValueInvalid = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
)

func sha256Hex(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sanitizeDNS lower-cases s and squeezes everything that is not allowed in a
// DNS-1123 label into single dashes.
func sanitizeDNS(s string) string {
	s = dnsInvalidChars.ReplaceAllString(strings.ToLower(s), "-")
	return strings.Trim(dashes.ReplaceAllString(s, "-"), "-")
}

// dnsLabelSuffixed returns "<sanitised human>-<hash>-<suffix>", at most 63
// characters, the human part shortened to fit. The hash is computed over the
// unsanitised identity parts, so inputs that sanitise to the same text still
// get different names.
func dnsLabelSuffixed(human, suffix string, identity ...string) string {
	tail := "-" + sha256Hex(identity...)[:hashLen]
	if suffix != "" {
		tail += "-" + suffix
	}
	human = sanitizeDNS(human)
	if max := maxLabelLength - len(tail); len(human) > max {
		human = strings.TrimRight(human[:max], "-")
	}
	if human == "" {
		human = "x"
	}
	return human + tail
}

// ChaincodeLabel is the label part of a package ID "label:hash".
func ChaincodeLabel(ccid string) string {
	if i := strings.LastIndex(ccid, ":"); i >= 0 {
		return ccid[:i]
	}
	return ccid
}

// imageRepository is the repository name (below the configured registry) of
// a chaincode image: the sanitised chaincode label.
func imageRepository(ccid string) string {
	s := repoInvalidChars.ReplaceAllString(strings.ToLower(ChaincodeLabel(ccid)), "-")
	s = repoSeparatorRuns.ReplaceAllString(s, "-")
	if len(s) > maxRepoLength {
		s = s[:maxRepoLength]
	}
	s = strings.Trim(s, "._-")
	if s == "" {
		return "chaincode"
	}
	return s
}

// ImageTag identifies everything that determines an image's content: the
// package, the builder image, the generated Dockerfile (which names the
// runtime image), the build command and our own build layout version.
func ImageTag(ccid, builderImage, dockerfile, buildCmd string) string {
	return sha256Hex(ccid, builderImage, dockerfile, buildCmd, buildConfigVersion)
}

// ImageRef is <registry>/<repository>:<tag>, the repository named after the
// chaincode label of ccid.
func ImageRef(registry, ccid, tag string) string {
	return registry + "/" + imageRepository(ccid) + ":" + tag
}

// BuildJobName depends only on the image tag: every peer building the same
// image uses the same Job name, so concurrent builds collide on purpose.
func BuildJobName(tag string) string {
	return "ccbuild-" + tag[:40]
}

// PodName is the name of the Pod (and of its TLS Secret) of one launch:
// "cc-<peer>-<label>-<hash>-<launchID>". The hash makes it unique per
// (network, peer, chaincode) so peers sharing a namespace never collide; the
// launch ID makes every launch a new name, so that a launch never waits for
// the previous pod of its chaincode to be gone, nor races a cache that still
// shows it.
func PodName(networkID, peerID, ccid, launchID string) string {
	return dnsLabelSuffixed("cc-"+peerID+"-"+ChaincodeLabel(ccid), launchID, "pod", networkID, peerID, ccid)
}

// LabelValue turns s into a valid label value; when s had to be changed a
// hash suffix keeps distinct inputs distinct.
func LabelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	suffix := sha256Hex(s)[:hashLen]
	v := strings.Trim(labelValueInvalid.ReplaceAllString(s, "-"), "._-")
	if max := validation.LabelValueMaxLength - hashLen - 1; len(v) > max {
		v = strings.TrimRight(v[:max], "._-")
	}
	if v == "" {
		return suffix
	}
	return v + "-" + suffix
}

// chaincodeHash is the value of the chaincode-hash label: a digest of the full
// package ID (label values cannot hold a 64 character hash).
func chaincodeHash(ccid string) string {
	return sha256Hex(ccid)[:32]
}

// PrePullName is the name of the DaemonSet of one pre-pull of a chaincode's
// image: "ccpull-<peer>-<label>-<hash>-<id>", unique per (network, peer,
// chaincode) like PodName, and per pre-pull by id, so that a pre-pull never
// meets the DaemonSet of an earlier one, deleted or not.
func PrePullName(networkID, peerID, ccid, id string) string {
	return dnsLabelSuffixed("ccpull-"+peerID+"-"+ChaincodeLabel(ccid), id, "prepull", networkID, peerID, ccid)
}
