// Package kubelet manages the pods bound to this node: it watches them in
// the API, drives the CRI runtime to create sandboxes and containers, writes
// pod status (phase, conditions, container states), records events, and on
// deletion stops everything gracefully, cleans up and removes the API object.
// It follows pkg/kubelet's pod worker model: one goroutine per pod, woken by
// API changes, runtime events and a periodic resync.
package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/flowcontrol"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/containerlog"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/failpoint"
	"github.com/peapod/peapod/internal/prober"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// Runtime is the CRI surface the kubelet uses; the runtime's cri.Service implements it
// with the gRPC server method signatures.
type Runtime interface {
	Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error)
	Status(context.Context, *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error)
	RunPodSandbox(context.Context, *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error)
	StopPodSandbox(context.Context, *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error)
	RemovePodSandbox(context.Context, *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error)
	PodSandboxStatus(context.Context, *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error)
	ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error)
	CreateContainer(context.Context, *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error)
	StartContainer(context.Context, *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error)
	StopContainer(context.Context, *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error)
	RemoveContainer(context.Context, *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error)
	ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error)
	ContainerStatus(context.Context, *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error)
	UpdateContainerResources(context.Context, *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error)
	ExecSync(context.Context, *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error)
	Exec(context.Context, *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error)
	Attach(context.Context, *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error)
	PortForward(context.Context, *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error)
	ReopenContainerLog(context.Context, *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error)
	PullImage(context.Context, *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error)
	ImageStatus(context.Context, *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error)
	ListImages(context.Context, *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error)
	RemoveImage(context.Context, *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error)
	ImageFsInfo(context.Context, *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error)
	// Subscribe streams container events (CRI GetContainerEvents).
	Subscribe() (<-chan *runtimeapi.ContainerEventResponse, func())
}

// API is the slice of the API server the kubelet writes through;
// *registry.Store implements it in process.
type API interface {
	Get(ctx context.Context, ns, name string) (runtime.Object, error)
	Create(ctx context.Context, ns string, obj runtime.Object, dryRun bool) (runtime.Object, error)
	Update(ctx context.Context, ns, name string, fn registry.UpdateFunc, opts registry.UpdateOptions) (runtime.Object, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions, dryRun bool) (runtime.Object, bool, error)
	Watch(ctx context.Context, ns string, opts registry.ListOptions) (*storage.Watcher, error)
}

// Getter reads one API object; *registry.Store implements it.
type Getter interface {
	Get(ctx context.Context, ns, name string) (runtime.Object, error)
}

// Config wires a Kubelet.
type Config struct {
	NodeName string
	// RootDir holds per-pod files (etc-hosts, termination logs), like
	// /var/lib/kubelet.
	RootDir string
	// LogDir is the pod log root, like /var/log/pods.
	LogDir string
	// CgroupRoot is the parent of the kubepods cgroup ("/" by default),
	// in the cgroup driver's syntax.
	CgroupRoot string
	// CgroupDriver makes the cgroups (cgroupfs when zero).
	CgroupDriver cgroup.Driver
	// Reserved is --system-reserved plus --kube-reserved, taken from the
	// node's capacity for its allocatable.
	Reserved corev1.ResourceList
	// EvictionHard is the hard eviction threshold of memory.available.
	EvictionHard Threshold
	// EvictionPressureTransitionPeriod keeps MemoryPressure reported this
	// long after the signal last crossed the threshold (default 5m).
	EvictionPressureTransitionPeriod time.Duration
	// HousekeepingInterval is how often the eviction manager looks
	// (default 10s).
	HousekeepingInterval time.Duration
	// PodPidsLimit is --pod-max-pids: pids.max of every pod cgroup (<= 0:
	// none).
	PodPidsLimit int64
	// AllowedUnsafeSysctls are --allowed-unsafe-sysctls: sysctls or
	// prefixes ending in * pods may set beyond the safe set.
	AllowedUnsafeSysctls []string
	// SeccompDefault runs containers that name no seccomp profile with
	// RuntimeDefault (the kubelet's --seccomp-default).
	SeccompDefault bool
	// ResolvConf is the host resolv.conf for dnsPolicy Default.
	ResolvConf string
	// Version is the kubelet version reported on the Node.
	Version string

	Pods  API
	Nodes API
	// ConfigMaps and Secrets are read for env and volumes (nil: none).
	ConfigMaps, Secrets Getter
	// RuntimeClasses are read for a pod's runtimeClassName (nil: a pod
	// naming one cannot run).
	RuntimeClasses Getter
	// PersistentVolumeClaims and PersistentVolumes are read for
	// persistentVolumeClaim volumes (nil: a pod using one waits).
	PersistentVolumeClaims, PersistentVolumes Getter
	// ImageGC is the image garbage collection policy (zero Period: off).
	ImageGC ImageGCPolicy
	// Tokens issues the tokens of serviceAccountToken projections (nil:
	// such volumes fail to mount).
	Tokens TokenRequester
	// APIServer is the API server as pods' KUBERNETES_SERVICE_* variables
	// give it: host:port for pods on the pod network, and for host-network
	// pods (empty: no variables).
	APIServer, HostAPIServer string
	Runtime                  Runtime
	Recorder                 *events.Recorder
	Log                      *slog.Logger
	// Clock drives probe timing (the real clock when nil); Now is the
	// rest of the kubelet's time (time.Now when nil).
	Clock clock.WithTicker
	Now   func() time.Time
	// ManifestDir is the static pod manifest directory (the kubelet's
	// --pod-manifest-path; empty: no static pods); FileCheckFrequency is
	// how often it is read besides on changes (default 20s).
	ManifestDir        string
	FileCheckFrequency time.Duration
	// ResyncInterval wakes every pod worker periodically (default 10s).
	ResyncInterval time.Duration
	// ContainerLogs is the log rotation policy (--container-log-max-size
	// and --container-log-max-files; zero MaxSize: no rotation), checked
	// every ContainerLogMonitorInterval (default 10s).
	ContainerLogs               containerlog.Policy
	ContainerLogMonitorInterval time.Duration
	// Failpoints crash the process at named steps, for tests (nil in
	// production).
	Failpoints *failpoint.Set
}

