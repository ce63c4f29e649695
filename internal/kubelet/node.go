package kubelet

import (
	"bufio"
	"context"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/registry"
)

// Node status constants of pkg/kubelet/nodestatus.
const (
	maxPods               = 110
	nodeStatusReportEvery = 5 * time.Minute
)

// registerNode creates or refreshes this node's Node object.
func (k *Kubelet) registerNode(ctx context.Context) error {
	node, err := k.nodeObject(ctx)
	if err != nil {
		return err
	}
	_, err = k.cfg.Nodes.Create(ctx, "", node, false)
	if apierrors.IsAlreadyExists(err) {
		return k.updateNodeStatus(ctx)
	}
	return err
}

func (k *Kubelet) nodeStatusLoop(ctx context.Context) {
	t := time.NewTicker(nodeStatusReportEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.updateNodeStatus(ctx); err != nil {
				k.log.Warn("updating node status", "err", err)
			}
		}
	}
}

func (k *Kubelet) updateNodeStatus(ctx context.Context) error {
	k.refreshHostFacts()
	fresh, err := k.nodeObject(ctx)
	if err != nil {
		return err
	}
	_, err = k.cfg.Nodes.Update(ctx, "", k.cfg.NodeName, func(cur runtime.Object) (runtime.Object, error) {
		n := cur.(*corev1.Node).DeepCopy()
		n.ResourceVersion = ""
		old := map[corev1.NodeConditionType]corev1.NodeCondition{}
		for _, c := range n.Status.Conditions {
			old[c.Type] = c
		}
		for i, c := range fresh.Status.Conditions {
			if prev, ok := old[c.Type]; ok && prev.Status == c.Status {
				fresh.Status.Conditions[i].LastTransitionTime = prev.LastTransitionTime
			}
		}
		n.Status = fresh.Status
		return n, nil
	}, registry.UpdateOptions{Status: true})
	return err
}

// nodeObject describes this host as a Node.
func (k *Kubelet) nodeObject(ctx context.Context) (*corev1.Node, error) {
	now := metav1.NewTime(k.cfg.Now().UTC().Truncate(time.Second))
	runtimeVersion := "peapod://unknown"
	if v, err := k.cfg.Runtime.Version(ctx, &runtimeapi.VersionRequest{}); err == nil {
		runtimeVersion = v.RuntimeName + "://" + v.RuntimeVersion
	}
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(k.memoryCapacity(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(k.cfg.RootDir, &fs); err == nil {
		resources[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(fs.Blocks)*fs.Bsize, resource.BinarySI)
	}
	hostname, _ := os.Hostname()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	memory := cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available")
	if k.underMemoryPressure() {
		memory = cond(corev1.NodeMemoryPressure, corev1.ConditionTrue, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Labels: map[string]string{
			"kubernetes.io/hostname": k.cfg.NodeName, "kubernetes.io/os": goruntime.GOOS, "kubernetes.io/arch": goruntime.GOARCH,
			"beta.kubernetes.io/os": goruntime.GOOS, "beta.kubernetes.io/arch": goruntime.GOARCH,
		}},
		Status: corev1.NodeStatus{
			Capacity: resources, Allocatable: k.allocatableFrom(resources),
			Conditions: []corev1.NodeCondition{
				memory,
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
				cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
			},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: hostname}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID: readTrim("/etc/machine-id"), BootID: readTrim("/proc/sys/kernel/random/boot_id"),
				SystemUUID: readTrim("/sys/class/dmi/id/product_uuid"), KernelVersion: kernelVersion(), OSImage: osImage(),
				ContainerRuntimeVersion: runtimeVersion, KubeletVersion: k.cfg.Version,
				OperatingSystem: goruntime.GOOS, Architecture: goruntime.GOARCH,
			},
		},
	}
	if k.runtimeSupportsStrictGroups(ctx) {
		yes := true
		node.Status.Features = &corev1.NodeFeatures{SupplementalGroupsPolicy: &yes}
	}
	// The runtime's handlers and what each supports, from its Status
	// (the RuntimeHandlers setter upstream).
	node.Status.RuntimeHandlers = k.handlers
	node.Status.Images = k.nodeImages(ctx)
	if ip := k.hostIP(); ip != "" {
		node.Status.Addresses = append([]corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}, node.Status.Addresses...)
	}
	return node, nil
}

// hostFacts are the node facts the kubelet needs on hot paths (status
// generation, container configs); read at start and with each node status
// report rather than per use.
type hostFacts struct {
	ip     string
	memory int64
}

// refreshHostFacts reads the node IP and memory capacity again.
func (k *Kubelet) refreshHostFacts() {
	f := hostFacts{ip: detectHostIP(), memory: readMemTotal()}
	k.mu.Lock()
	k.facts = f
	k.mu.Unlock()
}

// hostIP is the node's InternalIP.
func (k *Kubelet) hostIP() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.facts.ip
}

// memoryCapacity is the node's MemTotal in bytes.
func (k *Kubelet) memoryCapacity() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.facts.memory
}

// readMemTotal is MemTotal in bytes.
func readMemTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// allocatableFrom is node allocatable (pkg/kubelet/cm
// GetNodeAllocatableAbsolute plus the eviction threshold, as the node
// status reports it): capacity minus --system-reserved and --kube-reserved
// and, for memory, minus the hard eviction threshold; never below zero.
func (k *Kubelet) allocatableFrom(capacity corev1.ResourceList) corev1.ResourceList {
	out := capacity.DeepCopy()
	for name, q := range k.cfg.Reserved {
		if a, ok := out[name]; ok {
			a.Sub(q)
			out[name] = a
		}
	}
	if mem, ok := out[corev1.ResourceMemory]; ok {
		mem.Sub(k.cfg.EvictionHard.Memory(capacity.Memory().Value()))
		out[corev1.ResourceMemory] = mem
	}
	for name, q := range out {
		if q.Sign() < 0 {
			out[name] = *resource.NewQuantity(0, q.Format)
		}
	}
	return out
}

// allocatable returns the node's allocatable amount of a resource.
func (k *Kubelet) allocatable(name corev1.ResourceName) resource.Quantity {
	return k.allocatableFrom(corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(k.memoryCapacity(), resource.BinarySI),
	})[name]
}

// detectHostIP is the first IPv4 address of the interface holding the
// default route, falling back to any non-loopback address.
func detectHostIP() string {
	iface := defaultRouteInterface()
	ifaces, _ := net.Interfaces()
	var fallback string
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback != 0 || i.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			if i.Name == iface {
				return ipn.IP.String()
			}
			if fallback == "" {
				fallback = ipn.IP.String()
			}
		}
	}
	return fallback
}

func defaultRouteInterface() string {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 2 && fields[1] == "00000000" {
			return fields[0]
		}
	}
	return ""
}

func readTrim(path string) string {
	data, _ := os.ReadFile(path)
	return strings.TrimSpace(string(data))
}

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func osImage() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return goruntime.GOOS
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return goruntime.GOOS
}
