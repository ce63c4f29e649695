package daemon

import (
	"context"
	"path/filepath"
	"time"

	"github.com/peapod/peapod/internal/controller"
	cronjobcontroller "github.com/peapod/peapod/internal/controller/cronjob"
	"github.com/peapod/peapod/internal/controller/csrcleaner"
	"github.com/peapod/peapod/internal/controller/csrsigning"
	dscontroller "github.com/peapod/peapod/internal/controller/daemonset"
	deploycontroller "github.com/peapod/peapod/internal/controller/deployment"
	jobcontroller "github.com/peapod/peapod/internal/controller/job"
	rscontroller "github.com/peapod/peapod/internal/controller/replicaset"
	stscontroller "github.com/peapod/peapod/internal/controller/statefulset"
	volumecontroller "github.com/peapod/peapod/internal/controller/volume"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/gc"
)

// controllers are the loops of kube-controller-manager that peapod runs in
// process: the Deployment, ReplicaSet and Job (with the TTL-after-finished controller) and CronJob controllers, the CSR signer and cleaner, and the garbage collector, each
// recording events under its upstream name.
func (d *Daemon) controllers() []func(context.Context) error {
	now := time.Now
	recorder := func(component string) *events.Recorder {
		r := events.NewRecorder(d.events, events.Source{Component: component}, now, d.log)
		d.controllerEvents = append(d.controllerEvents, r)
		return r
	}
	rs := &rscontroller.Controller{ReplicaSets: d.replicaSets, Pods: d.pods, Recorder: recorder("replicaset-controller"),
		Log: d.log.With("component", "replicaset-controller"), Now: now}
	deploy := &deploycontroller.Controller{Deployments: d.deployments, ReplicaSets: d.replicaSets, Pods: d.pods,
		Recorder: recorder("deployment-controller"), Log: d.log.With("component", "deployment-controller"), Now: now}
	jobs := &jobcontroller.Controller{Jobs: d.jobs, Pods: d.pods, Recorder: recorder("job-controller"),
		Log: d.log.With("component", "job-controller"), Now: now}
	cronJobs := &cronjobcontroller.Controller{CronJobs: d.cronJobs, Jobs: d.jobs, Recorder: recorder("cronjob-controller"),
		Log: d.log.With("component", "cronjob-controller"), Now: now}
	daemons := &dscontroller.Controller{DaemonSets: d.daemonSets, Revisions: d.controllerRevisions, Pods: d.pods, Nodes: d.nodes,
		Recorder: recorder("daemonset-controller"), Log: d.log.With("component", "daemonset-controller"), Now: now}
	sets := &stscontroller.Controller{StatefulSets: d.statefulSets, Revisions: d.controllerRevisions, Pods: d.pods, Claims: d.claims,
		Recorder: recorder("statefulset-controller"), Log: d.log.With("component", "statefulset-controller"), Now: now}
	volumes := &volumecontroller.Controller{Claims: d.claims, Volumes: d.volumes, Classes: d.storageClasses, Pods: d.pods,
		Recorder: recorder("persistentvolume-controller"), Log: d.log.With("component", "persistentvolume-controller"),
		NodeName: d.opts.NodeName, Dir: filepath.Join(d.opts.DataDir, "volumes")}
	signer := &csrsigning.Controller{CSRs: d.csrs, CA: d.csrSigner, Log: d.log.With("component", "csrsigning-controller"), Now: now}
	cleaner := &csrcleaner.Controller{CSRs: d.csrs, Log: d.log.With("component", "csrcleaner-controller"), Now: now}
	collector := &gc.Collector{Log: d.log.With("component", "garbage-collector")}
	for _, st := range []controller.Store{d.pods, d.replicaSets, d.deployments, d.daemonSets, d.statefulSets, d.controllerRevisions, d.jobs, d.cronJobs, d.claims, d.volumes, d.configMaps, d.secrets, d.serviceAccounts,
		d.resourceQuotas, d.limitRanges, d.namespaces, d.nodes, d.runtimeClasses, d.priorityClasses, d.roles, d.clusterRoles, d.roleBindings, d.clusterRoleBindings, d.csrs} {
		collector.Stores = append(collector.Stores, st)
	}
	return []func(context.Context) error{rs.Run, deploy.Run, daemons.Run, sets.Run, jobs.Run, cronJobs.Run, volumes.Run, signer.Run, cleaner.Run, collector.Run}
}
