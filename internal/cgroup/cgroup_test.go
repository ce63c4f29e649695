package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	cgmanager "github.com/opencontainers/cgroups/manager"

	"github.com/peapod/peapod/internal/testutil"
)

// TestDestroyKillsAndRemoves puts a process in a leaf of a cgroup tree:
// Destroy kills it and removes the tree, in every hierarchy; Find sees the
// leaf before and nothing after. This test also runs in the cgroup v2 VM.
func TestDestroyKillsAndRemoves(t *testing.T) {
	testutil.RequireRoot(t)
	root := fmt.Sprintf("/peapod-cgroup-test-%d", os.Getpid())
	leaf := path.Join(root, "pod1", "ctr")
	sleep := exec.Command("sleep", "600")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleep.Wait() }()
	mgr, err := cgmanager.New(&cgroups.Cgroup{Path: leaf, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Apply(sleep.Process.Pid); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Destroy(root) })
	if got := Find(root, func(n string) bool { return n == "ctr" }); len(got) != 1 || got[0] != leaf {
		t.Errorf("Find = %v, want [%s]", got, leaf)
	}
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", sleep.Process.Pid))
	if !strings.Contains(string(cg), leaf) {
		t.Fatalf("the process is not in %s:\n%s", leaf, cg)
	}

	if err := Destroy(root); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the process in the cgroup still runs")
	}
	for _, h := range hierarchies() {
		if _, err := os.Stat(filepath.Join(h, root)); err == nil {
			t.Errorf("%s left in %s", root, h)
		}
	}
	if got := Find(root, func(string) bool { return true }); len(got) != 0 {
		t.Errorf("Find after Destroy = %v", got)
	}
	if err := Destroy(root); err != nil {
		t.Errorf("destroying a missing cgroup: %v", err)
	}
}

func TestHasController(t *testing.T) {
	// Every host peapod runs on has the memory controller; none has one
	// called "nosuch".
	if !HasController("memory") {
		t.Error("HasController(memory) = false")
	}
	if HasController("nosuch") {
		t.Error("HasController(nosuch) = true")
	}
}

// TestLeafMove moves a process from the leaf it runs in to another, as
// a pooled sandbox's pause moves into its pod's cgroup: it leaves the
// first in every hierarchy (which Destroy then removes without killing
// it) and gets the second's CPU shares. This test also runs in the
// cgroup v2 VM.
func TestLeafMove(t *testing.T) {
	testutil.RequireRoot(t)
	root := fmt.Sprintf("/peapod-cgroup-move-%d", os.Getpid())
	t.Cleanup(func() { _ = Destroy(root) })
	sleep := exec.Command("sleep", "600")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleep.Wait() }()
	defer sleep.Process.Kill()
	pid := sleep.Process.Pid
	from := Leaf{Parent: path.Join(root, "pool", "sb"), ID: "sb"}
	if err := from.Move(pid, nil); err != nil {
		t.Fatal(err)
	}
	to := Leaf{Parent: path.Join(root, "kubepods", "pod1"), ID: "sb"}
	if err := to.Move(pid, &cgroups.Resources{CpuShares: 2}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && strings.HasPrefix(f[2], root) && f[2] != to.Path() {
			t.Errorf("after the move: %s, want %s", line, to.Path())
		}
	}
	if err := Destroy(from.Parent); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Fatalf("removing the cgroup it left killed the process: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if Exists(from.Parent) {
		t.Errorf("%s left", from.Parent)
	}
	want, file := "2", "cpu.shares"
	if cgroups.IsCgroup2UnifiedMode() {
		want, file = "1", "cpu.weight" // shares 2 → weight 1
	}
	for _, h := range hierarchies() {
		if v, err := os.ReadFile(filepath.Join(h, to.Path(), file)); err == nil {
			if got := strings.TrimSpace(string(v)); got != want {
				t.Errorf("%s = %s, want %s", file, got, want)
			}
			return
		}
	}
	t.Errorf("no %s for %s", file, to.Path())
}

func TestLeafMoveRefusesSystemd(t *testing.T) {
	if err := (Leaf{Parent: "kubepods-pod1.slice", ID: "sb"}).Move(1, nil); err == nil {
		t.Error("moving into a systemd scope: no error")
	}
}
