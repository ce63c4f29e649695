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
	term := startTerminal(t, d, version, "exec", "-it", "web", "-c", "other", "--", "sh")
	// kubectl sends the first size once the stream is up; on a loaded
	// machine it can reach the terminal after the shell's first command
	// (runc sizes the process's terminal as it relays), so the shell is
	// asked until the size shows, as resize does below.
	first := regexp.MustCompile(`(?s)30 100\r?\n.*tt42`)
	for try := 0; try < 10 && !first.MatchString(term.String()); try++ {
		term.send("stty size; echo tt$((6*7))\r")
		time.Sleep(time.Second)
	}
	term.wait("the first size", first)
	term.resize(40, 120)
	term.send("exit 4\r")
	if code := term.exitCode(); code != 4 {
		t.Errorf("kubectl %s exec -it: exit %d, want 4", version, code)
	}
}

// terminal is kubectl running on a pseudo-terminal, 30×100 at first.
type terminal struct {
	t       *testing.T
	version string
	cmd     *exec.Cmd
	tty     *os.File
	mu      sync.Mutex
	screen  bytes.Buffer
	// readDone closes when the terminal's output ended (kubectl exited
	// and everything it wrote was read).
	readDone chan struct{}
}

func startTerminal(t *testing.T, d *daemon, version string, args ...string) *terminal {
	t.Helper()
	term := &terminal{t: t, version: version, cmd: exec.Command(kubectls[version], args...), readDone: make(chan struct{})}
	term.cmd.Env = []string{"KUBECONFIG=" + d.kubeconfig, "HOME=" + d.dir, "PATH=" + os.Getenv("PATH"), "TERM=dumb"}
	var err error
	term.tty, err = pty.StartWithSize(term.cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = term.cmd.Process.Kill()
		term.tty.Close()
	})
	go func() {
		defer close(term.readDone)
		buf := make([]byte, 4096)
		for {
			n, err := term.tty.Read(buf)
			term.mu.Lock()
			term.screen.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return term
}

func (term *terminal) String() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.screen.String()
}

func (term *terminal) send(keys string) {
	if _, err := io.WriteString(term.tty, keys); err != nil {
		term.t.Fatalf("typing into kubectl %s: %v", term.version, err)
	}
}

// wait waits until the screen matches re.
func (term *terminal) wait(what string, re *regexp.Regexp) {
	term.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if re.MatchString(term.String()) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	term.t.Fatalf("kubectl %s %s: no %s on the terminal:\n%q", term.version, term.cmd.Args[1], what, term.String())
}

// resize changes the local terminal's size and asks the remote shell
// until it sees it (the resize travels asynchronously).
func (term *terminal) resize(rows, cols uint16) {
	term.t.Helper()
	if err := pty.Setsize(term.tty, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		term.t.Fatal(err)
	}
	want := fmt.Sprintf("%d %d", rows, cols)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(term.String(), want) {
		if time.Now().After(deadline) {
			term.t.Fatalf("kubectl %s %s: resize to %s never seen:\n%q", term.version, term.cmd.Args[1], want, term.String())
		}
		term.send("stty size\r")
		time.Sleep(200 * time.Millisecond)
	}
}

// exitCode waits for kubectl to end and returns its exit code.
func (term *terminal) exitCode() int {
	term.t.Helper()
	done := make(chan error, 1)
	go func() { done <- term.cmd.Wait() }()
	select {
	case err := <-done:
		// What kubectl wrote last is read before its exit is looked at.
		select {
		case <-term.readDone:
		case <-time.After(5 * time.Second):
		}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return exitErr.ExitCode()
		}
		if err != nil {
			term.t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		_ = term.cmd.Process.Kill()
		term.t.Fatalf("kubectl %s %s did not end:\n%q", term.version, term.cmd.Args[1], term.String())
		return -1
	}
}

const attachPod = `apiVersion: v1
kind: Pod
metadata:
  name: att
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: shell
    image: busybox
    command: ["sh"]
    stdin: true
    tty: true
  - name: reader
    image: busybox
    command: ["sh", "-c", "while read l; do echo got $l; echo err $l >&2; done; echo stdin closed"]
    stdin: true
`

