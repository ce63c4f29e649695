package daemon

import (
	"sort"

	"github.com/peapod/peapod/internal/nscontroller"
	"github.com/peapod/peapod/internal/registry"
)

// served are the stores of every resource the API serves.
func (d *Daemon) served() []*registry.Store {
	return []*registry.Store{d.pods, d.namespaces, d.nodes, d.events, d.configMaps, d.secrets, d.serviceAccounts,
		d.resourceQuotas, d.limitRanges, d.runtimeClasses, d.priorityClasses, d.deployments, d.replicaSets, d.daemonSets, d.statefulSets, d.controllerRevisions, d.jobs, d.cronJobs,
		d.claims, d.volumes, d.storageClasses, d.roles, d.clusterRoles, d.roleBindings, d.clusterRoleBindings, d.csrs}
}

// deletionOrder ranks the resources the namespace controller empties
// first: pods (upstream's ordered deletion), then the workloads top-down,
// so that nothing is made again from what is still there.
var deletionOrder = map[string]int{
	"pods": 1, "cronjobs.batch": 2, "deployments.apps": 3, "daemonsets.apps": 4, "statefulsets.apps": 5,
	"replicasets.apps": 6, "jobs.batch": 7, "controllerrevisions.apps": 8,
}

// namespaceContent is what the namespace controller empties: every
// namespaced resource served, whatever it is, in deletionOrder and then in
// the order served.
func namespaceContent(served []*registry.Store) []nscontroller.Store {
	var stores []*registry.Store
	for _, st := range served {
		if st.Resource().Namespaced {
			stores = append(stores, st)
		}
	}
	rank := func(st *registry.Store) int {
		if r, ok := deletionOrder[st.Resource().Key()]; ok {
			return r
		}
		return len(deletionOrder) + 1
	}
	sort.SliceStable(stores, func(i, j int) bool { return rank(stores[i]) < rank(stores[j]) })
	out := make([]nscontroller.Store, 0, len(stores))
	for _, st := range stores {
		out = append(out, st)
	}
	return out
}
