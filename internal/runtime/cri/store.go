package cri

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/runtime/pidfd"
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
	// OwnCgroup: the sandbox came without a cgroup parent (as from
	// crictl runp), so the runtime made one, Cgroup, under its root.
	OwnCgroup bool                      `json:"ownCgroup,omitempty"`
	PidNS     runtimeapi.NamespaceMode  `json:"pidNamespace"`
	ExitedAt  int64                     `json:"exitedAt,omitempty"`
	Ports     []*runtimeapi.PortMapping `json:"ports,omitempty"`
	// Handler is the runtime handler the sandbox and its containers run
	// with ("" for the default).
	Handler string `json:"runtimeHandler,omitempty"`
	// Step is the creation step begun last (see sandboxSteps) while the
	// sandbox is being created; it is empty once the sandbox is ready.
	Step string `json:"step,omitempty"`
	// Pooled: made ahead of time for the sandbox pool and not claimed
	// by a pod yet (see sandbox_pool.go); start-up recovery removes it.
	Pooled bool          `json:"pooled,omitempty"`
	exited chan struct{} // closed when pause has exited
	// pause watches the pause process (no conmon watches it); set
	// before the sandbox enters the map or by recovery, then only read.
	pause *pidfd.Process
	rec   record
}

// container is the runtime's record of a container.
type container struct {
	ID        string `json:"id"`
	SandboxID string `json:"sandboxId"`
	// Handler is its sandbox's runtime handler.
	Handler   string                      `json:"runtimeHandler,omitempty"`
	Config    *runtimeapi.ContainerConfig `json:"config"`
	ImageRef  string                      `json:"imageRef"`  // image ID
	ImageName string                      `json:"imageName"` // normalized name asked for
	// Layers are the image's layers (diffIDs) the root file system is
	// made of: kept on disk while the container exists, even once its
	// image is removed.
	Layers []string `json:"layers,omitempty"`
	// VolumeLayers are the layers of the images its image volumes
	// mount, in use as long as the container exists.
	VolumeLayers []string                  `json:"volumeLayers,omitempty"`
	State        runtimeapi.ContainerState `json:"state"`
	CreatedAt    int64                     `json:"createdAt"`
	StartedAt    int64                     `json:"startedAt,omitempty"`
	FinishedAt   int64                     `json:"finishedAt,omitempty"`
	ExitCode     int32                     `json:"exitCode"`
	Reason       string                    `json:"reason,omitempty"`
	Message      string                    `json:"message,omitempty"`
	PID          int                       `json:"pid"`
	LogPath      string                    `json:"logPath"`
	Mounts       []*runtimeapi.Mount       `json:"mounts,omitempty"`
	StopSignal   string                    `json:"stopSignal,omitempty"`
	// User is the identity the container's process runs with.
	User *specs.User `json:"user,omitempty"`
	// Cgroup is the container's cgroup as the OCI runtime takes it: its
	// sandbox's parent plus its ID, a path (cgroupfs) or
	// slice:peapod:<id> (systemd).
	Cgroup string `json:"cgroup,omitempty"`
	// Step is the creation step begun last (see containerSteps) while the
	// container is being created; it is empty once it is created.
	Step   string        `json:"step,omitempty"`
	exited chan struct{} // closed when the container has exited
	// starting is held by StartContainer until it has published the
	// started event, so that an exit seen meanwhile is published after.
	starting sync.Mutex
	// name is the name it holds (see names.go).
	name string
	rec  record
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

// record is the file side of a sandbox or container: record.json in the
// object's state directory. Saves snapshot the object under Service.mu and
// write the file outside it, one writer at a time per object; the newest
// snapshot wins, and nothing is written once the record is removed.
type record struct {
	mu      sync.Mutex
	taken   uint64 // snapshots taken; under Service.mu
	written uint64 // newest snapshot on disk; under mu
	removed bool   // under mu
}

// snapshot is one serialized state of an object, ready to be written.
type snapshot struct {
	rec  *record
	seq  uint64
	dir  string
	data []byte
	err  error
}

// snap serializes v, whose record is rec; callers hold s.mu.
func snap(rec *record, dir string, v any) snapshot {
	data, err := json.Marshal(v)
	rec.taken++
	return snapshot{rec: rec, seq: rec.taken, dir: dir, data: data, err: err}
}

// write puts the snapshot on disk unless a newer one is there already;
// durable also fsyncs the file and its directory, for a record that must
// survive a power cut.
func (sn snapshot) write(durable bool) error {
	if sn.err != nil {
		return fmt.Errorf("encoding record: %w", sn.err)
	}
	sn.rec.mu.Lock()
	defer sn.rec.mu.Unlock()
	if sn.rec.removed || sn.seq <= sn.rec.written {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(sn.dir, recordFile), sn.data, durable); err != nil {
		return fmt.Errorf("saving record in %s: %w", sn.dir, err)
	}
	sn.rec.written = sn.seq
	return nil
}

// sync makes the record on disk durable, whichever snapshot it holds.
func (r *record) sync(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.removed {
		return nil
	}
	f, err := os.Open(filepath.Join(dir, recordFile))
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// remove deletes the record's directory for good: later writes are
// dropped.
func (r *record) remove(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed = true
	return os.RemoveAll(dir)
}

const recordFile = "record.json"

// writeFileAtomic replaces path with data by renaming a temporary file
// over it, so readers see the old or the new content, never a mix. The
// directory must exist: a late write never recreates a removed object.
func writeFileAtomic(path string, data []byte, durable bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if durable {
		return syncDir(filepath.Dir(path))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// saveSandbox persists sb as it is now. Callers do not hold s.mu.
func (s *Service) saveSandbox(sb *sandbox) error {
	s.mu.Lock()
	sn := snap(&sb.rec, s.sandboxDir(sb.ID), sb)
	s.mu.Unlock()
	return sn.write(false)
}

// saveContainer persists c as it is now. Callers do not hold s.mu.
func (s *Service) saveContainer(c *container) error {
	s.mu.Lock()
	sn := snap(&c.rec, s.containerDir(c.ID), c)
	s.mu.Unlock()
	return sn.write(false)
}

// logSave logs a failed save of a state change that has happened anyway
// (an exit, a stop): the next save or the start-up reconciliation puts it
// right.
func (s *Service) logSave(kind, id string, err error) {
	if err != nil {
		s.log.Error("saving record", kind, id, "err", err)
	}
}

func readRecord(dir string, v any) error {
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// ignoreNotExist drops "does not exist" errors of idempotent removals.
func ignoreNotExist(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
