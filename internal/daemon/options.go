// Package daemon wires peapod's three layers into one process: the API
// server (storage, registry, HTTP), the kubelet and the CRI-shaped runtime.
// It owns startup order, the listening socket and shutdown.
package daemon

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/containerlog"
	"github.com/peapod/peapod/internal/kubelet"
)

// reserved parses and sums --system-reserved and --kube-reserved.
func (o Options) reserved() (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for flag, v := range map[string]string{"--system-reserved": o.SystemReserved, "--kube-reserved": o.KubeReserved} {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			name, value, ok := strings.Cut(item, "=")
			q, err := resource.ParseQuantity(value)
			if !ok || err != nil || q.Sign() < 0 {
				return nil, fmt.Errorf("%s %q: want resource=quantity, e.g. cpu=100m,memory=256Mi", flag, item)
			}
			switch rn := corev1.ResourceName(name); rn {
			case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourcePods:
				cur := out[rn]
				cur.Add(q)
				out[rn] = cur
			default:
				return nil, fmt.Errorf("%s: resource %q cannot be reserved (cpu, memory, ephemeral-storage, pods)", flag, name)
			}
		}
	}
	return out, nil
}

// Options configure a peapod daemon. Zero values get the defaults of
// Defaults.
type Options struct {
	// DataDir holds state that survives reboots: the object database,
	// PKI, images, container and sandbox state (default /var/lib/peapod).
	DataDir string
	// RunDir holds runtime state that must not survive a reboot: runc
	// state, network namespaces, exit files (default /run/peapod).
	RunDir string
	// LogDir holds container logs, one directory per pod (default
	// /var/log/pods).
	LogDir string
	// ConfigDir holds the generated CNI config and registry hosts.toml
	// files (default /etc/peapod).
	ConfigDir string
	// Listen is the API server address (default 127.0.0.1:6443).
	Listen string
	// CRISocket is the unix socket the runtime is served on as the
	// Kubernetes CRI (default RunDir/cri.sock).
	CRISocket string
	// RuntimeOnly runs only the container runtime on CRISocket: no API
	// server, no kubelet (`serve --api=false`, under a real kubelet).
	RuntimeOnly bool
	// Kubeconfig is where the admin kubeconfig is written (default
	// DataDir/admin.kubeconfig).
	Kubeconfig string
	// NodeName is this node's name (default: the host name).
	NodeName string

	// PodCIDR is the pod network (default 10.244.0.0/16).
	PodCIDR string
	// Bridge is the Linux bridge of the pod network (default peapod0).
	Bridge string
	// CNIPluginDirs are searched for CNI plugins (default /usr/lib/cni,
	// /opt/cni/bin).
	CNIPluginDirs []string
	// OCIRuntime is the OCI runtime binary: runc (default) or crun.
	OCIRuntime string
	// Conmon is the conmon binary (default: found in PATH).
	Conmon string
	// Pause is the static pause binary run as each sandbox's PID 1
	// (default: catatonit, run as "catatonit -P").
	Pause string
	// CgroupRoot is the cgroup under which kubepods lives (default /), in
	// the driver's syntax (a slice path such as /peapod.slice for systemd).
	CgroupRoot string
	// SystemReserved and KubeReserved are taken from the node's capacity
	// for its allocatable, as the kubelet's flags ("cpu=100m,memory=1Gi").
	SystemReserved, KubeReserved string
	// EvictionHard is the kubelet's --eviction-hard (default
	// memory.available<100Mi; only memory.available is supported).
	EvictionHard string
	// EvictionPressureTransitionPeriod and HousekeepingInterval are the
	// kubelet's flags of the same names (defaults 5m and 10s).
	EvictionPressureTransitionPeriod, HousekeepingInterval time.Duration
	// ImageGCHighThreshold and ImageGCLowThreshold are the kubelet's
	// --image-gc-high-threshold and --image-gc-low-threshold (85 and 80),
	// ImageMinimumGCAge its imageMinimumGCAge (2m), ImageGCPeriod how often
	// image GC runs (upstream's fixed 5m). A zero ImageGCPeriod means all
	// four are unset and take their defaults.
	ImageGCHighThreshold, ImageGCLowThreshold int
	ImageMinimumGCAge, ImageGCPeriod          time.Duration
	// CgroupDriver is the kubelet's --cgroup-driver: cgroupfs (default)
	// or systemd.
	CgroupDriver string
	// NoSeccompDefault turns off --seccomp-default (on by default in
	// peapod).
	NoSeccompDefault bool
	// AllowedUnsafeSysctls is the kubelet's --allowed-unsafe-sysctls.
	AllowedUnsafeSysctls []string
	// PodMaxPids limits the processes of each pod (pids.max of its cgroup;
	// default -1, no limit), as the kubelet's --pod-max-pids.
	PodMaxPids int64
	// SandboxPool is how many sandboxes the runtime keeps made ahead of
	// time for pods to claim (see cri.Service.RunPool); 0 turns the pool
	// off.
	SandboxPool int
	// PodManifestPath is the static pod manifest directory (the kubelet's
	// --pod-manifest-path; default CONFIG_DIR/manifests); FileCheckFrequency
	// how often it is read besides on changes (default 20s).
	PodManifestPath    string
	FileCheckFrequency time.Duration
	// ContainerLogMaxSize (a quantity, default 10Mi) and
	// ContainerLogMaxFiles (default 5) are the kubelet's log rotation
	// flags; ContainerLogMonitorInterval how often logs are checked
	// (default 10s).
	ContainerLogMaxSize         string
	ContainerLogMaxFiles        int
	ContainerLogMonitorInterval time.Duration
	// DockerConfig is a docker config.json with registry credentials
	// (default ~/.docker/config.json when it exists).
	DockerConfig string

	// MaxLayerSize and MaxImageSize bound the bytes the files of one
	// image layer, and of all the layers of one pull or import, may hold
	// (0: image.DefaultMaxLayerSize and DefaultMaxImageSize; negative: no
	// limit).
	MaxLayerSize, MaxImageSize int64

	// NoSync skips fsync of the object database (tests, benchmarks).
	NoSync bool

	// AnonymousAuth makes requests without credentials system:anonymous
	// (RBAC lets them read /healthz, /livez, /readyz and /version
	// through system:public-info-viewer) instead of refusing them (401).
	AnonymousAuth bool

	// AuditLogPath is kube-apiserver's --audit-log-path (empty: no audit
	// log; "-": standard output), AuditPolicyFile its --audit-policy-file
	// (empty: every request at Metadata), AuditLogMaxSize, ...MaxBackup and
	// ...MaxAge its rotation flags (megabytes, files, days).
	AuditLogPath, AuditPolicyFile                      string
	AuditLogMaxSize, AuditLogMaxBackup, AuditLogMaxAge int
}