// Kubelet runs the pods of one node.
type Kubelet struct {
	cfg Config
	// rro caches whether the runtime's default handler makes mounts
	// recursively read-only, strictGroups whether it honours
	// supplementalGroupsPolicy Strict (asked once, from Status).
	// runtimeName is the runtime's name, from its Version.
	runtimeName  string
	rroOnce      sync.Once
	rro          bool
	strictGroups bool
	log          *slog.Logger
	cgroups      podCgroups
	sysctls      *sysctlAllowlist
	tokens       tokenManager

	// lsm is which security modules the host enables.
	lsm hostLSM
	// handlers are the runtime's handlers and their features, as the
	// node's status.runtimeHandlers publishes them.
	handlers []corev1.NodeRuntimeHandler

	// imageRecords are the image GC's first-seen and last-used times.
	imageRecords imageRecords
	backoff      *flowcontrol.Backoff // container restarts (CrashLoopBackOff)
	pullBack     *flowcontrol.Backoff // image pulls (ImagePullBackOff)
	// probes runs the pods' probes; it stops when Run returns.
	probes *prober.Manager
	// wakeCtx is Run's context, for the workers a probe result wakes.
	wakeCtx context.Context

	mu       sync.Mutex
	facts    hostFacts
	pressure memoryPressure
	samples  sampler
	// startLatency is the pod start latency histogram of /metrics.
	startLatency histogram
	pods         map[types.UID]*corev1.Pod
	workers      map[types.UID]*podWorker
	// statuses are the pods' last generated statuses, which the probe
	// workers go by.
	statuses map[types.UID]*corev1.PodStatus
	// resizes are the pods' allocated resources and resize state.
	resizes map[types.UID]*resizeState
	// admittedPods are the pods admitted in this run (admit.go);
	// admitMu makes admissions one at a time.
	admittedPods map[types.UID]bool
	admitMu      sync.Mutex
	// static marks the pods of k.pods that are static pods (from the
	// manifest directory, not the API); mirrors are the API's mirror
	// pods by namespace/name.
	static  map[types.UID]bool
	mirrors map[string]*corev1.Pod
	wg      sync.WaitGroup
}

// Backoff constants of pkg/kubelet (kubelet.go, images).
const (
	initialBackOff = 10 * time.Second
	maxBackOff     = 300 * time.Second
)

