package cri

import (
	"context"
	"maps"
	"slices"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/runtime/oci"
)

// handler is the OCI runtime of a runtime handler name ("" is the
// default), or an InvalidArgument error naming the ones there are.
func (s *Service) handler(name string) (*oci.Runtime, error) {
	if name == "" {
		return s.cfg.Runtime, nil
	}
	if rt, ok := s.cfg.Handlers[name]; ok {
		return rt, nil
	}
	return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "no runtime handler %q (this node has %v)", name, s.handlerNames())
}

func (s *Service) handlerNames() []string {
	return slices.Sorted(maps.Keys(s.cfg.Handlers))
}

// runtimeOf is the OCI runtime that runs the sandbox or container id:
// its handler's, or the default for IDs peapod has no record of.
func (s *Service) runtimeOf(id string) *oci.Runtime {
	s.mu.Lock()
	var name string
	if sb, ok := s.sandboxes[id]; ok {
		name = sb.Handler
	} else if c, ok := s.containers[id]; ok {
		name = c.Handler
	}
	s.mu.Unlock()
	if rt, ok := s.cfg.Handlers[name]; ok {
		return rt
	}
	return s.cfg.Runtime
}

// runtimes are every distinct OCI runtime, the default first.
func (s *Service) runtimes() []*oci.Runtime {
	out := []*oci.Runtime{s.cfg.Runtime}
	for _, name := range s.handlerNames() {
		if rt := s.cfg.Handlers[name]; !slices.ContainsFunc(out, func(o *oci.Runtime) bool { return o.Root == rt.Root }) {
			out = append(out, rt)
		}
	}
	return out
}

// runtimeHandlers describes the handlers for Status. Recursive read-only
// mounts are peapod's own work (see recursiveReadOnlySource), so every
// handler has them where the kernel does; neither runc 1.1 nor crun 1.8
// (Debian 12's) can map mounts into a user namespace, so none claims
// user namespaces.
func (s *Service) runtimeHandlers() []*runtimeapi.RuntimeHandler {
	features := func() *runtimeapi.RuntimeHandlerFeatures {
		return &runtimeapi.RuntimeHandlerFeatures{RecursiveReadOnlyMounts: s.rro}
	}
	out := []*runtimeapi.RuntimeHandler{{Name: "", Features: features()}}
	for _, name := range s.handlerNames() {
		out = append(out, &runtimeapi.RuntimeHandler{Name: name, Features: features()})
	}
	return out
}

// Status reports the runtime and network as ready, and the runtime
// handlers.
func (s *Service) Status(ctx context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	return &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
			{Type: runtimeapi.RuntimeReady, Status: true},
			{Type: runtimeapi.NetworkReady, Status: true},
		}},
		RuntimeHandlers: s.runtimeHandlers(),
		Features:        &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: true},
	}, nil
}
