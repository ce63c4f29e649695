package e2e

import (
	"context"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCRISocketBesideTheAPI: in the normal mode the runtime is served on
// RUN_DIR/cri.sock too, a root-only socket (0600), and a CRI client sees
// the sandbox and container of a pod peapod's own kubelet runs, with
// their metrics, and cannot make a twin of that sandbox (AlreadyExists).
// A pod asking for AppArmor is rejected by the kubelet as upstream's is
// on a host without AppArmor.
func TestCRISocketBesideTheAPI(t *testing.T) {
	d := startDaemon(t)
	sock := d.path("run/cri.sock")
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("%s: mode %v owner %d, want a socket, 0600, root's", sock, fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
	}

	d.mustKubectl("1.33", "apiVersion: v1\nkind: Pod\nmetadata: {name: seen}\nspec:\n  terminationGracePeriodSeconds: 1\n"+
		"  containers: [{name: app, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}]\n", "apply", "-f", "-")
	d.waitRunning("1.33", "default", "seen", "1/1")
	uid := d.mustKubectl("1.27", "", "get", "pod", "seen", "-o", "jsonpath={.metadata.uid}")

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sandboxes, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{"io.kubernetes.pod.uid": uid}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sandboxes.Items) != 1 {
		t.Fatalf("sandboxes of pod %s over the CRI: %v, want one", uid, sandboxes.Items)
	}
	sb := sandboxes.Items[0]
	if md := sb.Metadata; sb.State != runtimeapi.PodSandboxState_SANDBOX_READY || md.Name != "seen" || md.Namespace != "default" || md.Uid != uid {
		t.Errorf("sandbox %v: want the pod's, ready", sb)
	}
	containers, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: sb.Id}})
	if err != nil || len(containers.Containers) != 1 || containers.Containers[0].Metadata.Name != "app" ||
		containers.Containers[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("containers of the sandbox: %v, %v; want app, running", containers.GetContainers(), err)
	}
	if _, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{Metadata: sb.Metadata}}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("a second sandbox with the pod's metadata: %v, want AlreadyExists", err)
	}
	metrics, err := rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range metrics.PodMetrics {
		if p.PodSandboxId != sb.Id {
			continue
		}
		for _, m := range p.Metrics {
			names = append(names, m.Name)
		}
		for _, c := range p.ContainerMetrics {
			for _, m := range c.Metrics {
				names = append(names, m.Name)
			}
		}
	}
	for _, want := range []string{"container_network_receive_bytes_total", "container_memory_working_set_bytes", "container_cpu_usage_seconds_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("the pod's metrics lack %s: %v", want, names)
		}
	}

	// AppArmor: rejected, not run unconfined.
	d.mustKubectl("1.33", "apiVersion: v1\nkind: Pod\nmetadata: {name: armored}\nspec:\n  terminationGracePeriodSeconds: 1\n"+
		"  securityContext: {appArmorProfile: {type: RuntimeDefault}}\n"+
		"  containers: [{name: app, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}]\n", "apply", "-f", "-")
	d.waitFor("the AppArmor rejection", 60*time.Second, func() (bool, error) {
		p := d.pod("default", "armored")
		return p.Status.Phase == "Failed", nil
	})
	p := d.pod("default", "armored")
	if p.Status.Reason != "AppArmor" || p.Status.Message != "Pod was rejected: Cannot enforce AppArmor: AppArmor is not enabled on the host" {
		t.Errorf("armored: reason %q message %q", p.Status.Reason, p.Status.Message)
	}
	if row := d.podRow("1.27", "default", "armored"); len(row) < 3 || row[2] != "AppArmor" {
		t.Errorf("kubectl get pod armored: %q, want STATUS AppArmor", row)
	}
	if ev := d.events("default", "armored"); !slices.ContainsFunc(ev, func(e string) bool {
		return strings.HasPrefix(e, "AppArmor: Cannot enforce AppArmor: AppArmor is not enabled on the host")
	}) {
		t.Errorf("armored events: %q", ev)
	}
}
