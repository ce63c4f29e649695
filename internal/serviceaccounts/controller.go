// Package serviceaccounts is kube-controller-manager's serviceaccounts
// controller: every active namespace has a ServiceAccount named default,
// made when the namespace appears and again if it is deleted.
package serviceaccounts

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/serviceaccount"
	"github.com/peapod/peapod/internal/storage"
)

// Store is what the controller needs of a REST store.
type Store interface {
	Get(ctx context.Context, ns, name string) (runtime.Object, error)
	Create(ctx context.Context, ns string, obj runtime.Object, dryRun bool) (runtime.Object, error)
	Watch(ctx context.Context, ns string, opts registry.ListOptions) (*storage.Watcher, error)
}

// Controller keeps the default service accounts.
type Controller struct {
	Namespaces, ServiceAccounts Store
	Log                         *slog.Logger
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	nsw, err := c.Namespaces.Watch(ctx, "", registry.ListOptions{SendInitialEvents: true})
	if err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	defer func() { nsw.Stop() }()
	saw, err := c.ServiceAccounts.Watch(ctx, "", registry.ListOptions{})
	if err != nil {
		return fmt.Errorf("watching service accounts: %w", err)
	}
	defer func() { saw.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-nsw.ResultChan():
			if !ok {
				if nsw, err = c.Namespaces.Watch(ctx, "", registry.ListOptions{SendInitialEvents: true}); err != nil {
					return fmt.Errorf("watching namespaces: %w", err)
				}
				continue
			}
			if ns, ok := e.Object.(*corev1.Namespace); ok && e.Type != watch.Deleted {
				c.ensure(ctx, ns.Name)
			}
		case e, ok := <-saw.ResultChan():
			if !ok {
				if saw, err = c.ServiceAccounts.Watch(ctx, "", registry.ListOptions{}); err != nil {
					return fmt.Errorf("watching service accounts: %w", err)
				}
				continue
			}
			if sa, ok := e.Object.(*corev1.ServiceAccount); ok && e.Type == watch.Deleted && sa.Name == serviceaccount.DefaultName {
				c.ensure(ctx, sa.Namespace)
			}
		}
	}
}

// ensure creates the default service account of ns unless it exists or
// ns is going away.
func (c *Controller) ensure(ctx context.Context, ns string) {
	obj, err := c.Namespaces.Get(ctx, "", ns)
	if err != nil {
		return
	}
	if n := obj.(*corev1.Namespace); n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
		return
	}
	if _, err := c.ServiceAccounts.Get(ctx, ns, serviceaccount.DefaultName); err == nil {
		return
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceaccount.DefaultName, Namespace: ns}}
	if _, err := c.ServiceAccounts.Create(ctx, ns, sa, false); err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		c.Log.Warn("creating the default service account", "namespace", ns, "err", err)
	}
}
