package kubelet

import (
	"errors"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRegularContainersStartTogether: a pod's regular containers are
// created at the same time (each create waits here for the other's), and
// in order, one after the other, when one has a postStart hook.
func TestRegularContainersStartTogether(t *testing.T) {
	withHook := func(c corev1.Container) corev1.Container {
		c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		return c
	}
	tests := []struct {
		name       string
		containers []corev1.Container
		together   bool
	}{
		{"no hooks", []corev1.Container{ctr("a"), ctr("b")}, true},
		{"a postStart hook", []corev1.Container{withHook(ctr("a")), ctr("b")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := newTestKubelet(t)
			var (
				mu      sync.Mutex
				order   []string
				arrived = map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}
			)
			tk.rt.beforeCreate = func(name string) error {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				close(arrived[name])
				if !tt.together {
					return nil
				}
				other := map[string]string{"a": "b", "b": "a"}[name]
				select {
				case <-arrived[other]:
					return nil
				case <-time.After(5 * time.Second):
					return errors.New("created alone: " + other + " never came")
				}
			}
			tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: tt.containers}})
			tk.sync(t, "web")
			if got := tk.rt.states(); got != "a=RUNNING b=RUNNING" {
				t.Fatalf("states %s, want both running", got)
			}
			if !tt.together && (len(order) != 2 || order[0] != "a") {
				t.Errorf("creates %v, want a then b", order)
			}
		})
	}
}
