package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RuntimeConfig reports the cgroup driver, which a kubelet (1.28 and
// later, with KubeletCgroupDriverFromCRI) adopts instead of its own flag.
func (s *Service) RuntimeConfig(ctx context.Context, req *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	driver := runtimeapi.CgroupDriver_CGROUPFS
	if s.cfg.SystemdCgroup {
		driver = runtimeapi.CgroupDriver_SYSTEMD
	}
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: driver}}, nil
}

// UpdateRuntimeConfig takes the node's pod CIDR, which the kubelet sends
// once it knows it. peapod's pod network is the one it was started with
// (--pod-cidr), as containerd's is when it has no CNI config template:
// a different CIDR is logged, once per value, and the call succeeds, so
// the kubelet does not retry it on every node status update.
func (s *Service) UpdateRuntimeConfig(ctx context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	cidr := req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()
	if cidr == "" || s.cfg.Network == nil {
		return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
	}
	s.podCIDRMu.Lock()
	seen := s.podCIDR == cidr
	s.podCIDR = cidr
	s.podCIDRMu.Unlock()
	if !seen && cidr != s.cfg.Network.Subnet() {
		s.log.Info("the node's pod CIDR differs from peapod's pod network, which stays as configured (--pod-cidr)",
			"podCIDR", cidr, "network", s.cfg.Network.Subnet())
	}
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}
