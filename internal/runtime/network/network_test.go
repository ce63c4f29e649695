package network

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peapod/peapod/internal/testutil"
)

func requireRoot(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
}

// listenIn listens on TCP addr inside the namespace at nsPath.
func listenIn(t *testing.T, nsPath, addr string) net.Listener {
	t.Helper()
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread changes namespace
		fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		l, err := net.Listen("tcp", addr)
		ch <- result{l, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.l
}

func TestSetupTeardown(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	name := fmt.Sprintf("pptest%d", os.Getpid()%100000)
	n, err := New(Config{Name: name, Bridge: name, Subnet: "10.251.7.0/24", PluginDirs: []string{"/usr/lib/cni", "/opt/cni/bin"},
		ConfDir: filepath.Join(dir, "conf"), StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", name).Run()
		if err := RemoveMasquerade(name, "10.251.7.0/24"); err != nil {
			t.Error(err)
		}
		if out, _ := exec.Command("iptables-save", "-t", "nat").CombinedOutput(); strings.Contains(string(out), masqueradeChain(name, "10.251.7.0/24")) {
			t.Errorf("masquerade chain left:\n%s", out)
		}
	})
	nsPath := filepath.Join(dir, "ns", "sb1")
	if err := NewNetNS(nsPath); err != nil {
		t.Fatal(err)
	}
	// lo is up, with its address, from the start (no loopback plugin).
	if out, err := exec.Command("nsenter", "--net="+nsPath, "ip", "-o", "addr", "show", "dev", "lo").CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "inet 127.0.0.1/8") {
		t.Fatalf("lo in a new namespace: %v\n%s", err, out)
	}
	a := Attachment{SandboxID: "sb1-" + name, NetNS: nsPath, Namespace: "default", Name: "web", UID: "uid-1"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ips, err := n.Setup(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ips[0].String(), "10.251.7.") {
		t.Fatalf("pod IP %v not in the pod CIDR", ips)
	}
	// The host reaches a server in the namespace at the pod IP.
	l := listenIn(t, nsPath, net.JoinHostPort(ips[0].String(), "8080"))
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("host cannot reach pod IP: %v", err)
	}
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q %v", buf, err)
	}
	c.Close()
	l.Close()
	out, _ := exec.Command("iptables-save", "-t", "nat").CombinedOutput()
	chain := masqueradeChain(name, "10.251.7.0/24")
	if !strings.Contains(string(out), "-A POSTROUTING -s 10.251.7.0/24") || !strings.Contains(string(out), "-A "+chain+" ! -d 224.0.0.0/4 -j MASQUERADE") {
		t.Fatalf("no masquerade rule for the pod network:\n%s", out)
	}

	if err := n.Teardown(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := n.Teardown(ctx, a); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
	if err := RemoveNetNS(nsPath); err != nil {
		t.Fatal(err)
	}
	if err := RemoveNetNS(nsPath); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	out, _ = exec.Command("iptables-save").CombinedOutput()
	if strings.Contains(string(out), a.SandboxID) {
		t.Fatalf("iptables rules of %s left behind:\n%s", a.SandboxID, out)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), nsPath) {
		t.Fatalf("netns mount left behind")
	}
	links, _ := exec.Command("ip", "-o", "link", "show", "master", name).CombinedOutput()
	if strings.TrimSpace(string(links)) != "" {
		t.Fatalf("veth left on bridge: %s", links)
	}
}