// withDefaults returns o with every empty field defaulted.
func (o Options) withDefaults() Options {
	if o.ImageGCPeriod == 0 {
		o.ImageGCHighThreshold, o.ImageGCLowThreshold, o.ImageMinimumGCAge, o.ImageGCPeriod = 85, 80, 2*time.Minute, 5*time.Minute
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&o.DataDir, "/var/lib/peapod")
	def(&o.RunDir, "/run/peapod")
	def(&o.LogDir, "/var/log/pods")
	def(&o.ConfigDir, "/etc/peapod")
	def(&o.Listen, "127.0.0.1:6443")
	def(&o.CRISocket, filepath.Join(o.RunDir, "cri.sock"))
	def(&o.PodManifestPath, filepath.Join(o.ConfigDir, "manifests"))
	def(&o.ContainerLogMaxSize, "10Mi")
	if o.ContainerLogMaxFiles == 0 {
		o.ContainerLogMaxFiles = 5
	}
	def(&o.Kubeconfig, filepath.Join(o.DataDir, "admin.kubeconfig"))
	if o.NodeName == "" {
		h, _ := os.Hostname()
		o.NodeName = h
	}
	def(&o.PodCIDR, "10.244.0.0/16")
	def(&o.Bridge, "peapod0")
	if len(o.CNIPluginDirs) == 0 {
		o.CNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	def(&o.OCIRuntime, "runc")
	def(&o.Conmon, "conmon")
	def(&o.Pause, "catatonit")
	def(&o.EvictionHard, kubelet.DefaultEvictionHard)
	def(&o.CgroupDriver, "cgroupfs")
	// A cgroup path is absolute in its hierarchy; "test1" means /test1.
	o.CgroupRoot = path.Join("/", o.CgroupRoot)
	if o.DockerConfig == "" {
		if home, err := os.UserHomeDir(); err == nil {
			p := filepath.Join(home, ".docker", "config.json")
			if _, err := os.Stat(p); err == nil {
				o.DockerConfig = p
			}
		}
	}
	return o
}

// kubepods is the cgroup driver and the name of the kubepods cgroup.
func (o Options) kubepods() (cgroup.Driver, cgroup.Name, error) {
	driver, err := cgroup.NewDriver(o.CgroupDriver)
	if err != nil {
		return cgroup.Driver{}, nil, fmt.Errorf("--cgroup-driver: %w", err)
	}
	root, err := driver.ParseRoot(o.CgroupRoot)
	if err != nil {
		return cgroup.Driver{}, nil, fmt.Errorf("--cgroup-root: %w", err)
	}
	return driver, root.Child("kubepods"), nil
}

// containerLogPolicy is the log rotation policy of the flags, validated
// as the kubelet validates its configuration.
func (o Options) containerLogPolicy() (containerlog.Policy, error) {
	q, err := resource.ParseQuantity(o.ContainerLogMaxSize)
	if err != nil || q.Sign() <= 0 {
		return containerlog.Policy{}, fmt.Errorf("invalid configuration: failed to parse container log max size (--container-log-max-size) %q: must be a positive quantity", o.ContainerLogMaxSize)
	}
	if o.ContainerLogMaxFiles < 2 {
		return containerlog.Policy{}, fmt.Errorf("invalid configuration: containerLogMaxFiles must be greater than 1 (--container-log-max-files %d)", o.ContainerLogMaxFiles)
	}
	return containerlog.Policy{MaxSize: q.Value(), MaxFiles: o.ContainerLogMaxFiles}, nil
}
