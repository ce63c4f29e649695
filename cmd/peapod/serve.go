package main

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/peapod/peapod/internal/daemon"
)

func newServeCommand(logger func() *slog.Logger) *cobra.Command {
	var o daemon.Options
	var cpuProfile, heapProfile string
	var seccompDefault, api bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the peapod daemon: API server, kubelet and container runtime",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			if heapProfile != "" {
				defer writeHeapProfile(heapProfile, logger())
			}
			o.NoSeccompDefault = !seccompDefault
			o.RuntimeOnly = !api
			return daemon.Run(cmd.Context(), o, logger())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the daemon to this file when it stops")
	f.StringVar(&heapProfile, "heap-profile", "", "write a profile of the daemon's live heap to this file when it stops (pods keep running, so it holds what they cost)")
	addNodeFlags(f, &o)
	f.StringVar(&o.Listen, "listen", "", "API server address (default 127.0.0.1:6443)")
	f.StringVar(&o.CRISocket, "cri-socket", "", "unix socket serving the runtime as the Kubernetes CRI, for a real kubelet, crictl or critest (default RUN_DIR/cri.sock)")
	f.BoolVar(&api, "api", true, "run the API server and kubelet; --api=false runs only the container runtime on --cri-socket, for a real kubelet to drive")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "where to write the admin kubeconfig (default DATA_DIR/admin.kubeconfig)")
	f.StringVar(&o.NodeName, "node-name", "", "node name (default: host name)")
	f.StringVar(&o.SystemReserved, "system-reserved", "", "resources reserved for the system, e.g. cpu=100m,memory=256Mi (taken from node allocatable)")
	f.StringVar(&o.KubeReserved, "kube-reserved", "", "resources reserved for peapod itself, e.g. cpu=100m,memory=128Mi (taken from node allocatable)")
	f.StringVar(&o.EvictionHard, "eviction-hard", "", "hard eviction threshold (default memory.available<100Mi; only memory.available is supported)")
	f.DurationVar(&o.EvictionPressureTransitionPeriod, "eviction-pressure-transition-period", 5*time.Minute, "how long the node keeps reporting memory pressure after it ended")
	f.DurationVar(&o.HousekeepingInterval, "housekeeping-interval", 10*time.Second, "how often the eviction manager looks at the node's memory")
	f.IntVar(&o.ImageGCHighThreshold, "image-gc-high-threshold", 85, "percent of the image file system in use at which image garbage collection starts (100 turns it off)")
	f.IntVar(&o.ImageGCLowThreshold, "image-gc-low-threshold", 80, "percent of the image file system in use image garbage collection frees down to")
	f.DurationVar(&o.ImageMinimumGCAge, "image-minimum-gc-age", 2*time.Minute, "how long an unused image is kept at least before garbage collection may remove it")
	f.DurationVar(&o.ImageGCPeriod, "image-gc-period", 5*time.Minute, "how often image garbage collection runs")
	f.BoolVar(&seccompDefault, "seccomp-default", true, "run containers that name no seccomp profile with RuntimeDefault (Localhost profiles are read from DATA_DIR/kubelet/seccomp)")
	f.StringSliceVar(&o.AllowedUnsafeSysctls, "allowed-unsafe-sysctls", nil, "sysctls (or prefixes ending in *) pods may set beyond the safe set, e.g. 'kernel.msg*,net.core.somaxconn'")
	f.Int64Var(&o.PodMaxPids, "pod-max-pids", -1, "most processes a pod may run (pids.max of its cgroup); -1 for no limit")
	f.IntVar(&o.SandboxPool, "sandbox-pool", 2, "sandboxes (network namespace with its IP, pause process) kept ready for the next pods to claim, which takes their making off a pod's start; 0 turns the pool off")
	f.StringVar(&o.PodManifestPath, "pod-manifest-path", "", "directory of static pod manifests to run, each shown in the API as a mirror pod; files starting with dots are ignored (default CONFIG_DIR/manifests)")
	f.DurationVar(&o.FileCheckFrequency, "file-check-frequency", 20*time.Second, "how often the static pod manifests are read besides when they change")
	f.StringVar(&o.ContainerLogMaxSize, "container-log-max-size", "10Mi", "size at which a container's log is rotated")
	f.IntVar(&o.ContainerLogMaxFiles, "container-log-max-files", 5, "most log files a container may have, the live one included (at least 2)")
	f.DurationVar(&o.ContainerLogMonitorInterval, "container-log-monitor-interval", 10*time.Second, "how often container logs are checked for rotation")
	f.StringVar(&o.DockerConfig, "docker-config", "", "docker config.json with registry credentials")
	f.BoolVar(&o.NoSync, "unsafe-no-fsync", false, "do not fsync the object database (tests and benchmarks only)")
	f.BoolVar(&o.AnonymousAuth, "anonymous-auth", false, "treat requests without credentials as system:anonymous, whom the default RBAC policy lets read only /healthz, /livez, /readyz and /version (otherwise they get 401)")
	addImageLimitFlags(f, &o.MaxLayerSize, &o.MaxImageSize)
	f.StringVar(&o.AuditLogPath, "audit-log-path", "", "write the API audit log (audit.k8s.io/v1 Events, one JSON line each) to this file; '-' means standard output; empty: no audit log")
	f.StringVar(&o.AuditPolicyFile, "audit-policy-file", "", "audit.k8s.io/v1 Policy choosing what is audited at which level (default: every request at Metadata; secrets and TokenRequests are never logged above Metadata)")
	f.IntVar(&o.AuditLogMaxSize, "audit-log-maxsize", 0, "size in megabytes at which the audit log is rotated (0: 100)")
	f.IntVar(&o.AuditLogMaxBackup, "audit-log-maxbackup", 0, "most rotated audit log files kept (0: all)")
	f.IntVar(&o.AuditLogMaxAge, "audit-log-maxage", 0, "most days rotated audit log files are kept, by the time in their name (0: no limit)")
	return cmd
}

