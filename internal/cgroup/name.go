package cgroup

import (
	"path"
	"strings"

	"github.com/opencontainers/cgroups/systemd"
)

// Name is a cgroup named the driver-neutral way, as the kubelet's
// CgroupName (pkg/kubelet/cm/cgroup_manager_linux.go): one element per
// level, such as ["kubepods", "burstable", "pod<uid>"]. The cgroupfs
// driver turns it into /kubepods/burstable/pod<uid>, the systemd driver
// into /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice
// (dashes in an element escaped as underscores).
type Name []string

// Child is n with one more element.
func (n Name) Child(element string) Name {
	out := make(Name, 0, len(n)+1)
	return append(append(out, n...), element)
}

// Cgroupfs is n as a cgroupfs path.
func (n Name) Cgroupfs() string { return "/" + path.Join(n...) }

// Slice is n as a systemd slice name ("-.slice" for the root).
func (n Name) Slice() string {
	if len(n) == 0 {
		return "-.slice"
	}
	parts := make([]string, len(n))
	for i, e := range n {
		parts[i] = strings.ReplaceAll(e, "-", "_")
	}
	return strings.Join(parts, "-") + ".slice"
}

// Systemd is n as the cgroup path of its slice.
func (n Name) Systemd() string {
	p, err := systemd.ExpandSlice(n.Slice())
	if err != nil {
		// Elements are never empty and have their dashes escaped, so
		// the slice name is always valid.
		panic("cgroup: " + err.Error())
	}
	return p
}

// ParseCgroupfs reads a cgroupfs path such as /a/b into a Name.
func ParseCgroupfs(p string) Name {
	var n Name
	for _, e := range strings.Split(path.Clean("/"+p), "/") {
		if e != "" {
			n = append(n, e)
		}
	}
	return n
}

// ParseSystemd reads a systemd cgroup path such as
// /a.slice/a-b.slice (or a slice name such as a-b.slice) into a Name,
// as the kubelet's ParseSystemdToCgroupName does; ok is false for a path
// that is not made of slices.
func ParseSystemd(p string) (n Name, ok bool) {
	if p == "/" || p == "" || p == "-.slice" {
		return nil, true
	}
	if !strings.HasPrefix(p, "/") {
		expanded, err := systemd.ExpandSlice(p)
		if err != nil {
			return nil, false
		}
		p = expanded
	}
	for _, e := range strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/") {
		element, ok := sliceElement(e)
		if !ok {
			return nil, false
		}
		n = append(n, element)
	}
	return n, true
}

// sliceElement is the last element of a slice's name, unescaped:
// "pod1_2" for kubepods-burstable-pod1_2.slice is "pod1-2".
func sliceElement(slice string) (string, bool) {
	base, ok := strings.CutSuffix(slice, ".slice")
	if !ok || base == "" {
		return "", false
	}
	if i := strings.LastIndexByte(base, '-'); i >= 0 {
		base = base[i+1:]
	}
	if base == "" {
		return "", false
	}
	return strings.ReplaceAll(base, "_", "-"), true
}
