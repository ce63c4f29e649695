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
