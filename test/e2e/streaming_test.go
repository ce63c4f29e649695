package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

const streamingPods = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: side
    image: busybox
    restartPolicy: Always
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && dd if=/dev/urandom of=/www/big bs=1M count=50 2>/dev/null && exec httpd -f -p 80 -h /www"]
    readinessProbe:
      exec: {command: ["test", "-f", "/www/big"]}
      periodSeconds: 1
  - name: other
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
`

// TestExec: kubectl exec with stdin, exit codes, a named container (a
// sidecar too) and a terminal, under the oldest and the newest kubectl.
func TestExec(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", streamingPods, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "web", "3/3")
	for _, v := range []string{"1.27", "1.33"} {
		t.Run(v, func(t *testing.T) {
			if out := d.mustKubectl(v, "piped in\n", "exec", "-i", "web", "-c", "other", "--", "cat"); out != "piped in\n" {
				t.Errorf("exec -i: %q", out)
			}
			_, stderr, err := d.kubectl(v, "", "exec", "web", "-c", "other", "--", "sh", "-c", "echo to-stderr >&2; exit 3")
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 || !strings.Contains(stderr, "to-stderr") ||
				!strings.Contains(stderr, "command terminated with exit code 3") {
				t.Errorf("exit 3: %v %q", err, stderr)
			}
			if out := d.mustKubectl(v, "", "exec", "web", "-c", "side", "--", "hostname"); out != "web\n" {
				t.Errorf("exec in the sidecar: %q", out)
			}
			// The default container is the first one (the httpd).
			if out := d.mustKubectl(v, "", "exec", "web", "--", "cat", "/www/index.html"); out != "hello\n" {
				t.Errorf("exec in the default container: %q", out)
			}
			_, stderr, err = d.kubectl(v, "", "exec", "web", "-c", "nope", "--", "true")
			if err == nil || !strings.Contains(stderr, `container nope is not valid for pod web`) {
				t.Errorf("unknown container: %v %q", err, stderr)
			}
			_, stderr, err = d.kubectl(v, "", "exec", "web", "-c", "other", "--", "/no/such/binary")
			if err == nil || !strings.Contains(stderr, "no such file or directory") {
				t.Errorf("missing binary: %v %q", err, stderr)
			}
			execTerminal(t, d, v)
		})
	}
}

// execTerminal runs `kubectl exec -it` on a pseudo-terminal as a user's
// shell would: the remote terminal has the local size and follows it.
func execTerminal(t *testing.T, d *daemon, version string) {
	t.Helper()
	cmd := exec.Command(kubectls[version], "exec", "-it", "web", "-c", "other", "--", "sh")
	cmd.Env = []string{"KUBECONFIG=" + d.kubeconfig, "HOME=" + d.dir, "PATH=" + os.Getenv("PATH"), "TERM=dumb"}
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitScreen := func(what string, re *regexp.Regexp) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			ok := re.Match(screen.Bytes())
			mu.Unlock()
			if ok {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("kubectl %s exec -it: no %s on the terminal:\n%q", version, what, screen.String())
	}
	fmt.Fprintf(tty, "stty size; echo tt$((6*7))\r")
	waitScreen("first size", regexp.MustCompile(`(?s)30 100\r?\n.*tt42`))
	if err := pty.Setsize(tty, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	// The resize travels asynchronously: ask until the shell sees it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		fmt.Fprintf(tty, "stty size\r")
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		ok := strings.Contains(screen.String(), "40 120")
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl %s exec -it: resize never seen:\n%q", version, screen.String())
		}
	}
	fmt.Fprintf(tty, "exit 4\r")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 4 {
			t.Errorf("kubectl %s exec -it: exit %v, want 4", version, err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("kubectl %s exec -it did not end after exit", version)
	}
}

// TestCopy: kubectl cp of a directory with spaces in names into a pod and
// back, byte for byte.
func TestCopy(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", streamingPods, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "web", "3/3")
	src := filepath.Join(d.dir, "my dir")
	files := map[string][]byte{
		"a file.txt":           []byte("with spaces\n"),
		"sub dir/nested.bin":   bytes.Repeat([]byte{0, 1, 2, 255}, 300000),
		"sub dir/empty":        nil,
		"plain":                []byte("plain\n"),
		"sub dir/deeper/x y z": []byte("xyz"),
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range []string{"1.27", "1.33"} {
		remote := fmt.Sprintf("/tmp/copied %d", i)
		d.mustKubectl(v, "", "cp", src, "web:"+remote, "-c", "other")
		if out := d.mustKubectl(v, "", "exec", "web", "-c", "other", "--", "cat", remote+"/a file.txt"); out != "with spaces\n" {
			t.Errorf("kubectl %s cp in: %q", v, out)
		}
		back := filepath.Join(d.dir, fmt.Sprintf("back %d", i))
		d.mustKubectl(v, "", "cp", "web:"+remote, back, "-c", "other")
		for name, data := range files {
			got, err := os.ReadFile(filepath.Join(back, name))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("kubectl %s cp out: %s: %v (%d bytes, want %d)", v, name, err, len(got), len(data))
			}
		}
	}
}

// TestPortForward: seed 003's port-forward, several ports, sequential and
// concurrent connections, a 50 MB transfer, and the end of the session
// when the pod goes.
func TestPortForward(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", streamingPods, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "web", "3/3")
	want := d.mustKubectl("1.33", "", "exec", "web", "--", "sha256sum", "/www/big")
	for _, v := range []string{"1.27", "1.33"} {
		t.Run(v, func(t *testing.T) {
			ports := freePorts(t, 2)
			pf := startPortForward(t, d, v, "pod/web", fmt.Sprintf("%d:80", ports[0]), fmt.Sprintf("%d:80", ports[1]))
			base := []string{fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])}
			client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			get := func(url string) ([]byte, error) {
				resp, err := client.Get(url)
				if err != nil {
					return nil, err
				}
				defer resp.Body.Close()
				if resp.StatusCode != 200 {
					return nil, fmt.Errorf("%s: %s", url, resp.Status)
				}
				return io.ReadAll(resp.Body)
			}
			for i := 0; i < 100; i++ {
				body, err := get(base[i%2] + "/index.html")
				if err != nil || string(body) != "hello\n" {
					t.Fatalf("request %d: %q %v", i, body, err)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body, err := get(base[i%2] + "/index.html")
					if err == nil && string(body) != "hello\n" {
						err = fmt.Errorf("body %q", body)
					}
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("concurrent request: %v", err)
				}
			}
			big, err := get(base[1] + "/big")
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(big)
			if got := hex.EncodeToString(sum[:]); len(big) != 50<<20 || !strings.HasPrefix(want, got) {
				t.Errorf("50 MB through port-forward: %d bytes, sha256 %s, want %s", len(big), got, want)
			}
			pf.stop(t)
		})
	}

	// The session ends when the pod goes: kubectl says so and exits.
	ports := freePorts(t, 1)
	pf := startPortForward(t, d, "1.27", "pod/web", fmt.Sprintf("%d:80", ports[0]))
	d.mustKubectl("1.33", "", "delete", "pod", "web")
	select {
	case <-pf.done:
		if out := pf.output(); !strings.Contains(out, "lost connection to pod") {
			t.Errorf("port-forward after the pod went:\n%s", out)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("port-forward still running after the pod was deleted:\n%s", pf.output())
	}
	// Nothing listens in the pod any more; the local port is free again.
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0])); err != nil {
		t.Errorf("local port still taken: %v", err)
	} else {
		l.Close()
	}
}

type portForward struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  bytes.Buffer
}

func (p *portForward) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop interrupts kubectl port-forward, as Ctrl-C does.
func (p *portForward) stop(t *testing.T) {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("port-forward did not stop on interrupt")
	}
}

// startPortForward starts kubectl port-forward and waits until it listens
// on every port.
func startPortForward(t *testing.T, d *daemon, version, target string, ports ...string) *portForward {
	t.Helper()
	p := &portForward{done: make(chan struct{})}
	p.cmd = exec.Command(kubectls[version], append([]string{"port-forward", target}, ports...)...)
	p.cmd.Env = []string{"KUBECONFIG=" + d.kubeconfig, "HOME=" + d.dir, "PATH=" + os.Getenv("PATH")}
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	forwarding := make(chan struct{}, len(ports)*2)
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			p.mu.Lock()
			p.out.WriteString(s.Text() + "\n")
			p.mu.Unlock()
			if strings.HasPrefix(s.Text(), "Forwarding from 127.0.0.1:") {
				forwarding <- struct{}{}
			}
		}
	}()
	go func() { _ = p.cmd.Wait(); w.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	for range ports {
		select {
		case <-forwarding:
		case <-p.done:
			t.Fatalf("kubectl %s port-forward ended:\n%s", version, p.output())
		case <-time.After(30 * time.Second):
			t.Fatalf("kubectl %s port-forward not listening:\n%s", version, p.output())
		}
	}
	return p
}

// freePorts returns n free local ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
