package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// footprint is everything a running pod has on the host; after deletion
// none of it may remain.
type footprint struct {
	uid, ns, name string
	sandboxes     []string
	containers    []string
	netnsInode    uint64
	veths         []string
}

// capture records the pod's footprint from the daemon's runtime state.
func (d *daemon) capture(t *testing.T, ns, name string) footprint {
	t.Helper()
	fp, err := d.tryCapture(ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// tryCapture is capture that reports what it misses rather than ending
// the test (for a watch that retries).
func (d *daemon) tryCapture(ns, name string) (footprint, error) {
	pod, err := d.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return footprint{}, err
	}
	fp := footprint{uid: string(pod.UID), ns: ns, name: name}
	sbDirs, _ := os.ReadDir(d.path("data/runtime/sandboxes"))
	for _, e := range sbDirs {
		var rec struct {
			Config struct {
				Metadata struct{ UID string } `json:"metadata"`
			} `json:"config"`
			NetNS string `json:"netns"`
		}
		data, err := os.ReadFile(d.path("data/runtime/sandboxes/" + e.Name() + "/record.json"))
		if err != nil || json.Unmarshal(data, &rec) != nil || rec.Config.Metadata.UID != fp.uid {
			continue
		}
		fp.sandboxes = append(fp.sandboxes, e.Name())
		var st syscall.Stat_t
		if rec.NetNS != "" && syscall.Stat(rec.NetNS, &st) == nil {
			fp.netnsInode = st.Ino
		}
		if rec.NetNS != "" {
			veth, err := hostVeth(rec.NetNS)
			if err != nil {
				return fp, fmt.Errorf("the host end of pod %s/%s's eth0: %w", ns, name, err)
			}
			fp.veths = append(fp.veths, veth)
		}
	}
	if len(fp.sandboxes) == 0 {
		return fp, fmt.Errorf("no sandbox found for pod %s/%s", ns, name)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if _, id, ok := strings.Cut(cs.ContainerID, "://"); ok {
			fp.containers = append(fp.containers, id)
		}
	}
	if len(fp.veths) == 0 && !pod.Spec.HostNetwork {
		return fp, fmt.Errorf("no veth for the running pod %s/%s", ns, name)
	}
	return fp, nil
}

// hostVeth is the name of the host end of eth0 in the network namespace
// pinned at pin: the pod's own veth, not any other on the bridge (the
// sandbox pool's among them).
func hostVeth(pin string) (string, error) {
	ns, err := netns.GetFromPath(pin)
	if err != nil {
		return "", err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return "", err
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return "", err
	}
	peer, err := netlink.LinkByIndex(eth0.Attrs().ParentIndex)
	if err != nil {
		return "", fmt.Errorf("link %d: %w", eth0.Attrs().ParentIndex, err)
	}
	return peer.Attrs().Name, nil
}

// check fails the test for each trace of the pod that is left.
func (d *daemon) check(t *testing.T, fp footprint) {
	t.Helper()
	if leaks := d.traces(fp); len(leaks) > 0 {
		t.Errorf("pod %s/%s left %d traces:\n%s", fp.ns, fp.name, len(leaks), strings.Join(leaks, "\n"))
	}
}

// traces lists what is left of the pod.
func (d *daemon) traces(fp footprint) []string {
	ids := append(append([]string{fp.uid}, fp.sandboxes...), fp.containers...)
	var leaks []string
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		for _, id := range ids {
			if strings.Contains(line, id) {
				leaks = append(leaks, "mount: "+line)
			}
		}
	}
	for _, sb := range fp.sandboxes {
		if _, err := os.Stat(d.path("run/netns/" + sb)); err == nil {
			leaks = append(leaks, "netns file of sandbox "+sb)
		}
	}
	for _, v := range fp.veths {
		if _, err := os.Stat("/sys/class/net/" + v); err == nil {
			leaks = append(leaks, "veth "+v)
		}
	}
	filepath.WalkDir("/sys/fs/cgroup", func(p string, e os.DirEntry, err error) error {
		if err != nil || !e.IsDir() {
			return nil
		}
		for _, id := range ids {
			if strings.Contains(filepath.Base(p), id) {
				leaks = append(leaks, "cgroup "+p)
				return filepath.SkipDir
			}
		}
		return nil
	})
	rules, _ := exec.Command("iptables-save").CombinedOutput()
	for _, sb := range fp.sandboxes {
		if strings.Contains(string(rules), sb) {
			leaks = append(leaks, "iptables rule for sandbox "+sb)
		}
	}
	// A freed namespace's inode number may be reused at once by a new
	// namespace (another pod of this or a concurrent test): a process
	// there is no leak when a live sandbox's netns file holds that inode
	// now (this pod's own netns file was checked absent above).
	if fp.netnsInode != 0 && nsfsMountInodes()[fp.netnsInode] {
		fp.netnsInode = 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p + "/cmdline")
		for _, id := range ids {
			if strings.Contains(string(cmdline), id) {
				leaks = append(leaks, fmt.Sprintf("process %s: %s", filepath.Base(p), strings.ReplaceAll(string(cmdline), "\x00", " ")))
			}
		}
		var st syscall.Stat_t
		if fp.netnsInode != 0 && syscall.Stat(p+"/ns/net", &st) == nil && st.Ino == fp.netnsInode {
			leaks = append(leaks, fmt.Sprintf("process %s in the pod's network namespace", filepath.Base(p)))
		}
	}
	dirs := []string{
		d.path("data/kubelet/pods/" + fp.uid),
		d.path(fmt.Sprintf("log/%s_%s_%s", fp.ns, fp.name, fp.uid)),
	}
	for _, sb := range fp.sandboxes {
		dirs = append(dirs, d.path("data/runtime/sandboxes/"+sb), d.path("run/sandboxes/"+sb), d.path("run/exits/"+sb), d.path("run/conmon/"+sb))
	}
	for _, c := range fp.containers {
		dirs = append(dirs, d.path("data/runtime/containers/"+c), d.path("run/containers/"+c), d.path("run/exits/"+c), d.path("run/conmon/"+c))
	}
	for _, p := range dirs {
		if _, err := os.Lstat(p); err == nil {
			leaks = append(leaks, "state: "+p)
		}
	}
	return leaks
}

// nsfsMountInodes returns the inodes of the namespaces bind-mounted on the
// host (every sandbox's netns file).
func nsfsMountInodes() map[uint64]bool {
	out := map[uint64]bool{}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok || !strings.HasPrefix(post, "nsfs ") {
			continue
		}
		f := strings.Fields(pre)
		if len(f) < 5 {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(f[4], &st) == nil {
			out[st.Ino] = true
		}
	}
	return out
}
