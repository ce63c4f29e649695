package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	storagev1 "k8s.io/api/storage/v1"

	"github.com/peapod/peapod/internal/apiserver"
	"github.com/peapod/peapod/internal/audit"
	volumecontroller "github.com/peapod/peapod/internal/controller/volume"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/failpoint"
	"github.com/peapod/peapod/internal/limitranger"
	"github.com/peapod/peapod/internal/nscontroller"
	"github.com/peapod/peapod/internal/pki"
	"github.com/peapod/peapod/internal/podsecurity"
	"github.com/peapod/peapod/internal/printers"
	"github.com/peapod/peapod/internal/quota"
	"github.com/peapod/peapod/internal/rbac"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/certificates"
	"github.com/peapod/peapod/internal/registry/configmap"
	"github.com/peapod/peapod/internal/registry/controllerrevision"
	"github.com/peapod/peapod/internal/registry/cronjob"
	"github.com/peapod/peapod/internal/registry/daemonset"
	"github.com/peapod/peapod/internal/registry/deployment"
	"github.com/peapod/peapod/internal/registry/event"
	"github.com/peapod/peapod/internal/registry/job"
	"github.com/peapod/peapod/internal/registry/limitrange"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/registry/node"
	"github.com/peapod/peapod/internal/registry/pod"
	"github.com/peapod/peapod/internal/registry/priorityclass"
	"github.com/peapod/peapod/internal/registry/replicaset"
	"github.com/peapod/peapod/internal/registry/resourcequota"
	"github.com/peapod/peapod/internal/registry/runtimeclass"
	"github.com/peapod/peapod/internal/registry/secret"
	"github.com/peapod/peapod/internal/registry/serviceaccount"
	"github.com/peapod/peapod/internal/registry/statefulset"
	storageapi "github.com/peapod/peapod/internal/registry/storage"
	"github.com/peapod/peapod/internal/runtime/criserver"
	"github.com/peapod/peapod/internal/satoken"
	"github.com/peapod/peapod/internal/scheduler"
	"github.com/peapod/peapod/internal/scheme"
	"github.com/peapod/peapod/internal/serviceaccounts"
	"github.com/peapod/peapod/internal/storage"
)

// Daemon is a running peapod.
type Daemon struct {
	opts Options
	log  *slog.Logger

	storage    *storage.Store
	pods       *registry.Store
	namespaces *registry.Store
	nodes      *registry.Store
	events     *registry.Store
	// configMaps, secrets and serviceAccounts configure containers.
	configMaps, secrets, serviceAccounts *registry.Store
	// resourceQuotas and limitRanges constrain a namespace; quota is
	// the ResourceQuota admission plugin and controller; runtimeClasses
	// name the node's runtime handlers; priorityClasses give pods their
	// priority.
	resourceQuotas, limitRanges, runtimeClasses   *registry.Store
	priorityClasses                               *registry.Store
	replicaSets, deployments, jobs, cronJobs      *registry.Store
	daemonSets, controllerRevisions, statefulSets *registry.Store
	claims, volumes, storageClasses               *registry.Store
	// roles, clusterRoles, roleBindings and clusterRoleBindings are
	// RBAC's objects; authorizer decides every API request by them.
	roles, clusterRoles, roleBindings, clusterRoleBindings *registry.Store
	authorizer                                             *rbac.Authorizer
	// csrs are the CertificateSigningRequests csrSigner signs with the CA.
	csrs      *registry.Store
	csrSigner *pki.CA
	// controllerEvents are the recorders of the workload controllers.
	controllerEvents []*events.Recorder
	quota            *quota.Quota
	scheduler        *scheduler.Scheduler
	// schedulerEvents records as default-scheduler.
	schedulerEvents *events.Recorder
	api             *apiserver.Server
	audit           *audit.Logger
	listener        net.Listener
	// podListener serves the API on the pod network's gateway.
	podListener  net.Listener
	saController *serviceaccounts.Controller
	tls          *tls.Config
	node         *nodeAgent
	failpoints   *failpoint.Set
}

// Run starts peapod and serves until ctx is done.
func Run(ctx context.Context, opts Options, log *slog.Logger) error {
	if opts.RuntimeOnly {
		return RunRuntime(ctx, opts, log)
	}
	d, err := New(ctx, opts, log)
	if err != nil {
		return err
	}
	return d.Serve(ctx)
}

