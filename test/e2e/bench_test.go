package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// BenchmarkPodLifecycle creates one-container pods through the API, one at
// a time (image already local), and reports the latency percentiles of
// create → Running (all containers ready) and delete → gone, plus the
// daemon's resident memory. Run with e.g. -benchtime=50x.
// PEAPOD_BENCH_CONTAINERS=2 makes them two-container pods with limits.
// PEAPOD_BENCH_KUBECONFIG runs the same pods against another cluster
// instead of a peapod daemon (hack/bench.sh: a real Kubernetes node from
// ../shared/tools/refk8s, side by side), without the daemon's memory.
func BenchmarkPodLifecycle(b *testing.B) {
	var client kubernetes.Interface
	daemonPID := 0
	if kc := os.Getenv("PEAPOD_BENCH_KUBECONFIG"); kc != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kc)
		if err != nil {
			b.Fatal(err)
		}
		if client, err = kubernetes.NewForConfig(cfg); err != nil {
			b.Fatal(err)
		}
	} else {
		d := startDaemon(b, withFsync())
		client, daemonPID = d.client, d.cmd.Process.Pid
	}
	ctx := context.Background()
	pods := client.CoreV1().Pods("default")
	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	events := w.ResultChan()
	grace := int64(5)
	// PEAPOD_BENCH_CONTAINERS=n (n > 1) measures pods of n containers,
	// each with cpu and memory limits, instead.
	n := 1
	if v, err := strconv.Atoi(os.Getenv("PEAPOD_BENCH_CONTAINERS")); err == nil && v > 0 {
		n = v
	}
	newPod := func(name string) *corev1.Pod {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: &grace},
		}
		for i := range n {
			c := corev1.Container{
				Name: "app", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"},
			}
			if n > 1 {
				c.Name = fmt.Sprintf("app%d", i+1)
				limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")}
				c.Resources = corev1.ResourceRequirements{Limits: limits, Requests: limits}
			}
			pod.Spec.Containers = append(pod.Spec.Containers, c)
		}
		return pod
	}
	// waitUntil consumes watch events until cond holds for the named pod.
	waitUntil := func(name string, cond func(watch.EventType, *corev1.Pod) bool) {
		timeout := time.After(2 * time.Minute)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					b.Fatal("watch closed")
				}
				if p, ok := e.Object.(*corev1.Pod); ok && p.Name == name && cond(e.Type, p) {
					return
				}
			case <-timeout:
				b.Fatalf("pod %s: timed out", name)
			}
		}
	}
	running := func(_ watch.EventType, p *corev1.Pod) bool {
		if p.Status.Phase != corev1.PodRunning {
			return false
		}
		for _, cs := range p.Status.ContainerStatuses {
			if !cs.Ready {
				return false
			}
		}
		return len(p.Status.ContainerStatuses) > 0
	}
	gone := func(t watch.EventType, _ *corev1.Pod) bool { return t == watch.Deleted }

	// One pod outside the measurement warms caches (image, CNI plugins).
	if _, err := pods.Create(ctx, newPod("warmup"), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	waitUntil("warmup", running)
	if err := pods.Delete(ctx, "warmup", metav1.DeleteOptions{}); err != nil {
		b.Fatal(err)
	}
	waitUntil("warmup", gone)

	var create, del []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		if _, err := pods.Create(ctx, newPod(name), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		waitUntil(name, running)
		create = append(create, time.Since(start))
		// Running means started, not that the shell has run its trap
		// yet: a SIGTERM before that is ignored (the shell is its PID
		// namespace's init) and the delete waits out the grace period.
		// A moment's wait measures the node's delete of a workload
		// that handles SIGTERM, not that race.
		time.Sleep(100 * time.Millisecond)
		start = time.Now()
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
		waitUntil(name, gone)
		del = append(del, time.Since(start))
	}
	b.StopTimer()
	report := func(prefix string, ds []time.Duration) {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		p := func(q int) float64 { return float64(ds[(len(ds)-1)*q/100]) / float64(time.Millisecond) }
		b.ReportMetric(p(50), prefix+"-p50-ms")
		b.ReportMetric(p(99), prefix+"-p99-ms")
	}
	report("create-running", create)
	report("delete-gone", del)
	if daemonPID != 0 {
		rss, hwm := memory(daemonPID)
		b.ReportMetric(float64(rss)/1024, "daemon-rss-MiB")
		b.ReportMetric(float64(hwm)/1024, "daemon-peak-rss-MiB")
	}
}

