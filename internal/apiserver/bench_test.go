package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkPatchAmplification sends the patch of 1000 copies of a 100 KB
// annotation (a 100 MB result from a 100 KB request, without limits) while
// another client lists and creates pods, and reports how long the patch
// takes to be refused, how much the heap grows meanwhile, and the slowest
// of the other client's calls.
func BenchmarkPatchAmplification(b *testing.B) {
	ts := newTestServer(b, 1000)
	ctx := context.Background()
	big := testPod("big")
	big.Annotations = map[string]string{"blob": strings.Repeat("x", 100<<10)}
	if _, err := ts.client.CoreV1().Pods("default").Create(ctx, big, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	patch := amplifyingPatch(1000)
	url := ts.url + "/api/v1/namespaces/default/pods/big"
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var peakHeap, slowest atomic.Int64
	wg.Add(2)
	go func() { // heap sampler
		defer wg.Done()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if v := int64(m.HeapInuse); v > peakHeap.Load() {
				peakHeap.Store(v)
			}
		}
	}()
	go func() { // the other client
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			start := time.Now()
			_, err := ts.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			if err == nil {
				_, err = ts.client.CoreV1().Pods("default").Create(ctx, testPod(fmt.Sprintf("other-%d", n)), metav1.CreateOptions{})
			}
			if err != nil {
				b.Error(err)
				return
			}
			if d := int64(time.Since(start)); d > slowest.Load() {
				slowest.Store(d)
			}
		}
	}()
	b.ResetTimer()
	var patchTime time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(patch))
		req.Header.Set("Content-Type", "application/json-patch+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		patchTime += time.Since(start)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			b.Fatalf("patch answered %d, want 422", resp.StatusCode)
		}
	}
	b.StopTimer()
	time.Sleep(20 * time.Millisecond) // let the other client make a few calls
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(patchTime.Milliseconds())/float64(b.N), "patch-ms/op")
	b.ReportMetric(float64(peakHeap.Load()-int64(base.HeapInuse))/(1<<20), "heap-growth-MB")
	b.ReportMetric(float64(slowest.Load())/float64(time.Millisecond), "other-call-max-ms")
}
