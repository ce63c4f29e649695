package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	cgmanager "github.com/opencontainers/cgroups/manager"

	"github.com/peapod/peapod/internal/testutil"
)

// TestReadUsage puts a shell that touches memory and burns a little CPU
// in a cgroup: ReadUsage counts its process, its CPU time growing between
// two reads, memory in use with a working set no larger, and page
// faults. A cgroup that does not exist and an empty path are errors.
// This test also runs in the cgroup v2 VM.
func TestReadUsage(t *testing.T) {
	testutil.RequireRoot(t)
	root := fmt.Sprintf("/peapod-usage-test-%d", os.Getpid())
	leaf := path.Join(root, "ctr")
	// Once in the cgroup (a line on stdin says so), busy for a moment
	// with a few MiB of memory touched, then idle until killed.
	sh := exec.Command("sh", "-c", `read go; x=$(head -c 4000000 /dev/zero | tr '\0' a); i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done; exec sleep 600`)
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sh.Process.Kill()
		_ = sh.Wait()
		_ = Destroy(root)
	})
	mgr, err := cgmanager.New(&cgroups.Cgroup{Path: leaf, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Apply(sh.Process.Pid); err != nil {
		t.Fatal(err)
	}
	before, err := ReadUsage(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := stdout.Read(make([]byte, 5)); err != nil { // "done"
		t.Fatal(err)
	}
	first, err := ReadUsage(leaf)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	second, err := ReadUsage(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if second.Processes != 1 {
		t.Errorf("%d processes, want 1", second.Processes)
	}
	if first.CPUNanos <= before.CPUNanos || second.CPUNanos < first.CPUNanos {
		t.Errorf("CPU time %d, %d after the busy loop, then %d: want it grown, and not going back", before.CPUNanos, first.CPUNanos, second.CPUNanos)
	}
	if second.MemoryBytes == 0 || second.WorkingSet > second.MemoryBytes {
		t.Errorf("memory %d, working set %d", second.MemoryBytes, second.WorkingSet)
	}
	if second.PageFaults == 0 {
		t.Errorf("no page faults counted")
	}
	if !second.At.After(first.At) {
		t.Errorf("read times %v, %v", first.At, second.At)
	}
	if _, err := ReadUsage(root + "/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing cgroup: %v, want fs.ErrNotExist", err)
	}
	if _, err := ReadUsage(""); err == nil {
		t.Error("an empty path read without error")
	}
}
