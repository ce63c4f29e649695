package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/cgroups"
	cgmanager "github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/cgroups/systemd"
)

// Driver is the kubelet's --cgroup-driver: cgroupfs writes the cgroup
// tree itself, systemd has systemd make each level a slice unit (through
// its D-Bus API) so that systemd, which owns the tree on a systemd host,
// knows every cgroup in it.
type Driver struct{ systemd bool }

// Driver names, as the kubelet's --cgroup-driver takes them.
const (
	DriverCgroupfs = "cgroupfs"
	DriverSystemd  = "systemd"
)

// ErrNoSystemd is returned for the systemd driver on a host whose init
// is not systemd.
var ErrNoSystemd = errors.New("systemd is not running on this host (no /run/systemd/system)")

// NewDriver returns the driver called name.
func NewDriver(name string) (Driver, error) {
	switch name {
	case DriverCgroupfs:
		return Driver{}, nil
	case DriverSystemd:
		if !systemd.IsRunningSystemd() {
			return Driver{}, fmt.Errorf("cgroup driver systemd: %w", ErrNoSystemd)
		}
		return Driver{systemd: true}, nil
	}
	return Driver{}, fmt.Errorf("unknown cgroup driver %q (want %s or %s)", name, DriverCgroupfs, DriverSystemd)
}

// String is the driver's name.
func (d Driver) String() string {
	if d.systemd {
		return DriverSystemd
	}
	return DriverCgroupfs
}

// ParseRoot reads a --cgroup-root in the driver's syntax: a cgroupfs
// path, or for systemd a path of slices such as /peapod.slice.
func (d Driver) ParseRoot(root string) (Name, error) {
	if !d.systemd {
		return ParseCgroupfs(root), nil
	}
	n, ok := ParseSystemd(root)
	if !ok {
		return nil, fmt.Errorf("cgroup root %q is not a systemd slice path (such as / or /peapod.slice)", root)
	}
	return n, nil
}

// Path is the cgroup path of n in the hierarchy.
func (d Driver) Path(n Name) string {
	if d.systemd {
		return n.Systemd()
	}
	return n.Cgroupfs()
}

// RuntimeParent is what the runtime is given as a sandbox's cgroup
// parent for the cgroup n: its path with cgroupfs, its slice name with
// systemd (the kubelet's cgroupManager.Name).
func (d Driver) RuntimeParent(n Name) string {
	if d.systemd {
		return n.Slice()
	}
	return n.Cgroupfs()
}

func (d Driver) manager(n Name, res *cgroups.Resources) (cgroups.Manager, error) {
	// Device rules are the OCI runtime's business, never the kubelet's.
	r := cgroups.Resources{}
	if res != nil {
		r = *res
	}
	r.SkipDevices = true
	res = &r
	c := &cgroups.Cgroup{Path: n.Cgroupfs(), Resources: res}
	if d.systemd {
		if len(n) == 0 {
			return nil, errors.New("the root slice is not managed")
		}
		c = &cgroups.Cgroup{Systemd: true, Parent: n[:len(n)-1].Slice(), Name: n.Slice(), Resources: res}
	}
	m, err := cgmanager.New(c)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", d.Path(n), err)
	}
	return m, nil
}

// Create makes the cgroup n and sets res (nil: nothing) on it.
func (d Driver) Create(n Name, res *cgroups.Resources) error {
	m, err := d.manager(n, res)
	if err != nil {
		return err
	}
	if err := m.Apply(-1); err != nil {
		return fmt.Errorf("creating cgroup %s: %w", d.Path(n), err)
	}
	if res == nil {
		return nil
	}
	return d.set(m, n, res)
}

// Set sets res on the existing cgroup n.
func (d Driver) Set(n Name, res *cgroups.Resources) error {
	m, err := d.manager(n, res)
	if err != nil {
		return err
	}
	return d.set(m, n, res)
}