// New builds every layer and binds the API port, without serving yet.
func New(ctx context.Context, opts Options, log *slog.Logger) (_ *Daemon, err error) {
	opts = opts.withDefaults()
	failpoints, err := failpoint.Parse(os.Getenv(failpoint.EnvVar))
	if err != nil {
		return nil, err
	}
	if failpoints != nil {
		log.Warn("failpoints armed: this daemon kills itself at the named steps (tests only)", "failpoints", os.Getenv(failpoint.EnvVar))
	}
	d := &Daemon{opts: opts, log: log, failpoints: failpoints}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	// A bad audit policy or flag stops the daemon before anything starts.
	d.audit, err = audit.New(audit.Config{Path: opts.AuditLogPath, PolicyFile: opts.AuditPolicyFile, Log: log.With("component", "audit"),
		Rotation: audit.Rotation{MaxSize: opts.AuditLogMaxSize, MaxBackups: opts.AuditLogMaxBackup, MaxAge: opts.AuditLogMaxAge}})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { d.audit.Close() })
	// The static pod manifest directory exists once the API answers, so
	// that whoever waits for the API can drop manifests in it.
	for _, dir := range []string{opts.DataDir, opts.RunDir, opts.LogDir, opts.ConfigDir, opts.PodManifestPath} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	sc := scheme.New()
	d.storage, err = storage.Open(filepath.Join(opts.DataDir, "peapod.db"), sc, storage.Options{NoSync: opts.NoSync})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { d.storage.Close() })
	now := time.Now
	d.namespaces = registry.NewStore(namespace.Resource(), d.storage, now)
	d.nodes = registry.NewStore(node.Resource(), d.storage, now)
	d.events = registry.NewStore(event.Resource(), d.storage, now)
	d.configMaps = registry.NewStore(configmap.Resource(), d.storage, now)
	d.secrets = registry.NewStore(secret.Resource(), d.storage, now)
	d.serviceAccounts = registry.NewStore(serviceaccount.Resource(), d.storage, now)
	d.schedulerEvents = events.NewRecorder(d.events, events.Source{Component: "default-scheduler", Host: opts.NodeName, NewStyle: true, Action: "Binding"}, now, log)
	undo = append(undo, d.schedulerEvents.Stop)
	d.scheduler = &scheduler.Scheduler{NodeName: opts.NodeName, Nodes: d.nodes, Recorder: d.schedulerEvents,
		Log: log.With("component", "scheduler"), Now: now}
	d.saController = &serviceaccounts.Controller{Namespaces: d.namespaces, ServiceAccounts: d.serviceAccounts, ConfigMaps: d.configMaps,
		Log: log.With("component", "serviceaccount-controller")}
	objects := &objectGetter{serviceAccounts: d.serviceAccounts, secrets: d.secrets, controller: d.saController}
	d.pods = registry.NewStore(pod.Resource(&pod.Strategy{NodeName: opts.NodeName, Now: now, Scheduler: d.scheduler,
		ServiceAccounts: objects.admissionServiceAccount}), d.storage, now)
	objects.pods = d.pods
	d.scheduler.Pods = d.pods
	d.resourceQuotas = registry.NewStore(resourcequota.Resource(), d.storage, now)
	d.limitRanges = registry.NewStore(limitrange.Resource(), d.storage, now)
	d.runtimeClasses = registry.NewStore(runtimeclass.Resource(), d.storage, now)
	d.priorityClasses = registry.NewStore(priorityclass.Resource(), d.storage, now)
	d.replicaSets = registry.NewStore(replicaset.Resource(), d.storage, now)
	d.deployments = registry.NewStore(deployment.Resource(), d.storage, now)
	d.jobs = registry.NewStore(job.Resource(), d.storage, now)
	d.cronJobs = registry.NewStore(cronjob.Resource(), d.storage, now)
	d.daemonSets = registry.NewStore(daemonset.Resource(), d.storage, now)
	d.controllerRevisions = registry.NewStore(controllerrevision.Resource(), d.storage, now)
	d.statefulSets = registry.NewStore(statefulset.Resource(), d.storage, now)
	d.storageClasses = registry.NewStore(storageapi.ClassResource(), d.storage, now)
	d.volumes = registry.NewStore(storageapi.VolumeResource(), d.storage, now)
	d.claims = registry.NewStore(storageapi.ClaimResource(&storageapi.ClaimStrategy{Classes: func(ctx context.Context) ([]storagev1.StorageClass, error) {
		list, err := d.storageClasses.List(ctx, "", registry.ListOptions{})
		if err != nil {
			return nil, err
		}
		return list.(*storagev1.StorageClassList).Items, nil
	}, Volume: func(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
		obj, err := d.volumes.Get(ctx, "", name)
		if err != nil {
			return nil, err
		}
		return obj.(*corev1.PersistentVolume), nil
	}, Resizer: volumecontroller.Provisioner}), d.storage, now)
	d.csrs = registry.NewStore(certificates.Resource(&certificates.Strategy{}), d.storage, now)
	d.csrs.UseAdmission(certificates.SubjectRestriction{})
	// Admission as kube-apiserver orders it: LimitRanger (its defaults
	// before the pod's QoS class is set; claims' storage too), PodSecurity
	// (also on namespaces and the kinds with a pod template), Priority (the
	// pod's priority; also on PriorityClasses), RuntimeClass (the pod's
	// overhead), then ResourceQuota last. Events
	// are never counted.
	d.quota = &quota.Quota{Quotas: d.resourceQuotas, Now: now, Log: log.With("component", "resourcequota"),
		Counted: map[string]*registry.Store{}}
	for _, st := range []*registry.Store{d.pods, d.configMaps, d.secrets, d.serviceAccounts, d.resourceQuotas, d.limitRanges, d.deployments, d.replicaSets, d.jobs, d.cronJobs, d.daemonSets, d.controllerRevisions, d.statefulSets, d.claims} {
		d.quota.Counted[st.Resource().Key()] = st
	}
	podSecurity, err := podsecurity.New(d.namespaces, d.pods)
	if err != nil {
		return nil, err
	}
	limitRanger := &limitranger.LimitRanger{LimitRanges: d.limitRanges}
	priority := &priorityclass.Admission{PriorityClasses: d.priorityClasses}
	d.pods.UseAdmission(limitRanger, podSecurity, priority, &runtimeclass.Admission{RuntimeClasses: d.runtimeClasses})
	d.claims.UseAdmission(limitRanger)
	d.priorityClasses.UseAdmission(priority)
	for _, st := range []*registry.Store{d.namespaces, d.deployments, d.replicaSets, d.daemonSets, d.statefulSets, d.jobs, d.cronJobs} {
		st.UseAdmission(podSecurity)
	}
	for _, st := range d.quota.Counted {
		st.UseAdmission(d.quota)
	}
	if err := d.ensureNamespaces(ctx); err != nil {
		return nil, err
	}
	if err := d.setUpRBAC(ctx); err != nil {
		return nil, err
	}

	host, port, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", opts.Listen, err)
	}
	gateway, err := gatewayIP(opts.PodCIDR)
	if err != nil {
		return nil, err
	}
	// The names kube-apiserver's serving certificate carries, the node's,
	// and the pod network gateway pods reach the API on.
	hosts := []string{"localhost", "127.0.0.1", "::1", opts.NodeName, gateway.String(),
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if host != "" && host != "0.0.0.0" && host != "::" {
		hosts = append(hosts, host)
	}
	bundle, err := pki.Ensure(filepath.Join(opts.DataDir, "pki"), hosts)
	if err != nil {
		return nil, err
	}
	d.saController.RootCA = bundle.CAPEM
	if d.csrSigner, err = pki.LoadCA(filepath.Join(opts.DataDir, "pki")); err != nil {
		return nil, err
	}
	d.tls = bundle.ServerTLS()
	d.listener, err = net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { d.listener.Close() })
	_, boundPort, _ := net.SplitHostPort(d.listener.Addr().String())
	podAPI := net.JoinHostPort(gateway.String(), boundPort)
	if host == "0.0.0.0" || host == "::" || host == "" {
		// The API already listens on every address, the gateway's too.
	} else if d.podListener, err = listenFreebind(ctx, podAPI); err != nil {
		log.Warn("pods cannot reach the API server: listening on the pod network gateway failed", "address", podAPI, "err", err)
		podAPI = ""
	} else {
		undo = append(undo, func() { d.podListener.Close() })
	}
	tokens, err := satoken.New(filepath.Join(opts.DataDir, "pki", "sa.key"), objects, satoken.Options{Now: now})
	if err != nil {
		return nil, err
	}
	serverHost := host
	if serverHost == "" || serverHost == "0.0.0.0" || serverHost == "::" {
		serverHost = "127.0.0.1"
	}
	_, realPort, _ := net.SplitHostPort(d.listener.Addr().String())
	if port == "0" {
		port = realPort
	}
	server := "https://" + net.JoinHostPort(serverHost, port)
	if err := bundle.WriteKubeconfig(opts.Kubeconfig, server, "peapod"); err != nil {
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}

	tokenREST := &serviceaccount.TokenREST{Issuer: tokens, Objects: objects}
	d.node, err = d.newNode(ctx, log, nodeAPI{tokens: tokenREST, podAddress: podAPI, hostAddress: net.JoinHostPort(serverHost, port)})
	if err != nil {
		return nil, err
	}
	undo = append(undo, d.node.recorder.Stop)
	if err := d.ensureRuntimeClasses(ctx); err != nil {
		return nil, err
	}
	if err := d.ensurePriorityClasses(ctx); err != nil {
		return nil, err
	}
	if err := d.ensureStorageClass(ctx); err != nil {
		return nil, err
	}

	d.api = apiserver.New(apiserver.Config{
		Scheme:            sc,
		Stores:            d.served(),
		Printer:           printers.New(sc.SetKind),
		Logs:              d.node.kubelet,
		Metrics:           d.node.kubelet,
		Exporter:          d.node.kubelet,
		Version:           Version(),
		Log:               log,
		Now:               now,
		ServerAddress:     net.JoinHostPort(serverHost, port),
		RequireClientCert: true,
		Tokens:            tokens,
		TokenRequests:     tokenREST,
		Streams:           d.node.kubelet,
		Authorizer:        d.authorizer,
		Anonymous:         opts.AnonymousAuth,
		Audit:             d.audit,
	})
	log.Info("peapod API server ready", "address", server, "kubeconfig", opts.Kubeconfig, "node", opts.NodeName)
	return d, nil
}

