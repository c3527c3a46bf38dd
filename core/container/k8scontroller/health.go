/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/core/container/k8scontroller/rbac"
	"github.com/pkg/errors"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/utils/clock"
)

// nsRules are the rules needed in one namespace.
type nsRules struct {
	Namespace string
	Rules     []rbacv1.PolicyRule
}

// namespacedRules are the rules to check, per namespace.
func (vm *VM) namespacedRules() []nsRules {
	cfg := vm.Config
	chaincode := rbac.ChaincodeRules()
	if cfg.ChaincodeConfigMap != "" {
		chaincode = rbac.MergeRules(chaincode, rbac.SettingsRules())
	}
	if cfg.PrePull.Enabled {
		chaincode = rbac.MergeRules(chaincode, rbac.PrePullRules())
	}
	build := rbac.BuildRules()
	registry := rbac.RegistryRules()
	if cfg.PushSecret != "" {
		build = rbac.MergeRules(build, registry[:1])
	}
	if cfg.RegistryCAConfigMap != "" {
		build = rbac.MergeRules(build, registry[1:])
	}
	if cfg.BuildNamespace == cfg.Namespace {
		return []nsRules{{cfg.Namespace, rbac.MergeRules(chaincode, build)}}
	}
	return []nsRules{{cfg.Namespace, chaincode}, {cfg.BuildNamespace, build}}
}

// HealthCheck verifies that the API server is reachable, that the peer
// may do everything the VM does in its namespaces, and that no informer
// fails to fill its cache. The reachability check (one GET of the server
// version) runs on every call; the permission check runs at most once per
// vm.k8s.healthCheckInterval and its outcome, success or failure, is reused
// until then. The informers' state is read from memory on every call: an
// informer whose list keeps failing (403 Forbidden, for example, when the
// Role lacks a verb the rules review does not show) is named with the API
// server's answer.
func (vm *VM) HealthCheck(ctx context.Context) error {
	if _, err := discovery.ToServerVersionInterfaceWithContext(vm.Client.Discovery()).ServerVersionWithContext(ctx); err != nil {
		return errors.Wrap(err, "kubernetes API server unreachable")
	}
	if err := vm.health.get(ctx, vm.Clock, vm.Config.HealthCheckInterval, vm.checkPermissions); err != nil {
		return err
	}
	return vm.cache.fillError()
}

// permissionCache holds the outcome of the last permission check. Its zero
// value is ready to use.
type permissionCache struct {
	// mu is held while a check runs, so that concurrent probes wait for
	// that check instead of starting their own.
	mu        sync.Mutex
	checked   bool
	checkedAt time.Time
	err       error
}

// get returns the cached outcome if it is younger than interval, and
// otherwise runs check and caches its outcome. An outcome cut short by the
// end of ctx says nothing about the permissions and is not cached.
func (c *permissionCache) get(ctx context.Context, clk clock.PassiveClock, interval time.Duration, check func(context.Context) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checked && clk.Since(c.checkedAt) < interval {
		return c.err
	}
	now := clk.Now()
	err := check(ctx)
	if ctx.Err() != nil {
		return err
	}
	c.checked, c.checkedAt, c.err = true, now, err
	return err
}

// checkPermissions checks that every namespace the VM works in exists and
// reviews the VM's rules there.
func (vm *VM) checkPermissions(ctx context.Context) error {
	var missing []string
	for _, nr := range vm.namespacedRules() {
		if err := vm.namespaceUsable(ctx, nr.Namespace); err != nil {
			return err
		}
		denied, err := vm.deniedRules(ctx, nr)
		if err != nil {
			return err
		}
		if len(denied) > 0 {
			missing = append(missing, fmt.Sprintf("in namespace %s: %s", nr.Namespace, strings.Join(denied, ", ")))
		}
	}
	if len(missing) > 0 {
		return errors.Errorf("missing permissions %s", strings.Join(missing, "; "))
	}
	return nil
}

