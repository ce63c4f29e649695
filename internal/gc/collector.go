// Package gc is the garbage collector of kube-controller-manager
// (pkg/controller/garbagecollector), for the objects of one node's API
// server: it deletes an object whose owners (ownerReferences) are all gone
// (background propagation), removes references to owners that are gone
// when others remain, strips an owner deleted with propagationPolicy
// Orphan from its dependents before letting it go (the "orphan"
// finalizer), and holds an owner deleted with propagationPolicy Foreground
// (the "foregroundDeletion" finalizer) until its blocking dependents are
// gone, deleting them in the foreground too. The API server adds those
// finalizers (registry.Store.Delete); this package removes them.
//
// Upstream keeps a graph of every object's owners and dependents built from
// informers. Here the stores are read directly: a change queues the object
// (are its owners there?) or the owner (is it being deleted with a
// finalizer of ours?), and a periodic pass looks at everything again.
package gc

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/registry"
)

// The finalizers of deletion propagation.
const (
	FinalizerOrphan     = metav1.FinalizerOrphanDependents
	FinalizerForeground = metav1.FinalizerDeleteDependents
)

// Collector collects garbage among the objects of Stores.
type Collector struct {
	// Stores hold every kind that may own or be owned.
	Stores []controller.Store
	Log    *slog.Logger
	// Resync is how often every object is looked at again (default 1
	// minute).
	Resync time.Duration

	queue workqueue.TypedRateLimitingInterface[item]

	// mu guards byOwner: who references each owner UID, kept from
	// the watches, so that an owner's deletion finds its dependents
	// without reading every store.
	mu      sync.Mutex
	byOwner map[types.UID]map[item]bool
}

// item is one unit of work: an object to check (are its owners there?,
// is it an owner being deleted with a finalizer of ours?).
type item struct {
	store     int // index in Stores
	namespace string
	name      string
}

// Run works until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	if c.Resync == 0 {
		c.Resync = time.Minute
	}
	c.byOwner = map[types.UID]map[item]bool{}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[item](),
		workqueue.TypedRateLimitingQueueConfig[item]{Name: "garbage-collector"})
	var wg sync.WaitGroup
	for i, st := range c.Stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			controller.Watch(ctx, st, c.Log, func(e controller.Event) { c.changed(i, e) })
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		t := time.NewTicker(c.Resync)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.resync(ctx)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for c.next(ctx) {
		}
	}()
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

// changed queues what a change concerns: the object itself when it has
// owners or is being deleted with a finalizer of ours; when it is gone,
// its owners (a foreground deletion may be waiting for it) and its
// dependents (now dangling).
func (c *Collector) changed(store int, e controller.Event) {
	m, err := meta.Accessor(e.Object)
	if err != nil {
		return
	}
	self := item{store: store, namespace: m.GetNamespace(), name: m.GetName()}
	c.index(self, e, m)
	if e.Type == watch.Deleted {
		for _, ref := range m.GetOwnerReferences() {
			if i, ok := c.storeOf(ref); ok {
				ns := m.GetNamespace()
				if !c.Stores[i].Resource().Namespaced {
					ns = ""
				}
				c.queue.Add(item{store: i, namespace: ns, name: ref.Name})
			}
		}
		c.queueDependents(m.GetUID())
		return
	}
	if m.GetDeletionTimestamp() != nil && hasGCFinalizer(m) {
		c.queue.Add(self)
		return
	}
	// A dependent is looked at when it appears or its owners change
	// (its owners' deletion queues it through the index; the periodic
	// pass catches the rest), not at each of its status updates.
	if len(m.GetOwnerReferences()) > 0 {
		if prev, err := meta.Accessor(e.Previous); e.Previous == nil || err != nil ||
			!apiequality.Semantic.DeepEqual(prev.GetOwnerReferences(), m.GetOwnerReferences()) {
			c.queue.Add(self)
		}
	}
}

// index records which owners an object references now (none once it is
// deleted), replacing what its previous state referenced.
func (c *Collector) index(it item, e controller.Event, m metav1.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Previous != nil {
		if prev, err := meta.Accessor(e.Previous); err == nil {
			for _, ref := range prev.GetOwnerReferences() {
				delete(c.byOwner[ref.UID], it)
				if len(c.byOwner[ref.UID]) == 0 {
					delete(c.byOwner, ref.UID)
				}
			}
		}
	}
	for _, ref := range m.GetOwnerReferences() {
		if e.Type == watch.Deleted {
			delete(c.byOwner[ref.UID], it)
			if len(c.byOwner[ref.UID]) == 0 {
				delete(c.byOwner, ref.UID)
			}
			continue
		}
		if c.byOwner[ref.UID] == nil {
			c.byOwner[ref.UID] = map[item]bool{}
		}
		c.byOwner[ref.UID][it] = true
	}
}