// memory returns VmRSS and VmHWM of pid in KiB.
func memory(pid int) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}

// BenchmarkPodBurst creates a burst of one-container pods through the API
// (PEAPOD_BURST of them, 100 by default; image already local), and
// reports how long until all are Running, the daemon's resident memory
// and the user-space PSS of each pod's node processes (its conmons, pause
// and container) with them running, then how long until all are gone
// after one delete with grace 0 each. Run with -benchtime=1x.
// PEAPOD_BENCH_CONTAINERS=n makes them n-container pods.
func BenchmarkPodBurst(b *testing.B) {
	n := 100
	if v, err := strconv.Atoi(os.Getenv("PEAPOD_BURST")); err == nil && v > 0 {
		n = v
	}
	d := startDaemon(b, withFsync())
	ctx := context.Background()
	pods := d.client.CoreV1().Pods("default")
	zero := int64(0)
	// PEAPOD_BENCH_CONTAINERS=n gives each pod n containers: the
	// per-pod PSS less the one-container figure is what the extra
	// containers cost.
	containers := 1
	if v, err := strconv.Atoi(os.Getenv("PEAPOD_BENCH_CONTAINERS")); err == nil && v > 0 {
		containers = v
	}
	newPod := func(name string) *corev1.Pod {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"burst": "yes"}}}
		for i := range containers {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
				Name: fmt.Sprintf("app%d", i+1), Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sleep", "3600"},
			})
		}
		return pod
	}
	var up, down []time.Duration
	var pss float64
	for i := 0; i < b.N; i++ {
		w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: "burst=yes"})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for j := 0; j < n; j++ {
			if _, err := pods.Create(ctx, newPod(fmt.Sprintf("burst-%d-%d", i, j)), metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		running := map[string]bool{}
		deadline := time.After(5 * time.Minute)
		for len(running) < n {
			select {
			case e := <-w.ResultChan():
				if p, ok := e.Object.(*corev1.Pod); ok && p.Status.Phase == corev1.PodRunning {
					running[p.Name] = true
				}
			case <-deadline:
				b.Fatalf("%d of %d pods Running after 5 minutes", len(running), n)
			}
		}
		up = append(up, time.Since(start))
		pss = podProcessesPSS(d) / float64(n)
		rss, _ := memory(d.cmd.Process.Pid)
		b.ReportMetric(float64(rss)/1024, "daemon-rss-with-pods-MiB")
		start = time.Now()
		for j := 0; j < n; j++ {
			if err := pods.Delete(ctx, fmt.Sprintf("burst-%d-%d", i, j), metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
				b.Fatal(err)
			}
		}
		gone := 0
		for gone < n {
			select {
			case e := <-w.ResultChan():
				if e.Type == watch.Deleted {
					gone++
				}
			case <-deadline:
				b.Fatalf("%d of %d pods gone after 5 minutes", gone, n)
			}
		}
		// Gone from the API; then wait until the node holds nothing of
		// them (no conmon, pause or container process left).
		for cleanBy := time.Now().Add(5 * time.Minute); podProcessesPSS(d) > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(cleanBy) {
				b.Fatalf("processes of deleted pods still run after 5 minutes")
			}
		}
		down = append(down, time.Since(start))
		w.Stop()
	}
	avg := func(ds []time.Duration) float64 {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		return float64(sum) / float64(len(ds)) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(n), "pods")
	b.ReportMetric(avg(up), "burst-all-running-ms")
	b.ReportMetric(avg(down), "burst-all-cleaned-ms")
	b.ReportMetric(pss, "per-pod-pss-KiB")
}

