package printers

import (
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Upstream's RoleBinding and ClusterRoleBinding columns (Roles and
// ClusterRoles print the default NAME and CREATED AT, as upstream).

var roleBindingColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Role", Type: "string", Description: rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]},
	ageColumn,
	{Name: "Users", Type: "string", Priority: 1, Description: "Users in the roleBinding"},
	{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the roleBinding"},
	{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the roleBinding"},
}

var clusterRoleBindingColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Role", Type: "string", Description: rbacv1.ClusterRoleBinding{}.SwaggerDoc()["roleRef"]},
	ageColumn,
	{Name: "Users", Type: "string", Priority: 1, Description: "Users in the clusterRoleBinding"},
	{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the clusterRoleBinding"},
	{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the clusterRoleBinding"},
}

func printRoleBinding(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	b := obj.(*rbacv1.RoleBinding)
	return bindingRow(b.ObjectMeta, b.RoleRef, b.Subjects, now), nil
}

func printClusterRoleBinding(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	b := obj.(*rbacv1.ClusterRoleBinding)
	return bindingRow(b.ObjectMeta, b.RoleRef, b.Subjects, now), nil
}

func bindingRow(m metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject, now time.Time) []interface{} {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			if s.Namespace != "" {
				sas = append(sas, s.Namespace+"/"+s.Name)
			} else {
				sas = append(sas, s.Name)
			}
		}
	}
	return []interface{}{m.Name, ref.Kind + "/" + ref.Name, age(m.CreationTimestamp, now),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
}
