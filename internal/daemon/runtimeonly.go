package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/peapod/peapod/internal/runtime/criserver"
)

// RunRuntime runs only the container runtime, served as the CRI on
// opts.CRISocket, until ctx ends: what a real kubelet's
// --container-runtime-endpoint points at. No API server, kubelet or
// database runs; the runtime keeps its own state in DataDir/runtime.
func RunRuntime(ctx context.Context, opts Options, log *slog.Logger) error {
	opts = opts.withDefaults()
	for _, dir := range []string{opts.DataDir, opts.RunDir, opts.LogDir, opts.ConfigDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	d := &Daemon{opts: opts, log: log}
	svc, err := d.newRuntime(ctx, log)
	if err != nil {
		return err
	}
	done, err := criserver.Serve(ctx, opts.CRISocket, svc, log.With("component", "cri"))
	if err != nil {
		return err
	}
	log.Info("peapod runtime ready (no API server or kubelet: --api=false)", "cri-socket", opts.CRISocket)
	poolCtx, stopPool := context.WithCancel(ctx)
	pooled := make(chan error, 1)
	go func() { pooled <- svc.RunPool(poolCtx, opts.SandboxPool) }()
	err = <-done
	stopPool()
	<-pooled // the pooled sandboxes are removed before the runtime exits
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("serving the CRI: %w", err)
	}
	return nil
}
