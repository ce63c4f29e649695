package cri

import (
	"context"
	"encoding/json"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerStatus reports a container's state.
func (s *Service) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	c, ok := s.getContainer(req.GetContainerId())
	if !ok {
		return nil, errNotFound("container", req.GetContainerId())
	}
	imageRef := c.ImageRef
	if img, err := s.cfg.Images.Get(c.ImageRef); err == nil {
		imageRef = repoDigest(img.RepoDigests, c.ImageName, c.ImageRef)
	}
	_, stopSignal := c.stopSignal()
	s.mu.Lock()
	defer s.mu.Unlock()
	var info map[string]string
	if req.GetVerbose() {
		info = s.containerInfo(c)
	}
	return &runtimeapi.ContainerStatusResponse{Info: info, Status: &runtimeapi.ContainerStatus{
		Id: c.ID, Metadata: c.Config.GetMetadata(), State: c.State,
		CreatedAt: c.CreatedAt, StartedAt: c.StartedAt, FinishedAt: c.FinishedAt, ExitCode: c.ExitCode,
		Image: &runtimeapi.ImageSpec{Image: c.ImageName}, ImageRef: imageRef, ImageId: c.ImageRef,
		Reason: c.Reason, Message: c.Message,
		Labels: c.Config.GetLabels(), Annotations: c.Config.GetAnnotations(),
		Mounts: c.Mounts, LogPath: c.LogPath, StopSignal: stopSignalEnum(stopSignal), User: statusUser(c.User),
		Resources: statusResources(c.Config),
	}}, nil
}

// containerInfo is the verbose part of a container's status (`crictl
// inspect` shows it), as containerd's "info": its sandbox, process,
// runtime handler, and its oom_score_adj as the kubelet asked for it and
// as applied, which differ where the host forbids lowering it (the
// daemon says why once, at start). Called with s.mu held.
func (s *Service) containerInfo(c *container) map[string]string {
	type oomScoreAdj struct {
		Intended int `json:"intended"`
		Applied  int `json:"applied"`
	}
	v := struct {
		SandboxID      string       `json:"sandboxID"`
		PID            int          `json:"pid"`
		RuntimeHandler string       `json:"runtimeHandler"`
		OOMScoreAdj    *oomScoreAdj `json:"oomScoreAdj,omitempty"`
	}{SandboxID: c.SandboxID, PID: c.PID, RuntimeHandler: c.Handler}
	if want := int(c.Config.GetLinux().GetResources().GetOomScoreAdj()); want != 0 {
		v.OOMScoreAdj = &oomScoreAdj{Intended: want, Applied: s.cfg.Privileges.ClampOOMScoreAdj(want)}
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return map[string]string{"info": string(data)}
}

// statusResources are the container's current limits, as created or
// last updated (nil when it was created without any).
func statusResources(cfg *runtimeapi.ContainerConfig) *runtimeapi.ContainerResources {
	r := cfg.GetLinux().GetResources()
	if r == nil {
		return nil
	}
	return &runtimeapi.ContainerResources{Linux: r}
}

// repoDigest picks the repo digest of the repository the container's image
// was asked for, else the first one, else the image ID.
func repoDigest(digests []string, name, id string) string {
	repo := name
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	for _, d := range digests {
		if strings.HasPrefix(d, repo+"@") {
			return d
		}
	}
	if len(digests) > 0 {
		return digests[0]
	}
	return id
}

// ListContainers lists containers matching the filter.
func (s *Service) ListContainers(ctx context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f := req.GetFilter()
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &runtimeapi.ListContainersResponse{}
	for _, c := range s.containers {
		if f.GetId() != "" && f.GetId() != c.ID {
			continue
		}
		if f.GetPodSandboxId() != "" && f.GetPodSandboxId() != c.SandboxID {
			continue
		}
		if f.GetState() != nil && f.GetState().GetState() != c.State {
			continue
		}
		if !labels.SelectorFromSet(f.GetLabelSelector()).Matches(labels.Set(c.Config.GetLabels())) {
			continue
		}
		resp.Containers = append(resp.Containers, &runtimeapi.Container{
			Id: c.ID, PodSandboxId: c.SandboxID, Metadata: c.Config.GetMetadata(),
			Image: &runtimeapi.ImageSpec{Image: c.ImageName}, ImageRef: c.ImageRef, ImageId: c.ImageRef,
			State: c.State, CreatedAt: c.CreatedAt, Labels: c.Config.GetLabels(), Annotations: c.Config.GetAnnotations(),
		})
	}
	return resp, nil
}