func (d Driver) set(m cgroups.Manager, n Name, res *cgroups.Resources) error {
	r := *res
	r.SkipDevices = true
	if err := m.Set(&r); err != nil {
		return fmt.Errorf("setting cgroup %s: %w", d.Path(n), err)
	}
	return nil
}

// Exists reports whether the cgroup n exists in any hierarchy.
func (d Driver) Exists(n Name) bool { return Exists(d.Path(n)) }

// Destroy kills what runs in the cgroup n and below and removes it all;
// with systemd the slice unit is stopped, which stops the units in it.
func (d Driver) Destroy(n Name) error {
	if !d.systemd {
		return Destroy(n.Cgroupfs())
	}
	m, err := d.manager(n, nil)
	if err != nil {
		return err
	}
	if err := killAll(m.GetPaths()); err != nil {
		return fmt.Errorf("killing the processes of cgroup %s: %w", d.Path(n), err)
	}
	if err := m.Destroy(); err != nil {
		return fmt.Errorf("removing cgroup %s: %w", d.Path(n), err)
	}
	return nil
}

// Children lists the last elements of the names of n's child cgroups
// that the driver made (slices for systemd), in any hierarchy.
func (d Driver) Children(n Name) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hierarchies() {
		entries, _ := os.ReadDir(filepath.Join(h, d.Path(n)))
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			element := e.Name()
			if d.systemd {
				var ok bool
				if element, ok = sliceElement(element); !ok {
					continue
				}
			}
			if !seen[element] {
				seen[element] = true
				out = append(out, element)
			}
		}
	}
	return out
}

// scopePrefix starts the systemd scope unit of every container peapod
// runs with the systemd driver (containerd's is cri-containerd, CRI-O's
// crio): peapod-<id>.scope.
const scopePrefix = "peapod"

// Leaf is the cgroup of one container (or pause) of a sandbox: the
// sandbox's cgroup parent plus the container ID. A parent that is a
// slice name (kubepods-pod<uid>.slice) means the systemd driver, and the
// leaf is the transient scope peapod-<id>.scope that runc asks systemd
// for; a path means cgroupfs and the leaf is <parent>/<id>.
type Leaf struct {
	Parent string
	ID     string
}

func (l Leaf) systemd() bool {
	return !strings.Contains(l.Parent, "/") && strings.HasSuffix(l.Parent, ".slice")
}

// OCIPath is the leaf as the OCI runtime takes it in linux.cgroupsPath:
// a path, or slice:prefix:name for runc's and crun's systemd driver.
func (l Leaf) OCIPath() string {
	if l.Parent == "" {
		return ""
	}
	if l.systemd() {
		return l.Parent + ":" + scopePrefix + ":" + l.ID
	}
	return filepath.Join(l.Parent, l.ID)
}

// Systemd reports whether the runtime must use its systemd cgroup driver
// for the leaf.
func (l Leaf) Systemd() bool { return l.systemd() }

// Path is the leaf's cgroup path in the hierarchy ("" without a parent).
func (l Leaf) Path() string {
	if l.Parent == "" {
		return ""
	}
	if l.systemd() {
		parent, err := systemd.ExpandSlice(l.Parent)
		if err != nil {
			return ""
		}
		return filepath.Join(parent, scopePrefix+"-"+l.ID+".scope")
	}
	return filepath.Join(l.Parent, l.ID)
}

// Exists reports whether the leaf's cgroup exists.
func (l Leaf) Exists() bool {
	p := l.Path()
	return p != "" && Exists(p)
}

