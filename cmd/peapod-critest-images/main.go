// Command peapod-critest-images builds the images the CRI validation
// suite (critest) pulls, offline, and pushes them to a local registry
// under the registry-less paths a registry mirror serves them by
// (registry.k8s.io/e2e-test-images/busybox:1.29-2 is pushed as
// <registry>/e2e-test-images/busybox:1.29-2).
//
// The binary is also the stand-in for the programs those images need and
// busybox lacks: copied into the images, it acts as the program it is run
// as (nginx, httpd-foreground, nnp, pgrep, ipcs, pause). Build it static
// (CGO_ENABLED=0).
//
// Usage:
//
//	peapod-critest-images --registry 127.0.0.1:5000 [--cache /var/cache/peapod-test]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/peapod/peapod/internal/testimage"
)

func main() {
	name := filepath.Base(os.Args[0])
	if strings.HasPrefix(os.Args[0], masterTitle) {
		name = masterTitle
	}
	if standin, ok := standins[name]; ok {
		os.Exit(standin(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "peapod-critest-images:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("peapod-critest-images", flag.ContinueOnError)
	registry := fs.String("registry", "127.0.0.1:5000", "registry (host:port, plain HTTP) to push to")
	cache := fs.String("cache", testimage.DefaultCacheDir(), "where Debian's busybox package is cached")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	busybox, err := testimage.FetchDynamicBusybox(ctx, *cache)
	if err != nil {
		return err
	}
	images, err := testimage.CritestImages(busybox, self)
	if err != nil {
		return err
	}
	return push(ctx, *registry, images)
}
