package podsecurity

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/metrics"

	"github.com/peapod/peapod/internal/registry"
)

// namespaceGetter reads namespaces from the registry for the library.
type namespaceGetter struct{ store *registry.Store }

func (g namespaceGetter) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	obj, err := g.store.Get(ctx, "", name)
	if err != nil {
		return nil, err
	}
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return nil, fmt.Errorf("namespace %q: unexpected %T", name, obj)
	}
	return ns, nil
}

// podLister lists a namespace's pods from the registry for the library.
type podLister struct{ store *registry.Store }

func (l podLister) ListPods(ctx context.Context, ns string) ([]*corev1.Pod, error) {
	obj, err := l.store.List(ctx, ns, registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		return nil, err
	}
	pods := make([]*corev1.Pod, 0, len(items))
	for _, item := range items {
		if p, ok := item.(*corev1.Pod); ok {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// noMetrics drops the library's evaluation counts: peapod serves no
// pod_security_* metrics.
type noMetrics struct{}

func (noMetrics) RecordEvaluation(metrics.Decision, psapi.LevelVersion, metrics.Mode, psapi.Attributes) {
}
func (noMetrics) RecordExemption(psapi.Attributes)           {}
func (noMetrics) RecordError(fatal bool, _ psapi.Attributes) {}
