package daemon

import (
	"reflect"
	"testing"
	"time"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/configmap"
	"github.com/peapod/peapod/internal/registry/deployment"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/registry/pod"
	rbacapi "github.com/peapod/peapod/internal/registry/rbac"
	"github.com/peapod/peapod/internal/registry/replicaset"
)

// TestEveryStoreServed: every store the daemon holds is served, so the
// namespace controller, which empties every namespaced resource served,
// misses none.
func TestEveryStoreServed(t *testing.T) {
	d := &Daemon{}
	v := reflect.ValueOf(d).Elem()
	storeType := reflect.TypeOf((*registry.Store)(nil))
	fields := map[*registry.Store]string{}
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Type() != storeType {
			continue
		}
		name := v.Type().Field(i).Name
		st := registry.NewStore(&registry.Resource{Name: name, Namespaced: true}, nil, time.Now)
		reflect.NewAt(f.Type(), f.Addr().UnsafePointer()).Elem().Set(reflect.ValueOf(st))
		fields[st] = name
	}
	if len(fields) < 20 {
		t.Fatalf("found %d store fields", len(fields))
	}
	served := map[*registry.Store]bool{}
	for _, st := range d.served() {
		served[st] = true
	}
	for st, name := range fields {
		if !served[st] {
			t.Errorf("the store %s is not served (nor emptied with its namespace)", name)
		}
	}
	content := namespaceContent(d.served())
	if len(content) != len(fields) {
		t.Errorf("namespace content: %d stores, want %d", len(content), len(fields))
	}
}

// TestNamespaceContent: every namespaced resource served is emptied, pods
// first and the workloads top-down; cluster-scoped ones are not.
func TestNamespaceContent(t *testing.T) {
	store := func(res *registry.Resource) *registry.Store { return registry.NewStore(res, nil, time.Now) }
	widgets := store(&registry.Resource{Name: "widgets", Group: "example.com", Namespaced: true})
	served := []*registry.Store{
		store(namespace.Resource()), store(configmap.Resource()), widgets, store(replicaset.Resource()),
		store(rbacapi.ClusterRoleResource(nil)), store(rbacapi.RoleResource(nil)), store(deployment.Resource()),
		store(pod.Resource(&pod.Strategy{})),
	}
	var got []string
	for _, st := range namespaceContent(served) {
		got = append(got, st.Resource().Key())
	}
	want := []string{"pods", "deployments.apps", "replicasets.apps", "configmaps", "widgets.example.com", "roles.rbac.authorization.k8s.io"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