// Serve serves the API (and runs the kubelet and the controllers) until
// ctx is done or one of them fails, then shuts down in order: every loop
// is joined before the recorders and the storage close under them.
func (d *Daemon) Serve(ctx context.Context) error {
	srv := &http.Server{
		Handler:           d.api.Handler(),
		TLSConfig:         d.tls,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	g, gctx := errgroup.WithContext(ctx)
	criDone, err := criserver.Serve(gctx, d.opts.CRISocket, d.node.runtime, d.log.With("component", "cri"))
	if err != nil {
		return err
	}
	g.Go(func() error {
		if err := <-criDone; err != nil && gctx.Err() == nil {
			return fmt.Errorf("serving the CRI: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := srv.ServeTLS(d.listener, "", ""); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving the API: %w", err)
		}
		return nil
	})
	if d.podListener != nil {
		g.Go(func() error {
			if err := srv.ServeTLS(d.podListener, "", ""); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serving the API to pods: %w", err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		d.api.Stop() // watches and followed logs end now
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			d.log.Warn("shutting down the API server: requests still open", "err", err)
		}
		return nil
	})
	g.Go(func() error {
		events.ExpireLoop(gctx, d.events, events.DefaultTTL, time.Now)
		return nil
	})
	nsc := &nscontroller.Controller{Namespaces: d.namespaces, Log: d.log.With("component", "namespace-controller"),
		Content: namespaceContent(d.served())}
	g.Go(func() error { return nsc.Run(gctx) })
	for _, run := range d.controllers() {
		g.Go(func() error { return run(gctx) })
	}
	g.Go(func() error { return d.saController.Run(gctx) })
	g.Go(func() error {
		return (&rbac.Aggregator{ClusterRoles: d.clusterRoles, Log: d.log.With("component", "clusterrole-aggregation-controller")}).Run(gctx)
	})
	g.Go(func() error { return d.quota.Run(gctx) })
	g.Go(func() error { return d.scheduler.Run(gctx) })
	// Joined like the loops: the pooled sandboxes are removed before
	// the daemon exits.
	g.Go(func() error { return d.node.runtime.RunPool(gctx, d.opts.SandboxPool) })
	g.Go(func() error {
		// Once the daemon stops, an error from stopping is no failure.
		if err := d.node.kubelet.Run(gctx); err != nil && gctx.Err() == nil {
			return fmt.Errorf("kubelet: %w", err)
		}
		return nil
	})
	// A loop that ends without an error while the daemon should run
	// would leave it half alive: every loop returns only once gctx ends,
	// or with an error that ends gctx.
	err = g.Wait()
	for _, r := range d.controllerEvents {
		r.Stop()
	}
	d.node.recorder.Stop()
	d.schedulerEvents.Stop()
	if cerr := d.storage.Close(); err == nil {
		err = cerr
	}
	if cerr := d.audit.Close(); err == nil {
		err = cerr
	}
	return err
}

// ensureNamespaces creates the system namespaces, as the system-namespaces
// controller does at apiserver start.
func (d *Daemon) ensureNamespaces(ctx context.Context) error {
	for _, name := range namespace.System() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := d.namespaces.Create(ctx, "", ns, false); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", name, err)
		}
	}
	return nil
}