// Destroy kills what runs in the leaf and removes it: with systemd its
// scope unit is stopped.
func (l Leaf) Destroy() error {
	p := l.Path()
	if p == "" {
		return nil
	}
	if !l.systemd() {
		return Destroy(p)
	}
	m, err := cgmanager.New(&cgroups.Cgroup{Systemd: true, Parent: l.Parent, ScopePrefix: scopePrefix, Name: l.ID, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", p, err)
	}
	if err := killAll(m.GetPaths()); err != nil {
		return fmt.Errorf("killing the processes of cgroup %s: %w", p, err)
	}
	if err := m.Destroy(); err != nil {
		return fmt.Errorf("removing cgroup %s: %w", p, err)
	}
	return nil
}

// FindLeaves returns the leaves below the cgroup path root whose ID
// satisfies isID, made by either driver, without descending into one.
func FindLeaves(root string, isID func(string) bool) []Leaf {
	var out []Leaf
	for _, p := range Find(root, func(name string) bool { _, ok := leafID(name, isID); return ok }) {
		id, _ := leafID(filepath.Base(p), isID)
		parent := filepath.Dir(p)
		if filepath.Base(p) != id { // a systemd scope: its parent is a slice
			parent = filepath.Base(parent)
		}
		out = append(out, Leaf{Parent: parent, ID: id})
	}
	return out
}

// leafID is the container ID of a leaf cgroup's directory name.
func leafID(name string, isID func(string) bool) (string, bool) {
	if isID(name) {
		return name, true
	}
	if rest, ok := strings.CutPrefix(name, scopePrefix+"-"); ok {
		if id, ok := strings.CutSuffix(rest, ".scope"); ok && isID(id) {
			return id, true
		}
	}
	return "", false
}

// ParseLeaf reads a leaf back from its OCI cgroupsPath.
func ParseLeaf(ociPath string) Leaf {
	if ociPath == "" {
		return Leaf{}
	}
	if parent, rest, ok := strings.Cut(ociPath, ":"); ok {
		if _, id, ok := strings.Cut(rest, ":"); ok {
			return Leaf{Parent: parent, ID: id}
		}
	}
	return Leaf{Parent: filepath.Dir(ociPath), ID: filepath.Base(ociPath)}
}

// Move puts the process pid (and its threads) into the cgroupfs leaf l,
// made if missing, in every hierarchy, and sets res on it: what a
// pooled sandbox's pause needs once the pod that claims it names its
// cgroup. Unlike a create, it joins the devices hierarchy too, so that
// no part of the process stays in the cgroup it leaves.
func (l Leaf) Move(pid int, res *cgroups.Resources) error {
	if l.systemd() || l.Parent == "" {
		return fmt.Errorf("moving process %d: cgroup %q is not a cgroupfs leaf", pid, l.OCIPath())
	}
	r := cgroups.Resources{}
	if res != nil {
		r = *res
	}
	m, err := cgmanager.New(&cgroups.Cgroup{Path: l.Path(), Resources: &r})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", l.Path(), err)
	}
	if err := m.Apply(pid); err != nil {
		return fmt.Errorf("moving process %d to cgroup %s: %w", pid, l.Path(), err)
	}
	if res == nil {
		return nil
	}
	r.SkipDevices = true
	if r.CpuShares != 0 && r.CpuWeight == 0 && cgroups.IsCgroup2UnifiedMode() {
		// v2 has a weight where v1 had shares; the library leaves the
		// conversion (runc's, for the same value) to its callers.
		r.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(r.CpuShares)
	}
	if err := m.Set(&r); err != nil {
		return fmt.Errorf("setting cgroup %s: %w", l.Path(), err)
	}
	return nil
}

// SetCPUQuota sets the CFS quota and period of the cgroupfs leaf l
// (cpu.cfs_quota_us and cpu.cfs_period_us on v1, cpu.max on v2).
func (l Leaf) SetCPUQuota(quota int64, period uint64) error {
	if l.systemd() || l.Parent == "" {
		return fmt.Errorf("setting the CPU quota: cgroup %q is not a cgroupfs leaf", l.OCIPath())
	}
	res := &cgroups.Resources{SkipDevices: true, CpuQuota: quota, CpuPeriod: period}
	m, err := cgmanager.New(&cgroups.Cgroup{Path: l.Path(), Resources: res})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", l.Path(), err)
	}
	if err := m.Set(res); err != nil {
		return fmt.Errorf("setting the CPU quota of cgroup %s: %w", l.Path(), err)
	}
	return nil
}