func newResetCommand(logger func() *slog.Logger) *cobra.Command {
	var o daemon.Options
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Stop and remove every pod sandbox and container on this node (the daemon must be stopped)",
		Long: "reset removes what peapod runs on this node: sandboxes, containers, their mounts, network\n" +
			"namespaces, CNI attachments, cgroups and state, plus the pod network bridge and masquerade\n" +
			"rule. API objects stay in the database; the next `peapod serve` recreates their pods.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return daemon.Reset(cmd.Context(), o, logger())
		},
	}
	addNodeFlags(cmd.Flags(), &o)
	return cmd
}

// addNodeFlags registers the flags that locate the node's state and
// runtime; serve and reset must agree on them.
func addNodeFlags(f *pflag.FlagSet, o *daemon.Options) {
	f.StringVar(&o.DataDir, "data-dir", "", "state that survives reboots (default /var/lib/peapod)")
	f.StringVar(&o.RunDir, "run-dir", "", "runtime state (default /run/peapod)")
	f.StringVar(&o.LogDir, "log-dir", "", "container logs (default /var/log/pods)")
	f.StringVar(&o.ConfigDir, "config-dir", "", "CNI and registry configuration (default /etc/peapod)")
	f.StringVar(&o.PodCIDR, "pod-cidr", "", "pod network (default 10.244.0.0/16)")
	f.StringVar(&o.Bridge, "bridge", "", "pod network bridge (default peapod0)")
	f.StringSliceVar(&o.CNIPluginDirs, "cni-plugin-dir", nil, "CNI plugin directories (default /usr/lib/cni,/opt/cni/bin)")
	f.StringVar(&o.OCIRuntime, "oci-runtime", "", "OCI runtime binary: runc or crun (default runc)")
	f.StringVar(&o.Conmon, "conmon", "", "conmon binary (default conmon)")
	f.StringVar(&o.Pause, "pause", "", "static pause binary (default catatonit)")
	f.StringVar(&o.CgroupRoot, "cgroup-root", "", "cgroup under which the kubepods hierarchy is created (default /; a slice path such as /peapod.slice with the systemd driver)")
	f.StringVar(&o.CgroupDriver, "cgroup-driver", "cgroupfs", "cgroup driver: cgroupfs, or systemd (where systemd is the init: each cgroup is a systemd slice or scope)")
}

// addImageLimitFlags registers the image size limits.
func addImageLimitFlags(f *pflag.FlagSet, layer, image *int64) {
	f.Var(&sizeFlag{layer}, "max-layer-size", "largest uncompressed size of an image layer's files, e.g. 16Gi; -1 for no limit (default 16Gi)")
	f.Var(&sizeFlag{image}, "max-image-size", "largest uncompressed size of the layers one pull or import unpacks; -1 for no limit (default 32Gi)")
}

// sizeFlag is a byte count given as a Kubernetes quantity ("16Gi").
type sizeFlag struct{ v *int64 }

func (f *sizeFlag) String() string {
	if f.v == nil || *f.v == 0 {
		return ""
	}
	return resource.NewQuantity(*f.v, resource.BinarySI).String()
}

func (f *sizeFlag) Set(s string) error {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return err
	}
	*f.v = q.Value()
	return nil
}

func (f *sizeFlag) Type() string { return "quantity" }

// writeHeapProfile writes the live heap, as of a garbage collection now,
// to path.
func writeHeapProfile(path string, log *slog.Logger) {
	f, err := os.Create(path)
	if err != nil {
		log.Error("heap profile", "err", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		log.Error("heap profile", "err", err)
	}
}
