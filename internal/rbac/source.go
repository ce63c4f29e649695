package rbac

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod/peapod/internal/registry"
)

// Stores is the Source over the registry's four RBAC stores.
type Stores struct {
	Roles, ClusterRoles, RoleBindings, ClusterRoleBindings *registry.Store
}

// notFound is the error upstream's listers give, which reasons quote:
// `clusterrole.rbac.authorization.k8s.io "x" not found`.
func notFound(err error, singular, name string) error {
	if apierrors.IsNotFound(err) {
		return apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: singular}, name)
	}
	return err
}

// GetRole reads a Role.
func (s *Stores) GetRole(ctx context.Context, ns, name string) (*rbacv1.Role, error) {
	obj, err := s.Roles.Get(ctx, ns, name)
	if err != nil {
		return nil, notFound(err, "role", name)
	}
	return obj.(*rbacv1.Role), nil
}

// GetClusterRole reads a ClusterRole.
func (s *Stores) GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error) {
	obj, err := s.ClusterRoles.Get(ctx, "", name)
	if err != nil {
		return nil, notFound(err, "clusterrole", name)
	}
	return obj.(*rbacv1.ClusterRole), nil
}

// ListRoleBindings lists the RoleBindings of ns.
func (s *Stores) ListRoleBindings(ctx context.Context, ns string) ([]*rbacv1.RoleBinding, error) {
	obj, err := s.RoleBindings.List(ctx, ns, registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	items := obj.(*rbacv1.RoleBindingList).Items
	out := make([]*rbacv1.RoleBinding, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out, nil
}

// ListClusterRoleBindings lists every ClusterRoleBinding.
func (s *Stores) ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	obj, err := s.ClusterRoleBindings.List(ctx, "", registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	items := obj.(*rbacv1.ClusterRoleBindingList).Items
	out := make([]*rbacv1.ClusterRoleBinding, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out, nil
}
