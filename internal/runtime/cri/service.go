// Package cri is peapod's container runtime, shaped as the Kubernetes CRI:
// every verb takes and returns k8s.io/cri-api runtime/v1 messages, so the
// in-process kubelet calls it directly and a gRPC server can expose it to a
// real kubelet unchanged. Sandboxes are a pinned network namespace wired by
// CNI plus a pause process (catatonit) that holds the IPC, UTS and (when
// shared) PID namespaces; containers are overlayfs roots run by runc under
// conmon. State is kept on disk so that conmon-monitored containers survive
// a peapod restart.
package cri

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/failpoint"
	"github.com/peapod/peapod/internal/mount"
	"github.com/peapod/peapod/internal/runtime/conmon"
	"github.com/peapod/peapod/internal/runtime/image"
	"github.com/peapod/peapod/internal/runtime/network"
	"github.com/peapod/peapod/internal/runtime/oci"
)

// RuntimeName is reported by Version and used in container IDs
// ("peapod://<id>") by the kubelet.
const RuntimeName = "peapod"

// Config wires a Service.
type Config struct {
	// StateDir holds persistent records, container roots and sandbox files.
	StateDir string
	// RunDir holds runc state, netns pins, exit files and conmon sockets.
	RunDir string
	// Pause is the static pause binary (catatonit).
	Pause string
	// PauseArgs are its arguments (["-P"] for catatonit).
	PauseArgs []string
	// Runtime is the default runtime handler's OCI runtime.
	Runtime *oci.Runtime
	// Handlers are the named runtime handlers a sandbox may ask for
	// (RuntimeHandler; a RuntimeClass's handler), such as "runc" and
	// "crun"; each runtime needs its own Root.
	Handlers map[string]*oci.Runtime
	Conmon   *conmon.Monitor
	Network  *network.Network
	Images   *image.Store
	Log      *slog.Logger
	// Privileges are what runc may ask for (see oci.Privileges).
	Privileges oci.Privileges
	// CgroupRoot is the cgroup under which sandboxes' cgroup parents
	// live (the kubepods cgroup); start-up recovery removes the
	// cgroups of unknown sandboxes and containers under it.
	CgroupRoot string
	// Failpoints crash the process at named steps, for tests (nil in
	// production).
	Failpoints *failpoint.Set
	// SystemdCgroup: cgroup parents are systemd slices (the kubelet's
	// systemd cgroup driver), reported by RuntimeConfig.
	SystemdCgroup bool
	// StreamAddress is where the streaming server listens (default
	// 127.0.0.1:0, a free port).
	StreamAddress string
}

// Service implements the CRI runtime and image services.
type Service struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	cfg Config
	log *slog.Logger
	// life ends with the service: background watches (of pause
	// processes) stop with it.
	life context.Context

	mu         sync.Mutex
	sandboxes  map[string]*sandbox
	containers map[string]*container
	// names are the reserved sandbox and container names.
	names names
	// pool holds the sandboxes made ahead of time (see sandbox_pool.go).
	pool pool

	subMu       sync.Mutex
	subscribers map[chan *runtimeapi.ContainerEventResponse]struct{}

	// streams serves exec, attach and port-forward sessions.
	streams streaming.Server
	// sessions are the streaming connections into each sandbox.
	sessions *sessions
	// rro: the kernel can make mounts recursively read-only.
	rro bool
	// hugetlb: the host has the hugetlb cgroup controller.
	hugetlb bool

	podCIDRMu sync.Mutex
	// podCIDR is the last pod CIDR UpdateRuntimeConfig got.
	podCIDR string
}

// New loads persisted state, recovers from a crash (see load) and starts
// watching container exits.
func New(ctx context.Context, cfg Config) (*Service, error) {
	for _, d := range []string{cfg.StateDir, cfg.RunDir, sandboxRecordDir(cfg.StateDir), containerRecordDir(cfg.StateDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	s := &Service{
		cfg: cfg, log: cfg.Log, life: ctx,
		sandboxes: map[string]*sandbox{}, containers: map[string]*container{}, names: names{},
		subscribers: map[chan *runtimeapi.ContainerEventResponse]struct{}{},
		sessions:    newSessions(),
		rro:         mount.RecursiveReadOnlySupported(),
		hugetlb:     cgroup.HasController("hugetlb"),
	}
	// Watch first, then load: an exit between the two is seen by both,
	// and handling an exit twice is harmless.
	if err := cfg.Conmon.WatchExits(ctx, s.handleExit); err != nil {
		return nil, err
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if err := s.startStreaming(ctx, cfg.StreamAddress); err != nil {
		return nil, err
	}
	return s, nil
}

// Version reports the runtime's name and the OCI runtime's version.
func (s *Service) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version: "0.1.0", RuntimeName: RuntimeName, RuntimeVersion: runtimeVersion(), RuntimeApiVersion: "v1",
	}, nil
}

// Version is peapod's own version, which the kubelet shows as the node's
// container runtime version (peapod://0.1.0): a semantic version, as the
// kubelet parses it.
const Version = "0.1.0"

// runtimeVersion is Version with the commit it was built from as build
// metadata (0.1.0+1a2b3c4d5e6f), where the build recorded one.
func runtimeVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	for _, setting := range info.Settings {
		if setting.Key == "vcs.revision" && len(setting.Value) >= 12 {
			return Version + "+" + setting.Value[:12]
		}
	}
	return Version
}

// Subscribe returns a channel of container events (what the CRI
// GetContainerEvents stream carries) and a function that ends the
// subscription. Slow subscribers lose events and must resync by listing.
func (s *Service) Subscribe() (<-chan *runtimeapi.ContainerEventResponse, func()) {
	ch := make(chan *runtimeapi.ContainerEventResponse, 1024)
	s.subMu.Lock()
	s.subscribers[ch] = struct{}{}
	s.subMu.Unlock()
	return ch, func() {
		s.subMu.Lock()
		if _, ok := s.subscribers[ch]; ok {
			delete(s.subscribers, ch)
			close(ch)
		}
		s.subMu.Unlock()
	}
}

func (s *Service) publish(id string, typ runtimeapi.ContainerEventType, sb *sandbox) {
	ev := &runtimeapi.ContainerEventResponse{ContainerId: id, ContainerEventType: typ, CreatedAt: time.Now().UnixNano()}
	if sb != nil {
		ev.PodSandboxStatus = &runtimeapi.PodSandboxStatus{Id: sb.ID, Metadata: sb.Config.GetMetadata()}
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for ch := range s.subscribers {
		select {
		case ch <- ev:
		default:
			s.log.Warn("container event dropped: subscriber is slow", "container", id)
		}
	}
}

// handleExit records an exit that conmon reported (a container's, or the
// pause's of a sandbox an older peapod made) or that recovery found.
func (s *Service) handleExit(id string) {
	s.mu.Lock()
	c, isCtr := s.containers[id]
	sb, isSandbox := s.sandboxes[id]
	s.mu.Unlock()
	switch {
	case isCtr:
		s.containerExited(c)
	case isSandbox:
		s.sandboxExited(sb)
	}
}

// errNotFound builds the error CRI callers get for unknown IDs.
func errNotFound(kind, id string) error {
	return fmt.Errorf("%s %q: %w", kind, id, errdefs.ErrNotFound)
}

func sandboxRecordDir(stateDir string) string   { return filepath.Join(stateDir, "sandboxes") }
func containerRecordDir(stateDir string) string { return filepath.Join(stateDir, "containers") }
