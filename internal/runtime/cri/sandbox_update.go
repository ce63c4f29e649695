package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// UpdatePodSandboxResources takes the pod-level resources a kubelet sends
// after resizing a pod in place (KEP-1287). The kubelet writes the pod's
// cgroup itself, before and after the containers' own updates; as
// containerd without NRI plugins, the runtime has nothing to apply, so it
// checks the sandbox exists and answers OK (an Unimplemented answer would
// be an error in the kubelet's log after every resize).
func (s *Service) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	if _, ok := s.getSandbox(req.GetPodSandboxId()); !ok {
		return nil, errNotFound("sandbox", req.GetPodSandboxId())
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}
