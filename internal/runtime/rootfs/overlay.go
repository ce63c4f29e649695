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