// New returns a Kubelet.
func New(cfg Config) (*Kubelet, error) {
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = 10 * time.Second
	}
	if cfg.FileCheckFrequency == 0 {
		cfg.FileCheckFrequency = defaultFileCheckFrequency
	}
	if cfg.HousekeepingInterval == 0 {
		cfg.HousekeepingInterval = 10 * time.Second
	}
	if cfg.EvictionPressureTransitionPeriod == 0 {
		cfg.EvictionPressureTransitionPeriod = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	for _, d := range []string{filepath.Join(cfg.RootDir, "pods"), cfg.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	cg, err := newCgroupManager(cfg.CgroupDriver, cfg.CgroupRoot, cfg.PodPidsLimit)
	if err != nil {
		return nil, err
	}
	sysctls, err := newSysctlAllowlist(cfg.AllowedUnsafeSysctls)
	if err != nil {
		return nil, fmt.Errorf("--allowed-unsafe-sysctls: %w", err)
	}
	k := &Kubelet{
		cfg: cfg, log: cfg.Log, cgroups: cg, sysctls: sysctls, lsm: detectLSM(),
		backoff:  flowcontrol.NewBackOff(initialBackOff, maxBackOff),
		pullBack: flowcontrol.NewBackOff(initialBackOff, maxBackOff),
		pods:     map[types.UID]*corev1.Pod{}, workers: map[types.UID]*podWorker{}, statuses: map[types.UID]*corev1.PodStatus{},
		resizes: map[types.UID]*resizeState{}, admittedPods: map[types.UID]bool{},
		static: map[types.UID]bool{}, mirrors: map[string]*corev1.Pod{},
	}
	k.probes = prober.NewManager(prober.Config{
		Runtime: cfg.Runtime, Recorder: cfg.Recorder, Status: k.podStatus, OnChange: k.probeChanged,
		UserAgent: "kube-probe/" + k.minorVersion(), Clock: cfg.Clock, Log: cfg.Log.With("component", "prober"),
	})
	// The runtime's name is the scheme of the container IDs the API
	// shows (kubeGenericRuntimeManager's runtimeName).
	vctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := cfg.Runtime.Version(vctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return nil, fmt.Errorf("runtime version: %w", err)
	}
	k.runtimeName = v.GetRuntimeName()
	k.refreshHostFacts()
	return k, nil
}

// Run registers the node and syncs pods until ctx ends or it fails.
func (k *Kubelet) Run(ctx context.Context) error {
	// Workers stop with this context, so a failing Run does not wait for
	// them forever.
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		k.wg.Wait()
		k.probes.Stop()
	}()
	if err := k.registerNode(ctx); err != nil {
		return fmt.Errorf("registering node: %w", err)
	}
	if err := k.cgroups.ensureQOS(k.kubepodsResources()); err != nil {
		return fmt.Errorf("creating QoS cgroups: %w", err)
	}
	k.mu.Lock()
	k.wakeCtx = ctx
	k.mu.Unlock()
	events, unsubscribe := k.cfg.Runtime.Subscribe()
	defer unsubscribe()
	w, err := k.watchPods(ctx)
	if err != nil {
		return err
	}
	defer func() { w.Stop() }()
	if k.cfg.ManifestDir != "" {
		if err := os.MkdirAll(k.cfg.ManifestDir, 0o755); err != nil {
			k.log.Warn("creating the static pod manifest directory", "path", k.cfg.ManifestDir, "err", err)
		}
		// Static pods are known before orphans are looked for, so that
		// their running containers are kept.
		k.setStaticPods(ctx, k.readManifests(ctx, k.cfg.ManifestDir))
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.watchManifests(ctx)
		}()
	}
	if err := k.adoptOrphans(ctx); err != nil {
		k.log.Warn("looking for sandboxes of deleted pods", "err", err)
	}
	k.sweepPodCgroups(ctx)
	k.sampleAll()
	k.wg.Add(4)
	go func() {
		defer k.wg.Done()
		k.nodeStatusLoop(ctx)
	}()
	go func() {
		defer k.wg.Done()
		k.logRotationLoop(ctx)
	}()
	go func() {
		defer k.wg.Done()
		k.imageGCLoop(ctx)
	}()
	go func() {
		defer k.wg.Done()
		k.evictionLoop(ctx)
	}()
	resync := time.NewTicker(k.cfg.ResyncInterval)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.ResultChan():
			if !ok {
				// Fell behind: start over with the current state.
				if w, err = k.watchPods(ctx); err != nil {
					return err
				}
				continue
			}
			k.handlePodEvent(ctx, e)
		case ev, ok := <-events:
			if ok {
				if uid := ev.GetPodSandboxStatus().GetMetadata().GetUid(); uid != "" {
					k.wake(ctx, types.UID(uid))
				}
			}
		case <-resync.C:
			k.wakeAll(ctx)
			k.sweepPodCgroups(ctx)
			k.updateBurstable("")
			k.backoff.GC()
			k.pullBack.GC()
		}
	}
}

