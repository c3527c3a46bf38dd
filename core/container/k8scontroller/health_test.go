/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/config"
	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/rbac"
	"github.com/pkg/errors"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// healthVM is a test VM whose clock is fake.
func healthVM(t *testing.T, cfg *config.Config) (*testVM, *clocktesting.FakeClock) {
	t.Helper()
	vm := newTestVM(t, cfg)
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	vm.Clock = clk
	return vm, clk
}

// answerRules answers every rules review with rules; incomplete marks the
// answer as not listing everything the peer may do.
func answerRules(vm *testVM, incomplete bool, rules ...authorizationv1.ResourceRule) {
	vm.client.PrependReactor("create", "selfsubjectrulesreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectRulesReview).DeepCopy()
		review.Status.ResourceRules = rules
		review.Status.Incomplete = incomplete
		return true, review, nil
	})
}

// rulesAllBut are one rule per verb of RequiredRules, leaving out the
// given "verb resource" pairs.
func rulesAllBut(denied ...string) []authorizationv1.ResourceRule {
	var rules []authorizationv1.ResourceRule
	for _, r := range rbac.RequiredRules() {
		for _, res := range r.Resources {
			for _, verb := range r.Verbs {
				if !slices.Contains(denied, verb+" "+res) {
					rules = append(rules, authorizationv1.ResourceRule{Verbs: []string{verb}, APIGroups: r.APIGroups, Resources: []string{res}})
				}
			}
		}
	}
	return rules
}

// grantAllBut answers rules reviews with rulesAllBut(denied...).
func grantAllBut(vm *testVM, incomplete bool, denied ...string) {
	answerRules(vm, incomplete, rulesAllBut(denied...)...)
}

// allowAllBut answers access reviews, denying the given "verb resource" pairs.
func allowAllBut(vm *testVM, denied ...string) {
	vm.client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		attrs := review.Spec.ResourceAttributes
		res := attrs.Resource
		if attrs.Subresource != "" {
			res += "/" + attrs.Subresource
		}
		review.Status.Allowed = !slices.Contains(denied, attrs.Verb+" "+res)
		return true, review, nil
	})
}

// apiCalls are the requests the VM made, by kind.
type apiCalls struct {
	total         int
	rulesReviews  []string // namespace of each SelfSubjectRulesReview
	accessReviews []authorizationv1.ResourceAttributes
}

// takeCalls returns the requests made since the last call and forgets them.
func takeCalls(vm *testVM) apiCalls {
	var c apiCalls
	for _, a := range vm.client.Actions() {
		c.total++
		create, ok := a.(k8stesting.CreateAction)
		if !ok {
			continue
		}
		switch obj := create.GetObject().(type) {
		case *authorizationv1.SelfSubjectRulesReview:
			c.rulesReviews = append(c.rulesReviews, obj.Spec.Namespace)
		case *authorizationv1.SelfSubjectAccessReview:
			c.accessReviews = append(c.accessReviews, *obj.Spec.ResourceAttributes)
		}
	}
	vm.client.ClearActions()
	return c
}

func TestHealthCheckOneRulesReviewPerNamespace(t *testing.T) {
	t.Run("shared namespace", func(t *testing.T) {
		vm, _ := healthVM(t, testConfig())
		grantAllBut(vm, false)
		require.NoError(t, vm.HealthCheck(context.Background()))

		calls := takeCalls(vm)
		require.Equal(t, []string{"fabric"}, calls.rulesReviews)
		require.Empty(t, calls.accessReviews)
		require.Equal(t, 3, calls.total, "server version, one namespace probe and one rules review")
	})
	t.Run("separate build namespace", func(t *testing.T) {
		cfg := testConfig()
		cfg.BuildNamespace = "fabric-builds"
		vm, _ := healthVM(t, cfg)
		grantAllBut(vm, false)
		require.NoError(t, vm.HealthCheck(context.Background()))

		calls := takeCalls(vm)
		require.Equal(t, []string{"fabric", "fabric-builds"}, calls.rulesReviews)
		require.Empty(t, calls.accessReviews)
		require.Equal(t, 5, calls.total, "server version, one namespace probe and one rules review per namespace")
	})
}

func TestHealthCheckReusesPermissionsWithinInterval(t *testing.T) {
	vm, clk := healthVM(t, testConfig())
	grantAllBut(vm, false)

	require.NoError(t, vm.HealthCheck(context.Background()))
	require.Len(t, takeCalls(vm).rulesReviews, 1)

	for i := 0; i < 10; i++ {
		require.NoError(t, vm.HealthCheck(context.Background()))
	}
	calls := takeCalls(vm)
	require.Empty(t, calls.rulesReviews)
	require.Empty(t, calls.accessReviews)
	require.Equal(t, 10, calls.total, "only the server version, once per probe")

	clk.Step(config.DefaultHealthCheckInterval - time.Nanosecond)
	require.NoError(t, vm.HealthCheck(context.Background()))
	require.Empty(t, takeCalls(vm).rulesReviews, "still within the interval")

	clk.Step(time.Nanosecond)
	require.NoError(t, vm.HealthCheck(context.Background()))
	require.Equal(t, []string{"fabric"}, takeCalls(vm).rulesReviews, "the interval has passed")
}

