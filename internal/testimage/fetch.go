package testimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// debPackage is the Debian package that ships a statically linked busybox.
const debPackage = "busybox-static"

// FetchBusybox returns the path of a static busybox binary, downloading and
// extracting Debian's busybox-static .deb into cacheDir. A binary already
// extracted into cacheDir is reused without touching apt.
//
// It runs `apt-get download`, which needs the package lists; when the first
// download fails it runs `apt-get update` once and tries again. Concurrent
// callers sharing cacheDir are safe: each extracts into its own temporary
// directory and the first one to finish publishes it.
func FetchBusybox(ctx context.Context, cacheDir string) (string, error) {
	root := filepath.Join(cacheDir, debPackage)
	bin := filepath.Join(root, "bin", "busybox")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("creating cache dir: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, debPackage+"-*")
	if err != nil {
		return "", fmt.Errorf("creating download dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	deb, err := downloadDeb(ctx, tmp)
	if err != nil {
		return "", err
	}
	extracted := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, extracted).CombinedOutput(); err != nil {
		return "", fmt.Errorf("extracting %s: %w: %s", filepath.Base(deb), err, out)
	}
	if err := checkStatic(filepath.Join(extracted, "bin", "busybox")); err != nil {
		return "", err
	}
	if err := os.Rename(extracted, root); err != nil {
		// Another caller may have published the same binary meanwhile.
		if _, statErr := os.Stat(bin); statErr == nil {
			return bin, nil
		}
		return "", fmt.Errorf("publishing busybox into cache: %w", err)
	}
	return bin, nil
}

// downloadDeb runs `apt-get download` in dir and returns the .deb it fetched.
// If the download fails it refreshes the package lists and tries once more:
// apt-get reports a missing list only through its message text, so any
// failure earns one `apt-get update`.
func downloadDeb(ctx context.Context, dir string) (string, error) {
	firstErr := aptGet(ctx, dir, "download", debPackage)
	if firstErr != nil {
		if err := aptGet(ctx, dir, "update"); err != nil {
			return "", fmt.Errorf("downloading %s: %w (then: %w)", debPackage, firstErr, err)
		}
		if err := aptGet(ctx, dir, "download", debPackage); err != nil {
			return "", fmt.Errorf("downloading %s after apt-get update: %w", debPackage, err)
		}
	}
	debs, err := filepath.Glob(filepath.Join(dir, debPackage+"_*.deb"))
	if err != nil {
		return "", fmt.Errorf("finding downloaded package: %w", err)
	}
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download left %d %s packages in %s", len(debs), debPackage, dir)
	}
	return debs[0], nil
}

// aptGet runs apt-get with args in dir. The _apt sandbox user usually cannot
// write to a private temporary directory, so the download runs as the caller.
func aptGet(ctx context.Context, dir string, args ...string) error {
	args = append([]string{"-q", "-o", "APT::Sandbox::User=root"}, args...)
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("apt-get: %w", err)
		}
		return fmt.Errorf("apt-get %v: %w: %s", args, err, out)
	}
	return nil
}

// CacheDirEnv names the environment variable that overrides DefaultCacheDir,
// e.g. to hand a pre-fetched busybox to tests in a VM without apt.
const CacheDirEnv = "PEAPOD_TESTIMAGE_CACHE"

// DefaultCacheDir is where tests keep the fetched busybox: $PEAPOD_TESTIMAGE_CACHE,
// else peapod-testimage-cache in the temporary directory.
func DefaultCacheDir() string {
	if d := os.Getenv(CacheDirEnv); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "peapod-testimage-cache")
}
