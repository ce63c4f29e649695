package events

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/registry"
)

// countingSink counts the events written.
type countingSink struct{ created int }

func (s *countingSink) Create(ctx context.Context, ns string, obj runtime.Object, dryRun bool) (runtime.Object, error) {
	s.created++
	return obj, nil
}

func (s *countingSink) Update(ctx context.Context, ns, name string, fn registry.UpdateFunc, opts registry.UpdateOptions) (runtime.Object, error) {
	return nil, nil
}

// TestEventAfterStop: events recorded after Stop are dropped, not sent on
// the closed queue, and Stop may be called again.
func TestEventAfterStop(t *testing.T) {
	sink := &countingSink{}
	r := NewRecorder(sink, Source{Component: "kubelet", Host: "node"}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"}}
	r.Eventf(pod, "", Normal, "Before", "before stop")
	r.Stop()
	r.Eventf(pod, "", Normal, "After", "after stop")
	r.Stop()
	if sink.created != 1 {
		t.Errorf("%d events written, want the 1 recorded before Stop", sink.created)
	}
}
