package quota

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// How the controller paces itself: a namespace whose objects changed is
// recalculated within settleDelay (changes in between fold into one), every
// namespace with quotas every resyncPeriod (upstream's full resync is 5
// minutes) as the safety net for usage that changes with time alone (a
// deleted pod stops counting once its grace period is over).
const (
	settleDelay  = 100 * time.Millisecond
	resyncPeriod = time.Minute
)

// Run is the resourcequota controller: it keeps every quota's status.hard
// and status.used in line with its spec and what its namespace holds,
// recalculating a namespace when a quota or a counted object in it changes
// (a pod finishing or deleted frees its share at once), until ctx ends. A
// quota whose status does not show its spec yet (a new or changed one) is
// recalculated at once, without waiting for changes to settle (upstream's
// missingUsageQueue comes first for the same reason).
func (q *Quota) Run(ctx context.Context) error {
	changed := make(chan string, 256)
	urgent := make(chan string, 16)
	stores := []*registry.Store{q.Quotas}
	for _, st := range q.Counted {
		stores = append(stores, st)
	}
	for _, st := range stores {
		w, err := st.Watch(ctx, "", registry.ListOptions{})
		if err != nil {
			return fmt.Errorf("watching %s: %w", st.Resource().Name, err)
		}
		go q.forward(ctx, st, w, changed, urgent)
	}
	dirty := map[string]bool{}
	var settle <-chan time.Time
	resync := time.NewTicker(resyncPeriod)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ns := <-changed:
			dirty[ns] = true
			if settle == nil {
				settle = time.After(settleDelay)
			}
			continue
		case ns := <-urgent:
			dirty[ns] = true
		case <-settle:
		case <-resync.C:
			quotas, err := q.Quotas.List(ctx, "", registry.ListOptions{})
			if err == nil {
				items, _ := meta.ExtractList(quotas)
				for _, it := range items {
					a, _ := meta.Accessor(it)
					dirty[a.GetNamespace()] = true
				}
			}
		}
		settle = nil
		for ns := range dirty {
			if err := q.recalculate(ctx, ns); err != nil && ctx.Err() == nil {
				q.Log.Warn("recalculating quota usage", "namespace", ns, "err", err)
			}
			delete(dirty, ns)
		}
	}
}

// forward passes the namespace of every change a watch sees, watching
// again when the watch ends before ctx does.
func (q *Quota) forward(ctx context.Context, st *registry.Store, w *storage.Watcher, changed, urgent chan<- string) {
	defer func() {
		if w != nil {
			w.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.ResultChan():
			if !ok {
				// Fell behind: start over from the current state.
				var err error
				for w, err = st.Watch(ctx, "", registry.ListOptions{}); err != nil; w, err = st.Watch(ctx, "", registry.ListOptions{}) {
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Second):
					}
				}
				continue
			}
			if a, err := meta.Accessor(e.Object); err == nil && a.GetNamespace() != "" {
				to := changed
				if rq, ok := e.Object.(*corev1.ResourceQuota); ok && !apiequality.Semantic.DeepEqual(rq.Spec.Hard, rq.Status.Hard) {
					to = urgent
				}
				select {
				case to <- a.GetNamespace():
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// recalculate writes the usage of every quota of ns.
func (q *Quota) recalculate(ctx context.Context, ns string) error {
	quotas, err := q.list(ctx, ns)
	if err != nil || len(quotas) == 0 {
		return err
	}
	unlock := q.lock(ns)
	defer unlock()
	if quotas, err = q.list(ctx, ns); err != nil {
		return err
	}
	used, err := q.usage(ctx, ns, quotas)
	if err != nil {
		return err
	}
	for _, quota := range quotas {
		q.writeStatus(ctx, quota, used[quota.Name])
	}
	return nil
}
