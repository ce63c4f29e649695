package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/peapod/peapod/internal/rbac"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/certificates"
	rbacapi "github.com/peapod/peapod/internal/registry/rbac"
)

// setUpRBAC makes the RBAC stores (the namespaced ones counted by quota,
// set up before), the authorizer over them (with escalation prevention on
// their writes) and the default roles and
// bindings kube-apiserver bootstraps; and the approve and sign checks of
// CertificateSigningRequests, which ask the authorizer.
func (d *Daemon) setUpRBAC(ctx context.Context) error {
	now := time.Now
	guard := &rbac.Guard{}
	d.roles = registry.NewStore(rbacapi.RoleResource(guard), d.storage, now)
	d.clusterRoles = registry.NewStore(rbacapi.ClusterRoleResource(guard), d.storage, now)
	d.roleBindings = registry.NewStore(rbacapi.RoleBindingResource(guard), d.storage, now)
	d.clusterRoleBindings = registry.NewStore(rbacapi.ClusterRoleBindingResource(guard), d.storage, now)
	// Roles and RoleBindings count against count/roles.rbac.authorization.k8s.io
	// and count/rolebindings.rbac.authorization.k8s.io.
	for _, st := range []*registry.Store{d.roles, d.roleBindings} {
		d.quota.Counted[st.Resource().Key()] = st
		st.UseAdmission(d.quota)
	}
	d.authorizer = rbac.New(&rbac.Stores{Roles: d.roles, ClusterRoles: d.clusterRoles, RoleBindings: d.roleBindings, ClusterRoleBindings: d.clusterRoleBindings})
	guard.Authorizer = d.authorizer
	d.csrs.UseAdmission(certificates.SignerAuthorization{Authorizer: d.authorizer})
	if err := rbac.EnsureDefaults(ctx, d.clusterRoles, d.clusterRoleBindings); err != nil {
		return fmt.Errorf("default RBAC policy: %w", err)
	}
	return nil
}