// TestAttach: kubectl attach to a container's own input and output, with
// and without a terminal; kubectl run -it --rm leaves no pod behind.
func TestAttach(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", attachPod, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "att", "2/2")
	for i, v := range []string{"1.27", "1.33"} {
		t.Run(v, func(t *testing.T) {
			// A pipe that stays open across sessions (not stdinOnce):
			// each session's lines reach the same process.
			line := fmt.Sprintf("line%d", i)
			d.mustKubectl(v, line+"\n", "attach", "-i", "att", "-c", "reader")
			d.waitFor("the attached input in the log", 30*time.Second, func() (bool, error) {
				logs := d.mustKubectl(v, "", "logs", "att", "-c", "reader")
				return strings.Contains(logs, "got "+line+"\nerr "+line+"\n"), nil
			})
			term := startTerminal(t, d, v, "attach", "-it", "att", "-c", "shell")
			term.wait("the hint", regexp.MustCompile(`If you don't see a command prompt, try pressing enter.`))
			// kubectl attach first sends the size plus one row and
			// column (to make the shell redraw), then the real one; the
			// shell is asked until the real one has reached it.
			answer := regexp.MustCompile(`(?s)tt42\r?\n30 100`)
			for try := 0; try < 10 && !answer.MatchString(term.String()); try++ {
				term.send("\recho tt$((6*7)); stty size\r")
				time.Sleep(time.Second)
			}
			term.wait("the shell's answer", answer)
			term.resize(41, 121)
			term.send("exit\r")
			if code := term.exitCode(); code != 0 {
				t.Errorf("kubectl %s attach -it: exit %d", v, code)
			}
			if !strings.Contains(term.String(), "Session ended, resume using 'kubectl attach att -c shell -i -t' command when the pod is running") {
				t.Errorf("kubectl %s attach -it:\n%q", v, term.String())
			}
			// The shell exited: the kubelet restarts it.
			d.waitFor("the shell to restart", 60*time.Second, func() (bool, error) {
				p := d.pod("default", "att")
				return p.Status.ContainerStatuses[0].RestartCount == int32(i+1) && p.Status.ContainerStatuses[0].State.Running != nil, nil
			})
		})
	}
	// The reader's standard input has not been closed by any session.
	if out := d.mustKubectl("1.33", "", "logs", "att", "-c", "reader"); strings.Contains(out, "stdin closed") {
		t.Errorf("reader's stdin closed:\n%s", out)
	}

	for _, v := range []string{"1.27", "1.33"} {
		t.Run("run -it --rm "+v, func(t *testing.T) {
			term := startTerminal(t, d, v, "run", "-it", "--rm", "--restart=Never", "--image", "busybox", "tmp", "--", "sh")
			term.wait("the hint", regexp.MustCompile(`If you don't see a command prompt, try pressing enter.`))
			term.send("\rhostname; echo tt$((6*7))\r")
			term.wait("the shell's answer", regexp.MustCompile(`(?s)tmp\r?\n.*tt42`))
			term.send("exit\r")
			if code := term.exitCode(); code != 0 {
				t.Errorf("kubectl %s run -it --rm: exit %d:\n%q", v, code, term.String())
			}
			if !strings.Contains(term.String(), `pod "tmp" deleted`) {
				t.Errorf("kubectl %s run -it --rm:\n%q", v, term.String())
			}
			d.waitFor("the pod to go", 30*time.Second, func() (bool, error) {
				_, _, err := d.kubectl("1.33", "", "get", "pod", "tmp")
				return err != nil, nil
			})
		})
		// Without a terminal, the command's exit code is kubectl's.
		_, stderr, err := d.kubectl(v, "echo from-stdin; exit 3\n", "run", "-i", "--rm", "--restart=Never", "--image", "busybox", "tmp2", "--", "sh")
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 || !strings.Contains(stderr, "pod default/tmp2 terminated (Error)") {
			t.Errorf("kubectl %s run -i --rm: %v %q", v, err, stderr)
		}
	}
	d.waitFor("no pod but att", 30*time.Second, func() (bool, error) {
		out := d.mustKubectl("1.33", "", "get", "pods", "-o", "name")
		return out == "pod/att\n", nil
	})
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

	// A host-network pod: the session reaches the node's localhost.
	hostPorts := freePorts(t, 2)
	d.mustKubectl("1.33", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: hostweb}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 127.0.0.1:%d -h /www"]
`, hostPorts[0]), "apply", "-f", "-")
	d.waitRunning("1.33", "default", "hostweb", "1/1")
	for _, v := range []string{"1.27", "1.33"} {
		pf := startPortForward(t, d, v, "pod/hostweb", fmt.Sprintf("%d:%d", hostPorts[1], hostPorts[0]))
		var body []byte
		d.waitFor("the host-network pod through port-forward", 30*time.Second, func() (bool, error) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", hostPorts[1]))
			if err != nil {
				return false, nil
			}
			defer resp.Body.Close()
			body, err = io.ReadAll(resp.Body)
			return err == nil && resp.StatusCode == 200, nil
		})
		if host, _ := os.Hostname(); strings.TrimSpace(string(body)) != host {
			t.Errorf("kubectl %s port-forward to a host-network pod: %q", v, body)
		}
		pf.stop(t)
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
	return startPortForwardAs(t, d, version, d.kubeconfig, "default", target, ports...)
}

// startPortForwardAs is startPortForward with a user's kubeconfig, in ns.
func startPortForwardAs(t *testing.T, d *daemon, version, kubeconfig, ns, target string, ports ...string) *portForward {
	t.Helper()
	p := &portForward{done: make(chan struct{})}
	p.cmd = exec.Command(kubectls[version], append([]string{"port-forward", "-n", ns, target}, ports...)...)
	p.cmd.Env = []string{"KUBECONFIG=" + kubeconfig, "HOME=" + d.dir, "PATH=" + os.Getenv("PATH")}
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

// TestDebug: kubectl debug adds an ephemeral container through the
// ephemeralcontainers subresource; with --target it sees the target's
// processes; it runs once, never restarts, and its status, events and
// logs are the pod's.
func TestDebug(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "exec sleep 3600"]
`, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "app", "1/1")
	for i, v := range []string{"1.27", "1.33"} {
		t.Run(v, func(t *testing.T) {
			name := fmt.Sprintf("dbg%d", i)
			term := startTerminal(t, d, v, "debug", "-it", "app", "--image=busybox", "--image-pull-policy=IfNotPresent", "--target=app", "-c", name)
			term.wait("the hint", regexp.MustCompile(`If you don't see a command prompt, try pressing enter.`))
			term.send("\rps -o pid,args | grep -c '[s]leep 3600'; echo tt$((6*7))\r")
			// The target's process is visible: one line, then tt42.
			term.wait("the target's process", regexp.MustCompile(`(?s)\r?\n1\r?\n.*tt42`))
			term.send("exit 0\r")
			if code := term.exitCode(); code != 0 {
				t.Errorf("kubectl %s debug: exit %d:\n%q", v, code, term.String())
			}
			if !strings.Contains(term.String(), "Session ended, the ephemeral container will not be restarted") {
				t.Errorf("kubectl %s debug:\n%q", v, term.String())
			}
			d.waitFor("the debugger to terminate", 30*time.Second, func() (bool, error) {
				for _, cs := range d.pod("default", "app").Status.EphemeralContainerStatuses {
					if cs.Name == name {
						return cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0, nil
					}
				}
				return false, nil
			})
		})
	}
	// Without a target, it has a PID namespace of its own; its output is
	// in its log; it never runs again.
	d.mustKubectl("1.33", "", "debug", "app", "--image=busybox", "--image-pull-policy=IfNotPresent", "-c", "alone", "--",
		"sh", "-c", "ps -o args | grep -c '[s]leep 3600'; true")
	d.waitFor("the lone debugger to finish", 30*time.Second, func() (bool, error) {
		for _, cs := range d.pod("default", "app").Status.EphemeralContainerStatuses {
			if cs.Name == "alone" && cs.State.Terminated != nil {
				return true, nil
			}
		}
		return false, nil
	})
	if out := d.mustKubectl("1.27", "", "logs", "app", "-c", "alone"); out != "0\n" {
		t.Errorf("logs of the lone debugger: %q", out)
	}
	time.Sleep(2 * time.Second)
	p := d.pod("default", "app")
	if len(p.Spec.EphemeralContainers) != 3 || len(p.Status.EphemeralContainerStatuses) != 3 {
		t.Fatalf("ephemeral containers %+v\nstatuses %+v", p.Spec.EphemeralContainers, p.Status.EphemeralContainerStatuses)
	}
	for _, cs := range p.Status.EphemeralContainerStatuses {
		if cs.RestartCount != 0 || cs.State.Terminated == nil {
			t.Errorf("ephemeral container ran again: %+v", cs)
		}
	}
	if p.Status.ContainerStatuses[0].RestartCount != 0 || p.Status.Phase != "Running" {
		t.Errorf("the debugged container was disturbed: %+v", p.Status)
	}
	events := d.mustKubectl("1.33", "", "get", "events", "--field-selector", "involvedObject.fieldPath=spec.ephemeralContainers{alone}",
		"-o", "custom-columns=R:.reason", "--no-headers")
	if events != "Pulled\nCreated\nStarted\n" {
		t.Errorf("events of the lone debugger: %q", events)
	}
	if out := d.mustKubectl("1.33", "", "describe", "pod", "app"); !strings.Contains(out, "Ephemeral Containers:\n  dbg0:") {
		t.Errorf("describe:\n%s", out)
	}
	// Existing ephemeral containers stay as they are; pods cannot be
	// created with one.
	_, stderr, err := d.kubectl("1.33", "", "patch", "pod", "app", "--subresource", "ephemeralcontainers", "--type", "json",
		"-p", `[{"op":"remove","path":"/spec/ephemeralContainers/0"}]`)
	if err == nil || !strings.Contains(stderr, `spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg0" may not be removed`) {
		t.Errorf("removing an ephemeral container: %v %s", err, stderr)
	}
	_, stderr, err = d.kubectl("1.33", `apiVersion: v1
kind: Pod
metadata: {name: withec}
spec:
  containers: [{name: a, image: busybox}]
  ephemeralContainers: [{name: e, image: busybox}]
`, "apply", "-f", "-")
	if err == nil || !strings.Contains(stderr, "spec.ephemeralContainers: Forbidden: cannot be set on create") {
		t.Errorf("creating a pod with an ephemeral container: %v %s", err, stderr)
	}
}
