/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"testing"

	"github.com/pkg/errors"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// allowAllBut answers access reviews, denying the given "verb resource" pairs.
func allowAllBut(vm *testVM, denied ...string) *[]authorizationv1.ResourceAttributes {
	var reviewed []authorizationv1.ResourceAttributes
	vm.client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		attrs := review.Spec.ResourceAttributes
		reviewed = append(reviewed, *attrs)
		res := attrs.Resource
		if attrs.Subresource != "" {
			res += "/" + attrs.Subresource
		}
		review.Status.Allowed = true
		for _, d := range denied {
			if d == attrs.Verb+" "+res {
				review.Status.Allowed = false
			}
		}
		return true, review, nil
	})
	return &reviewed
}

func TestHealthCheckAllowed(t *testing.T) {
	vm := newTestVM(t, testConfig())
	reviewed := allowAllBut(vm)
	require.NoError(t, vm.HealthCheck(context.Background()))

	require.Len(t, *reviewed, 5+2+1+5+4+5)
	for _, attrs := range *reviewed {
		require.Equal(t, testNamespace, attrs.Namespace)
	}
	require.Contains(t, *reviewed, authorizationv1.ResourceAttributes{Namespace: testNamespace, Verb: "create", Resource: "pods", Subresource: "attach"})
	require.Contains(t, *reviewed, authorizationv1.ResourceAttributes{Namespace: testNamespace, Verb: "watch", Group: "batch", Resource: "jobs"})
}

func TestHealthCheckDenied(t *testing.T) {
	vm := newTestVM(t, testConfig())
	allowAllBut(vm, "create pods/attach", "patch secrets")
	err := vm.HealthCheck(context.Background())
	require.EqualError(t, err, "missing permissions in namespace fabric: patch secrets, create pods/attach")
}

func TestHealthCheckUnreachable(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.client.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("dial tcp 10.0.0.1:443: connection refused")
	})
	err := vm.HealthCheck(context.Background())
	require.EqualError(t, err, "kubernetes API server unreachable: dial tcp 10.0.0.1:443: connection refused")
}

func TestHealthCheckReviewError(t *testing.T) {
	vm := newTestVM(t, testConfig())
	vm.client.PrependReactor("create", "selfsubjectaccessreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("boom")
	})
	require.ErrorContains(t, vm.HealthCheck(context.Background()), "cannot review access to create pods in namespace fabric: boom")
}

func TestRequiredRules(t *testing.T) {
	rules := map[string][]string{}
	for _, r := range RequiredRules() {
		for _, res := range r.Resources {
			rules[r.APIGroups[0]+"/"+res] = r.Verbs
		}
	}
	require.Equal(t, map[string][]string{
		"/pods":        {"create", "get", "list", "watch", "delete"},
		"/pods/attach": {"create", "get"},
		"/pods/log":    {"get"},
		"/secrets":     {"create", "get", "list", "delete", "patch"},
		"/events":      {"create", "patch", "list", "watch"},
		"batch/jobs":   {"create", "get", "list", "watch", "delete"},
	}, rules)
}

func TestHealthCheckSeparateBuildNamespace(t *testing.T) {
	cfg := testConfig()
	cfg.BuildNamespace = "fabric-builds"
	vm := newTestVM(t, cfg)
	reviewed := allowAllBut(vm, "create pods/attach", "patch secrets")

	err := vm.HealthCheck(context.Background())
	require.EqualError(t, err, "missing permissions in namespace fabric: patch secrets; in namespace fabric-builds: create pods/attach")

	perNamespace := map[string]int{}
	for _, attrs := range *reviewed {
		perNamespace[attrs.Namespace]++
	}
	require.Equal(t, map[string]int{"fabric": 5 + 5 + 2, "fabric-builds": 3 + 2 + 1 + 4 + 5}, perNamespace)
}