// watchPods watches the pods bound to this node and loads the current ones
// into the cache before returning, so no worker mistakes a pod it has not
// seen yet for a deleted one. Cached pods missing from the fresh state were
// deleted meanwhile (a watch that fell behind) and are dropped.
func (k *Kubelet) watchPods(ctx context.Context) (*storage.Watcher, error) {
	seen := map[types.UID]bool{}
	w, err := k.cfg.Pods.Watch(ctx, "", registry.ListOptions{
		Fields: fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName), SendInitialEvents: true, AllowWatchBookmarks: true,
	})
	if err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			w.Stop()
			return nil, ctx.Err()
		case e, ok := <-w.ResultChan():
			if !ok {
				return nil, fmt.Errorf("pod watch ended: %w", w.Err())
			}
			if e.Type == watch.Bookmark {
				k.mu.Lock()
				var gone []types.UID
				for key, m := range k.mirrors {
					if !seen[m.UID] {
						delete(k.mirrors, key)
					}
				}
				for uid := range k.pods {
					if !seen[uid] && !k.static[uid] {
						delete(k.pods, uid)
						gone = append(gone, uid)
					}
				}
				k.mu.Unlock()
				for _, uid := range gone {
					k.wake(ctx, uid)
				}
				return w, nil
			}
			if p, ok := e.Object.(*corev1.Pod); ok {
				seen[p.UID] = true
			}
			k.handlePodEvent(ctx, e)
		}
	}
}

func (k *Kubelet) handlePodEvent(ctx context.Context, e storage.Event) {
	pod, ok := e.Object.(*corev1.Pod)
	if !ok {
		return
	}
	if isMirrorPod(pod) {
		// The API's view of a static pod, never run as such.
		k.handleMirrorEvent(ctx, e.Type == watch.Deleted, pod)
		return
	}
	k.mu.Lock()
	old := k.pods[pod.UID]
	if e.Type == watch.Deleted {
		delete(k.pods, pod.UID)
	} else {
		k.pods[pod.UID] = pod
	}
	k.mu.Unlock()
	// Like pkg/kubelet/config, a change of status alone (most often the
	// kubelet's own write) does not call for a sync.
	if e.Type == watch.Modified && old != nil && !needsSync(old, pod) {
		return
	}
	if e.Type == watch.Deleted {
		k.interruptFor(pod.UID, nil)
	} else {
		k.interruptFor(pod.UID, pod)
	}
	k.wake(ctx, pod.UID)
}

// needsSync reports whether the pod changed in a way the kubelet acts on.
func needsSync(old, cur *corev1.Pod) bool {
	return !apiequality.Semantic.DeepEqual(old.Spec, cur.Spec) ||
		!apiequality.Semantic.DeepEqual(old.DeletionTimestamp, cur.DeletionTimestamp) ||
		!apiequality.Semantic.DeepEqual(old.DeletionGracePeriodSeconds, cur.DeletionGracePeriodSeconds) ||
		!apiequality.Semantic.DeepEqual(old.Labels, cur.Labels) ||
		!apiequality.Semantic.DeepEqual(old.Annotations, cur.Annotations)
}

// probeChanged wakes the worker of a pod whose probe result changed.
func (k *Kubelet) probeChanged(uid types.UID) {
	k.mu.Lock()
	ctx, known := k.wakeCtx, k.pods[uid] != nil
	k.mu.Unlock()
	if ctx != nil && known {
		k.wake(ctx, uid)
	}
}

// podStatus returns the pod's last generated status.
func (k *Kubelet) podStatus(uid types.UID) (*corev1.PodStatus, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, ok := k.statuses[uid]
	return st, ok
}

// pod returns the latest known API object of uid, or nil once deleted.
func (k *Kubelet) pod(uid types.UID) *corev1.Pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pods[uid]
}

func (k *Kubelet) wakeAll(ctx context.Context) {
	k.mu.Lock()
	uids := make([]types.UID, 0, len(k.workers)+len(k.pods))
	for uid := range k.workers {
		uids = append(uids, uid)
	}
	for uid := range k.pods {
		if _, ok := k.workers[uid]; !ok {
			uids = append(uids, uid)
		}
	}
	k.mu.Unlock()
	for _, uid := range uids {
		k.wake(ctx, uid)
	}
}

// podDir is the pod's directory under RootDir.
func (k *Kubelet) podDir(uid types.UID) string {
	return filepath.Join(k.cfg.RootDir, "pods", string(uid))
}

// podLogDir is /var/log/pods/<ns>_<name>_<uid>.
func (k *Kubelet) podLogDir(ns, name string, uid types.UID) string {
	return filepath.Join(k.cfg.LogDir, ns+"_"+name+"_"+string(uid))
}
