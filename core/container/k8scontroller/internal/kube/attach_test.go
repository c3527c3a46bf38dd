/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kube

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLimitedBufferKeepsTheStart(t *testing.T) {
	b := &limitedBuffer{Max: 5}
	for _, s := range []string{"abc", "defg", "hij"} {
		n, err := b.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n, "every write is taken whole")
	}
	require.Equal(t, "abcde", b.String())
}
