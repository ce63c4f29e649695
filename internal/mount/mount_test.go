package mount

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/peapod/peapod/internal/testutil"
)

func TestPropagationOf(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	sub := filepath.Join(mnt, "sub")
	os.Mkdir(sub, 0o755)
	for _, tt := range []struct {
		flags         uintptr
		shared, slave bool
	}{
		{unix.MS_PRIVATE, false, false},
		{unix.MS_SHARED, true, false},
	} {
		if err := unix.Mount("", mnt, "", tt.flags, ""); err != nil {
			t.Fatal(err)
		}
		p, err := PropagationOf(sub)
		if err != nil {
			t.Fatal(err)
		}
		if p.MountPoint != mnt || p.Shared != tt.shared || p.Slave != tt.slave {
			t.Errorf("after flags %#x: %+v, want mount point %s shared=%v slave=%v", tt.flags, p, mnt, tt.shared, tt.slave)
		}
	}
	if _, err := PropagationOf(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing path has a propagation")
	}
}

func TestRecursiveReadOnly(t *testing.T) {
	testutil.RequireRoot(t)
	if !RecursiveReadOnlySupported() {
		t.Skip("kernel without mount_setattr")
	}
	src := t.TempDir()
	sub := filepath.Join(src, "tmpfs")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	target := filepath.Join(t.TempDir(), "rro")
	if err := RecursiveReadOnly(src, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { UnmountUnder(target) })
	for _, p := range []string{filepath.Join(target, "file"), filepath.Join(target, "tmpfs", "file")} {
		if err := os.WriteFile(p, nil, 0o644); !errors.Is(err, unix.EROFS) {
			t.Errorf("writing %s: %v, want EROFS", p, err)
		}
	}
	// The source stays writable, submount included.
	if err := os.WriteFile(filepath.Join(sub, "file"), nil, 0o644); err != nil {
		t.Errorf("the source became read-only: %v", err)
	}
	if err := UnmountUnder(target); err != nil || IsMountPoint(target) {
		t.Errorf("unmounting the copy: %v", err)
	}
}
