/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package k8scontroller

import (
	"context"
	"strings"

	"github.com/pkg/errors"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
)

// RequiredRules are the namespaced RBAC rules the peer's service account
// needs in vm.k8s.namespace ("get pods" also covers reading the peer's own
// pod for vm.k8s.peerPodName).
func RequiredRules() []rbacv1.PolicyRule {
	podVerbs := []string{"create", "get", "list", "watch", "delete"}
	return []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: podVerbs},
		{APIGroups: []string{""}, Resources: []string{"pods/attach"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "get", "list", "delete", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
	}
}

// HealthCheck verifies that the API server is reachable and that the peer
// may do everything the VM does in its namespace.
func (vm *VM) HealthCheck(ctx context.Context) error {
	if _, err := discovery.ToServerVersionInterfaceWithContext(vm.Client.Discovery()).ServerVersionWithContext(ctx); err != nil {
		return errors.Wrap(err, "kubernetes API server unreachable")
	}
	ns := vm.Config.Namespace
	var denied []string
	for _, rule := range RequiredRules() {
		for _, res := range rule.Resources {
			resource, sub, _ := strings.Cut(res, "/")
			for _, verb := range rule.Verbs {
				review := &authorizationv1.SelfSubjectAccessReview{
					Spec: authorizationv1.SelfSubjectAccessReviewSpec{
						ResourceAttributes: &authorizationv1.ResourceAttributes{
							Namespace:   ns,
							Verb:        verb,
							Group:       rule.APIGroups[0],
							Resource:    resource,
							Subresource: sub,
						},
					},
				}
				resp, err := vm.Client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
				if err != nil {
					return errors.Wrapf(err, "cannot review access to %s %s in namespace %s", verb, qualified(rule.APIGroups[0], res), ns)
				}
				if !resp.Status.Allowed {
					denied = append(denied, verb+" "+qualified(rule.APIGroups[0], res))
				}
			}
		}
	}
	if len(denied) > 0 {
		return errors.Errorf("missing permissions in namespace %s: %s", ns, strings.Join(denied, ", "))
	}
	return nil
}

func qualified(group, resource string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}
