package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/flowcontrol"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// fakeRuntime is a hand-written in-memory CRI runtime for the kubelet's
// unit tests: sandboxes and containers change state only when the kubelet
// asks or the test says a container exited.
type fakeRuntime struct {
	clock *clocktesting.FakeClock

	mu         sync.Mutex
	next       int
	sandboxes  map[string]*runtimeapi.PodSandboxStatus
	containers map[string]*fakeContainer
	// stops records StopContainer calls as "<name>@<timeout>" and ExecSync
	// calls as "exec:<name>", in order.
	stops []string
	// onStop, if set, gives the exit code of a container asked to stop
	// (default: 143, it honours SIGTERM); -1 keeps it running.
	onStop func(name string) int32
	// exec answers ExecSync.
	exec func(id string, cmd []string) (*runtimeapi.ExecSyncResponse, error)
	// createErr, if set, fails CreateContainer.
	createErr error
	// beforeCreate, if set, runs at the start of CreateContainer (outside
	// the lock) with the container's name; an error fails the create.
	beforeCreate func(name string) error
}

type fakeContainer struct {
	status  *runtimeapi.ContainerStatus
	sandbox string
}

func newFakeRuntime(clock *clocktesting.FakeClock) *fakeRuntime {
	return &fakeRuntime{clock: clock, sandboxes: map[string]*runtimeapi.PodSandboxStatus{}, containers: map[string]*fakeContainer{}}
}

func (f *fakeRuntime) id(prefix string) string {
	f.next++
	return fmt.Sprintf("%s%d", prefix, f.next)
}

func (f *fakeRuntime) now() int64 { return f.clock.Now().UnixNano() }

func (f *fakeRuntime) Status(context.Context, *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	return &runtimeapi.StatusResponse{RuntimeHandlers: []*runtimeapi.RuntimeHandler{{Features: &runtimeapi.RuntimeHandlerFeatures{RecursiveReadOnlyMounts: true}}}}, nil
}

func (f *fakeRuntime) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{RuntimeName: "peapod", RuntimeVersion: "0.1.0"}, nil
}

