/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pkg/errors"
	"github.com/spf13/viper"
)

// A key is one vm.k8s.* key: the Config field it sets, its default, how its
// value is decoded, what Validate requires of it and its row of the
// reference. keys lists them all.
type key[T any] struct {
	// Name follows Prefix: "buildTimeout" is vm.k8s.buildTimeout.
	Name string
	// Field is the field of c that the key sets.
	Field func(c *Config) *T
	// Default is the field's value when the key is not set.
	Default T
	// Decode reads the value of the key k (Prefix included) from v.
	Decode func(v *viper.Viper, k string) (T, error)
	// Check, when set, returns what is wrong with value, the field's value,
	// in a message that begins with k, the key or one of its fields (as in
	// vm.k8s.resources.limits.cpu). c is the whole configuration.
	Check func(c *Config, k string, value T) error
	// DefaultDoc is the reference's default column when Default, formatted,
	// would not say it: a default taken from another key, "required",
	// "none". Markdown.
	DefaultDoc string
	// Doc is the reference's description of the key. Markdown.
	Doc string
}

// setting is a key of any type.
type setting interface {
	// load sets the key's field of c from v, or to its default when v does
	// not set the key.
	load(v *viper.Viper, c *Config) error
	// validate checks the key's field of c.
	validate(c *Config) error
	// field returns a pointer to the key's field of c.
	field(c *Config) any
	// row is the key's row of the reference: the key, its default and its
	// description.
	row() [3]string
}

func (k key[T]) load(v *viper.Viper, c *Config) error {
	name := Prefix + k.Name
	value := k.Default
	if v.IsSet(name) {
		var err error
		if value, err = k.Decode(v, name); err != nil {
			return errors.WithMessage(err, name)
		}
	}
	*k.Field(c) = value
	return nil
}

func (k key[T]) validate(c *Config) error {
	if k.Check == nil {
		return nil
	}
	return k.Check(c, Prefix+k.Name, *k.Field(c))
}

func (k key[T]) field(c *Config) any { return k.Field(c) }

func (k key[T]) row() [3]string {
	def := k.DefaultDoc
	if def == "" {
		def = formatDefault(k.Default)
	}
	return [3]string{"`" + Prefix + k.Name + "`", def, k.Doc}
}

// formatDefault is the reference's default column for a default of a
// scalar type ("" for any other type: such a key needs DefaultDoc).
func formatDefault(value any) string {
	switch v := value.(type) {
	case time.Duration:
		// 10m0s is written 10m, as in core.yaml.
		s := v.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return "`" + s + "`"
	case string:
		return "`" + fmt.Sprintf("%q", v) + "`"
	case bool, int, int64, float32:
		return "`" + fmt.Sprint(v) + "`"
	}
	return ""
}

// The decoders of the keys' values, one per type of field.

func decodeString(v *viper.Viper, k string) (string, error) { return v.GetString(k), nil }

func decodeBool(v *viper.Viper, k string) (bool, error) { return v.GetBool(k), nil }

func decodeDuration(v *viper.Viper, k string) (time.Duration, error) { return v.GetDuration(k), nil }

func decodeInt(v *viper.Viper, k string) (int, error) { return v.GetInt(k), nil }

func decodeInt64(v *viper.Viper, k string) (int64, error) { return v.GetInt64(k), nil }

func decodeFloat32(v *viper.Viper, k string) (float32, error) { return float32(v.GetFloat64(k)), nil }

// decodeRepositoryPrefix reads a registry repository prefix, without a
// trailing "/".
func decodeRepositoryPrefix(v *viper.Viper, k string) (string, error) {
	return strings.TrimSuffix(v.GetString(k), "/"), nil
}

// decodeStructured reads a value that is either YAML-decoded data from
// core.yaml or a JSON document from an environment variable. Like a
// chaincode's settings, it is strict: a field T does not have, or anything
// after the value, is an error. (Field names match case-insensitively,
// which the keys viper lower-cases need.)
func decodeStructured[T any](v *viper.Viper, k string) (T, error) {
	var target T
	var data []byte
	switch value := v.Get(k).(type) {
	case nil:
		return target, nil
	case string:
		if strings.TrimSpace(value) == "" {
			return target, nil
		}
		data = []byte(value)
	default:
		var err error
		if data, err = json.Marshal(value); err != nil {
			return target, errors.Wrap(err, "cannot re-encode value")
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&target); err != nil {
		return target, errors.Wrapf(err, "invalid value %q", string(data))
	}
	if _, err := dec.Token(); err != io.EOF {
		return target, errors.Errorf("invalid value %q: more than one JSON value", string(data))
	}
	return target, nil
}