func TestHealthCheckConcurrentProbesReviewOnce(t *testing.T) {
	vm, _ := healthVM(t, testConfig())
	grantAllBut(vm, false)

	const probes = 10
	errs := make(chan error, probes)
	var wg sync.WaitGroup
	for i := 0; i < probes; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- vm.HealthCheck(context.Background())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	calls := takeCalls(vm)
	require.Equal(t, []string{"fabric"}, calls.rulesReviews)
	require.Equal(t, probes+2, calls.total, "a server version per probe, one namespace probe and one rules review")
}

func TestHealthCheckRechecksMissingPermissions(t *testing.T) {
	vm, clk := healthVM(t, testConfig())
	grantAllBut(vm, false, "patch secrets")
	const missing = "missing permissions in namespace fabric: patch secrets"
	require.EqualError(t, vm.HealthCheck(context.Background()), missing)

	grantAllBut(vm, false) // the Role is fixed
	require.EqualError(t, vm.HealthCheck(context.Background()), missing, "the failure is reused within the interval")
	clk.Step(config.DefaultHealthCheckInterval)
	require.NoError(t, vm.HealthCheck(context.Background()), "recovery is seen after one interval")
}

func TestHealthCheckDenied(t *testing.T) {
	vm, _ := healthVM(t, testConfig())
	grantAllBut(vm, false, "create pods/attach", "patch secrets", "watch jobs")
	err := vm.HealthCheck(context.Background())
	require.EqualError(t, err, "missing permissions in namespace fabric: patch secrets, create pods/attach, watch jobs.batch")
	require.Empty(t, takeCalls(vm).accessReviews)
}

func TestHealthCheckSeparateBuildNamespace(t *testing.T) {
	cfg := testConfig()
	cfg.BuildNamespace = "fabric-builds"
	vm, _ := healthVM(t, cfg)
	grantAllBut(vm, false, "create pods/attach", "patch secrets")

	err := vm.HealthCheck(context.Background())
	require.EqualError(t, err, "missing permissions in namespace fabric: patch secrets; in namespace fabric-builds: create pods/attach")
}

func TestHealthCheckRegistrySettingsInBuildNamespace(t *testing.T) {
	tests := []struct {
		name       string
		pushSecret string
		caMap      string
		want       string
	}{
		{"none", "", "", "missing permissions in namespace fabric: get secrets"},
		{"push secret", "regcred", "", "missing permissions in namespace fabric: get secrets; in namespace fabric-builds: get secrets"},
		{"CA ConfigMap", "", "registry-ca", "missing permissions in namespace fabric: get secrets; in namespace fabric-builds: get configmaps"},
		{"both", "regcred", "registry-ca", "missing permissions in namespace fabric: get secrets; in namespace fabric-builds: get secrets, get configmaps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.BuildNamespace = "fabric-builds"
			cfg.PushSecret, cfg.RegistryCAConfigMap = tt.pushSecret, tt.caMap
			vm, _ := healthVM(t, cfg)
			grantAllBut(vm, false, "get secrets", "get configmaps")
			require.EqualError(t, vm.HealthCheck(context.Background()), tt.want)
		})
	}
}

func TestHealthCheckWildcardRules(t *testing.T) {
	vm, _ := healthVM(t, testConfig())
	answerRules(vm, false,
		authorizationv1.ResourceRule{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"*"}},
		authorizationv1.ResourceRule{Verbs: []string{"create", "get", "list", "watch", "delete"}, APIGroups: []string{"*"}, Resources: []string{"jobs"}},
	)
	require.NoError(t, vm.HealthCheck(context.Background()))
}

func TestHealthCheckResourceNamesDoNotGrant(t *testing.T) {
	vm, _ := healthVM(t, testConfig())
	answerRules(vm, false, append(rulesAllBut("get pods/log", "delete secrets"),
		authorizationv1.ResourceRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods/log"}, ResourceNames: []string{"peer0-0"}},
		authorizationv1.ResourceRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}, ResourceNames: []string{"regcred"}},
	)...)
	err := vm.HealthCheck(context.Background())
	require.EqualError(t, err, "missing permissions in namespace fabric: delete secrets, get pods/log")
}