// ensureRuntimeClasses makes a RuntimeClass named after each runtime
// handler the node has (runc, crun where installed), so that a pod's
// runtimeClassName can choose one; existing ones are left as they are.
func (d *Daemon) ensureRuntimeClasses(ctx context.Context) error {
	st, err := d.node.runtime.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return fmt.Errorf("runtime handlers: %w", err)
	}
	for _, h := range st.GetRuntimeHandlers() {
		if h.GetName() == "" {
			continue
		}
		rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: h.GetName()}, Handler: h.GetName()}
		if _, err := d.runtimeClasses.Create(ctx, "", rc, false); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating RuntimeClass %s: %w", h.GetName(), err)
		}
	}
	return nil
}

// ensurePriorityClasses makes the system priority classes
// (system-node-critical, system-cluster-critical), as the API server's
// scheduling post-start hook does.
func (d *Daemon) ensurePriorityClasses(ctx context.Context) error {
	for _, pc := range priorityclass.SystemClasses() {
		if _, err := d.priorityClasses.Create(ctx, "", pc, false); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating PriorityClass %s: %w", pc.Name, err)
		}
	}
	return nil
}

// ensureStorageClass makes the default StorageClass, local-path (peapod's
// node-local provisioner, volumes bound when their first pod is
// scheduled, claims that may grow), unless there is a StorageClass
// already.
func (d *Daemon) ensureStorageClass(ctx context.Context) error {
	list, err := d.storageClasses.List(ctx, "", registry.ListOptions{})
	if err != nil {
		return err
	}
	if items := list.(*storagev1.StorageClassList).Items; len(items) > 0 {
		return d.allowLocalPathExpansion(ctx, items)
	}
	reclaim, mode, expand := corev1.PersistentVolumeReclaimDelete, storagev1.VolumeBindingWaitForFirstConsumer, true
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-path", Annotations: map[string]string{storageapi.DefaultClassAnnotation: "true"}},
		Provisioner: volumecontroller.Provisioner, ReclaimPolicy: &reclaim, VolumeBindingMode: &mode, AllowVolumeExpansion: &expand}
	if _, err := d.storageClasses.Create(ctx, "", sc, false); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the default StorageClass: %w", err)
	}
	return nil
}

