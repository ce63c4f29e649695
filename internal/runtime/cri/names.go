package cri

import (
	"fmt"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
)

// A sandbox's name is its metadata (name, namespace, uid, attempt) and a
// container's is its sandbox's metadata with its own name and attempt,
// joined as containerd's CRI plugin joins them. A name is reserved from
// the start of a create until the object is removed (or the create is
// rolled back), so that a second create of the same object, as from a
// kubelet retrying a call that timed out, fails with AlreadyExists
// instead of making a twin.

// sandboxName is the reserved name of a sandbox with metadata md.
func sandboxName(md *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{md.GetName(), md.GetNamespace(), md.GetUid(), fmt.Sprint(md.GetAttempt())}, "_")
}

// containerName is the reserved name of a container with metadata md in
// a sandbox with metadata sb.
func containerName(md *runtimeapi.ContainerMetadata, sb *runtimeapi.PodSandboxMetadata) string {
	return strings.Join([]string{md.GetName(), sb.GetName(), sb.GetNamespace(), sb.GetUid(), fmt.Sprint(md.GetAttempt())}, "_")
}

// names maps reserved names to the IDs holding them. Callers hold
// Service.mu.
type names map[string]string

// reserve gives name to id, or fails with AlreadyExists when another ID
// holds it. kind says what is named ("sandbox", "container").
func (n names) reserve(kind, name, id string) error {
	if holder, ok := n[name]; ok && holder != id {
		return fmt.Errorf("failed to reserve %s name %q: name %q is reserved for %q: %w", kind, name, name, holder, errdefs.ErrAlreadyExists)
	}
	n[name] = id
	return nil
}

// release frees name if id holds it.
func (n names) release(name, id string) {
	if n[name] == id {
		delete(n, name)
	}
}

// reserveName reserves name for id under s.mu.
func (s *Service) reserveName(kind, name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names.reserve(kind, name, id)
}

// releaseName frees id's name under s.mu.
func (s *Service) releaseName(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names.release(name, id)
}
