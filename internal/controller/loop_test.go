package controller_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/configmap"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/testutil"
)

// TestLoopResync: with a resync period, an object that does not change is
// synced again and again; with resync off, once.
func TestLoopResync(t *testing.T) {
	for _, tc := range []struct {
		name    string
		resync  time.Duration
		atLeast int
		atMost  int
	}{
		{"resync", 40 * time.Millisecond, 4, 1000},
		{"off", -1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testutil.OpenStore(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := registry.NewStore(namespace.Resource(), st, time.Now).Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, false); err != nil {
				t.Fatal(err)
			}
			cms := registry.NewStore(configmap.Resource(), st, time.Now)
			if _, err := cms.Create(ctx, "default", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "still"}}, false); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			syncs := 0
			l := &controller.Loop{Name: "test", Log: slog.New(slog.DiscardHandler), Resync: tc.resync,
				Sync: func(ctx context.Context, key string) (time.Duration, error) {
					if key == "default/still" {
						mu.Lock()
						syncs++
						mu.Unlock()
					}
					return 0, nil
				}}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = l.Run(ctx, controller.Source{Store: cms, Handle: l.QueueObject})
			}()
			time.Sleep(600 * time.Millisecond)
			cancel()
			<-done
			mu.Lock()
			defer mu.Unlock()
			if syncs < tc.atLeast || syncs > tc.atMost {
				t.Errorf("%d syncs of an unchanged object, want %d to %d", syncs, tc.atLeast, tc.atMost)
			}
		})
	}
}
