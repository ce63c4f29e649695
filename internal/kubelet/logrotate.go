package kubelet

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/containerlog"
)

// defaultLogMonitorInterval is how often the logs of running containers
// are checked against the rotation policy (the kubelet's
// containerLogMonitorInterval, 10s).
const defaultLogMonitorInterval = 10 * time.Second

// logRotationLoop rotates the log of every running container past the
// policy's size, as the kubelet's container log manager does, so that a
// chatty container cannot fill the disk: each log keeps at most MaxFiles
// files of about MaxSize each.
func (k *Kubelet) logRotationLoop(ctx context.Context) {
	p := k.cfg.ContainerLogs
	if p.MaxSize <= 0 {
		return
	}
	interval := k.cfg.ContainerLogMonitorInterval
	if interval <= 0 {
		interval = defaultLogMonitorInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.rotateLogs(ctx)
		}
	}
}

// rotateLogs rotates the logs of running containers that need it.
func (k *Kubelet) rotateLogs(ctx context.Context) {
	p := k.cfg.ContainerLogs
	list, err := k.cfg.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}})
	if err != nil {
		k.log.Warn("listing containers for log rotation", "err", err)
		return
	}
	for _, c := range list.GetContainers() {
		st, err := k.cfg.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil {
			continue // gone meanwhile
		}
		path := st.GetStatus().GetLogPath()
		if path == "" {
			continue
		}
		reopen := func(ctx context.Context) error {
			_, err := k.cfg.Runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: c.Id})
			return err
		}
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			// A rotation cut short (the daemon stopped between the
			// rename and the reopen): conmon still writes the renamed
			// file, so give it a live one again.
			if err := reopen(ctx); err != nil {
				k.log.Warn("reopening a missing container log", "container", c.Id, "path", path, "err", err)
			}
			continue
		}
		if !p.NeedsRotation(path) {
			continue
		}
		if err := p.Rotate(ctx, path, k.cfg.Now(), reopen); err != nil {
			k.log.Warn("rotating container log", "container", c.Id, "path", path, "err", err)
			continue
		}
		k.log.Debug("container log rotated", "container", c.Id, "path", path)
	}
}

// removeContainer removes a container instance and its log files,
// rotated ones included (removeContainerLog upstream).
func (k *Kubelet) removeContainer(ctx context.Context, c *runtimeapi.ContainerStatus) error {
	if _, err := k.cfg.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.GetId()}); err != nil {
		return err
	}
	if path := c.GetLogPath(); path != "" {
		return containerlog.Remove(path)
	}
	return nil
}
