package controller

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	"github.com/peapod/peapod/internal/registry"
)

// Loop is a controller's work queue and workers, as kube-controller-manager
// runs each controller: watches add keys, a worker syncs a key (never two
// at once for one key), a failed sync is retried with the queue's
// back-off, and a sync may ask to be called again after a while.
type Loop struct {
	Name string
	// Workers is the number of keys synced at once (default 1).
	Workers int
	Log     *slog.Logger
	// Sync handles one key; a positive duration asks for another sync
	// then.
	Sync func(ctx context.Context, key string) (time.Duration, error)
	// RateLimiter is the retry back-off (default: 5 ms doubling to
	// 1000 s, with an overall bucket, as upstream's controllers).
	RateLimiter workqueue.TypedRateLimiter[string]
	// Resync is how often every object of every source is handed to its
	// handler again as unchanged (an informer's resync): a sync that
	// missed something, or waits on time alone without asking to be
	// called again, is caught up then. Each period is drawn between
	// Resync and twice it, as kube-controller-manager spreads its
	// informers' (--min-resync-period). Zero is DefaultResync; negative
	// turns it off.
	Resync time.Duration

	queue workqueue.TypedRateLimitingInterface[string]
	once  sync.Once
}

// DefaultResync is a Loop's resync period when it sets none: upstream's
// --min-resync-period.
const DefaultResync = 12 * time.Hour

// Source is a store the loop watches and how a change of one of its
// objects becomes keys (the loop's Add).
type Source struct {
	Store  Store
	Handle func(Event)
}

func (l *Loop) init() {
	l.once.Do(func() {
		rl := l.RateLimiter
		if rl == nil {
			rl = workqueue.DefaultTypedControllerRateLimiter[string]()
		}
		l.queue = workqueue.NewTypedRateLimitingQueueWithConfig(rl, workqueue.TypedRateLimitingQueueConfig[string]{Name: l.Name})
	})
}

// Add queues a key.
func (l *Loop) Add(key string) {
	l.init()
	l.queue.Add(key)
}

// Run watches the sources and syncs what they queue until ctx ends.
func (l *Loop) Run(ctx context.Context, sources ...Source) error {
	l.init()
	workers := max(l.Workers, 1)
	var wg sync.WaitGroup
	resync := l.Resync
	if resync == 0 {
		resync = DefaultResync
	}
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			Watch(ctx, src.Store, l.Log, src.Handle)
		}()
		if resync > 0 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.resync(ctx, src, resync)
			}()
		}
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	l.queue.ShutDown()
	wg.Wait()
	return nil
}

// resync hands every object of the source to its handler, as Modified
// and unchanged, every period (drawn between period and twice it) until
// ctx ends.
func (l *Loop) resync(ctx context.Context, src Source, period time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(period + rand.N(period)):
		}
		list, err := src.Store.List(ctx, "", registry.ListOptions{})
		if err != nil {
			l.Log.Warn("resync: listing", "controller", l.Name, "resource", src.Store.Resource().Key(), "err", err)
			continue
		}
		objs, err := meta.ExtractList(list)
		if err != nil {
			l.Log.Warn("resync: listing", "controller", l.Name, "resource", src.Store.Resource().Key(), "err", err)
			continue
		}
		for _, obj := range objs {
			src.Handle(Event{Type: watch.Modified, Object: obj, Previous: obj})
		}
	}
}

func (l *Loop) next(ctx context.Context) bool {
	key, quit := l.queue.Get()
	if quit {
		return false
	}
	defer l.queue.Done(key)
	again, err := l.Sync(ctx, key)
	if err != nil {
		l.Log.Debug("sync failed; retrying", "controller", l.Name, "key", key, "err", err)
		l.queue.AddRateLimited(key)
		return true
	}
	l.queue.Forget(key)
	if again > 0 {
		l.queue.AddAfter(key, again)
	}
	return true
}

// UpdateStatus writes the status of ns/name through the status
// subresource: set changes the stored copy. Nothing happens when the
// object is gone or is another one now (not uid).
func UpdateStatus[T runtime.Object](ctx context.Context, st Store, ns, name string, uid types.UID, set func(T)) error {
	_, err := st.Update(ctx, ns, name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.DeepCopyObject()
		if m, err := meta.Accessor(o); err != nil || m.GetUID() != uid {
			return nil, apierrors.NewNotFound(st.Resource().GroupResource(), name)
		}
		set(o.(T))
		return o, nil
	}, registry.UpdateOptions{Status: true})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// QueueObject is a Source handler that queues the changed object.
func (l *Loop) QueueObject(e Event) {
	if m, err := meta.Accessor(e.Object); err == nil {
		l.Add(ObjectKey(m))
	}
}

// QueueController is a Source handler that queues the controller of kind
// of the changed object (and of its previous state, when that changed).
func (l *Loop) QueueController(kind string) func(Event) {
	return func(e Event) {
		for _, obj := range []runtime.Object{e.Object, e.Previous} {
			if obj == nil {
				continue
			}
			m, err := meta.Accessor(obj)
			if err != nil {
				continue
			}
			if ref := metav1.GetControllerOf(m); ref != nil && ref.Kind == kind {
				l.Add(Key(m.GetNamespace(), ref.Name))
			}
		}
	}
}