// namespaceUsable fails when namespace does not exist or is being deleted.
// The peer may not read namespaces, so it asks with a dry-run create of an
// Event, which both the chaincode and the build rules allow; any other
// refusal is left to the rules review.
func (vm *VM) namespaceUsable(ctx context.Context, namespace string) error {
	probe := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: "fabric-peer-k8s-healthz-", Namespace: namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Namespace", Name: namespace, APIVersion: "v1"},
		Reason:         "HealthCheck",
		Message:        "dry run",
		Type:           corev1.EventTypeNormal,
		Source:         corev1.EventSource{Component: fieldManager, Host: vm.PeerID},
	}
	_, err := vm.Client.CoreV1().Events(namespace).Create(ctx, probe, metav1.CreateOptions{
		DryRun:       []string{metav1.DryRunAll},
		FieldManager: fieldManager,
	})
	switch {
	case apierrors.IsNotFound(err):
		return errors.Errorf("namespace %s does not exist", namespace)
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return errors.Errorf("namespace %s is being deleted", namespace)
	}
	return nil
}

// resourceAccess is one verb on one resource, as the VM needs it.
type resourceAccess struct {
	Verb        string
	Group       string
	Resource    string
	Subresource string
}

// String is "verb resource[/subresource][.group]", as in error messages.
func (a resourceAccess) String() string {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	return a.Verb + " " + groupResource(a.Group, res)
}

// resourceAccesses lists every verb of rules, in order.
func resourceAccesses(rules []rbacv1.PolicyRule) []resourceAccess {
	var list []resourceAccess
	for _, rule := range rules {
		for _, res := range rule.Resources {
			resource, sub, _ := strings.Cut(res, "/")
			for _, verb := range rule.Verbs {
				list = append(list, resourceAccess{Verb: verb, Group: rule.APIGroups[0], Resource: resource, Subresource: sub})
			}
		}
	}
	return list
}

// deniedRules returns the verbs of nr the peer may not use. One
// SelfSubjectRulesReview lists what the peer may do in the namespace; only
// when the list is incomplete (an authorizer such as a webhook cannot
// enumerate its rules) is each verb the list does not grant reviewed on its
// own with a SelfSubjectAccessReview.
func (vm *VM) deniedRules(ctx context.Context, nr nsRules) ([]string, error) {
	review := &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: nr.Namespace},
	}
	resp, err := vm.Client.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return nil, errors.Wrapf(err, "cannot review rules in namespace %s", nr.Namespace)
	}
	var denied []string
	for _, a := range resourceAccesses(nr.Rules) {
		if rulesAllow(resp.Status.ResourceRules, a) {
			continue
		}
		if resp.Status.Incomplete {
			allowed, err := vm.accessAllowed(ctx, nr.Namespace, a)
			if err != nil {
				return nil, err
			}
			if allowed {
				continue
			}
		}
		denied = append(denied, a.String())
	}
	return denied, nil
}

// accessAllowed reviews one access with a SelfSubjectAccessReview.
func (vm *VM) accessAllowed(ctx context.Context, namespace string, a resourceAccess) (bool, error) {
	review := &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace:   namespace,
				Verb:        a.Verb,
				Group:       a.Group,
				Resource:    a.Resource,
				Subresource: a.Subresource,
			},
		},
	}
	resp, err := vm.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, errors.Wrapf(err, "cannot review access to %s in namespace %s", a, namespace)
	}
	return resp.Status.Allowed, nil
}

// rulesAllow reports whether one of rules grants a on every object of its
// resource, matching verbs, API groups and resources as RBAC does ("*",
// and "*/subresource" for a subresource of any resource). A rule limited to
// ResourceNames grants only on those objects and so does not count.
func rulesAllow(rules []authorizationv1.ResourceRule, a resourceAccess) bool {
	combined := a.Resource
	if a.Subresource != "" {
		combined += "/" + a.Subresource
	}
	for _, r := range rules {
		if len(r.ResourceNames) > 0 {
			continue
		}
		if !matchesOrWildcard(r.Verbs, a.Verb) || !matchesOrWildcard(r.APIGroups, a.Group) {
			continue
		}
		for _, res := range r.Resources {
			if res == rbacv1.ResourceAll || res == combined ||
				(a.Subresource != "" && res == "*/"+a.Subresource) {
				return true
			}
		}
	}
	return false
}

// matchesOrWildcard reports whether values holds want or the wildcard "*".
func matchesOrWildcard(values []string, want string) bool {
	for _, v := range values {
		if v == want || v == "*" {
			return true
		}
	}
	return false
}

// groupResource is resource qualified by its API group, as kubectl writes
// it: "jobs.batch", and "pods" for the core group.
func groupResource(group, resource string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}
