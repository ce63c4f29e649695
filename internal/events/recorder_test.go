package events

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/event"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/scheme"
	"github.com/peapod/peapod/internal/storage"
)

func TestRecorderAggregatesAndExpires(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), scheme.New(), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	if _, err := registry.NewStore(namespace.Resource(), st, clock).Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, false); err != nil {
		t.Fatal(err)
	}
	evs := registry.NewStore(event.Resource(), st, clock)
	r := NewRecorder(evs, Source{Component: "kubelet", Host: "node1"}, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "u1"}}
	start := now
	r.Eventf(pod, "", Normal, "Scheduled", "other")
	r.Eventf(pod, "spec.containers{app}", Warning, "BackOff", "Back-off restarting failed container %s", "app")
	now = now.Add(10 * time.Second)
	r.Eventf(pod, "spec.containers{app}", Warning, "BackOff", "Back-off restarting failed container %s", "app")
	r.Stop()

	list, err := evs.List(ctx, "default", registry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := meta.ExtractList(list)
	if len(items) != 2 {
		t.Fatalf("got %d events, want 2 (one aggregated)", len(items))
	}
	for _, it := range items {
		ev := it.(*corev1.Event)
		if ev.Reason != "BackOff" {
			continue
		}
		if ev.Count != 2 || ev.FirstTimestamp.Equal(&ev.LastTimestamp) || ev.InvolvedObject.FieldPath != "spec.containers{app}" ||
			ev.Source.Component != "kubelet" || ev.Source.Host != "node1" || ev.Message != "Back-off restarting failed container app" {
			t.Errorf("aggregated event %+v", ev)
		}
	}
	// An hour and five seconds after the first events: Scheduled is
	// older than the TTL, the BackOff series was seen again since.
	Expire(ctx, evs, time.Hour, start.Add(time.Hour+5*time.Second))
	list, _ = evs.List(ctx, "default", registry.ListOptions{})
	if items, _ := meta.ExtractList(list); len(items) != 1 || items[0].(*corev1.Event).Reason != "BackOff" {
		t.Errorf("after expiry: %v", items)
	}
}
