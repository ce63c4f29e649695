package events

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/peapod/peapod/internal/registry"
)

// DefaultTTL is kube-apiserver's --event-ttl.
const DefaultTTL = time.Hour

// ExpireLoop deletes events not updated for ttl, once a minute, until ctx
// ends (upstream gives each event write an etcd lease of ttl).
func ExpireLoop(ctx context.Context, store *registry.Store, ttl time.Duration, now func() time.Time) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			Expire(ctx, store, ttl, now())
		}
	}
}

// Expire deletes the events last seen before now-ttl.
func Expire(ctx context.Context, store *registry.Store, ttl time.Duration, now time.Time) {
	list, err := store.List(ctx, "", registry.ListOptions{})
	if err != nil {
		return
	}
	items, _ := meta.ExtractList(list)
	for _, it := range items {
		ev := it.(*corev1.Event)
		last := ev.LastTimestamp.Time
		if ev.Series != nil && ev.Series.LastObservedTime.After(last) {
			last = ev.Series.LastObservedTime.Time
		}
		if last.IsZero() {
			last = ev.EventTime.Time
		}
		if last.IsZero() {
			last = ev.CreationTimestamp.Time
		}
		if now.Sub(last) > ttl {
			_, _, _ = store.Delete(ctx, ev.Namespace, ev.Name, nil, false)
		}
	}
}
