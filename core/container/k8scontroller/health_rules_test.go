/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"testing"
	"time"

	"github.com/pkg/errors"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestRulesAllow(t *testing.T) {
	attach := resourceAccess{Verb: "create", Resource: "pods", Subresource: "attach"}
	jobs := resourceAccess{Verb: "watch", Group: "batch", Resource: "jobs"}
	rule := func(verbs, groups, resources []string, names ...string) authorizationv1.ResourceRule {
		return authorizationv1.ResourceRule{Verbs: verbs, APIGroups: groups, Resources: resources, ResourceNames: names}
	}
	all := []string{"*"}
	core := []string{""}
	tests := []struct {
		name    string
		rule    authorizationv1.ResourceRule
		access  resourceAccess
		allowed bool
	}{
		{"exact", rule([]string{"watch"}, []string{"batch"}, []string{"jobs"}), jobs, true},
		{"one of several", rule([]string{"get", "watch"}, []string{"apps", "batch"}, []string{"cronjobs", "jobs"}), jobs, true},
		{"other verb", rule([]string{"get"}, []string{"batch"}, []string{"jobs"}), jobs, false},
		{"other group", rule([]string{"watch"}, []string{"apps"}, []string{"jobs"}), jobs, false},
		{"core group is not batch", rule([]string{"watch"}, core, []string{"jobs"}), jobs, false},
		{"other resource", rule([]string{"watch"}, []string{"batch"}, []string{"cronjobs"}), jobs, false},
		{"any verb", rule(all, []string{"batch"}, []string{"jobs"}), jobs, true},
		{"any group", rule([]string{"watch"}, all, []string{"jobs"}), jobs, true},
		{"any resource", rule([]string{"watch"}, []string{"batch"}, all), jobs, true},
		{"everything", rule(all, all, all), attach, true},
		{"subresource", rule([]string{"create"}, core, []string{"pods/attach"}), attach, true},
		{"resource does not grant its subresource", rule([]string{"create"}, core, []string{"pods"}), attach, false},
		{"other subresource", rule([]string{"create"}, core, []string{"pods/exec"}), attach, false},
		{"subresource of any resource", rule([]string{"create"}, core, []string{"*/attach"}), attach, true},
		{"any subresource pattern needs a subresource", rule([]string{"watch"}, []string{"batch"}, []string{"*/jobs"}), jobs, false},
		{"any resource covers subresources", rule([]string{"create"}, core, all), attach, true},
		{"named objects only", rule([]string{"watch"}, []string{"batch"}, []string{"jobs"}, "build-1"), jobs, false},
		{"named objects only, wildcards", rule(all, all, all, "peer0-0"), attach, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.allowed, rulesAllow([]authorizationv1.ResourceRule{tt.rule}, tt.access))
		})
	}
	require.False(t, rulesAllow(nil, jobs), "no rules")
}

func TestPermissionCacheContextEnded(t *testing.T) {
	var c permissionCache
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	checks := 0
	check := func(ctx context.Context) error {
		checks++
		if err := ctx.Err(); err != nil {
			return errors.Wrap(err, "cannot review rules in namespace fabric")
		}
		return nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, c.get(ctx, clk, time.Minute, check), context.Canceled)
	require.NoError(t, c.get(context.Background(), clk, time.Minute, check), "an outcome cut short is not reused")
	require.NoError(t, c.get(context.Background(), clk, time.Minute, check))
	require.Equal(t, 2, checks)
}
