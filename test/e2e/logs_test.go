package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const logsPods = `apiVersion: v1
kind: Pod
metadata:
  name: talk
  labels: {app: talk}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: first
    image: busybox
    command: ["sh", "-c", "echo a1; echo a2 >&2; sleep 2; echo a3; echo 0123456789; sleep 3600"]
  - name: second
    image: busybox
    command: ["sh", "-c", "echo b1; sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: talk2
  labels: {app: talk}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: only
    image: busybox
    command: ["sh", "-c", "echo c1; sleep 3600"]
`

// TestLogOptions: kubectl logs' filters under the oldest and the newest
// kubectl: --since-time, --since, --tail, --limit-bytes, --timestamps,
// --all-containers with --prefix, and -l.
func TestLogOptions(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", logsPods, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "talk", "2/2")
	d.waitRunning("1.33", "default", "talk2", "1/1")
	d.waitFor("the first container's last line", 30*time.Second, func() (bool, error) {
		return strings.HasSuffix(d.mustKubectl("1.33", "", "logs", "talk", "-c", "first"), "0123456789\n"), nil
	})
	for _, v := range []string{"1.27", "1.33"} {
		logs := func(args ...string) string {
			return d.mustKubectl(v, "", append([]string{"logs"}, args...)...)
		}
		if got := logs("talk", "-c", "first"); got != "a1\na2\na3\n0123456789\n" {
			t.Errorf("kubectl %s logs: %q", v, got)
		}
		if got := logs("talk", "-c", "first", "--tail", "2"); got != "a3\n0123456789\n" {
			t.Errorf("kubectl %s logs --tail 2: %q", v, got)
		}
		if got := logs("talk", "-c", "first", "--limit-bytes", "5"); got != "a1\na2" {
			t.Errorf("kubectl %s logs --limit-bytes 5: %q", v, got)
		}
		stamped := logs("talk", "-c", "first", "--timestamps")
		lines := strings.Split(strings.TrimSuffix(stamped, "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("kubectl %s logs --timestamps: %q", v, stamped)
		}
		var stamps []time.Time
		for i, l := range lines {
			ts, text, _ := strings.Cut(l, " ")
			at, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || !strings.HasSuffix(ts, "Z") || text != []string{"a1", "a2", "a3", "0123456789"}[i] {
				t.Errorf("kubectl %s logs --timestamps line %q: %v", v, l, err)
			}
			stamps = append(stamps, at)
		}
		// sinceTime has a resolution of seconds: the third line came two
		// seconds after the second.
		if got := logs("talk", "-c", "first", "--since-time", stamps[2].Truncate(time.Second).Format(time.RFC3339)); got != "a3\n0123456789\n" {
			t.Errorf("kubectl %s logs --since-time: %q", v, got)
		}
		if got := logs("talk", "-c", "first", "--since", "1h"); got != "a1\na2\na3\n0123456789\n" {
			t.Errorf("kubectl %s logs --since 1h: %q", v, got)
		}
		// kubectl goes through the containers in no fixed order: each
		// one's lines come together, in order.
		first := "[pod/talk/first] a1\n[pod/talk/first] a2\n[pod/talk/first] a3\n[pod/talk/first] 0123456789\n"
		second := "[pod/talk/second] b1\n"
		if got := logs("talk", "--all-containers", "--prefix"); got != first+second && got != second+first {
			t.Errorf("kubectl %s logs --all-containers --prefix: %q", v, got)
		}
		got := logs("-l", "app=talk", "--all-containers", "--prefix")
		for _, want := range []string{"[pod/talk/second] b1\n", "[pod/talk2/only] c1\n", "[pod/talk/first] a3\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("kubectl %s logs -l app=talk: %q lacks %q", v, got, want)
			}
		}
	}
}

// TestLogRotation: a container's log is rotated by size, as the kubelet's
// log manager does (here every second past 1Mi, at most 3 files), and
// `kubectl logs -f` follows it across rotations without losing a line,
// under both kubectls; the container's logs go with its pod.
func TestLogRotation(t *testing.T) {
	d := startDaemon(t, withArgs("--container-log-max-size", "1Mi", "--container-log-max-files", "3", "--container-log-monitor-interval", "1s"))
	const lines = 20000
	// About 20 MB at about 2.5 MB/s: many rotations while it writes.
	pod := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  restartPolicy: Never
  containers:
  - name: chatty
    image: busybox
    command: ["sh", "-c", "sleep 2; pad=$(head -c 1000 /dev/zero | tr '\\0' x); i=0; while [ $i -lt %d ]; do echo \"$i $pad\"; i=$((i+1)); [ $((i %% 50)) = 0 ] && usleep 20000; done; echo END"]
`, lines)
	d.mustKubectl("1.33", pod, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "chatty", "1/1")
	type follower struct {
		cmd *exec.Cmd
		out bytes.Buffer
	}
	var followers []*follower
	for _, v := range []string{"1.27", "1.33"} {
		f := &follower{cmd: exec.Command(kubectls[v], "logs", "-f", "chatty")}
		f.cmd.Env = []string{"KUBECONFIG=" + d.kubeconfig, "HOME=" + d.dir, "PATH=" + os.Getenv("PATH")}
		f.cmd.Stdout = &f.out
		if err := f.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		followers = append(followers, f)
	}
	dirs, _ := filepath.Glob(d.path("log/default_chatty_*/chatty"))
	if len(dirs) != 1 {
		t.Fatalf("log directories %v", dirs)
	}
	maxFiles, rotated := 0, map[string]bool{}
	d.waitFor("the pod to succeed", 120*time.Second, func() (bool, error) {
		entries, _ := os.ReadDir(dirs[0])
		maxFiles = max(maxFiles, len(entries))
		for _, e := range entries {
			rotated[e.Name()] = true
		}
		return d.pod("default", "chatty").Status.Phase == "Succeeded", nil
	})
	for i, f := range followers {
		done := make(chan error, 1)
		go func() { done <- f.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("follower %d: %v", i, err)
			}
		case <-time.After(30 * time.Second):
			_ = f.cmd.Process.Kill()
			t.Fatalf("kubectl logs -f did not end with the container")
		}
		got := strings.Split(strings.TrimSuffix(f.out.String(), "\n"), "\n")
		if len(got) != lines+1 || got[lines] != "END" {
			t.Errorf("follower %d: %d lines, last %q", i, len(got), got[len(got)-1])
			continue
		}
		for n, l := range got[:lines] {
			if num, _, _ := strings.Cut(l, " "); num != strconv.Itoa(n) {
				t.Errorf("follower %d: line %d is %.20q", i, n, l)
				break
			}
		}
	}
	gz := 0
	for name := range rotated {
		if strings.HasSuffix(name, ".gz") {
			gz++
		}
	}
	// Several rotations happened, older files were compressed, and never
	// more than 3 files (plus a compression's temporary one) were there.
	if len(rotated) < 5 || gz < 2 || maxFiles > 4 {
		t.Errorf("log files seen %v, at most %d at once", rotated, maxFiles)
	}
	entries, _ := os.ReadDir(dirs[0])
	if len(entries) > 3 {
		t.Errorf("%d log files left", len(entries))
	}
	d.mustKubectl("1.33", "", "delete", "pod", "chatty")
	d.waitFor("the pod's logs to go", 30*time.Second, func() (bool, error) {
		_, err := os.Stat(filepath.Dir(dirs[0]))
		return os.IsNotExist(err), nil
	})
}
