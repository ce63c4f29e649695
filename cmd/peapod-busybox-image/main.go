// Command peapod-busybox-image writes a busybox OCI image layout tarball
// built offline from Debian's busybox-static package.
//
// Usage:
//
//	peapod-busybox-image [-o busybox.tar] [-name docker.io/library/busybox:latest]
//	    [-cache-dir ~/.cache/peapod] [-busybox /path/to/static/busybox]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/peapod/peapod/internal/testimage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "peapod-busybox-image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("peapod-busybox-image", flag.ContinueOnError)
	out := fs.String("o", "busybox.tar", `output tarball ("-" for stdout)`)
	name := fs.String("name", "docker.io/library/busybox:latest", "image name recorded in index.json")
	cacheDir := fs.String("cache-dir", defaultCacheDir(), "where the busybox-static package is cached")
	busybox := fs.String("busybox", "", "static busybox binary to use instead of downloading busybox-static")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	bin := *busybox
	if bin == "" {
		var err error
		if bin, err = testimage.FetchBusybox(ctx, *cacheDir); err != nil {
			return err
		}
	}
	if *out == "-" {
		return testimage.BusyboxImage(os.Stdout, bin, *name, nil)
	}
	return writeFile(*out, func(w io.Writer) error {
		return testimage.BusyboxImage(w, bin, *name, nil)
	})
}

// writeFile writes path through a temporary file renamed into place, so a
// failed run never leaves a truncated tarball behind.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".busybox-image-*")
	if err != nil {
		return fmt.Errorf("creating output: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing output: %w", err)
	}
	return nil
}

// defaultCacheDir is $XDG_CACHE_HOME/peapod (~/.cache/peapod), or a
// directory under the system temporary directory when there is no home.
func defaultCacheDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "peapod")
	}
	return filepath.Join(os.TempDir(), "peapod-cache")
}
