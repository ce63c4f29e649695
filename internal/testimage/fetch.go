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

// dynamicPackage is Debian's dynamically linked busybox: its applets are
// configured as a system's (no standalone shell, so a shell finds every
// command on PATH), which some tests of masked paths rely on.
const dynamicPackage = "busybox"

// FetchBusybox returns the path of a static busybox binary, downloading and
// extracting Debian's busybox-static .deb into cacheDir. A binary already
// extracted into cacheDir is reused without touching apt.
//
// It runs `apt-get download`, which needs the package lists; when the first
// download fails it runs `apt-get update` once and tries again. Concurrent
// callers sharing cacheDir are safe: each extracts into its own temporary
// directory and the first one to finish publishes it.
func FetchBusybox(ctx context.Context, cacheDir string) (string, error) {
	return fetchPackageFile(ctx, cacheDir, debPackage, "bin/busybox", checkStatic)
}

// FetchDynamicBusybox is FetchBusybox for Debian's dynamically linked
// busybox package; the image it goes into needs the C library too (see
// SharedLibraries).
func FetchDynamicBusybox(ctx context.Context, cacheDir string) (string, error) {
	return fetchPackageFile(ctx, cacheDir, dynamicPackage, "bin/busybox", nil)
}

// fetchPackageFile downloads and extracts pkg into cacheDir/pkg, once, and
// returns the path of file inside it, after check (if any) accepts it.
func fetchPackageFile(ctx context.Context, cacheDir, pkg, file string, check func(string) error) (string, error) {
	root := filepath.Join(cacheDir, pkg)
	bin := filepath.Join(root, file)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("creating cache dir: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, pkg+"-*")
	if err != nil {
		return "", fmt.Errorf("creating download dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	deb, err := downloadDeb(ctx, tmp, pkg)
	if err != nil {
		return "", err
	}
	extracted := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, extracted).CombinedOutput(); err != nil {
		return "", fmt.Errorf("extracting %s: %w: %s", filepath.Base(deb), err, out)
	}
	if check != nil {
		if err := check(filepath.Join(extracted, file)); err != nil {
			return "", err
		}
	}
	if err := os.Rename(extracted, root); err != nil {
		// Another caller may have published the same package meanwhile.
		if _, statErr := os.Stat(bin); statErr == nil {
			return bin, nil
		}
		return "", fmt.Errorf("publishing %s into cache: %w", pkg, err)
	}
	return bin, nil
}

// downloadDeb runs `apt-get download pkg` in dir and returns the .deb it
// fetched. If the download fails it refreshes the package lists and tries
// once more: apt-get reports a missing list only through its message text,
// so any failure earns one `apt-get update`.
func downloadDeb(ctx context.Context, dir, pkg string) (string, error) {
	firstErr := aptGet(ctx, dir, "download", pkg)
	if firstErr != nil {
		if err := aptGet(ctx, dir, "update"); err != nil {
			return "", fmt.Errorf("downloading %s: %w (then: %w)", pkg, firstErr, err)
		}
		if err := aptGet(ctx, dir, "download", pkg); err != nil {
			return "", fmt.Errorf("downloading %s after apt-get update: %w", pkg, err)
		}
	}
	debs, err := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if err != nil {
		return "", fmt.Errorf("finding downloaded package: %w", err)
	}
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download left %d %s packages in %s", len(debs), pkg, dir)
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