// queueDependents queues every object that references uid.
func (c *Collector) queueDependents(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for it := range c.byOwner[uid] {
		c.queue.Add(it)
	}
}

// resync queues every object with owners or finalizers of ours.
func (c *Collector) resync(ctx context.Context) {
	for i, st := range c.Stores {
		c.each(ctx, st, func(m metav1.Object) {
			if len(m.GetOwnerReferences()) > 0 || (m.GetDeletionTimestamp() != nil && hasGCFinalizer(m)) {
				c.queue.Add(item{store: i, namespace: m.GetNamespace(), name: m.GetName()})
			}
		})
	}
}

// each calls fn for every object of st.
func (c *Collector) each(ctx context.Context, st controller.Store, fn func(metav1.Object)) {
	list, err := st.List(ctx, "", registry.ListOptions{})
	if err != nil {
		c.Log.Debug("listing", "resource", st.Resource().Key(), "err", err)
		return
	}
	_ = meta.EachListItem(list, func(obj runtime.Object) error {
		if m, err := meta.Accessor(obj); err == nil {
			fn(m)
		}
		return nil
	})
}

func (c *Collector) next(ctx context.Context) bool {
	it, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(it)
	again, err := c.process(ctx, it)
	switch {
	case err != nil:
		c.Log.Debug("collecting garbage", "resource", c.Stores[it.store].Resource().Key(), "namespace", it.namespace, "name", it.name, "err", err)
		c.queue.AddRateLimited(it)
	case again:
		c.queue.AddAfter(it, time.Second)
	default:
		c.queue.Forget(it)
	}
	return true
}

// process handles one object: as an owner being deleted with a finalizer
// of ours, and as a dependent whose owners may be gone. again asks to look
// once more soon (a foreground deletion waiting for its dependents).
func (c *Collector) process(ctx context.Context, it item) (again bool, err error) {
	st := c.Stores[it.store]
	obj, err := st.Get(ctx, it.namespace, it.name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m, _ := meta.Accessor(obj)
	if m.GetDeletionTimestamp() != nil {
		switch {
		case slices.Contains(m.GetFinalizers(), FinalizerOrphan):
			return false, c.orphan(ctx, st, m)
		case slices.Contains(m.GetFinalizers(), FinalizerForeground):
			return c.foreground(ctx, st, m)
		}
	}
	if len(m.GetOwnerReferences()) == 0 {
		return false, nil
	}
	return false, c.checkOwners(ctx, st, m)
}

// checkOwners deletes m when every owner it names is gone, or drops the
// references to the gone ones when some remain (attemptToDeleteItem).
func (c *Collector) checkOwners(ctx context.Context, st controller.Store, m metav1.Object) error {
	var dangling []types.UID
	refs := m.GetOwnerReferences()
	for _, ref := range refs {
		exists, err := c.ownerExists(ctx, m.GetNamespace(), ref)
		if err != nil {
			return err
		}
		if !exists {
			dangling = append(dangling, ref.UID)
		}
	}
	switch {
	case len(dangling) == 0:
		return nil
	case len(dangling) < len(refs):
		return c.dropRefs(ctx, st, m, dangling)
	case m.GetDeletionTimestamp() != nil:
		return nil // being deleted already
	}
	// Every owner is gone: the dependent goes too, in the background
	// (unless it asked otherwise with a finalizer of its own).
	bg := metav1.DeletePropagationBackground
	uid := m.GetUID()
	_, _, err := st.Delete(ctx, m.GetNamespace(), m.GetName(), &metav1.DeleteOptions{PropagationPolicy: &bg,
		Preconditions: &metav1.Preconditions{UID: &uid}}, false)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// ownerExists reports whether the object ref names exists with its UID.
// A kind the collector does not know counts as existing: nothing is
// deleted for a reference it cannot check.
func (c *Collector) ownerExists(ctx context.Context, ns string, ref metav1.OwnerReference) (bool, error) {
	i, ok := c.storeOf(ref)
	if !ok {
		return true, nil
	}
	st := c.Stores[i]
	if !st.Resource().Namespaced {
		ns = ""
	}
	obj, err := st.Get(ctx, ns, ref.Name)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m, _ := meta.Accessor(obj)
	return m.GetUID() == ref.UID, nil
}

// storeOf finds the store of an owner reference's group and kind.
func (c *Collector) storeOf(ref metav1.OwnerReference) (int, bool) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return 0, false
	}
	for i, st := range c.Stores {
		if r := st.Resource(); r.Group == gv.Group && r.Kind == ref.Kind {
			return i, true
		}
	}
	return 0, false
}