func TestHealthCheckIncompleteRules(t *testing.T) {
	vm, _ := healthVM(t, testConfig())
	grantAllBut(vm, true, "create pods/attach", "patch secrets", "watch jobs")
	allowAllBut(vm, "patch secrets")

	err := vm.HealthCheck(context.Background())
	require.EqualError(t, err, "missing permissions in namespace fabric: patch secrets")
	calls := takeCalls(vm)
	require.Equal(t, []string{"fabric"}, calls.rulesReviews)
	require.Equal(t, []authorizationv1.ResourceAttributes{
		{Namespace: testNamespace, Verb: "patch", Resource: "secrets"},
		{Namespace: testNamespace, Verb: "create", Resource: "pods", Subresource: "attach"},
		{Namespace: testNamespace, Verb: "watch", Group: "batch", Resource: "jobs"},
	}, calls.accessReviews, "only the verbs the rules do not grant")
}

func TestHealthCheckIncompleteRulesGrantingAll(t *testing.T) {
	vm, _ := healthVM(t, testConfig())
	grantAllBut(vm, true)
	allowAllBut(vm, "patch secrets")

	require.NoError(t, vm.HealthCheck(context.Background()))
	require.Empty(t, takeCalls(vm).accessReviews)
}

func TestHealthCheckUnreachable(t *testing.T) {
	vm, _ := healthVM(t, testConfig())
	grantAllBut(vm, false)
	require.NoError(t, vm.HealthCheck(context.Background()))

	vm.client.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("dial tcp 127.0.0.1:6443: connection refused")
	})
	err := vm.HealthCheck(context.Background())
	require.EqualError(t, err, "kubernetes API server unreachable: dial tcp 127.0.0.1:6443: connection refused",
		"reported on every probe, also while the permission check is reused")
}

func TestHealthCheckUnreachableBeforeReview(t *testing.T) {
	vm, _ := healthVM(t, testConfig())
	vm.client.PrependReactor("get", "version", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("dial tcp 127.0.0.1:6443: connection refused")
	})
	err := vm.HealthCheck(context.Background())
	require.EqualError(t, err, "kubernetes API server unreachable: dial tcp 127.0.0.1:6443: connection refused")
	calls := takeCalls(vm)
	require.Empty(t, calls.rulesReviews)
	require.Empty(t, calls.accessReviews)
}

func TestHealthCheckReviewError(t *testing.T) {
	t.Run("rules review", func(t *testing.T) {
		vm, _ := healthVM(t, testConfig())
		vm.client.PrependReactor("create", "selfsubjectrulesreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("boom")
		})
		require.EqualError(t, vm.HealthCheck(context.Background()), "cannot review rules in namespace fabric: boom")
	})
	t.Run("access review", func(t *testing.T) {
		vm, _ := healthVM(t, testConfig())
		grantAllBut(vm, true, "create pods/attach")
		vm.client.PrependReactor("create", "selfsubjectaccessreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("boom")
		})
		require.EqualError(t, vm.HealthCheck(context.Background()), "cannot review access to create pods/attach in namespace fabric: boom")
	})
}

func TestRequiredRules(t *testing.T) {
	rules := map[string][]string{}
	for _, r := range rbac.RequiredRules() {
		for _, res := range r.Resources {
			rules[r.APIGroups[0]+"/"+res] = r.Verbs
		}
	}
	require.Equal(t, map[string][]string{
		"/pods":           {"create", "get", "list", "watch", "delete"},
		"/pods/attach":    {"create", "get"},
		"/pods/log":       {"get"},
		"/secrets":        {"create", "get", "list", "watch", "delete", "patch"},
		"/events":         {"create", "patch", "list", "watch"},
		"/configmaps":     {"get", "list", "watch"},
		"apps/daemonsets": {"create", "get", "list", "watch", "delete"},
		"batch/jobs":      {"create", "get", "list", "watch", "delete"},
	}, rules)
}

func TestHealthCheckNamesMissingNamespace(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"deleted", apierrors.NewNotFound(corev1.Resource("namespaces"), "fabric-builds"), "namespace fabric-builds does not exist"},
		{"terminating", &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}},
		}}, "namespace fabric-builds is being deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.BuildNamespace = "fabric-builds"
			vm, clk := healthVM(t, cfg)
			grantAllBut(vm, false)
			gone := true
			vm.client.PrependReactor("create", "events", func(a k8stesting.Action) (bool, runtime.Object, error) {
				create := a.(k8stesting.CreateAction)
				require.Equal(t, []string{metav1.DryRunAll}, a.(k8stesting.CreateActionImpl).CreateOptions.DryRun, "the probe must not write")
				if gone && a.GetNamespace() == "fabric-builds" {
					return true, nil, tc.err
				}
				return true, create.GetObject(), nil
			})
			require.EqualError(t, vm.HealthCheck(context.Background()), tc.want)

			// Recreated: seen at the next check.
			gone = false
			clk.Step(cfg.HealthCheckInterval)
			require.NoError(t, vm.HealthCheck(context.Background()))
		})
	}
}
