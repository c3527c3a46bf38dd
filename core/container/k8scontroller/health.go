/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"fmt"
	"strings"

	"github.com/pkg/errors"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
)

// ChaincodeRules are the RBAC rules the peer's service account needs in
// vm.k8s.namespace for chaincode Pods, their Secrets and Events ("get pods"
// also covers reading the peer's own pod for vm.k8s.peerPodName).
func ChaincodeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "get", "list", "watch", "delete", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
}

// BuildRules are the RBAC rules the peer's service account needs in
// vm.k8s.buildNamespace for build Jobs: their pods are watched, attached to
// (the code package is streamed in; the WebSocket upgrade is a GET, SPDY a
// POST) and read for logs, and FailedCreate events are watched so that a
// build pod the cluster refuses fails the build at once.
func BuildRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/attach"}, Verbs: []string{"create", "get"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch", "list", "watch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
	}
}

// RequiredRules are the rules of a deployment where chaincode and builds
// share one namespace (the default): ChaincodeRules and BuildRules merged.
func RequiredRules() []rbacv1.PolicyRule {
	return mergeRules(ChaincodeRules(), BuildRules())
}

// mergeRules unions the verbs of rules on the same group and resource,
// keeping the order in which resources and verbs first appear.
func mergeRules(sets ...[]rbacv1.PolicyRule) []rbacv1.PolicyRule {
	var merged []rbacv1.PolicyRule
	index := map[string]int{}
	for _, rules := range sets {
		for _, r := range rules {
			key := r.APIGroups[0] + "/" + r.Resources[0]
			i, ok := index[key]
			if !ok {
				index[key] = len(merged)
				merged = append(merged, rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: r.Resources})
				i = len(merged) - 1
			}
			for _, v := range r.Verbs {
				if !containsString(merged[i].Verbs, v) {
					merged[i].Verbs = append(merged[i].Verbs, v)
				}
			}
		}
	}
	return merged
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nsRules are the rules needed in one namespace.
type nsRules struct {
	Namespace string
	Rules     []rbacv1.PolicyRule
}

// namespacedRules are the rules to check, per namespace.
func (vm *VM) namespacedRules() []nsRules {
	cfg := vm.Config
	if cfg.BuildNamespace == cfg.Namespace {
		return []nsRules{{cfg.Namespace, RequiredRules()}}
	}
	return []nsRules{{cfg.Namespace, ChaincodeRules()}, {cfg.BuildNamespace, BuildRules()}}
}

// HealthCheck verifies that the API server is reachable and that the peer
// may do everything the VM does in its namespace.
func (vm *VM) HealthCheck(ctx context.Context) error {
	if _, err := discovery.ToServerVersionInterfaceWithContext(vm.Client.Discovery()).ServerVersionWithContext(ctx); err != nil {
		return errors.Wrap(err, "kubernetes API server unreachable")
	}
	var missing []string
	for _, nr := range vm.namespacedRules() {
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

// deniedRules reviews every verb of nr and returns those not allowed.
func (vm *VM) deniedRules(ctx context.Context, nr nsRules) ([]string, error) {
	var denied []string
	for _, rule := range nr.Rules {
		for _, res := range rule.Resources {
			resource, sub, _ := strings.Cut(res, "/")
			for _, verb := range rule.Verbs {
				review := &authorizationv1.SelfSubjectAccessReview{
					Spec: authorizationv1.SelfSubjectAccessReviewSpec{
						ResourceAttributes: &authorizationv1.ResourceAttributes{
							Namespace:   nr.Namespace,
							Verb:        verb,
							Group:       rule.APIGroups[0],
							Resource:    resource,
							Subresource: sub,
						},
					},
				}
				resp, err := vm.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
				if err != nil {
					return nil, errors.Wrapf(err, "cannot review access to %s %s in namespace %s", verb, qualified(rule.APIGroups[0], res), nr.Namespace)
				}
				if !resp.Status.Allowed {
					denied = append(denied, verb+" "+qualified(rule.APIGroups[0], res))
				}
			}
		}
	}
	return denied, nil
}

func qualified(group, resource string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}
