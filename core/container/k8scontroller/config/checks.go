/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import (
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/pkg/errors"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The checks of the keys (key.Check) that several keys share. Each names
// the key k in its message.

func positive[T ~int | ~int64 | ~float32](_ *Config, k string, v T) error {
	if v <= 0 {
		return errors.Errorf("%s: must be > 0", k)
	}
	return nil
}

func notNegative(_ *Config, k string, v time.Duration) error {
	if v < 0 {
		return errors.Errorf("%s: must be >= 0", k)
	}
	return nil
}

func required(_ *Config, k string, v string) error {
	if v == "" {
		return errors.Errorf("%s: must be set", k)
	}
	return nil
}

// objectName checks the name of a Kubernetes object, when it is set.
func objectName(_ *Config, k string, v string) error {
	if v == "" {
		return nil
	}
	if msgs := validation.IsDNS1123Subdomain(v); len(msgs) > 0 {
		return errors.Errorf("%s: %q is not a valid object name: %s", k, v, strings.Join(msgs, "; "))
	}
	return nil
}

func namespaceName(k, ns string) error {
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return errors.Errorf("%s: %q is not a valid namespace name: %s", k, ns, strings.Join(msgs, "; "))
	}
	return nil
}

// repositoryPrefix checks that registry can prefix a repository name.
func repositoryPrefix(_ *Config, k string, registry string) error {
	if _, err := name.NewRepository(registry + "/chaincode"); err != nil {
		return errors.Wrapf(err, "%s: %q is not a valid registry repository prefix: invalid repository", k, registry)
	}
	return nil
}

// noProblems is the error of a list of problems, each naming its field
// (podvalidation.go), nil when there are none.
func noProblems(problems []string) error {
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