func (f *fakeRuntime) RunPodSandbox(_ context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg := req.GetConfig()
	// As the real runtime, one sandbox per metadata (name, namespace,
	// uid, attempt).
	for _, sb := range f.sandboxes {
		if proto.Equal(sb.Metadata, cfg.GetMetadata()) {
			return nil, fmt.Errorf("sandbox name %v is reserved for %q: %w", cfg.GetMetadata(), sb.Id, errdefs.ErrAlreadyExists)
		}
	}
	id := f.id("sb")
	f.sandboxes[id] = &runtimeapi.PodSandboxStatus{Id: id, Metadata: cfg.GetMetadata(), State: runtimeapi.PodSandboxState_SANDBOX_READY,
		CreatedAt: f.now() + int64(f.next), Labels: cfg.GetLabels(), Network: &runtimeapi.PodSandboxNetworkStatus{Ip: "10.0.0.2"}}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

func (f *fakeRuntime) StopPodSandbox(_ context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sb, ok := f.sandboxes[req.PodSandboxId]; ok {
		sb.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
		for _, c := range f.containers {
			if c.sandbox == sb.Id && c.status.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
				f.exitLocked(c, 137)
			}
		}
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (f *fakeRuntime) RemovePodSandbox(_ context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sandboxes, req.PodSandboxId)
	for id, c := range f.containers {
		if c.sandbox == req.PodSandboxId {
			delete(f.containers, id)
		}
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (f *fakeRuntime) PodSandboxStatus(_ context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb, ok := f.sandboxes[req.PodSandboxId]
	if !ok {
		return nil, errdefs.ErrNotFound
	}
	// A copy, as the real runtime answers: the kubelet's status goroutine
	// reads it while the sync goes on.
	return &runtimeapi.PodSandboxStatusResponse{Status: proto.Clone(sb).(*runtimeapi.PodSandboxStatus)}, nil
}

func matches(labels, sel map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (f *fakeRuntime) ListPodSandbox(_ context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for _, sb := range f.sandboxes {
		if matches(sb.Labels, req.GetFilter().GetLabelSelector()) {
			resp.Items = append(resp.Items, &runtimeapi.PodSandbox{Id: sb.Id, Metadata: sb.Metadata, State: sb.State, Labels: sb.Labels})
		}
	}
	return resp, nil
}

func (f *fakeRuntime) CreateContainer(_ context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	if f.beforeCreate != nil {
		if err := f.beforeCreate(req.GetConfig().GetMetadata().GetName()); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if sb, ok := f.sandboxes[req.PodSandboxId]; !ok || sb.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		return nil, fmt.Errorf("sandbox %s is not ready", req.PodSandboxId)
	}
	if f.createErr != nil {
		return nil, f.createErr
	}
	cfg := req.GetConfig()
	id := f.id("c")
	f.containers[id] = &fakeContainer{sandbox: req.PodSandboxId, status: &runtimeapi.ContainerStatus{
		Id: id, Metadata: cfg.GetMetadata(), State: runtimeapi.ContainerState_CONTAINER_CREATED,
		CreatedAt: f.now() + int64(f.next), Image: cfg.GetImage(), ImageRef: "sha256:fake",
		Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations(),
		Resources: &runtimeapi.ContainerResources{Linux: cfg.GetLinux().GetResources()},
	}}
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

func (f *fakeRuntime) StartContainer(_ context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return nil, errdefs.ErrNotFound
	}
	c.status.State, c.status.StartedAt = runtimeapi.ContainerState_CONTAINER_RUNNING, f.now()
	return &runtimeapi.StartContainerResponse{}, nil
}

func (f *fakeRuntime) exitLocked(c *fakeContainer, code int32) {
	c.status.State, c.status.ExitCode, c.status.FinishedAt = runtimeapi.ContainerState_CONTAINER_EXITED, code, f.now()
	c.status.Reason = "Completed"
	if code != 0 {
		c.status.Reason = "Error"
	}
}

func (f *fakeRuntime) StopContainer(_ context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return nil, errdefs.ErrNotFound
	}
	name := c.status.Labels[labelContainerName]
	f.stops = append(f.stops, fmt.Sprintf("%s@%d", name, req.Timeout))
	if c.status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	code := int32(143)
	if f.onStop != nil {
		code = f.onStop(name)
	}
	if code >= 0 {
		f.exitLocked(c, code)
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, req.ContainerId)
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func (f *fakeRuntime) ListContainers(_ context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &runtimeapi.ListContainersResponse{}
	for _, c := range f.containers {
		if matches(c.status.Labels, req.GetFilter().GetLabelSelector()) {
			resp.Containers = append(resp.Containers, &runtimeapi.Container{Id: c.status.Id, PodSandboxId: c.sandbox,
				Metadata: c.status.Metadata, State: c.status.State, Labels: c.status.Labels, Annotations: c.status.Annotations})
		}
	}
	return resp, nil
}

func (f *fakeRuntime) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return nil, errdefs.ErrNotFound
	}
	return &runtimeapi.ContainerStatusResponse{Status: proto.Clone(c.status).(*runtimeapi.ContainerStatus)}, nil
}

func (f *fakeRuntime) UpdateContainerResources(_ context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return nil, errdefs.ErrNotFound
	}
	f.stops = append(f.stops, "update:"+c.status.Labels[labelContainerName])
	c.status.Resources = &runtimeapi.ContainerResources{Linux: req.Linux}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

func (f *fakeRuntime) ExecSync(_ context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	f.mu.Lock()
	if c, ok := f.containers[req.ContainerId]; ok {
		f.stops = append(f.stops, "exec:"+c.status.Labels[labelContainerName])
	}
	f.mu.Unlock()
	if f.exec == nil {
		return &runtimeapi.ExecSyncResponse{}, nil
	}
	return f.exec(req.ContainerId, req.Cmd)
}

func (f *fakeRuntime) Exec(context.Context, *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return &runtimeapi.ExecResponse{Url: "http://127.0.0.1:1/exec/token"}, nil
}

func (f *fakeRuntime) Attach(context.Context, *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return &runtimeapi.AttachResponse{Url: "http://127.0.0.1:1/attach/token"}, nil
}

func (f *fakeRuntime) PortForward(context.Context, *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return &runtimeapi.PortForwardResponse{Url: "http://127.0.0.1:1/portforward/token"}, nil
}

func (f *fakeRuntime) ReopenContainerLog(context.Context, *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}

func (f *fakeRuntime) PullImage(context.Context, *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	return &runtimeapi.PullImageResponse{ImageRef: "sha256:fake"}, nil
}

func (f *fakeRuntime) ImageStatus(context.Context, *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	return &runtimeapi.ImageStatusResponse{Image: &runtimeapi.Image{Id: "sha256:fake"}}, nil
}

func (f *fakeRuntime) ListImages(context.Context, *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	return &runtimeapi.ListImagesResponse{}, nil
}

func (f *fakeRuntime) RemoveImage(context.Context, *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	return &runtimeapi.RemoveImageResponse{}, nil
}

func (f *fakeRuntime) ImageFsInfo(context.Context, *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	return &runtimeapi.ImageFsInfoResponse{}, nil
}

func (f *fakeRuntime) Subscribe() (<-chan *runtimeapi.ContainerEventResponse, func()) {
	return make(chan *runtimeapi.ContainerEventResponse), func() {}
}

// exit ends the newest instance of a container with code.
func (f *fakeRuntime) exit(t *testing.T, name string, code int32) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.newestLocked(name)
	if c == nil || c.status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("no running %s to exit", name)
	}
	f.exitLocked(c, code)
}

