/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/pkg/errors"
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

// dnsLabel returns "<sanitised human>-<hash>", at most 63 characters. The hash
// is computed over the unsanitised identity parts, so inputs that sanitise to
// the same text still get different names.
func dnsLabel(human string, identity ...string) string {
	suffix := sha256Hex(identity...)[:hashLen]
	human = sanitizeDNS(human)
	if max := maxLabelLength - hashLen - 1; len(human) > max {
		human = strings.TrimRight(human[:max], "-")
	}
	if human == "" {
		return "x-" + suffix
	}
	return human + "-" + suffix
}

// chaincodeLabel is the label part of a package ID "label:hash".
func chaincodeLabel(ccid string) string {
	if i := strings.LastIndex(ccid, ":"); i >= 0 {
		return ccid[:i]
	}
	return ccid
}

// imageRepository is the repository name (below the configured registry) of
// a chaincode image: the sanitised chaincode label.
func imageRepository(ccid string) string {
	s := repoInvalidChars.ReplaceAllString(strings.ToLower(chaincodeLabel(ccid)), "-")
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

// imageTag identifies everything that determines an image's content: the
// package, the builder image, the generated Dockerfile (which names the
// runtime image), the build command and our own build layout version.
func imageTag(ccid, builderImage, dockerfile, buildCmd string) string {
	return sha256Hex(ccid, builderImage, dockerfile, buildCmd, buildConfigVersion)
}

// imageRef is <registry>/<repository>:<tag>.
func imageRef(registry, ccid, tag string) string {
	return registry + "/" + imageRepository(ccid) + ":" + tag
}

// buildJobName depends only on the image tag: every peer building the same
// image uses the same Job name, so concurrent builds collide on purpose.
func buildJobName(tag string) string {
	return "ccbuild-" + tag[:40]
}

// podName is unique per (network, peer, chaincode) so peers sharing a
// namespace never collide.
func podName(networkID, peerID, ccid string) string {
	return dnsLabel("cc-"+peerID+"-"+chaincodeLabel(ccid), "pod", networkID, peerID, ccid)
}

// secretName is the name of the TLS Secret of the chaincode pod.
func secretName(networkID, peerID, ccid string) string {
	return dnsLabel("cctls-"+peerID+"-"+chaincodeLabel(ccid), "secret", networkID, peerID, ccid)
}

// labelValue turns s into a valid label value; when s had to be changed a
// hash suffix keeps distinct inputs distinct.
func labelValue(s string) string {
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

// validateRegistry checks that registry can prefix a repository name.
func validateRegistry(registry string) error {
	if _, err := name.NewRepository(registry + "/chaincode"); err != nil {
		return errors.Wrap(err, "invalid repository")
	}
	return nil
}
