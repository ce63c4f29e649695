// Package nscontroller deletes what is in a namespace being deleted, as
// kube-controller-manager's namespace controller does: once a namespace is
// Terminating, it deletes every namespaced object in it (pods gracefully,
// with their own grace periods), waits until they are gone, then removes the
// "kubernetes" finalizer through the finalize subresource, and the API
// server removes the namespace. The namespace conditions the upstream
// controller maintains are not written yet.
package nscontroller

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// Store is the API the controller uses; *registry.Store implements it.
type Store interface {
	List(ctx context.Context, ns string, opts registry.ListOptions) (runtime.Object, error)
	Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions, dryRun bool) (runtime.Object, bool, error)
	Update(ctx context.Context, ns, name string, fn registry.UpdateFunc, opts registry.UpdateOptions) (runtime.Object, error)
	Watch(ctx context.Context, ns string, opts registry.ListOptions) (*storage.Watcher, error)
}

// Controller finalizes deleted namespaces.
type Controller struct {
	Namespaces Store
	// Content are the namespaced resources to empty, pods first.
	Content []Store
	Log     *slog.Logger
	// Retry is how often a namespace with content left is looked at again.
	Retry time.Duration
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.Retry == 0 {
		c.Retry = time.Second
	}
	w, err := c.Namespaces.Watch(ctx, "", registry.ListOptions{})
	if err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	defer func() { w.Stop() }()
	terminating := map[string]bool{}
	tick := time.NewTicker(c.Retry)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.ResultChan():
			if !ok {
				if w, err = c.Namespaces.Watch(ctx, "", registry.ListOptions{}); err != nil {
					return fmt.Errorf("watching namespaces: %w", err)
				}
				continue
			}
			ns, isNS := e.Object.(*corev1.Namespace)
			if !isNS || ns.DeletionTimestamp == nil {
				continue
			}
			terminating[ns.Name] = true
		case <-tick.C:
		}
		for name := range terminating {
			done, err := c.sync(ctx, name)
			if err != nil {
				c.Log.Warn("deleting namespace content", "namespace", name, "err", err)
			}
			if done {
				delete(terminating, name)
			}
		}
	}
}

// sync deletes what is left in ns and finalizes it when nothing is left.
func (c *Controller) sync(ctx context.Context, ns string) (bool, error) {
	remaining := 0
	for _, st := range c.Content {
		list, err := st.List(ctx, ns, registry.ListOptions{})
		if err != nil {
			return false, err
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return false, err
		}
		for _, it := range items {
			remaining++
			a, _ := meta.Accessor(it)
			if a.GetDeletionTimestamp() != nil {
				continue // being deleted (a pod in its grace period)
			}
			if _, _, err := st.Delete(ctx, ns, a.GetName(), &metav1.DeleteOptions{}, false); err != nil && !apierrors.IsNotFound(err) {
				return false, err
			}
		}
	}
	if remaining > 0 {
		return false, nil
	}
	_, err := c.Namespaces.Update(ctx, "", ns, func(cur runtime.Object) (runtime.Object, error) {
		n := cur.(*corev1.Namespace).DeepCopy()
		n.ResourceVersion = ""
		n.Spec.Finalizers = slices.DeleteFunc(n.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
		return n, nil
	}, registry.UpdateOptions{Finalize: true})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return err == nil, err
}
