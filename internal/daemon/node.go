package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/kubelet"
	"github.com/peapod/peapod/internal/runtime/conmon"
	"github.com/peapod/peapod/internal/runtime/cri"
	"github.com/peapod/peapod/internal/runtime/image"
	"github.com/peapod/peapod/internal/runtime/network"
	"github.com/peapod/peapod/internal/runtime/oci"
)

// nodeAgent is the node side of the daemon: the runtime and the kubelet.
type nodeAgent struct {
	runtime  *cri.Service
	kubelet  *kubelet.Kubelet
	recorder *events.Recorder
}

// lookPath finds a required binary with an actionable error.
func lookPath(name, pkg string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found (install it: apt-get install -y %s): %w", name, pkg, err)
	}
	return p, nil
}

// newNode builds the runtime and the kubelet.
// nodeAPI is how the node's pods reach the API server: the TokenRequest
// API for their tokens, and the addresses their KUBERNETES_SERVICE_*
// variables give.
type nodeAPI struct {
	tokens                  kubelet.TokenRequester
	podAddress, hostAddress string
}

func (d *Daemon) newNode(ctx context.Context, log *slog.Logger, api nodeAPI) (*nodeAgent, error) {
	o := d.opts
	imageGC := kubelet.ImageGCPolicy{HighThresholdPercent: o.ImageGCHighThreshold, LowThresholdPercent: o.ImageGCLowThreshold,
		MinAge: o.ImageMinimumGCAge, Period: o.ImageGCPeriod}
	if err := imageGC.Validate(); err != nil {
		return nil, fmt.Errorf("image garbage collection: %w", err)
	}
	svc, err := d.newRuntime(ctx, log)
	if err != nil {
		return nil, err
	}
	driver, _, err := o.kubepods()
	if err != nil {
		return nil, err
	}
	reserved, err := o.reserved()
	if err != nil {
		return nil, err
	}
	evictionHard, err := kubelet.ParseEvictionHard(o.EvictionHard)
	if err != nil {
		return nil, fmt.Errorf("--eviction-hard: %w", err)
	}
	logPolicy, err := o.containerLogPolicy()
	if err != nil {
		return nil, err
	}
	recorder := events.NewRecorder(d.events, events.Source{Component: "kubelet", Host: o.NodeName}, time.Now, log)
	kl, err := kubelet.New(kubelet.Config{
		NodeName: o.NodeName, RootDir: filepath.Join(o.DataDir, "kubelet"), LogDir: o.LogDir, CgroupRoot: o.CgroupRoot, CgroupDriver: driver, PodPidsLimit: o.PodMaxPids,
		AllowedUnsafeSysctls: o.AllowedUnsafeSysctls, SeccompDefault: !o.NoSeccompDefault,
		Reserved: reserved, EvictionHard: evictionHard,
		EvictionPressureTransitionPeriod: o.EvictionPressureTransitionPeriod, HousekeepingInterval: o.HousekeepingInterval,
		Version: Version().GitVersion, Pods: d.pods, Nodes: d.nodes, ConfigMaps: d.configMaps, Secrets: d.secrets, RuntimeClasses: d.runtimeClasses,
		PersistentVolumeClaims: d.claims, PersistentVolumes: d.volumes, Runtime: svc, Recorder: recorder,
		Log: log.With("component", "kubelet"), Failpoints: d.failpoints,
		ImageGC: imageGC, ManifestDir: o.PodManifestPath, FileCheckFrequency: o.FileCheckFrequency,
		ContainerLogs: logPolicy, ContainerLogMonitorInterval: o.ContainerLogMonitorInterval,
		Tokens: api.tokens, APIServer: api.podAddress, HostAPIServer: api.hostAddress,
	})
	if err != nil {
		recorder.Stop()
		return nil, err
	}
	return &nodeAgent{runtime: svc, kubelet: kl, recorder: recorder}, nil
}

// newRuntime builds the CRI runtime with its image store and network.
func (d *Daemon) newRuntime(ctx context.Context, log *slog.Logger) (*cri.Service, error) {
	o := d.opts
	driver, kubepods, err := o.kubepods()
	if err != nil {
		return nil, err
	}
	runtimeBin, err := lookPath(o.OCIRuntime, filepath.Base(o.OCIRuntime))
	if err != nil {
		return nil, err
	}
	conmonBin, err := lookPath(o.Conmon, "conmon")
	if err != nil {
		return nil, err
	}
	pause, err := lookPath(o.Pause, "catatonit")
	if err != nil {
		return nil, err
	}
	var pauseArgs []string
	if filepath.Base(pause) == "catatonit" {
		pauseArgs = []string{"-P"}
	}
	images, err := image.NewStore(filepath.Join(o.DataDir, "images"), image.Options{
		HostsDir: filepath.Join(o.ConfigDir, "certs.d"), DockerConfig: o.DockerConfig, Log: log.With("component", "images"),
		MaxLayerSize: o.MaxLayerSize, MaxImageSize: o.MaxImageSize,
	})
	if err != nil {
		return nil, err
	}
	netw, err := network.New(network.Config{
		Name: "peapod", Bridge: o.Bridge, Subnet: o.PodCIDR, PluginDirs: o.CNIPluginDirs,
		ConfDir: filepath.Join(o.ConfigDir, "cni"), StateDir: filepath.Join(o.DataDir, "cni"),
	})
	if err != nil {
		return nil, err
	}
	rt := &oci.Runtime{Binary: runtimeBin, Root: filepath.Join(o.RunDir, "runtime")}
	// The runtime handlers a sandbox may name: runc and crun where
	// installed, each with its own state root; the default is one of them.
	handlers := map[string]*oci.Runtime{}
	for _, name := range []string{"runc", "crun"} {
		switch bin, err := exec.LookPath(name); {
		case name == rt.Name():
			handlers[name] = rt
		case err == nil:
			handlers[name] = &oci.Runtime{Binary: bin, Root: filepath.Join(o.RunDir, "runtime-"+name)}
		}
	}
	privileges := oci.DetectPrivileges()
	if !privileges.SysResource {
		log.Warn("this host withholds CAP_SYS_RESOURCE from peapod: oom_score_adj values below peapod's own are raised to it "+
			"(Guaranteed containers' -997 and the pause process's -998 included; each is logged at debug level)",
			"lowest", privileges.OOMScoreAdj)
	}
	if withheld := privileges.Withheld(); len(withheld) > 0 {
		log.Warn("this host withholds capabilities from peapod; containers asking for them, privileged ones included, run without them",
			"capabilities", strings.Join(withheld, ","))
	}
	svc, err := cri.New(ctx, cri.Config{
		StateDir: filepath.Join(o.DataDir, "runtime"), RunDir: o.RunDir,
		Pause: pause, PauseArgs: pauseArgs, Runtime: rt, Handlers: handlers,
		Conmon: &conmon.Monitor{Binary: conmonBin, Runtime: runtimeBin, RuntimeRoot: rt.Root,
			ExitDir: filepath.Join(o.RunDir, "exits"), SocketDir: filepath.Join(o.RunDir, "conmon")},
		Network: netw, Images: images, Log: log.With("component", "runtime"), Privileges: privileges,
		CgroupRoot: driver.Path(kubepods), SystemdCgroup: driver.String() == cgroup.DriverSystemd, Failpoints: d.failpoints,
	})
	if err != nil {
		return nil, err
	}
	return svc, nil
}
