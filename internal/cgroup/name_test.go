package cgroup

import (
	"slices"
	"testing"
)

func TestNameConversions(t *testing.T) {
	for _, tc := range []struct {
		name               Name
		cgroupfs, slice    string
		systemd            string
		runtime, runtimeFS string
	}{
		{nil, "/", "-.slice", "/", "-.slice", "/"},
		{Name{"kubepods"}, "/kubepods", "kubepods.slice", "/kubepods.slice", "kubepods.slice", "/kubepods"},
		{Name{"kubepods", "burstable", "pod12-ab"}, "/kubepods/burstable/pod12-ab", "kubepods-burstable-pod12_ab.slice",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_ab.slice", "kubepods-burstable-pod12_ab.slice", "/kubepods/burstable/pod12-ab"},
		{Name{"peapod", "kubepods", "poduid"}, "/peapod/kubepods/poduid", "peapod-kubepods-poduid.slice",
			"/peapod.slice/peapod-kubepods.slice/peapod-kubepods-poduid.slice", "peapod-kubepods-poduid.slice", "/peapod/kubepods/poduid"},
	} {
		if got := tc.name.Cgroupfs(); got != tc.cgroupfs {
			t.Errorf("%v.Cgroupfs() = %s, want %s", tc.name, got, tc.cgroupfs)
		}
		if got := tc.name.Slice(); got != tc.slice {
			t.Errorf("%v.Slice() = %s, want %s", tc.name, got, tc.slice)
		}
		if got := tc.name.Systemd(); got != tc.systemd {
			t.Errorf("%v.Systemd() = %s, want %s", tc.name, got, tc.systemd)
		}
		if got := (Driver{systemd: true}).RuntimeParent(tc.name); got != tc.runtime {
			t.Errorf("systemd RuntimeParent(%v) = %s, want %s", tc.name, got, tc.runtime)
		}
		if got := (Driver{}).RuntimeParent(tc.name); got != tc.runtimeFS {
			t.Errorf("cgroupfs RuntimeParent(%v) = %s, want %s", tc.name, got, tc.runtimeFS)
		}
		if got := ParseCgroupfs(tc.cgroupfs); !slices.Equal(got, tc.name) {
			t.Errorf("ParseCgroupfs(%s) = %v, want %v", tc.cgroupfs, got, tc.name)
		}
		for _, in := range []string{tc.systemd, tc.slice} {
			if got, ok := ParseSystemd(in); !ok || !slices.Equal(got, tc.name) {
				t.Errorf("ParseSystemd(%s) = %v, %v, want %v", in, got, ok, tc.name)
			}
		}
	}
	for _, bad := range []string{"/kubepods", "/a.slice/b", "foo", "/-.slice/x.slice", "a--b.slice"} {
		if got, ok := ParseSystemd(bad); ok {
			t.Errorf("ParseSystemd(%s) = %v, want refused", bad, got)
		}
	}
}

func TestLeaf(t *testing.T) {
	isID := func(s string) bool { return len(s) == 4 }
	for _, tc := range []struct {
		leaf          Leaf
		oci, path     string
		systemd       bool
		dirName       string
		parsedFromOCI Leaf
	}{
		{Leaf{"/kubepods/burstable/podu", "abcd"}, "/kubepods/burstable/podu/abcd", "/kubepods/burstable/podu/abcd", false, "abcd",
			Leaf{"/kubepods/burstable/podu", "abcd"}},
		{Leaf{"kubepods-burstable-podu.slice", "abcd"}, "kubepods-burstable-podu.slice:peapod:abcd",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podu.slice/peapod-abcd.scope", true, "peapod-abcd.scope",
			Leaf{"kubepods-burstable-podu.slice", "abcd"}},
		{Leaf{"", "abcd"}, "", "", false, "", Leaf{}},
	} {
		if got := tc.leaf.OCIPath(); got != tc.oci {
			t.Errorf("%v.OCIPath() = %s, want %s", tc.leaf, got, tc.oci)
		}
		if got := tc.leaf.Path(); got != tc.path {
			t.Errorf("%v.Path() = %s, want %s", tc.leaf, got, tc.path)
		}
		if got := tc.leaf.Systemd(); got != tc.systemd {
			t.Errorf("%v.Systemd() = %v", tc.leaf, got)
		}
		if got := ParseLeaf(tc.oci); got != tc.parsedFromOCI {
			t.Errorf("ParseLeaf(%s) = %v, want %v", tc.oci, got, tc.parsedFromOCI)
		}
		if tc.dirName != "" {
			if id, ok := leafID(tc.dirName, isID); !ok || id != "abcd" {
				t.Errorf("leafID(%s) = %s, %v", tc.dirName, id, ok)
			}
		}
	}
	for _, name := range []string{"peapod-abc.scope", "peapod-abcd.slice", "crio-abcd.scope", "abc"} {
		if id, ok := leafID(name, isID); ok {
			t.Errorf("leafID(%s) = %s, want no leaf", name, id)
		}
	}
}
