package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// sandbox is the runtime's record of a pod sandbox. Fields change only
// under Service.mu; the record is saved after every change.
type sandbox struct {
	ID        string                       `json:"id"`
	Config    *runtimeapi.PodSandboxConfig `json:"config"`
	CreatedAt int64                        `json:"createdAt"`
	State     runtimeapi.PodSandboxState   `json:"state"`
	NetNS     string                       `json:"netns"`
	IPs       []string                     `json:"ips,omitempty"`
	Network   bool                         `json:"network"` // CNI attached, needs teardown
	PausePID  int                          `json:"pausePid"`
	Cgroup    string                       `json:"cgroup"`
	PidNS     runtimeapi.NamespaceMode     `json:"pidNamespace"`
	ExitedAt  int64                        `json:"exitedAt,omitempty"`
	Ports     []*runtimeapi.PortMapping    `json:"ports,omitempty"`
	exited    chan struct{}                // closed when pause has exited
}

// container is the runtime's record of a container.
type container struct {
	ID         string                      `json:"id"`
	SandboxID  string                      `json:"sandboxId"`
	Config     *runtimeapi.ContainerConfig `json:"config"`
	ImageRef   string                      `json:"imageRef"`  // image ID
	ImageName  string                      `json:"imageName"` // normalized name asked for
	State      runtimeapi.ContainerState   `json:"state"`
	CreatedAt  int64                       `json:"createdAt"`
	StartedAt  int64                       `json:"startedAt,omitempty"`
	FinishedAt int64                       `json:"finishedAt,omitempty"`
	ExitCode   int32                       `json:"exitCode"`
	Reason     string                      `json:"reason,omitempty"`
	Message    string                      `json:"message,omitempty"`
	PID        int                         `json:"pid"`
	LogPath    string                      `json:"logPath"`
	Mounts     []*runtimeapi.Mount         `json:"mounts,omitempty"`
	StopSignal string                      `json:"stopSignal,omitempty"`
	exited     chan struct{}               // closed when the container has exited
}

func (s *Service) sandboxDir(id string) string {
	return filepath.Join(sandboxRecordDir(s.cfg.StateDir), id)
}
func (s *Service) containerDir(id string) string {
	return filepath.Join(containerRecordDir(s.cfg.StateDir), id)
}

// Run-time directories: OCI bundles and the sandbox's shm mount live under
// RunDir, which does not survive a reboot (nor should they).
func (s *Service) sandboxRunDir(id string) string {
	return filepath.Join(s.cfg.RunDir, "sandboxes", id)
}
func (s *Service) containerRunDir(id string) string {
	return filepath.Join(s.cfg.RunDir, "containers", id)
}
func (s *Service) netnsPath(id string) string { return filepath.Join(s.cfg.RunDir, "netns", id) }

func writeRecord(dir string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "record.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "record.json"))
}

// saveSandbox persists sb; callers hold s.mu.
func (s *Service) saveSandbox(sb *sandbox) {
	if err := writeRecord(s.sandboxDir(sb.ID), sb); err != nil {
		s.log.Error("saving sandbox record", "sandbox", sb.ID, "err", err)
	}
}

// saveContainer persists c; callers hold s.mu.
func (s *Service) saveContainer(c *container) {
	if err := writeRecord(s.containerDir(c.ID), c); err != nil {
		s.log.Error("saving container record", "container", c.ID, "err", err)
	}
}

// load reads the records and reconciles them with reality: what exited
// while peapod was away is marked exited. The exit watcher already runs, so
// records enter the maps under s.mu, complete, and exits found afterwards
// go through the same (idempotent) handlers as live ones.
func (s *Service) load(ctx context.Context) error {
	var live []string
	sbDirs, _ := os.ReadDir(sandboxRecordDir(s.cfg.StateDir))
	for _, d := range sbDirs {
		sb := &sandbox{}
		if err := readRecord(filepath.Join(sandboxRecordDir(s.cfg.StateDir), d.Name()), sb); err != nil {
			s.log.Warn("skipping unreadable sandbox record", "dir", d.Name(), "err", err)
			continue
		}
		sb.exited = make(chan struct{})
		if sb.State != runtimeapi.PodSandboxState_SANDBOX_READY {
			close(sb.exited)
		} else {
			live = append(live, sb.ID)
		}
		s.mu.Lock()
		s.sandboxes[sb.ID] = sb
		s.mu.Unlock()
	}
	cDirs, _ := os.ReadDir(containerRecordDir(s.cfg.StateDir))
	for _, d := range cDirs {
		c := &container{}
		if err := readRecord(filepath.Join(containerRecordDir(s.cfg.StateDir), d.Name()), c); err != nil {
			s.log.Warn("skipping unreadable container record", "dir", d.Name(), "err", err)
			continue
		}
		c.exited = make(chan struct{})
		if c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			close(c.exited)
		} else {
			live = append(live, c.ID)
		}
		s.mu.Lock()
		s.containers[c.ID] = c
		s.mu.Unlock()
	}
	for _, id := range live {
		if !s.alive(ctx, id) {
			s.handleExit(id)
		}
	}
	return nil
}

func readRecord(dir string, v any) error {
	data, err := os.ReadFile(filepath.Join(dir, "record.json"))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// alive reports whether runc knows the container as created or running.
func (s *Service) alive(ctx context.Context, id string) bool {
	st, err := s.cfg.Runtime.State(ctx, id)
	if err != nil {
		return false
	}
	return st.Status == "running" || st.Status == "created"
}

// undo is a stack of rollback steps for a verb that fails half way; they
// run newest first, on a context detached from the request's cancellation.
type undo struct {
	steps []undoStep
}

type undoStep struct {
	name string
	fn   func(ctx context.Context) error
}

func (u *undo) add(name string, fn func(ctx context.Context) error) {
	u.steps = append(u.steps, undoStep{name, fn})
}

// run rolls back if *errp is non-nil; use as `defer u.run(ctx, log, &err)`.
func (u *undo) run(ctx context.Context, s *Service, errp *error) {
	if *errp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for i := len(u.steps) - 1; i >= 0; i-- {
		if err := u.steps[i].fn(ctx); err != nil {
			s.log.Warn("rollback step failed", "step", u.steps[i].name, "err", err)
		}
	}
}

func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