// allowLocalPathExpansion lets the claims of a local-path class an older
// peapod made grow, as a new one's do (its provisioner can grow them);
// a class whose allowVolumeExpansion an admin set stays as it is.
func (d *Daemon) allowLocalPathExpansion(ctx context.Context, classes []storagev1.StorageClass) error {
	for _, sc := range classes {
		if sc.Name != "local-path" || sc.Provisioner != volumecontroller.Provisioner || sc.AllowVolumeExpansion != nil {
			continue
		}
		_, err := d.storageClasses.Update(ctx, "", sc.Name, func(cur runtime.Object) (runtime.Object, error) {
			c := cur.(*storagev1.StorageClass).DeepCopy()
			if c.AllowVolumeExpansion != nil {
				return nil, storage.ErrNoChange
			}
			expand := true
			c.AllowVolumeExpansion = &expand
			return c, nil
		}, registry.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("updating StorageClass local-path: %w", err)
		}
	}
	return nil
}

// Version is the version peapod reports at /version: the Kubernetes API
// version it is built against, marked as peapod.
func Version() version.Info {
	apiVersion := "v0.0.0"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "k8s.io/api" {
				apiVersion = dep.Version
			}
		}
	}
	// k8s.io/api v0.X.Y is Kubernetes v1.X.Y.
	parts := strings.SplitN(strings.TrimPrefix(apiVersion, "v0."), ".", 2)
	minor, patch := parts[0], "0"
	if len(parts) == 2 {
		patch = parts[1]
	}
	return version.Info{
		Major: "1", Minor: minor, GitVersion: "v1." + minor + "." + patch + "-peapod",
		GitTreeState: "clean", GoVersion: goruntime.Version(), Compiler: goruntime.Compiler,
		Platform: goruntime.GOOS + "/" + goruntime.GOARCH,
	}
}