// dependents are the objects that reference owner, in its namespace (every
// namespace for a cluster-scoped owner).
func (c *Collector) dependents(ctx context.Context, owner metav1.Object) ([]dependent, error) {
	var out []dependent
	var errs []error
	for i, st := range c.Stores {
		list, err := st.List(ctx, owner.GetNamespace(), registry.ListOptions{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = meta.EachListItem(list, func(obj runtime.Object) error {
			m, err := meta.Accessor(obj)
			if err != nil {
				return nil
			}
			for _, ref := range m.GetOwnerReferences() {
				if ref.UID == owner.GetUID() {
					out = append(out, dependent{store: i, obj: m, blocking: ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion})
					break
				}
			}
			return nil
		})
	}
	return out, errors.Join(errs...)
}

type dependent struct {
	store    int
	obj      metav1.Object
	blocking bool
}

// orphan removes owner from its dependents' references, then its orphan
// finalizer (orphanDependents).
func (c *Collector) orphan(ctx context.Context, st controller.Store, owner metav1.Object) error {
	deps, err := c.dependents(ctx, owner)
	if err != nil {
		return err
	}
	for _, d := range deps {
		if err := c.dropRefs(ctx, c.Stores[d.store], d.obj, []types.UID{owner.GetUID()}); err != nil {
			return err
		}
	}
	return c.removeFinalizer(ctx, st, owner, FinalizerOrphan)
}

// foreground deletes owner's dependents (in the foreground themselves) and
// removes its foregroundDeletion finalizer once no blocking dependent is
// left (processDeletingDependentsItem).
func (c *Collector) foreground(ctx context.Context, st controller.Store, owner metav1.Object) (bool, error) {
	deps, err := c.dependents(ctx, owner)
	if err != nil {
		return false, err
	}
	blocking := false
	fg := metav1.DeletePropagationForeground
	for _, d := range deps {
		if d.blocking {
			blocking = true
		}
		if d.obj.GetDeletionTimestamp() != nil {
			continue
		}
		uid := d.obj.GetUID()
		_, _, err := c.Stores[d.store].Delete(ctx, d.obj.GetNamespace(), d.obj.GetName(),
			&metav1.DeleteOptions{PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &uid}}, false)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return false, err
		}
	}
	if blocking {
		return true, nil
	}
	return false, c.removeFinalizer(ctx, st, owner, FinalizerForeground)
}

// dropRefs removes the references to uids from m.
func (c *Collector) dropRefs(ctx context.Context, st controller.Store, m metav1.Object, uids []types.UID) error {
	_, err := st.Update(ctx, m.GetNamespace(), m.GetName(), func(cur runtime.Object) (runtime.Object, error) {
		out := cur.DeepCopyObject()
		a, _ := meta.Accessor(out)
		if a.GetUID() != m.GetUID() {
			return nil, apierrors.NewNotFound(st.Resource().GroupResource(), m.GetName())
		}
		a.SetOwnerReferences(slices.DeleteFunc(a.GetOwnerReferences(), func(r metav1.OwnerReference) bool { return slices.Contains(uids, r.UID) }))
		return out, nil
	}, registry.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// removeFinalizer removes one finalizer of m; the API server removes m
// once none is left.
func (c *Collector) removeFinalizer(ctx context.Context, st controller.Store, m metav1.Object, finalizer string) error {
	_, err := st.Update(ctx, m.GetNamespace(), m.GetName(), func(cur runtime.Object) (runtime.Object, error) {
		out := cur.DeepCopyObject()
		a, _ := meta.Accessor(out)
		if a.GetUID() != m.GetUID() {
			return nil, apierrors.NewNotFound(st.Resource().GroupResource(), m.GetName())
		}
		a.SetFinalizers(slices.DeleteFunc(a.GetFinalizers(), func(f string) bool { return f == finalizer }))
		return out, nil
	}, registry.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func hasGCFinalizer(m metav1.Object) bool {
	return slices.ContainsFunc(m.GetFinalizers(), func(f string) bool {
		return f == FinalizerOrphan || f == FinalizerForeground
	})
}