func (f *fakeRuntime) newestLocked(name string) *fakeContainer {
	var newest *fakeContainer
	for _, c := range f.containers {
		if c.status.Labels[labelContainerName] == name && (newest == nil || c.status.CreatedAt > newest.status.CreatedAt) {
			newest = c
		}
	}
	return newest
}

// states lists each container's newest state as "name=STATE", sorted.
func (f *fakeRuntime) states() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := map[string]bool{}
	for _, c := range f.containers {
		names[c.status.Labels[labelContainerName]] = true
	}
	var out []string
	for name := range names {
		st := f.newestLocked(name).status.State.String()
		out = append(out, name+"="+strings.TrimPrefix(st, "CONTAINER_"))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// instances counts the runtime containers of a name.
func (f *fakeRuntime) instances(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.containers {
		if c.status.Labels[labelContainerName] == name {
			n++
		}
	}
	return n
}

// fakeNodeAPI holds the node for the kubelet's unit tests: roomy enough
// that admission refuses nothing.
type fakeNodeAPI struct {
	mu   sync.Mutex
	node *corev1.Node
}

func newFakeNodeAPI(name string) *fakeNodeAPI {
	return &fakeNodeAPI{node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
		Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("64"),
			corev1.ResourceMemory: resource.MustParse("64Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}}}}
}

func (a *fakeNodeAPI) Get(_ context.Context, _, name string) (runtime.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.node == nil || a.node.Name != name {
		return nil, apierrors.NewNotFound(corev1.Resource("nodes"), name)
	}
	return a.node.DeepCopy(), nil
}

func (a *fakeNodeAPI) Create(context.Context, string, runtime.Object, bool) (runtime.Object, error) {
	return nil, errors.New("not supported")
}

func (a *fakeNodeAPI) Update(ctx context.Context, _, name string, fn registry.UpdateFunc, _ registry.UpdateOptions) (runtime.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.node == nil || a.node.Name != name {
		return nil, apierrors.NewNotFound(corev1.Resource("nodes"), name)
	}
	obj, err := fn(a.node.DeepCopy())
	if errors.Is(err, storage.ErrNoChange) {
		return a.node.DeepCopy(), nil
	}
	if err != nil {
		return nil, err
	}
	a.node = obj.(*corev1.Node)
	return obj, nil
}

func (a *fakeNodeAPI) Delete(context.Context, string, string, *metav1.DeleteOptions, bool) (runtime.Object, bool, error) {
	return nil, false, errors.New("not supported")
}

func (a *fakeNodeAPI) Watch(context.Context, string, registry.ListOptions) (*storage.Watcher, error) {
	return nil, errors.New("not supported")
}

// fakeAPI keeps pods in memory for the kubelet's unit tests.
type fakeAPI struct {
	mu   sync.Mutex
	pods map[string]*corev1.Pod
}

func (a *fakeAPI) Get(_ context.Context, ns, name string) (runtime.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pods[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	return p.DeepCopy(), nil
}

func (a *fakeAPI) Create(_ context.Context, ns string, obj runtime.Object, _ bool) (runtime.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := obj.(*corev1.Pod).DeepCopy()
	a.pods[ns+"/"+p.Name] = p
	return p.DeepCopy(), nil
}

func (a *fakeAPI) Update(_ context.Context, ns, name string, fn registry.UpdateFunc, _ registry.UpdateOptions) (runtime.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pods[ns+"/"+name]
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	obj, err := fn(p.DeepCopy())
	if errors.Is(err, storage.ErrNoChange) {
		return p.DeepCopy(), nil
	}
	if err != nil {
		return nil, err
	}
	a.pods[ns+"/"+name] = obj.(*corev1.Pod)
	return obj, nil
}

func (a *fakeAPI) Delete(_ context.Context, ns, name string, _ *metav1.DeleteOptions, _ bool) (runtime.Object, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pods[ns+"/"+name]
	if !ok {
		return nil, false, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	delete(a.pods, ns+"/"+name)
	return p, true, nil
}

func (a *fakeAPI) Watch(context.Context, string, registry.ListOptions) (*storage.Watcher, error) {
	return nil, errors.New("the fake API does not watch")
}

// eventSink keeps the events the recorder writes.
type eventSink struct {
	mu     sync.Mutex
	events []*corev1.Event
}

func (s *eventSink) Create(_ context.Context, _ string, obj runtime.Object, _ bool) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, obj.(*corev1.Event).DeepCopy())
	return obj, nil
}

func (s *eventSink) Update(_ context.Context, _, name string, fn registry.UpdateFunc, _ registry.UpdateOptions) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.events {
		if e.Name == name {
			obj, err := fn(e.DeepCopy())
			if err != nil {
				return nil, err
			}
			s.events[i] = obj.(*corev1.Event)
			return obj, nil
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("events"), name)
}

// fakeCgroups makes no cgroups.
type fakeCgroups struct{}

func (fakeCgroups) ensureQOS(*cgroups.Resources) error { return nil }
func (fakeCgroups) setBurstable(int64) error           { return nil }
func (fakeCgroups) createPod(pod *corev1.Pod) (string, error) {
	return "/kubepods/pod" + string(pod.UID), nil
}
func (fakeCgroups) destroyPod(types.UID) error                   { return nil }
func (fakeCgroups) setPod(*corev1.Pod, *cgroups.Resources) error { return nil }
func (fakeCgroups) setPodQuota(*corev1.Pod) error                { return nil }
func (fakeCgroups) podCgroupUIDs() map[types.UID]bool            { return nil }
func (fakeCgroups) podPath(*corev1.Pod) string                   { return "" }
func (fakeCgroups) containerPath(*corev1.Pod, string) string     { return "" }

// testKubelet is a Kubelet on the fakes with a fake clock.
type testKubelet struct {
	*Kubelet
	rt     *fakeRuntime
	api    *fakeAPI
	nodes  *fakeNodeAPI
	sink   *eventSink
	clock  *clocktesting.FakeClock
	worker *podWorker
}

func newTestKubelet(t *testing.T) *testKubelet {
	t.Helper()
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := newFakeRuntime(clock)
	api := &fakeAPI{pods: map[string]*corev1.Pod{}}
	nodes := newFakeNodeAPI("node")
	sink := &eventSink{}
	rec := events.NewRecorder(sink, events.Source{Component: "kubelet", Host: "node"}, clock.Now, nil)
	t.Cleanup(rec.Stop)
	dir := t.TempDir()
	k, err := New(Config{NodeName: "node", RootDir: dir + "/root", LogDir: dir + "/logs", Version: "v1.37.0",
		Pods: api, Nodes: nodes, Runtime: rt, Recorder: rec, Clock: clock, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	k.cgroups = fakeCgroups{}
	k.backoff = flowcontrol.NewFakeBackOff(initialBackOff, maxBackOff, clock)
	t.Cleanup(k.probes.Stop)
	return &testKubelet{Kubelet: k, rt: rt, api: api, nodes: nodes, sink: sink, clock: clock}
}

// add stores the pod in the API and the kubelet's cache, bound to the
// node.
func (tk *testKubelet) add(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	pod.Namespace, pod.UID, pod.Spec.NodeName = "default", types.UID("uid-"+pod.Name), "node"
	if pod.Spec.RestartPolicy == "" {
		pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if pod.Spec.TerminationGracePeriodSeconds == nil {
		grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
		pod.Spec.TerminationGracePeriodSeconds = &grace
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Image == "" {
				list[i].Image = "busybox"
			}
			list[i].ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	if _, err := tk.api.Create(context.Background(), pod.Namespace, pod, false); err != nil {
		t.Fatal(err)
	}
	tk.mu.Lock()
	tk.pods[pod.UID] = pod
	tk.mu.Unlock()
	tk.worker = &podWorker{uid: pod.UID, reasons: map[string]waitingReason{}, firstSeen: tk.clock.Now()}
}

// sync runs one sync of the pod as its worker would, with the API's
// current object, and returns that object afterwards.
func (tk *testKubelet) sync(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	obj, err := tk.api.Get(context.Background(), "default", name)
	if err != nil {
		t.Fatal(err)
	}
	tk.worker.retryAt = time.Time{}
	if _, err := tk.syncPod(context.Background(), tk.worker, obj.(*corev1.Pod)); err != nil {
		t.Logf("sync: %v", err)
	}
	obj, err = tk.api.Get(context.Background(), "default", name)
	if err != nil {
		return nil
	}
	return obj.(*corev1.Pod)
}

// eventsFor lists the recorded events of a field path ("*": all) as
// "Reason: message", once the recorder's queue has drained.
func (tk *testKubelet) eventsFor(fieldPath string) []string {
	time.Sleep(50 * time.Millisecond)
	tk.sink.mu.Lock()
	defer tk.sink.mu.Unlock()
	var out []string
	for _, e := range tk.sink.events {
		if fieldPath == "*" || e.InvolvedObject.FieldPath == fieldPath {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out
}
