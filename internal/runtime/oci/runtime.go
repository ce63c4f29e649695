// Package oci drives an OCI runtime binary (runc, or crun) and builds the
// OCI runtime specs peapod hands it. Containers are created by conmon (see
// package conmon); this package runs the other verbs: start, kill, delete
// and state, and `run --detach` for a sandbox's pause process, which needs
// no monitor.
package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Sentinel errors.
var (
	// ErrNotExist: the runtime knows no container of that ID.
	ErrNotExist = errors.New("container does not exist")
	// ErrNotRunning: a signal could not be delivered because the container
	// is not running.
	ErrNotRunning = errors.New("container not running")
)

// Runtime is an OCI runtime binary with its state directory.
type Runtime struct {
	// Binary is the runtime executable (path or name in PATH).
	Binary string
	// Root is the runtime's state directory (--root).
	Root string
}

// Name is the runtime's base name, e.g. "runc".
func (r *Runtime) Name() string { return filepath.Base(r.Binary) }

func (r *Runtime) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, r.Binary, append([]string{"--root", r.Root}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return nil, classify(fmt.Errorf("%s %s: %s: %w", r.Name(), args[0], msg, err), msg)
	}
	return stdout.Bytes(), nil
}

// classify maps the runtimes' messages to sentinels; runc and crun only
// report these conditions as text.
func classify(err error, msg string) error {
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "does not exist"), strings.Contains(low, "not found"), strings.Contains(low, "no such file"):
		return fmt.Errorf("%w: %w", ErrNotExist, err)
	case strings.Contains(low, "not running"), strings.Contains(low, "no such process"), strings.Contains(low, "invalid process"):
		return fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	return err
}

// Update sets new cgroup limits on a created or running container
// (`<runtime> update --resources -`, the limits as JSON on stdin).
func (r *Runtime) Update(ctx context.Context, id string, res *specs.LinuxResources) error {
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, r.Binary, "--root", r.Root, "update", "--resources", "-", id)
	cmd.Stdin = bytes.NewReader(data)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		return classify(fmt.Errorf("%s update: %s: %w", r.Name(), msg, err), msg)
	}
	return nil
}

// Version returns the first line of `<runtime> --version`.
func (r *Runtime) Version(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, r.Binary, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", r.Name(), err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line), nil
}

// RunDetached creates and starts the container of bundle in one call
// (`run --detach`) with no monitor process: the runtime returns once the
// container runs, and the container's parent becomes init. Its standard
// input and output are /dev/null; its standard error is the file
// "run.err" in the bundle, which is also where the runtime's own message
// is read from when it fails. The caller watches the exit (package
// pidfd). It returns the container's PID.
func (r *Runtime) RunDetached(ctx context.Context, id, bundle string, systemdCgroup bool) (int, error) {
	errFile, err := os.Create(filepath.Join(bundle, "run.err"))
	if err != nil {
		return 0, err
	}
	defer errFile.Close()
	pidFile := filepath.Join(bundle, "pidfile")
	args := []string{"--root", r.Root}
	if systemdCgroup {
		args = append(args, "--systemd-cgroup")
	}
	args = append(args, "run", "--detach", "--bundle", bundle, "--pid-file", pidFile, id)
	cmd := exec.CommandContext(ctx, r.Binary, args...)
	// Stdin and Stdout left nil are /dev/null; a file (not a pipe) as
	// Stderr: the container keeps it, and a pipe would never reach EOF.
	cmd.Stderr = errFile
	// Its own process group, which the container inherits: a Ctrl-C to
	// peapod must not reach the pod.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(errFile.Name())
		msg := strings.TrimSpace(string(out))
		return 0, classify(fmt.Errorf("%s run: %s: %w", r.Name(), msg, err), msg)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("%s run: reading its pid file: %w", r.Name(), err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s run: pid file %q: %w", r.Name(), data, err)
	}
	return pid, nil
}

// Start starts a created container.
func (r *Runtime) Start(ctx context.Context, id string) error {
	_, err := r.run(ctx, "start", id)
	return err
}

// Kill sends sig to the container's init process, or with all to every
// process of the container.
func (r *Runtime) Kill(ctx context.Context, id string, sig unix.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	_, err := r.run(ctx, append(args, id, fmt.Sprint(int(sig)))...)
	return err
}

// Delete deletes the container's runtime state (and its cgroup). force
// kills a container that is still running. A missing container is fine.
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	if r.Root != "" {
		// runc and crun keep a container's state in <root>/<id>: without
		// it there is nothing to delete, and no process to start.
		if _, err := os.Stat(filepath.Join(r.Root, id)); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	_, err := r.run(ctx, append(args, id)...)
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	return err
}

// State returns the runtime's view of a container.
func (r *Runtime) State(ctx context.Context, id string) (*specs.State, error) {
	out, err := r.run(ctx, "state", id)
	if err != nil {
		return nil, err
	}
	var st specs.State
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("parsing %s state: %w", r.Name(), err)
	}
	return &st, nil
}