// podProcessesPSS sums the proportional set size (KiB) of the processes
// that serve the pods of daemon d on the node: the conmon processes that
// work in its directories with their descendants (containers), and every
// process in its cgroup tree (pause processes, which no conmon watches).
func podProcessesPSS(d *daemon) float64 {
	procs, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	in := map[int]bool{}
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil || isZombie(string(stat)) {
			continue
		}
		// The parent is the second field after the command in parentheses.
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 {
			if f := strings.Fields(string(stat)[i+1:]); len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.HasPrefix(string(cmdline), "conmon\x00") || strings.Contains(string(cmdline), "/conmon\x00") {
			if strings.Contains(string(cmdline), d.dir) {
				in[pid] = true
			}
		}
		// A pod's cgroup is kubepods[/<qos>]/pod<uid>; the sandbox
		// pool's pause processes, no pod's, are outside them.
		if cg, _ := os.ReadFile("/proc/" + e.Name() + "/cgroup"); strings.Contains(string(cg), d.cgroupRoot+"/") && strings.Contains(string(cg), "/pod") {
			in[pid] = true
		}
	}
	// Each process once: those found above and the descendants of the
	// conmon processes (walking up from each process).
	var total float64
	for pid := range parent {
		for p, hops := pid, 0; p > 1 && hops < 64; p, hops = parent[p], hops+1 {
			if in[p] {
				total += pss(pid)
				break
			}
		}
	}
	return total
}

// pss is a process's Pss from smaps_rollup, in KiB.
func pss(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Pss:"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return n
		}
	}
	return 0
}

// BenchmarkPodSustained creates one-container pods at a steady rate
// (PEAPOD_RATE per second, 10 by default) for PEAPOD_SUSTAIN seconds (30
// by default; at most 600 pods in all), deleting each (grace 0) once it
// runs, as a node under steady churn sees them, and reports the latency
// percentiles of create → Running under that load, then waits until the
// node holds nothing of them. Run with -benchtime=1x.
func BenchmarkPodSustained(b *testing.B) {
	rate, seconds := 10, 30
	if v, err := strconv.Atoi(os.Getenv("PEAPOD_RATE")); err == nil && v > 0 {
		rate = v
	}
	if v, err := strconv.Atoi(os.Getenv("PEAPOD_SUSTAIN")); err == nil && v > 0 {
		seconds = v
	}
	n := min(rate*seconds, 600)
	d := startDaemon(b, withFsync())
	ctx := context.Background()
	pods := d.client.CoreV1().Pods("default")
	zero := int64(0)
	var latencies []time.Duration
	for i := 0; i < b.N; i++ {
		w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: "sustained=yes"})
		if err != nil {
			b.Fatal(err)
		}
		// created is written by the creating goroutine and read once it
		// is done.
		created := make([]time.Time, n)
		done := make(chan error, 1)
		go func() {
			tick := time.NewTicker(time.Second / time.Duration(rate))
			defer tick.Stop()
			for j := 0; j < n; j++ {
				<-tick.C
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sustained-%d-%d", i, j), Labels: map[string]string{"sustained": "yes"}},
					Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &zero, Containers: []corev1.Container{{
						Name: "app", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sleep", "3600"},
					}}},
				}
				created[j] = time.Now()
				if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		running := map[string]time.Time{}
		gone := 0
		creating := true
		deadline := time.After(time.Duration(seconds)*time.Second + 5*time.Minute)
		for creating || gone < n {
			select {
			case err := <-done:
				creating = false
				if err != nil {
					b.Fatal(err)
				}
			case e := <-w.ResultChan():
				p, ok := e.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				if e.Type == watch.Deleted {
					gone++
					continue
				}
				if _, seen := running[p.Name]; !seen && p.Status.Phase == corev1.PodRunning {
					running[p.Name] = time.Now()
					if err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
						b.Fatal(err)
					}
				}
			case <-deadline:
				b.Fatalf("%d of %d pods Running, %d gone, before the deadline", len(running), n, gone)
			}
		}
		w.Stop()
		for j := 0; j < n; j++ {
			at, ok := running[fmt.Sprintf("sustained-%d-%d", i, j)]
			if !ok {
				b.Fatalf("pod %d was never seen Running", j)
			}
			latencies = append(latencies, at.Sub(created[j]))
		}
		for cleanBy := time.Now().Add(5 * time.Minute); podProcessesPSS(d) > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(cleanBy) {
				b.Fatalf("processes of deleted pods still run after 5 minutes")
			}
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	p := func(q int) float64 { return float64(latencies[(len(latencies)-1)*q/100]) / float64(time.Millisecond) }
	b.ReportMetric(float64(rate), "pods-per-s")
	b.ReportMetric(float64(n), "pods")
	b.ReportMetric(p(50), "create-running-p50-ms")
	b.ReportMetric(p(99), "create-running-p99-ms")
	rss, hwm := memory(d.cmd.Process.Pid)
	b.ReportMetric(float64(rss)/1024, "daemon-rss-MiB")
	b.ReportMetric(float64(hwm)/1024, "daemon-peak-rss-MiB")
}
