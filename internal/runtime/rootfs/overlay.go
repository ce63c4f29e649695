// Package rootfs builds container root filesystems: an overlayfs mount of an
// image's unpacked layers (read-only lower directories) with a private upper
// directory per container, which is what a containerd overlay snapshot is.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths inside a container's rootfs directory.
const (
	mergedDir = "merged"
	upperDir  = "upper"
	workDir   = "work"
)

// Mount mounts the layers (base layer first) with a fresh writable upper
// layer under dir and returns the merged root path. overlayfs caps the
// option string at one page, which bounds the number of layers (dozens with
// peapod's short layer paths).
func Mount(dir string, layers []string) (string, error) {
	if len(layers) == 0 {
		return "", errors.New("image has no layers")
	}
	merged := filepath.Join(dir, mergedDir)
	for _, d := range []string{merged, filepath.Join(dir, upperDir), filepath.Join(dir, workDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	lowers := make([]string, len(layers))
	for i, l := range layers {
		// overlayfs lists the topmost lower layer first.
		lowers[len(layers)-1-i] = l
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"),
		filepath.Join(dir, upperDir), filepath.Join(dir, workDir))
	if len(opts) >= os.Getpagesize() {
		return "", fmt.Errorf("too many image layers for one overlay mount (%d)", len(layers))
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("mounting overlay at %s: %w", merged, err)
	}
	return merged, nil
}

// MergedPath is where Mount mounts the root under dir.
func MergedPath(dir string) string { return filepath.Join(dir, mergedDir) }

// Unmount unmounts the root under dir; it is not an error if nothing is
// mounted there.
func Unmount(dir string) error {
	merged := filepath.Join(dir, mergedDir)
	for {
		err := unix.Unmount(merged, 0)
		switch {
		case err == nil:
			continue // stacked mounts: unmount until nothing is left
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY):
			if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("unmounting %s: %w", merged, err)
			}
			return nil
		default:
			return fmt.Errorf("unmounting %s: %w", merged, err)
		}
	}
}

// WritableUsage is what the writable (upper) layer under dir takes on
// disk: bytes in allocated blocks, and inodes.
func WritableUsage(dir string) (bytes, inodes uint64) {
	_ = filepath.WalkDir(filepath.Join(dir, upperDir), func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return nil // vanished while walking
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) == nil {
			bytes += uint64(st.Blocks) * 512
			inodes++
		}
		return nil
	})
	return bytes, inodes
}

// MountReadOnly mounts a read-only view of the layers (base layer first)
// at target, as containerd's image volumes do: a read-only bind of a
// single layer, or an overlay of the layers with no upper directory. The
// container binds it (or a path inside it) in; UnmountReadOnly, or an
// unmount of everything under a parent, releases it.
func MountReadOnly(target string, layers []string) error {
	if len(layers) == 0 {
		return errors.New("image has no layers")
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if len(layers) == 1 {
		if err := unix.Mount(layers[0], target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s at %s: %w", layers[0], target, err)
		}
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			_ = unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("making %s read-only: %w", target, err)
		}
		return nil
	}
	lowers := make([]string, len(layers))
	for i, l := range layers {
		lowers[len(layers)-1-i] = l
	}
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if len(opts) >= os.Getpagesize() {
		return fmt.Errorf("too many image layers for one overlay mount (%d)", len(layers))
	}
	if err := unix.Mount("overlay", target, "overlay", unix.MS_RDONLY, opts); err != nil {
		return fmt.Errorf("mounting read-only overlay at %s: %w", target, err)
	}
	return nil
}
