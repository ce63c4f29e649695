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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// BenchmarkPodLifecycle creates one-container pods through the API, one at
// a time (image already local), and reports the latency percentiles of
// create → Running (all containers ready) and delete → gone, plus the
// daemon's resident memory. Run with e.g. -benchtime=50x.
func BenchmarkPodLifecycle(b *testing.B) {
	d := startDaemon(b, withFsync())
	ctx := context.Background()
	pods := d.client.CoreV1().Pods("default")
	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	events := w.ResultChan()
	grace := int64(5)
	newPod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: &grace,
				Containers: []corev1.Container{{
					Name: "app", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent,
					Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"},
				}},
			},
		}
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
	rss, hwm := memory(d.cmd.Process.Pid)
	b.ReportMetric(float64(rss)/1024, "daemon-rss-MiB")
	b.ReportMetric(float64(hwm)/1024, "daemon-peak-rss-MiB")
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
